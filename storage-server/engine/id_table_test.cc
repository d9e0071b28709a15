#include "storage-server/engine/id_table.h"

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace engram::storage {
namespace {

std::vector<uint64_t> Hashes(size_t n, uint64_t seed, bool with_zero = true) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> out(n);
  for (uint64_t& h : out) h = rng();
  if (with_zero) out[n / 2] = 0;  // the one hash that needs a tag other than itself
  return out;
}

std::optional<uint32_t> FindValue(const IdTable& t, const std::vector<uint64_t>& keys, size_t i) {
  return t.Find(keys[i], [&](uint32_t v) { return v == i; });
}

TEST(IdTableTest, EveryKeyIsFoundBeforeDuringAndAfterEachGrowth) {
  IdTable t(16);
  const std::vector<uint64_t> keys = Hashes(200000, 1);
  size_t growths_seen_mid_migration = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    t.Insert(keys[i], static_cast<uint32_t>(i));
    if (t.migrating()) {
      ++growths_seen_mid_migration;
      // Mid-migration, keys still only in the draining table and keys already moved are found.
      if (growths_seen_mid_migration % 997 == 1) {
        for (size_t j = 0; j <= i; ++j) ASSERT_EQ(FindValue(t, keys, j), j) << j << " of " << i;
      }
    }
  }
  EXPECT_GT(growths_seen_mid_migration, 0u);
  EXPECT_EQ(t.size(), keys.size());
  for (size_t j = 0; j < keys.size(); ++j) ASSERT_EQ(FindValue(t, keys, j), j);
  // A key never inserted, and a colliding hash whose value does not match, are not found.
  const std::vector<uint64_t> others = Hashes(1000, 2, /*with_zero=*/false);
  for (uint64_t h : others) EXPECT_FALSE(t.Find(h, [](uint32_t) { return true; }));
  EXPECT_FALSE(t.Find(keys[5], [](uint32_t) { return false; }));
}

// The table a doubling takes is made (and its pages written) once the current one is 3/8 full,
// and the doubling takes it rather than a new one.
TEST(IdTableTest, TheDoublingTakesTheTablePreparedAtThreeEighths) {
  IdTable t(16);  // 32 slots of 16 bytes
  const std::vector<uint64_t> keys = Hashes(100, 4, /*with_zero=*/false);
  const size_t slot = t.memory_bytes() / 32;
  size_t i = 0;
  for (; i < 12; ++i) t.Insert(keys[i], static_cast<uint32_t>(i));
  EXPECT_EQ(t.memory_bytes(), 32 * slot);  // 12 of 32: not yet
  t.Insert(keys[i], static_cast<uint32_t>(i));
  ++i;
  EXPECT_EQ(t.memory_bytes(), (32 + 64) * slot);  // the 13th insert saw 12 of 32 and made it
  for (; i < 17; ++i) t.Insert(keys[i], static_cast<uint32_t>(i));
  EXPECT_TRUE(t.migrating());                     // the 17th insert doubled the table...
  EXPECT_EQ(t.memory_bytes(), (32 + 64) * slot);  // ...into the prepared one
  for (; i < keys.size(); ++i) t.Insert(keys[i], static_cast<uint32_t>(i));
  for (size_t j = 0; j < keys.size(); ++j) ASSERT_EQ(FindValue(t, keys, j), j);
}

// Inserts that fill a Reserve()d table (recovery) prepare nothing: startup memory stays the
// table's own. Later inserts past 3/8 do.
TEST(IdTableTest, AReservedLoadPreparesNoNextTable) {
  IdTable t(16);
  const std::vector<uint64_t> keys = Hashes(200, 5, /*with_zero=*/false);
  t.Reserve(100);  // 256 slots: 100 is past 3/8 of them
  const size_t reserved_bytes = t.memory_bytes();
  size_t i = 0;
  for (; i < 100; ++i) t.Insert(keys[i], static_cast<uint32_t>(i));
  EXPECT_EQ(t.memory_bytes(), reserved_bytes);
  t.Insert(keys[i], static_cast<uint32_t>(i));
  ++i;
  EXPECT_GT(t.memory_bytes(), reserved_bytes);
  for (; i < keys.size(); ++i) t.Insert(keys[i], static_cast<uint32_t>(i));
  for (size_t j = 0; j < keys.size(); ++j) ASSERT_EQ(FindValue(t, keys, j), j);
}

TEST(IdTableTest, ReserveFinishesAMigrationAndKeepsEveryKey) {
  IdTable t(16);
  const std::vector<uint64_t> keys = Hashes(50000, 3);
  size_t i = 0;
  while (i < keys.size() && !(i > 1000 && t.migrating())) {
    t.Insert(keys[i], static_cast<uint32_t>(i));
    ++i;
  }
  ASSERT_TRUE(t.migrating());
  t.Reserve(keys.size());
  EXPECT_FALSE(t.migrating());
  for (; i < keys.size(); ++i) {
    t.Insert(keys[i], static_cast<uint32_t>(i));
    EXPECT_FALSE(t.migrating()) << "reserved room grew again at " << i;
  }
  for (size_t j = 0; j < keys.size(); ++j) ASSERT_EQ(FindValue(t, keys, j), j);
}

// Readers look up concurrently with the writer's inserts and migrations (run under TSan too):
// every key inserted before a reader read the published count is found.
TEST(IdTableTest, ConcurrentReadersFindEveryPublishedKey) {
  IdTable t(16);
  const std::vector<uint64_t> keys = Hashes(300000, 4);
  std::atomic<size_t> published{0};
  std::atomic<bool> done{false};
  std::atomic<uint64_t> lookups{0};
  auto reader = [&](uint64_t seed) {
    std::mt19937_64 rng(seed);
    while (!done.load(std::memory_order_relaxed)) {
      const size_t n = published.load(std::memory_order_acquire);
      if (n == 0) continue;
      for (int k = 0; k < 64; ++k) {
        const size_t j = rng() % n;
        ASSERT_EQ(FindValue(t, keys, j), j) << "key " << j << " of " << n << " published";
      }
      lookups.fetch_add(64, std::memory_order_relaxed);
    }
  };
  std::thread r1(reader, 5), r2(reader, 6);
  for (size_t i = 0; i < keys.size(); ++i) {
    t.Insert(keys[i], static_cast<uint32_t>(i));
    published.store(i + 1, std::memory_order_release);
  }
  done = true;
  r1.join();
  r2.join();
  EXPECT_GT(lookups.load(), 0u);
}

}  // namespace
}  // namespace engram::storage
