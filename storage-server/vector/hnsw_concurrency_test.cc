// Readers search while the indexer inserts. Run under ThreadSanitizer too (label `tsan`): all
// sharing is through atomics, so TSan must stay silent.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "storage-server/vector/hnsw_index.h"
#include "storage-server/vector/test_data.h"
#include "storage-server/vector/vector_store.h"

namespace engram::storage::vector {
namespace {

// With Quantization::kInt8 the readers also cross the moment the quantizer is trained (slot
// 999) and search codes the indexer writes while they read.
class HnswConcurrencyTest : public ::testing::TestWithParam<Quantization> {};

TEST_P(HnswConcurrencyTest, SearchesWhileInserting) {
  constexpr uint32_t kDim = 16, kN = 3000, kReaders = 2;
  auto data = testing::ClusteredVectors(kN, kDim, 10, 0.3f, 3);
  auto dir = std::filesystem::path(::testing::TempDir()) /
             (GetParam() == Quantization::kInt8 ? "hnsw_concurrency_int8" : "hnsw_concurrency");
  std::filesystem::remove_all(dir);
  auto store = VectorStore::Open({dir, kDim, 1 << 14, 1 << 12});
  ASSERT_TRUE(store.ok()) << store.status();
  // Small segments: the indexer maps new ones while readers search.
  HnswIndex::Options options{dir, Metric::kCosine, {8, 40}, 1 << 12, 1 << 12};
  options.quantization = GetParam();
  options.quantization_train_count = 1000;
  options.code_segment_bytes = 1 << 12;
  auto index = HnswIndex::Open(options, store->get());
  ASSERT_TRUE(index.ok()) << index.status();
  VectorStore& vs = **store;
  HnswIndex& hnsw = **index;

  std::atomic<bool> done{false};
  std::atomic<uint64_t> searches{0};
  std::atomic<uint64_t> failures{0};
  auto odd = MakeSlotFilter([](uint32_t s) { return s % 2 == 1; });
  std::vector<std::thread> readers;
  for (uint32_t r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      uint32_t q = r;
      while (!done.load(std::memory_order_acquire)) {
        const float* query = &data[size_t{(q++ * 7919) % kN} * kDim];
        const bool filtered = q % 2 == 0;
        SearchResults res = hnsw.Search(query, 10, 32, filtered ? &odd : nullptr);
        const uint32_t visible = hnsw.indexed_count();
        std::set<uint32_t> seen;
        for (size_t i = 0; i < res.size(); ++i) {
          const uint32_t slot = res[i].second;
          bool ok = slot < visible && seen.insert(slot).second && (!filtered || slot % 2 == 1) &&
                    (i == 0 || res[i - 1].first >= res[i].first);
          if (!ok) {
            failures.fetch_add(1);
            continue;
          }
          // The vector of a returned slot is readable.
          volatile float x = vs.Get(slot)[0];
          (void)x;
        }
        searches.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }

  // The engine's writer puts and publishes; the indexer (here the same thread) follows.
  for (uint32_t slot = 0; slot < kN; ++slot) {
    ASSERT_TRUE(vs.Put(slot, &data[size_t{slot} * kDim]).ok());
    vs.Publish(slot + 1);
    ASSERT_TRUE(hnsw.Insert(slot).ok());
    if (slot % 1000 == 999) {
      ASSERT_TRUE(hnsw.Checkpoint().ok());  // readers keep searching meanwhile
    }
  }
  // Let the readers see the finished graph too.
  const uint64_t target = searches.load() + 50;
  while (searches.load() < target) std::this_thread::yield();
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();

  EXPECT_EQ(failures.load(), 0u);
  EXPECT_GT(searches.load(), 50u);
  double recall = 0;
  for (uint32_t q = 0; q < 100; ++q) {
    const float* query = &data[size_t{q * 29} * kDim];
    recall += testing::Recall(hnsw.Search(query, 10, 64), hnsw.ExactSearch(query, 10, 0, kN));
  }
  EXPECT_GE(recall / 100, 0.95);
  EXPECT_EQ(hnsw.quantized(), GetParam() == Quantization::kInt8);
}

INSTANTIATE_TEST_SUITE_P(Quantization, HnswConcurrencyTest,
                         ::testing::Values(Quantization::kNone, Quantization::kInt8),
                         [](const auto& info) {
                           return std::string(info.param == Quantization::kInt8 ? "int8" : "none");
                         });

}  // namespace
}  // namespace engram::storage::vector
