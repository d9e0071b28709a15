#include "storage-server/mmap/segmented_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "storage-server/io/out_of_space.h"

namespace engram::storage {
namespace {

class SegmentedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("segfile_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
  }
  SegmentedFile::Options Opts() { return {dir_, "data", 4096 * 4}; }
  std::filesystem::path dir_;
};

// A segment that cannot get real blocks is refused cleanly (no SIGBUS later, no file left) and
// the next call succeeds once there is room. The room is this process's file size limit: a new
// segment past RLIMIT_FSIZE fails with EFBIG exactly like ENOSPC on a full disk.
TEST_F(SegmentedFileTest, NoRoomForASegmentIsOutOfSpaceAndRetried) {
  auto file = SegmentedFile::Open(Opts());
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->EnsureCapacity(1).ok());
  std::strcpy((*file)->At(0), "kept");

  IgnoreFileSizeLimitSignal();
  struct rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct rlimit low = saved;
  low.rlim_cur = 4096;  // below one segment
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &low), 0);
  const absl::Status full = (*file)->EnsureCapacity(4096 * 4 + 1);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);

  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_TRUE(IsOutOfSpace(full));
  EXPECT_NE(full.message().find("allocate 16384 bytes for " + (*file)->SegmentPath(1).string()),
            std::string::npos)
      << full;
  EXPECT_EQ((*file)->segment_count(), 1u);
  EXPECT_EQ((*file)->capacity(), 4096u * 4);
  EXPECT_FALSE(std::filesystem::exists((*file)->SegmentPath(1)));

  ASSERT_TRUE((*file)->EnsureCapacity(4096 * 4 + 1).ok());
  EXPECT_EQ((*file)->segment_count(), 2u);
  std::strcpy((*file)->At(4096 * 4), "grown");
  EXPECT_STREQ((*file)->At(0), "kept");
}

// The permissions of this process's mapping of `path`, from /proc/self/maps ("r--s", "rw-s").
std::string MappingPerms(const std::filesystem::path& path) {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.size() > path.string().size() &&
        line.compare(line.size() - path.string().size(), std::string::npos, path.string()) == 0) {
      std::istringstream fields(line);
      std::string range, perms;
      fields >> range >> perms;
      return perms;
    }
  }
  return "";
}

// read_only_mapping: the writer stores with Write() (pwrite), readers see the bytes through the
// mapping at once, and nothing maps the file writable (so writing its pages back needs no TLB
// shootdown and storing needs no page fault). Bad writes are refused naming the reason.
TEST_F(SegmentedFileTest, ReadOnlyMappingIsWrittenThroughTheFile) {
  SegmentedFile::Options options = Opts();
  options.read_only_mapping = true;
  {
    auto file = SegmentedFile::Open(options);
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE((*file)->EnsureCapacity(4096 * 4 + 1).ok());
    EXPECT_EQ(MappingPerms((*file)->SegmentPath(0)), "r--s");
    EXPECT_EQ(MappingPerms((*file)->SegmentPath(1)), "r--s");
    ASSERT_TRUE((*file)->Write(100, "first", 6).ok());
    ASSERT_TRUE((*file)->Write(4096 * 4 + 7, "second", 7).ok());
    EXPECT_STREQ((*file)->At(100), "first");
    EXPECT_STREQ((*file)->At(4096 * 4 + 7), "second");

    const absl::Status across = (*file)->Write(4096 * 4 - 2, "xyz", 3);
    EXPECT_EQ(across.code(), absl::StatusCode::kInvalidArgument) << across;
    const absl::Status beyond = (*file)->Write(4096 * 8 - 1, "xy", 2);
    EXPECT_EQ(beyond.code(), absl::StatusCode::kInvalidArgument) << beyond;
    EXPECT_EQ((*file)->At(4096 * 4 - 2)[0], 0);  // nothing of the refused writes landed
    ASSERT_TRUE((*file)->Flush(0, (*file)->capacity()).ok());
  }
  auto reopened = SegmentedFile::Open(options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_STREQ((*reopened)->At(100), "first");
  EXPECT_STREQ((*reopened)->At(4096 * 4 + 7), "second");

  // A writable mapping is written through At(); Write() is for read-only mappings only.
  auto writable = SegmentedFile::Open({dir_ / "rw", "data", 4096 * 4});
  ASSERT_TRUE(writable.ok()) << writable.status();
  ASSERT_TRUE((*writable)->EnsureCapacity(1).ok());
  EXPECT_EQ(MappingPerms((*writable)->SegmentPath(0)), "rw-s");
  EXPECT_EQ((*writable)->Write(0, "x", 1).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SegmentedFileTest, GrowsWithoutMovingAndPersists) {
  auto file = SegmentedFile::Open(Opts());
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->EnsureCapacity(100).ok());
  char* first = (*file)->At(10);
  std::strcpy(first, "hello");
  ASSERT_TRUE((*file)->EnsureCapacity(4096 * 4 * 5 + 1).ok());
  EXPECT_EQ((*file)->segment_count(), 6u);
  EXPECT_EQ((*file)->At(10), first);  // growth never moves earlier segments
  std::strcpy((*file)->At(4096 * 4 * 5), "tail");
  ASSERT_TRUE((*file)->Flush(0, (*file)->capacity()).ok());
  file->reset();

  auto reopened = SegmentedFile::Open(Opts());
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->capacity(), 4096u * 4 * 6);
  EXPECT_STREQ((*reopened)->At(10), "hello");
  EXPECT_STREQ((*reopened)->At(4096 * 4 * 5), "tail");
  EXPECT_EQ((*reopened)->ContiguousEnd(5), 4096u * 4);
}

TEST_F(SegmentedFileTest, ShrinkRemovesSegments) {
  auto file = SegmentedFile::Open(Opts());
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->EnsureCapacity(4096 * 4 * 3).ok());
  ASSERT_TRUE((*file)->ShrinkTo(4096 * 4 + 1).ok());
  EXPECT_EQ((*file)->segment_count(), 2u);
  EXPECT_FALSE(std::filesystem::exists((*file)->SegmentPath(2)));
}

TEST_F(SegmentedFileTest, WrongSizedSegmentIsDataLoss) {
  {
    auto file = SegmentedFile::Open(Opts());
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->EnsureCapacity(1).ok());
  }
  std::filesystem::resize_file(dir_ / "data.000000", 100);
  auto file = SegmentedFile::Open(Opts());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(file.status().message().find("data.000000"), std::string::npos);
}

TEST_F(SegmentedFileTest, ReadersSeePublishedBytesWhileWriterGrows) {
  auto opened = SegmentedFile::Open(Opts());
  ASSERT_TRUE(opened.ok());
  SegmentedFile* file = opened->get();
  std::atomic<uint64_t> published{0};
  constexpr uint64_t kWords = 4096 * 4 * 8 / 8;
  std::thread reader([&] {
    uint64_t seen = 0;
    while (seen < kWords) {
      uint64_t n = published.load(std::memory_order_acquire);
      for (uint64_t i = seen; i < n; ++i) {
        uint64_t v;
        std::memcpy(&v, file->At(i * 8), 8);
        ASSERT_EQ(v, i * 7 + 1);
      }
      seen = n;
    }
  });
  for (uint64_t i = 0; i < kWords; ++i) {
    ASSERT_TRUE(file->EnsureCapacity((i + 1) * 8).ok());
    uint64_t v = i * 7 + 1;
    std::memcpy(file->At(i * 8), &v, 8);
    published.store(i + 1, std::memory_order_release);
  }
  reader.join();
}

}  // namespace
}  // namespace engram::storage
