#include "storage-server/vector/vector_store.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "storage-server/vector/search.h"

namespace engram::storage::vector {
namespace {

class VectorStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::path(::testing::TempDir()) /
        ("vstore_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
  }
  // Small segments so a few hundred vectors cross several segment boundaries. 100-d vectors
  // are padded to 112 floats = 448 bytes: 9 per 4 KiB segment.
  VectorStore::Options Opts(uint32_t dim = 100) { return {dir_, dim, 4096, 4096}; }
  static std::vector<float> Vec(uint32_t dim, uint32_t seed) {
    std::vector<float> v(dim);
    for (uint32_t i = 0; i < dim; ++i) v[i] = static_cast<float>((seed * 31 + i * 7) % 97) - 48;
    return v;
  }
  std::filesystem::path dir_;
};

TEST_F(VectorStoreTest, RoundTripAcrossSegmentsAndReopen) {
  constexpr uint32_t kDim = 100, kN = 300;
  {
    auto store = VectorStore::Open(Opts());
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ((*store)->padded_dim(), 112u);
    for (uint32_t i = 0; i < kN; ++i) ASSERT_TRUE((*store)->Put(i, Vec(kDim, i).data()).ok());
    (*store)->Publish(kN);
    EXPECT_EQ((*store)->published_count(), kN);
    for (uint32_t i = 0; i < kN; ++i) {
      const float* got = (*store)->Get(i);
      auto want = Vec(kDim, i);
      ASSERT_EQ(std::vector<float>(got, got + kDim), want) << i;
      for (uint32_t d = kDim; d < 112; ++d) ASSERT_EQ(got[d], 0.0f);
      double n2 = 0;
      for (float x : want) n2 += double{x} * x;
      EXPECT_FLOAT_EQ((*store)->InverseNorm(i), static_cast<float>(1 / std::sqrt(n2)));
    }
    ASSERT_TRUE((*store)->Flush().ok());
    // Written after the last Flush(): gone after reopen, like a crash would lose it.
    ASSERT_TRUE((*store)->Put(kN, Vec(kDim, 999).data()).ok());
  }
  auto store = VectorStore::Open(Opts());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->size(), kN);
  EXPECT_EQ((*store)->published_count(), kN);
  for (uint32_t i = 0; i < kN; ++i) {
    const float* got = (*store)->Get(i);
    ASSERT_EQ(std::vector<float>(got, got + kDim), Vec(kDim, i)) << i;
  }
  // The slot is written again (the engine replays its log).
  ASSERT_TRUE((*store)->Put(kN, Vec(kDim, kN).data()).ok());
  (*store)->Publish(kN + 1);  // Get() reads published slots (Put stages the vector)
  EXPECT_EQ((*store)->Get(kN)[0], Vec(kDim, kN)[0]);
}

// Put() stages vectors in memory; Publish() writes them before readers may see them, and
// Truncate() forgets the staged ones it drops, so a later Put() of the same slot is what is read.
TEST_F(VectorStoreTest, StagedVectorsAreWrittenBeforePublishingAndDroppedByTruncate) {
  constexpr uint32_t kDim = 100;
  auto store = VectorStore::Open(Opts());
  ASSERT_TRUE(store.ok()) << store.status();
  for (uint32_t i = 0; i < 5; ++i) ASSERT_TRUE((*store)->Put(i, Vec(kDim, i).data()).ok());
  (*store)->Publish(5);
  for (uint32_t i = 5; i < 8; ++i) ASSERT_TRUE((*store)->Put(i, Vec(kDim, 100 + i).data()).ok());
  ASSERT_TRUE((*store)->Truncate(6).ok());  // slots 6 and 7 were staged only
  ASSERT_TRUE((*store)->Put(6, Vec(kDim, 206).data()).ok());
  (*store)->Publish(7);
  ASSERT_EQ((*store)->published_count(), 7u);
  for (uint32_t i = 0; i < 7; ++i) {
    const uint32_t seed = i < 5 ? i : i == 5 ? 105 : 206;
    const float* got = (*store)->Get(i);
    EXPECT_EQ(std::vector<float>(got, got + kDim), Vec(kDim, seed)) << i;
  }
}

TEST_F(VectorStoreTest, RejectsBadInput) {
  auto store = VectorStore::Open(Opts(4));
  ASSERT_TRUE(store.ok());
  float v[4] = {1, 2, 3, 4};
  EXPECT_EQ((*store)->Put(1, v).code(), absl::StatusCode::kInvalidArgument);  // not the next slot
  v[2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ((*store)->Put(0, v).code(), absl::StatusCode::kInvalidArgument);
  v[2] = std::numeric_limits<float>::infinity();
  EXPECT_EQ((*store)->Put(0, v).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*store)->size(), 0u);
  float zero[4] = {0, 0, 0, 0};
  ASSERT_TRUE((*store)->Put(0, zero).ok());
  EXPECT_EQ((*store)->InverseNorm(0), 0.0f);
  EXPECT_EQ(VectorStore::Open({dir_, 0}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VectorStore::Open({dir_, 5000}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(VectorStoreTest, ReopenWithOtherDimFailsAndCorruptMetaIsDataLoss) {
  {
    auto store = VectorStore::Open(Opts(8));
    ASSERT_TRUE(store.ok());
  }
  EXPECT_EQ(VectorStore::Open(Opts(16)).status().code(), absl::StatusCode::kFailedPrecondition);
  {
    std::FILE* f = std::fopen((dir_ / "vectors.meta").c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fseek(f, 20, SEEK_SET);
    std::fputc(0x7f, f);
    std::fclose(f);
  }
  EXPECT_EQ(VectorStore::Open(Opts(8)).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(VectorStoreTest, TruncateDropsUnpublishedSlots) {
  auto store = VectorStore::Open(Opts(4));
  ASSERT_TRUE(store.ok());
  float v[4] = {1, 0, 0, 0};
  for (uint32_t i = 0; i < 5; ++i) ASSERT_TRUE((*store)->Put(i, v).ok());
  (*store)->Publish(3);
  EXPECT_FALSE((*store)->Truncate(2).ok());  // published slots stay
  ASSERT_TRUE((*store)->Truncate(3).ok());
  EXPECT_EQ((*store)->size(), 3u);
  ASSERT_TRUE((*store)->Put(3, v).ok());
}

TEST_F(VectorStoreTest, ReserveThenRewindForRecovery) {
  float v[4] = {1, 2, 3, 4};
  {
    auto store = VectorStore::Open(Opts(4));
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Reserve(1000).ok());
    EXPECT_GE((*store)->mapped_bytes(), 1000u * 64);
    for (uint32_t i = 0; i < 10; ++i) ASSERT_TRUE((*store)->Put(i, v).ok());
    (*store)->Publish(10);
    ASSERT_TRUE((*store)->Flush().ok());
  }
  // The engine's checkpoint says 6 slots: the store was flushed further than that.
  {
    auto store = VectorStore::Open(Opts(4));
    ASSERT_TRUE(store.ok());
    EXPECT_FALSE((*store)->Rewind(11).ok());
    ASSERT_TRUE((*store)->Rewind(6).ok());
    EXPECT_EQ((*store)->size(), 6u);
    EXPECT_EQ((*store)->published_count(), 6u);
  }
  // Rewind is in memory only: vectors.meta still covers 10 slots (an index over them still
  // opens after a crash) until the next Flush().
  auto store = VectorStore::Open(Opts(4));
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->size(), 10u);
  ASSERT_TRUE((*store)->Rewind(6).ok());
  float w[4] = {5, 6, 7, 8};
  ASSERT_TRUE((*store)->Put(6, w).ok());
  (*store)->Publish(7);
  ASSERT_TRUE((*store)->Flush().ok());
  store->reset();
  auto reopened = VectorStore::Open(Opts(4));
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->size(), 7u);
  EXPECT_EQ((*reopened)->Get(6)[0], 5.0f);
}

TEST_F(VectorStoreTest, ExactSearchAndMerge) {
  auto store = VectorStore::Open(Opts(2));
  ASSERT_TRUE(store.ok());
  const float pts[][2] = {{1, 0}, {0, 1}, {-1, 0}, {2, 0.1f}, {0.5f, 0.5f}};
  for (uint32_t i = 0; i < 5; ++i) ASSERT_TRUE((*store)->Put(i, pts[i]).ok());
  (*store)->Publish(5);
  const float q[2] = {1, 0};

  SearchResults l2 = ExactSearch(**store, Metric::kL2, q, 2, 0, 5);
  ASSERT_EQ(l2.size(), 2u);
  EXPECT_EQ(l2[0], ScoredSlot(0.0f, 0));
  EXPECT_EQ(l2[1].second, 4u);
  EXPECT_FLOAT_EQ(l2[1].first, -0.5f);

  SearchResults cos = ExactSearch(**store, Metric::kCosine, q, 5, 0, 5);
  ASSERT_EQ(cos.size(), 5u);
  EXPECT_EQ(cos[0].second, 0u);
  EXPECT_FLOAT_EQ(cos[0].first, 1.0f);
  EXPECT_EQ(cos[4].second, 2u);
  EXPECT_FLOAT_EQ(cos[4].first, -1.0f);

  SearchResults ip = ExactSearch(**store, Metric::kInnerProduct, q, 1, 0, 5);
  EXPECT_EQ(ip[0], ScoredSlot(2.0f, 3));

  auto not_zero = MakeSlotFilter([](uint32_t s) { return s != 0; });
  SearchResults filtered = ExactSearch(**store, Metric::kL2, q, 1, 0, 5, &not_zero);
  EXPECT_EQ(filtered[0].second, 4u);
  EXPECT_EQ(ExactSearch(**store, Metric::kL2, q, 3, 2, 4).size(), 2u);  // slot range

  SearchResults a = {{0.9f, 1}, {0.5f, 2}, {0.1f, 3}};
  SearchResults b = {{0.95f, 7}, {0.5f, 2}, {0.2f, 8}};
  SearchResults merged = MergeTopK(a, b, 4);
  EXPECT_EQ(merged, (SearchResults{{0.95f, 7}, {0.9f, 1}, {0.5f, 2}, {0.2f, 8}}));
}

}  // namespace
}  // namespace engram::storage::vector
