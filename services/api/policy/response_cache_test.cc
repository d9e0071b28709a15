#include "services/api/policy/response_cache.h"

#include <string>

#include "engram/v1/engram.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::api {
namespace {

class FakeClock {
 public:
  void Advance(absl::Duration d) { now_ += d; }
  ResponseCache::Clock AsFunction() {
    return [this] { return now_; };
  }

 private:
  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
};

v1::SearchRequest Search(std::string ns, std::string query, uint32_t k = 10) {
  v1::SearchRequest request;
  request.set_namespace_(std::move(ns));
  request.set_query(std::move(query));
  request.set_k(k);
  return request;
}

TEST(ResponseCacheKeyTest, IgnoresTheNamespaceField) {
  EXPECT_EQ(ResponseCache::Key("search", Search("a", "cats")),
            ResponseCache::Key("search", Search("b", "cats")));
}

TEST(ResponseCacheKeyTest, DistinguishesKindAndEveryOtherField) {
  const std::string base = ResponseCache::Key("search", Search("a", "cats"));
  EXPECT_NE(base, ResponseCache::Key("reason", Search("a", "cats")));
  EXPECT_NE(base, ResponseCache::Key("search", Search("a", "dogs")));
  EXPECT_NE(base, ResponseCache::Key("search", Search("a", "cats", 11)));
  v1::SearchRequest filtered = Search("a", "cats");
  (*filtered.mutable_filter()->mutable_attributes())["lang"] = "en";
  EXPECT_NE(base, ResponseCache::Key("search", filtered));
  // The kind is length-prefixed: no kind/body boundary ambiguity.
  EXPECT_NE(ResponseCache::Key("s", Search("", "x")), ResponseCache::Key("", Search("", "x")));
}

TEST(ResponseCacheKeyTest, MapOrderDoesNotMatter) {
  v1::SearchRequest one = Search("a", "cats");
  v1::SearchRequest two = Search("a", "cats");
  const std::string keys[] = {"k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8"};
  for (const std::string& k : keys) (*one.mutable_filter()->mutable_attributes())[k] = "v" + k;
  for (auto it = std::rbegin(keys); it != std::rend(keys); ++it) {
    (*two.mutable_filter()->mutable_attributes())[*it] = "v" + *it;
  }
  EXPECT_EQ(ResponseCache::Key("search", one), ResponseCache::Key("search", two));
}

TEST(ResponseCacheKeyTest, MessagesWithoutANamespaceField) {
  v1::GetStatsRequest stats;
  EXPECT_FALSE(ResponseCache::Key("stats", stats).empty());
  // The request itself is not modified.
  v1::SearchRequest request = Search("a", "cats");
  ResponseCache::Key("search", request);
  EXPECT_EQ(request.namespace_(), "a");
}

TEST(ResponseCacheTest, HitAndMiss) {
  FakeClock clock;
  ResponseCache cache({.max_bytes = 1 << 20, .ttl = absl::Seconds(30)}, clock.AsFunction());
  const std::string key = ResponseCache::Key("search", Search("a", "cats"));
  EXPECT_EQ(cache.Get("a", key), std::nullopt);
  cache.Put("a", key, "answer", cache.Generation("a"));
  EXPECT_EQ(cache.Get("a", key), "answer");
  EXPECT_EQ(cache.Get("b", key), std::nullopt);  // namespaces are separate
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.misses(), 2u);
  EXPECT_GT(cache.bytes(), 0u);
  // Put replaces.
  cache.Put("a", key, "newer", cache.Generation("a"));
  EXPECT_EQ(cache.Get("a", key), "newer");
}

TEST(ResponseCacheTest, EntriesExpireAfterTheTtl) {
  FakeClock clock;
  ResponseCache cache({.max_bytes = 1 << 20, .ttl = absl::Seconds(30)}, clock.AsFunction());
  cache.Put("a", "k", "v", cache.Generation("a"));
  clock.Advance(absl::Seconds(29));
  EXPECT_EQ(cache.Get("a", "k"), "v");
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(cache.Get("a", "k"), std::nullopt);
  EXPECT_EQ(cache.bytes(), 0u);  // the expired entry was dropped
}

TEST(ResponseCacheTest, EvictsLeastRecentlyUsedByBytes) {
  FakeClock clock;
  const std::string value(1000, 'x');
  // Room for three entries of ~1.1 KB, not four.
  ResponseCache cache({.max_bytes = 3500, .ttl = absl::Seconds(30)}, clock.AsFunction());
  const uint64_t g = cache.Generation("a");
  cache.Put("a", "k1", value, g);
  cache.Put("a", "k2", value, g);
  cache.Put("a", "k3", value, g);
  ASSERT_TRUE(cache.Get("a", "k1").has_value());  // k1 is now the most recent; k2 the least
  cache.Put("a", "k4", value, g);
  EXPECT_EQ(cache.Get("a", "k2"), std::nullopt);
  EXPECT_TRUE(cache.Get("a", "k1").has_value());
  EXPECT_TRUE(cache.Get("a", "k3").has_value());
  EXPECT_TRUE(cache.Get("a", "k4").has_value());
  EXPECT_LE(cache.bytes(), 3500u);

  // A value bigger than the whole cache is not stored and evicts nothing.
  cache.Put("a", "huge", std::string(4000, 'y'), g);
  EXPECT_EQ(cache.Get("a", "huge"), std::nullopt);
  EXPECT_TRUE(cache.Get("a", "k4").has_value());
}

TEST(ResponseCacheTest, InvalidationBumpsTheNamespaceGeneration) {
  FakeClock clock;
  ResponseCache cache({.max_bytes = 1 << 20, .ttl = absl::Seconds(30)}, clock.AsFunction());
  cache.Put("a", "k", "va", cache.Generation("a"));
  cache.Put("b", "k", "vb", cache.Generation("b"));
  const uint64_t before = cache.Generation("a");
  cache.Invalidate("a");
  EXPECT_GT(cache.Generation("a"), before);
  EXPECT_EQ(cache.Get("a", "k"), std::nullopt);
  EXPECT_EQ(cache.Get("b", "k"), "vb");  // other namespaces keep their entries
  // Fresh entries after the write are cached again.
  cache.Put("a", "k", "va2", cache.Generation("a"));
  EXPECT_EQ(cache.Get("a", "k"), "va2");
}

TEST(ResponseCacheTest, PutWithAStaleGenerationIsIgnored) {
  FakeClock clock;
  ResponseCache cache({.max_bytes = 1 << 20, .ttl = absl::Seconds(30)}, clock.AsFunction());
  const uint64_t read_before_call = cache.Generation("a");
  cache.Invalidate("a");  // a write lands while the search is in flight
  cache.Put("a", "k", "computed before the write", read_before_call);
  EXPECT_EQ(cache.Get("a", "k"), std::nullopt);
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(ResponseCacheTest, ManyNamespacesStayBoundedAndCorrect) {
  FakeClock clock;
  ResponseCache cache({.max_bytes = 1 << 20, .ttl = absl::Seconds(30)}, clock.AsFunction());
  const uint64_t stale = cache.Generation("keep");
  for (int i = 0; i < 70000; ++i) cache.Invalidate("ns" + std::to_string(i));
  cache.Invalidate("keep");
  // Generations never go back, whatever the bookkeeping did meanwhile.
  cache.Put("keep", "k", "stale", stale);
  EXPECT_EQ(cache.Get("keep", "k"), std::nullopt);
  const uint64_t fresh = cache.Generation("keep");
  EXPECT_GT(fresh, stale);
  cache.Put("keep", "k", "fresh", fresh);
  EXPECT_EQ(cache.Get("keep", "k"), "fresh");
}

TEST(ResponseCacheTest, ZeroBytesDisablesTheCache) {
  FakeClock clock;
  ResponseCache cache({.max_bytes = 0, .ttl = absl::Seconds(30)}, clock.AsFunction());
  cache.Put("a", "k", "v", cache.Generation("a"));
  EXPECT_EQ(cache.Get("a", "k"), std::nullopt);
  EXPECT_EQ(cache.misses(), 1u);
  EXPECT_EQ(cache.bytes(), 0u);
}

}  // namespace
}  // namespace engram::api
