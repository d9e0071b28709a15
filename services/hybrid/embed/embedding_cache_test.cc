#include "services/hybrid/embed/embedding_cache.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/hybrid/embed/hashing_embedder.h"

namespace engram::hybrid {
namespace {

EmbeddingCache::Vector Vec(float x, size_t dim = 4) {
  return std::make_shared<const std::vector<float>>(dim, x);
}

TEST(EmbeddingCacheTest, HitsAndMisses) {
  EmbeddingCache cache(1 << 20);
  EXPECT_EQ(cache.Lookup("hashing", "a"), nullptr);
  cache.Insert("hashing", "a", Vec(1));
  auto hit = cache.Lookup("hashing", "a");
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ((*hit)[0], 1.0f);
  // The embedder name is part of the key.
  EXPECT_EQ(cache.Lookup("word-vectors/m", "a"), nullptr);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.misses(), 2u);
  EXPECT_EQ(cache.entries(), 1u);
  EXPECT_EQ(cache.bytes(), EmbeddingCache::EntryBytes("hashing", "a", 4));
}

TEST(EmbeddingCacheTest, EvictsLeastRecentlyUsedByBytes) {
  const size_t entry = EmbeddingCache::EntryBytes("e", "t0", 4);
  EmbeddingCache cache(3 * entry, /*shards=*/1);
  cache.Insert("e", "t0", Vec(0));
  cache.Insert("e", "t1", Vec(1));
  cache.Insert("e", "t2", Vec(2));
  EXPECT_EQ(cache.bytes(), 3 * entry);
  ASSERT_NE(cache.Lookup("e", "t0"), nullptr);  // t0 becomes most recent; t1 is now oldest
  cache.Insert("e", "t3", Vec(3));
  EXPECT_EQ(cache.entries(), 3u);
  EXPECT_EQ(cache.evictions(), 1u);
  EXPECT_EQ(cache.Lookup("e", "t1"), nullptr);
  EXPECT_NE(cache.Lookup("e", "t0"), nullptr);
  EXPECT_NE(cache.Lookup("e", "t2"), nullptr);
  EXPECT_NE(cache.Lookup("e", "t3"), nullptr);
  EXPECT_LE(cache.bytes(), cache.capacity_bytes());

  // A big entry evicts as many entries as its bytes need.
  const std::string long_text(2 * entry, 'x');
  cache.Insert("e", long_text, Vec(9));
  EXPECT_LE(cache.bytes(), cache.capacity_bytes());
  EXPECT_NE(cache.Lookup("e", long_text), nullptr);
  EXPECT_EQ(cache.entries(), 1u);  // 2*entry of text + overhead leaves room for nothing else
}

TEST(EmbeddingCacheTest, LongerTextsAndVectorsCostMoreBytes) {
  EXPECT_GT(EmbeddingCache::EntryBytes("e", std::string(1000, 'x'), 4),
            EmbeddingCache::EntryBytes("e", "x", 4) + 900);
  EXPECT_EQ(EmbeddingCache::EntryBytes("e", "x", 384) - EmbeddingCache::EntryBytes("e", "x", 0),
            384 * sizeof(float));
}

TEST(EmbeddingCacheTest, OversizedEntriesAndZeroCapacityAreNotCached) {
  EmbeddingCache cache(1000, 1);
  cache.Insert("e", std::string(2000, 'x'), Vec(1));
  EXPECT_EQ(cache.entries(), 0u);
  EmbeddingCache off(0);
  off.Insert("e", "t", Vec(1));
  EXPECT_EQ(off.Lookup("e", "t"), nullptr);
}

TEST(EmbeddingCacheTest, ReplacingAnEntryDoesNotLeakBytes) {
  EmbeddingCache cache(1 << 20, 1);
  cache.Insert("e", "t", Vec(1));
  cache.Insert("e", "t", Vec(2));
  EXPECT_EQ(cache.entries(), 1u);
  EXPECT_EQ(cache.bytes(), EmbeddingCache::EntryBytes("e", "t", 4));
  EXPECT_EQ((*cache.Lookup("e", "t"))[0], 2.0f);
}

// Counts calls; embeds text length into every component.
class CountingEmbedder : public Embedder {
 public:
  const std::string& name() const override { return name_; }
  int dimension() const override { return 2; }
  absl::StatusOr<std::vector<float>> Embed(std::string_view text) const override {
    ++embeds;
    if (text == "fail") return absl::InternalError("boom");
    return std::vector<float>(2, static_cast<float>(text.size()));
  }
  absl::StatusOr<std::vector<std::vector<float>>> EmbedBatch(
      absl::Span<const std::string_view> texts) const override {
    ++batches;
    return Embedder::EmbedBatch(texts);
  }
  mutable std::atomic<int> embeds{0};
  mutable std::atomic<int> batches{0};

 private:
  const std::string name_ = "counting";
};

TEST(CachingEmbedderTest, ComputesOnceAndBatchesMisses) {
  auto inner = std::make_shared<CountingEmbedder>();
  EmbeddingCache cache(1 << 20);
  CachingEmbedder cached(inner, &cache);
  EXPECT_EQ(cached.name(), "counting");
  EXPECT_EQ(cached.dimension(), 2);
  ASSERT_TRUE(cached.Embed("abc").ok());
  ASSERT_TRUE(cached.Embed("abc").ok());
  EXPECT_EQ(inner->embeds, 1);

  const std::vector<std::string_view> texts = {"abc", "de", "f"};
  auto batch = cached.EmbedBatch(texts);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ((*batch)[0][0], 3.0f);
  EXPECT_EQ((*batch)[1][0], 2.0f);
  EXPECT_EQ((*batch)[2][0], 1.0f);
  EXPECT_EQ(inner->embeds, 3);   // only "de" and "f" were computed
  EXPECT_EQ(inner->batches, 1);  // in one inner batch
  EXPECT_EQ(cache.hits(), 2u);

  EXPECT_FALSE(cached.Embed("fail").ok());
  EXPECT_EQ(cache.Lookup("counting@2", "fail"), nullptr);  // errors are not cached
}

// Two namespaces with the hashing embedder at different dimensions share one cache: each must
// get vectors of its own dimension.
TEST(CachingEmbedderTest, SameNameAtTwoDimensionsDoesNotShareEntries) {
  EmbeddingCache cache(1 << 20);
  CachingEmbedder small(std::shared_ptr<const Embedder>(*HashingEmbedder::Create(32)), &cache);
  CachingEmbedder large(std::shared_ptr<const Embedder>(*HashingEmbedder::Create(64)), &cache);
  ASSERT_EQ(small.name(), large.name());
  auto a = small.Embed("the same text");
  auto b = large.Embed("the same text");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_EQ(b->size(), 64u);
  const std::vector<std::string_view> texts = {"the same text"};
  auto batch = small.EmbedBatch(texts);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ((*batch)[0].size(), 32u);
}

TEST(CachingEmbedderTest, ConcurrentUseIsSafe) {
  auto inner = std::make_shared<CountingEmbedder>();
  EmbeddingCache cache(64 * EmbeddingCache::EntryBytes("counting", "text-00", 2), 4);
  CachingEmbedder cached(inner, &cache);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        const std::string text = absl::StrCat("text-", i % 97);
        auto v = cached.Embed(text);
        if (!v.ok() || (*v)[0] != static_cast<float>(text.size())) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(cache.hits() + cache.misses(), 8000u);
  EXPECT_LE(cache.bytes(), cache.capacity_bytes());
}

}  // namespace
}  // namespace engram::hybrid
