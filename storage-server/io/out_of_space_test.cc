#include "storage-server/io/out_of_space.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <filesystem>

#include "gtest/gtest.h"

namespace engram::storage {
namespace {

TEST(OutOfSpaceTest, TheMarkTellsAFullDiskFromOtherResourceExhaustedErrors) {
  const absl::Status full = OutOfSpaceError("no room for 4096 bytes");
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(IsOutOfSpace(full));
  EXPECT_FALSE(IsOutOfSpace(absl::ResourceExhaustedError("write queue full")));
  EXPECT_FALSE(IsOutOfSpace(absl::OkStatus()));
}

TEST(OutOfSpaceTest, ErrnoValues) {
  EXPECT_TRUE(IsOutOfSpaceErrno(ENOSPC));
  EXPECT_TRUE(IsOutOfSpaceErrno(EDQUOT));
  EXPECT_TRUE(IsOutOfSpaceErrno(EFBIG));
  EXPECT_FALSE(IsOutOfSpaceErrno(EIO));
  EXPECT_FALSE(IsOutOfSpaceErrno(0));
}

TEST(OutOfSpaceTest, FreeBytesIsTheFileSystemsFreeRoomAndNamesAMissingDirectory) {
  const std::filesystem::path dir = ::testing::TempDir();
  auto free = FreeBytes(dir);
  ASSERT_TRUE(free.ok()) << free.status();
  struct statvfs fs;
  ASSERT_EQ(::statvfs(dir.c_str(), &fs), 0);
  EXPECT_GT(*free, 0u);
  EXPECT_LE(*free, uint64_t{fs.f_blocks} * fs.f_frsize);

  auto missing = FreeBytes(dir / "no such directory");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("no such directory"), std::string::npos);
}

}  // namespace
}  // namespace engram::storage
