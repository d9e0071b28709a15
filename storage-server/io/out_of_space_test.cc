#include "storage-server/io/out_of_space.h"

#include <cerrno>

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

}  // namespace
}  // namespace engram::storage
