#include "common/sync/atomic_directory.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace engram::sync {
namespace {

TEST(AtomicDirectoryTest, GrowsToTheIndexSetAndKeepsEveryPointer) {
  std::vector<int> values(5000);
  AtomicDirectory<int> dir(4);
  EXPECT_EQ(dir.capacity(), 8u);  // whole cache lines of 8 pointers
  for (size_t i = 0; i < 10; ++i) dir.Set(i, &values[i]);
  EXPECT_EQ(dir.capacity(), 16u);  // doubled
  dir.Set(4000, &values[4000]);    // far past the end: grows straight to the index (rounded up)
  EXPECT_EQ(dir.capacity(), 4008u);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(dir.Get(i), &values[i]) << i;
  EXPECT_EQ(dir.Get(10), nullptr);
  EXPECT_EQ(dir.Get(4000), &values[4000]);
  dir.Set(3, nullptr);
  EXPECT_EQ(dir.Get(3), nullptr);
  size_t set = 0;
  dir.ForEach([&](size_t i, int* p) {
    if (p != nullptr) {
      EXPECT_EQ(p, &values[i]);
      ++set;
    }
  });
  EXPECT_EQ(set, 10u);  // 0..9 without 3, and 4000
}

// Readers see every published pointer while the writer keeps growing the array (also run under
// ThreadSanitizer by scripts/tsan.sh: ENGRAM_TSAN_TESTS).
TEST(AtomicDirectoryTest, ReadersSeePublishedPointersWhileTheWriterGrows) {
  constexpr size_t kN = 200000;
  std::vector<int> values(kN);
  AtomicDirectory<int> dir(1);
  std::atomic<size_t> published{0};
  std::atomic<bool> done{false};
  std::atomic<size_t> bad{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      size_t x = static_cast<size_t>(t) * 7919 + 1;
      while (!done.load(std::memory_order_acquire)) {
        const size_t n = published.load(std::memory_order_acquire);
        if (n == 0) continue;
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const size_t i = (x >> 17) % n;
        if (dir.Get(i) != &values[i]) bad.fetch_add(1);
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (size_t i = 0; i < kN; ++i) {
    dir.Set(i, &values[i]);
    published.store(i + 1, std::memory_order_release);
  }
  done.store(true, std::memory_order_release);
  for (std::thread& r : readers) r.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(reads.load(), 0u);
  for (size_t i = 0; i < kN; ++i) ASSERT_EQ(dir.Get(i), &values[i]);
}

}  // namespace
}  // namespace engram::sync
