#include "common/cache/ttl_cache.h"

#include <memory>
#include <string>

#include <gtest/gtest.h>

namespace engram::cache {
namespace {

// A value shaped like a namespace entry: a config and a shared resource resolved for it.
struct Config {
  std::string name;
  uint32_t dimension = 0;
  std::shared_ptr<const int> embedder;
};

using NamespaceCache = TtlCache<Config>;

class TtlCacheTest : public ::testing::Test {
 protected:
  TtlCacheOptions Options(size_t capacity, absl::Duration ttl) {
    return {.capacity = capacity, .ttl = ttl, .clock = [this] { return now_; }};
  }
  Config EntryOf(const std::string& name, uint32_t dim) {
    return Config{name, dim, std::make_shared<const int>(static_cast<int>(dim))};
  }
  absl::Time now_ = absl::FromUnixSeconds(1'000'000);
};

TEST_F(TtlCacheTest, HitUntilTheTtlPasses) {
  NamespaceCache cache(Options(8, absl::Seconds(5)));
  EXPECT_FALSE(cache.Get("a").has_value());
  cache.Put("a", EntryOf("a", 16));
  now_ += absl::Seconds(4);
  auto hit = cache.Get("a");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->dimension, 16u);
  EXPECT_NE(hit->embedder, nullptr);
  now_ += absl::Seconds(1);  // exactly ttl old: expired
  EXPECT_FALSE(cache.Get("a").has_value());
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.misses(), 2u);
}

TEST_F(TtlCacheTest, PutRefreshesAndInvalidateDrops) {
  NamespaceCache cache(Options(8, absl::Seconds(5)));
  cache.Put("a", EntryOf("a", 16));
  now_ += absl::Seconds(4);
  cache.Put("a", EntryOf("a", 32));  // fetched again: new value, new age
  now_ += absl::Seconds(4);
  auto hit = cache.Get("a");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->dimension, 32u);
  cache.Invalidate("a");
  EXPECT_FALSE(cache.Get("a").has_value());
  cache.Invalidate("never-cached");  // harmless
}

TEST_F(TtlCacheTest, BoundedDropsExpiredThenOldest) {
  NamespaceCache cache(Options(3, absl::Seconds(10)));
  cache.Put("a", EntryOf("a", 1));
  now_ += absl::Seconds(1);
  cache.Put("b", EntryOf("b", 2));
  now_ += absl::Seconds(1);
  cache.Put("c", EntryOf("c", 3));
  now_ += absl::Seconds(1);
  cache.Put("d", EntryOf("d", 4));  // full, none expired: "a" (oldest) goes
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_FALSE(cache.Get("a").has_value());
  EXPECT_TRUE(cache.Get("b").has_value());
  EXPECT_TRUE(cache.Get("d").has_value());

  now_ += absl::Seconds(8);         // b (age 10) expired; c (9) and d (8) not
  cache.Put("e", EntryOf("e", 5));  // the expired entry makes room, c stays
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_FALSE(cache.Get("b").has_value());
  EXPECT_TRUE(cache.Get("c").has_value());
  EXPECT_TRUE(cache.Get("e").has_value());
}

TEST_F(TtlCacheTest, ZeroCapacityOrTtlCachesNothing) {
  NamespaceCache none(Options(0, absl::Seconds(5)));
  none.Put("a", EntryOf("a", 1));
  EXPECT_FALSE(none.Get("a").has_value());
  NamespaceCache no_ttl(Options(8, absl::ZeroDuration()));
  no_ttl.Put("a", EntryOf("a", 1));
  EXPECT_FALSE(no_ttl.Get("a").has_value());
}

TEST_F(TtlCacheTest, ClockGoingBackwardsIsAMiss) {
  NamespaceCache cache(Options(8, absl::Seconds(5)));
  cache.Put("a", EntryOf("a", 1));
  now_ -= absl::Seconds(1);
  EXPECT_FALSE(cache.Get("a").has_value());
}

}  // namespace
}  // namespace engram::cache
