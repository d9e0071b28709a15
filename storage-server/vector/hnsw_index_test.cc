#include "storage-server/vector/hnsw_index.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "storage-server/vector/test_data.h"
#include "storage-server/vector/vector_store.h"

namespace engram::storage::vector {
namespace {

using testing::ClusteredVectors;
using testing::Recall;

constexpr uint32_t kDim = 32;

std::filesystem::path TestDir(const std::string& suffix = "") {
  std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  auto dir = std::filesystem::path(::testing::TempDir()) / ("hnsw_" + name + suffix);
  return dir;
}

// A namespace directory with a store and an index, reopenable.
struct Namespace {
  std::filesystem::path dir;
  Metric metric;
  HnswParams params;
  Quantization quantization = Quantization::kNone;
  uint32_t train_count = 1000;
  std::unique_ptr<VectorStore> store;
  std::unique_ptr<HnswIndex> index;

  Namespace(std::filesystem::path d, Metric m, HnswParams p = {16, 100})
      : dir(std::move(d)), metric(m), params(p) {}

  void Open() {
    index.reset();
    store.reset();
    // Small segments: the test data spans many of them.
    auto s = VectorStore::Open({dir, kDim, 1 << 16, 1 << 12});
    ASSERT_TRUE(s.ok()) << s.status();
    store = std::move(*s);
    HnswIndex::Options options{dir, metric, params, 1 << 16, 1 << 12};
    options.quantization = quantization;
    options.quantization_train_count = train_count;
    options.code_segment_bytes = 1 << 16;
    auto i = HnswIndex::Open(options, store.get());
    ASSERT_TRUE(i.ok()) << i.status();
    index = std::move(*i);
  }
  void Add(const std::vector<float>& data, uint32_t begin, uint32_t end) {
    for (uint32_t slot = begin; slot < end; ++slot) {
      ASSERT_TRUE(store->Put(slot, &data[size_t{slot} * kDim]).ok());
    }
    store->Publish(end);
    for (uint32_t slot = begin; slot < end; ++slot) ASSERT_TRUE(index->Insert(slot).ok()) << slot;
  }
  void Checkpoint() {
    ASSERT_TRUE(store->Flush().ok());
    ASSERT_TRUE(index->Checkpoint().ok());
  }
};

// Mean recall@k of the index against brute force over [0, indexed_count()).
double MeanRecall(const HnswIndex& index, const std::vector<float>& queries, size_t k, size_t ef,
                  const SlotFilter* filter = nullptr) {
  const size_t nq = queries.size() / kDim;
  double sum = 0;
  for (size_t q = 0; q < nq; ++q) {
    const float* query = &queries[q * kDim];
    SearchResults approx = index.Search(query, k, ef, filter);
    SearchResults exact = index.ExactSearch(query, k, 0, index.indexed_count(), filter);
    sum += Recall(approx, exact);
  }
  return sum / nq;
}

class HnswMetricTest : public ::testing::TestWithParam<Metric> {};

TEST_P(HnswMetricTest, RecallAt10AgainstBruteForce) {
  constexpr uint32_t kN = 10000, kQ = 200;
  auto all = ClusteredVectors(kN + kQ, kDim, 100, 0.8f, 42);
  std::vector<float> queries(all.begin() + size_t{kN} * kDim, all.end());
  Namespace ns(TestDir(), GetParam());
  std::filesystem::remove_all(ns.dir);
  ns.Open();
  ns.Add(all, 0, kN);
  EXPECT_EQ(ns.index->indexed_count(), kN);
  const double recall = MeanRecall(*ns.index, queries, 10, 64);
  EXPECT_GE(recall, 0.95) << MetricName(GetParam());
  RecordProperty("recall_at_10_ef64", std::to_string(recall));
  std::printf("recall@10 (ef=64, %s): %.4f\n", std::string(MetricName(GetParam())).c_str(), recall);
  // Scores are "higher is better" and sorted.
  SearchResults r = ns.index->Search(queries.data(), 10, 64);
  ASSERT_EQ(r.size(), 10u);
  for (size_t i = 1; i < r.size(); ++i) EXPECT_GE(r[i - 1].first, r[i].first);
  // Bytes per node: 136-byte level-0 records plus a few upper-level lists.
  EXPECT_GT(ns.index->graph_bytes_per_vector(), 136.0);
  EXPECT_LT(ns.index->graph_bytes_per_vector(), 160.0);
}

INSTANTIATE_TEST_SUITE_P(Metrics, HnswMetricTest,
                         ::testing::Values(Metric::kL2, Metric::kCosine, Metric::kInnerProduct),
                         [](const auto& info) { return std::string(MetricName(info.param)); });

TEST(HnswIndexTest, FilterIsAppliedInsideTheSearch) {
  constexpr uint32_t kN = 5000, kQ = 50;
  auto all = ClusteredVectors(kN + kQ, kDim, 20, 0.3f, 7);
  std::vector<float> queries(all.begin() + size_t{kN} * kDim, all.end());
  Namespace ns(TestDir(), Metric::kL2);
  std::filesystem::remove_all(ns.dir);
  ns.Open();
  ns.Add(all, 0, kN);

  // Half the slots, then 1 % of them (50 allowed): a post-filter of the top ef would come back
  // short; filtering inside the search still returns k allowed slots.
  auto even = MakeSlotFilter([](uint32_t s) { return s % 2 == 0; });
  auto rare = MakeSlotFilter([](uint32_t s) { return s % 100 == 3; });
  for (const SlotFilter* filter :
       {static_cast<const SlotFilter*>(&even), static_cast<const SlotFilter*>(&rare)}) {
    for (uint32_t q = 0; q < kQ; ++q) {
      SearchResults r = ns.index->Search(&queries[size_t{q} * kDim], 10, 32, filter);
      ASSERT_EQ(r.size(), 10u);
      for (const auto& [score, slot] : r) ASSERT_TRUE(filter->Allowed(slot)) << slot;
    }
    EXPECT_GE(MeanRecall(*ns.index, queries, 10, 64, filter), 0.95);
  }
  // Fewer allowed slots than k: all of them.
  auto three = MakeSlotFilter([](uint32_t s) { return s == 1 || s == 2000 || s == 4999; });
  SearchResults r = ns.index->Search(queries.data(), 10, 16, &three);
  std::set<uint32_t> got;
  for (const auto& hit : r) got.insert(hit.second);
  EXPECT_EQ(got, (std::set<uint32_t>{1, 2000, 4999}));
  // Nothing allowed: nothing found.
  auto none = MakeSlotFilter([](uint32_t) { return false; });
  EXPECT_TRUE(ns.index->Search(queries.data(), 10, 16, &none).empty());
}

TEST(HnswIndexTest, ReopenAfterCheckpointGivesIdenticalResultsWithoutRebuilding) {
  constexpr uint32_t kN = 4000, kQ = 50;
  auto all = ClusteredVectors(kN + kQ, kDim, 20, 0.3f, 11);
  std::vector<float> queries(all.begin() + size_t{kN} * kDim, all.end());
  Namespace ns(TestDir(), Metric::kCosine);
  std::filesystem::remove_all(ns.dir);
  ns.Open();
  ns.Add(all, 0, kN);
  ns.Checkpoint();
  std::vector<SearchResults> before;
  for (uint32_t q = 0; q < kQ; ++q) before.push_back(ns.index->Search(&queries[q * kDim], 10, 50));
  const int levels = ns.index->max_level();

  ns.Open();
  EXPECT_EQ(ns.index->indexed_count(), kN);
  EXPECT_EQ(ns.index->checkpointed_count(), kN);
  EXPECT_EQ(ns.index->max_level(), levels);
  for (uint32_t q = 0; q < kQ; ++q) {
    EXPECT_EQ(ns.index->Search(&queries[q * kDim], 10, 50), before[q]) << q;
  }
  // It keeps growing after the reopen.
  auto more = ClusteredVectors(100, kDim, 20, 0.3f, 12);
  std::vector<float> extended(all.begin(), all.begin() + size_t{kN} * kDim);
  extended.insert(extended.end(), more.begin(), more.end());
  ns.Add(extended, kN, kN + 100);
  EXPECT_EQ(ns.index->indexed_count(), kN + 100);
}

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(HnswIndexTest, SameInsertsBuildByteIdenticalGraphs) {
  constexpr uint32_t kN = 3000;
  auto all = ClusteredVectors(kN, kDim, 10, 0.3f, 5);
  Namespace a(TestDir("_a"), Metric::kL2), b(TestDir("_b"), Metric::kL2);
  for (Namespace* ns : {&a, &b}) {
    std::filesystem::remove_all(ns->dir);
    ns->Open();
    ns->Add(all, 0, kN);
    ns->Checkpoint();
  }
  for (const char* file :
       {"hnsw_links.000000", "hnsw_links.000001", "hnsw_upper.000000", "hnsw.meta"}) {
    ASSERT_TRUE(std::filesystem::exists(a.dir / file)) << file;
    EXPECT_EQ(ReadAll(a.dir / file), ReadAll(b.dir / file)) << file;
  }
}

// A crash after a checkpoint leaves nodes past the checkpointed count half-written and old
// nodes' lists pointing at them. Reopening must ignore all of it, search correctly, and take
// the lost inserts again.
TEST(HnswIndexTest, ReopenAfterCrashMidInsertIgnoresLinksPastTheCheckpoint) {
  constexpr uint32_t kCheckpointed = 5000, kTouched = 8000, kQ = 100;
  auto all = ClusteredVectors(kTouched + kQ, kDim, 30, 0.3f, 99);
  std::vector<float> queries(all.begin() + size_t{kTouched} * kDim, all.end());
  Namespace ns(TestDir(), Metric::kL2);
  std::filesystem::remove_all(ns.dir);
  ns.Open();
  ns.Add(all, 0, kCheckpointed);
  ns.Checkpoint();
  ns.Add(all, kCheckpointed, kTouched);  // lost: not checkpointed
  ns.index.reset();  // no Checkpoint(): as if killed; the mapped pages reach the files anyway
  ns.store.reset();
  {
    // Scribble directly into the level-0 file: the last link slot of every old node now names a
    // node that will not exist after the reopen.
    auto links = RecordArray::Open(ns.dir, "hnsw_links", (2 * ns.params.M + 2) * 4, 1 << 16);
    ASSERT_TRUE(links.ok()) << links.status();
    for (uint32_t id = 0; id < kCheckpointed; ++id) {
      auto* rec = reinterpret_cast<uint32_t*>((*links)->At(id));
      rec[0] = 2 * ns.params.M;  // a torn count: the whole list is read
      rec[2 * ns.params.M] = kTouched + id;
      if (rec[1] < kCheckpointed) rec[1] = kCheckpointed + (id % 3000);
    }
  }

  ns.Open();
  ASSERT_EQ(ns.store->size(), kCheckpointed);
  ASSERT_EQ(ns.index->indexed_count(), kCheckpointed);
  for (uint32_t q = 0; q < kQ; ++q) {
    for (const auto& [score, slot] : ns.index->Search(&queries[q * kDim], 10, 64)) {
      ASSERT_LT(slot, kCheckpointed);
    }
  }
  EXPECT_GE(MeanRecall(*ns.index, queries, 10, 64), 0.95);

  // The engine replays its log: the lost vectors come back and are indexed again.
  ns.Add(all, kCheckpointed, kTouched);
  ASSERT_EQ(ns.index->indexed_count(), kTouched);
  EXPECT_GE(MeanRecall(*ns.index, queries, 10, 64), 0.95);
  ns.Checkpoint();
  ns.Open();
  EXPECT_EQ(ns.index->indexed_count(), kTouched);
  EXPECT_GE(MeanRecall(*ns.index, queries, 10, 64), 0.95);
}

TEST(HnswIndexTest, ContractErrors) {
  Namespace ns(TestDir(), Metric::kL2);
  std::filesystem::remove_all(ns.dir);
  ns.Open();
  std::vector<float> v(kDim, 1.0f);
  EXPECT_TRUE(ns.index->Search(v.data(), 10, 10).empty());  // empty index
  EXPECT_EQ(ns.index->max_level(), -1);
  EXPECT_EQ(ns.index->Insert(0).code(), absl::StatusCode::kFailedPrecondition);  // not published
  ASSERT_TRUE(ns.store->Put(0, v.data()).ok());
  ns.store->Publish(1);
  EXPECT_EQ(ns.index->Insert(1).code(), absl::StatusCode::kInvalidArgument);  // out of order
  ASSERT_TRUE(ns.index->Insert(0).ok());
  SearchResults one = ns.index->Search(v.data(), 10, 10);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0], ScoredSlot(0.0f, 0));
  EXPECT_TRUE(ns.index->Search(v.data(), 0, 10).empty());
  ns.Checkpoint();
  ns.index.reset();

  HnswIndex::Options other{ns.dir, Metric::kCosine, ns.params, 1 << 16, 1 << 12};
  EXPECT_EQ(HnswIndex::Open(other, ns.store.get()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  other.metric = Metric::kL2;
  other.params.M = 8;
  EXPECT_EQ(HnswIndex::Open(other, ns.store.get()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  other.params.M = 1;
  EXPECT_EQ(HnswIndex::Open(other, ns.store.get()).status().code(),
            absl::StatusCode::kInvalidArgument);
  {
    std::FILE* f = std::fopen((ns.dir / "hnsw.meta").c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fseek(f, 60, SEEK_SET);
    std::fputc(0x55, f);
    std::fclose(f);
  }
  other.params = ns.params;
  EXPECT_EQ(HnswIndex::Open(other, ns.store.get()).status().code(), absl::StatusCode::kDataLoss);
}

TEST(HnswIndexTest, LevelsAreDeterministicWithGeometricDistribution) {
  Namespace ns(TestDir(), Metric::kL2);
  std::filesystem::remove_all(ns.dir);
  ns.Open();
  std::vector<uint32_t> per_level(HnswIndex::kMaxLevel + 1);
  for (uint32_t slot = 0; slot < 1'000'000; ++slot) ++per_level[ns.index->LevelOf(slot)];
  // P(level >= 1) = 1/16.
  EXPECT_NEAR(1'000'000 - per_level[0], 62'500, 1'000);
  EXPECT_NEAR(per_level[1], 62'500 * 15 / 16, 1'000);
  EXPECT_EQ(ns.index->LevelOf(12345), ns.index->LevelOf(12345));
}

// ---------------------------------------------------------------------------------------------
// INT8 quantization

std::vector<SearchResults> SearchAll(const HnswIndex& index, const std::vector<float>& queries,
                                     size_t k, size_t ef) {
  std::vector<SearchResults> out;
  for (size_t q = 0; q < queries.size() / kDim; ++q) {
    out.push_back(index.Search(&queries[q * kDim], k, ef));
  }
  return out;
}

class HnswQuantizedTest : public ::testing::TestWithParam<Metric> {};

// The target: recall@10 within 0.01 of the float index at the same ef, same data. The
// quantized index trains after its first quarter: the other three quarters are inserted with the
// neighbour search on the codes (the candidates re-scored and the neighbours chosen on the floats),
// so this also holds the code-guided construction to the float graph's quality.
TEST_P(HnswQuantizedTest, RecallWithinOneHundredthOfFloatAndExactScores) {
  // 4000 vectors: two 10K builds per metric took most of this test's 7 minutes under ASan.
  constexpr uint32_t kN = 4000, kQ = 200;
  auto all = ClusteredVectors(kN + kQ, kDim, 100, 0.8f, 42);
  std::vector<float> queries(all.begin() + size_t{kN} * kDim, all.end());
  Namespace flt(TestDir("_float"), GetParam()), q8(TestDir("_int8"), GetParam());
  q8.quantization = Quantization::kInt8;
  q8.train_count = kN / 4;
  for (Namespace* ns : {&flt, &q8}) {
    std::filesystem::remove_all(ns->dir);
    ns->Open();
    ns->Add(all, 0, kN);
  }
  ASSERT_FALSE(flt.index->quantized());
  ASSERT_TRUE(q8.index->quantized());
  EXPECT_EQ(q8.index->code_bytes_per_vector(), PaddedDim(kDim) + sizeof(float));
  for (size_t ef : {16u, 32u, 64u}) {
    const double r_float = MeanRecall(*flt.index, queries, 10, ef);
    const double r_int8 = MeanRecall(*q8.index, queries, 10, ef);
    std::printf("recall@10 ef=%zu %s: float %.4f int8 %.4f\n", ef,
                std::string(MetricName(GetParam())).c_str(), r_float, r_int8);
    EXPECT_GE(r_int8, r_float - 0.01) << "ef " << ef;
  }
  // The returned scores are the float scores (re-ranked), best first.
  for (uint32_t q = 0; q < 20; ++q) {
    const float* query = &queries[size_t{q} * kDim];
    SearchResults r = q8.index->Search(query, 10, 32);
    ASSERT_EQ(r.size(), 10u);
    std::vector<uint32_t> slots;
    for (const auto& hit : r) slots.push_back(hit.second);
    std::vector<float> exact = ScoreSlots(*q8.store, GetParam(), query, slots);
    for (size_t i = 0; i < r.size(); ++i) {
      EXPECT_NEAR(r[i].first, exact[i], 1e-5 * (1 + std::abs(exact[i])));
      if (i > 0) EXPECT_GE(r[i - 1].first, r[i].first);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Metrics, HnswQuantizedTest,
                         ::testing::Values(Metric::kL2, Metric::kCosine, Metric::kInnerProduct),
                         [](const auto& info) { return std::string(MetricName(info.param)); });

TEST(HnswQuantizedIndexTest, TrainsWhenTheIndexerReachesTheTrainCountAndFiltersStillApply) {
  constexpr uint32_t kN = 3000;
  auto all = ClusteredVectors(kN, kDim, 10, 0.3f, 3);
  Namespace ns(TestDir(), Metric::kL2);
  ns.quantization = Quantization::kInt8;
  ns.train_count = 2000;
  std::filesystem::remove_all(ns.dir);
  ns.Open();
  ns.Add(all, 0, 1999);
  EXPECT_FALSE(ns.index->quantized());
  EXPECT_EQ(ns.index->code_bytes_per_vector(), 0u);
  EXPECT_FALSE(std::filesystem::exists(ns.dir / "hnsw_quant.params"));
  ns.Add(all, 1999, 2000);
  EXPECT_TRUE(ns.index->quantized());
  EXPECT_TRUE(std::filesystem::exists(ns.dir / "hnsw_quant.params"));
  ns.Add(all, 2000, kN);
  auto even = MakeSlotFilter([](uint32_t s) { return s % 2 == 0; });
  for (uint32_t q = 0; q < 50; ++q) {
    SearchResults r = ns.index->Search(&all[size_t{q * 7} * kDim], 10, 32, &even);
    ASSERT_EQ(r.size(), 10u);
    for (const auto& [score, slot] : r) ASSERT_TRUE(even.Allowed(slot)) << slot;
  }
}

// A quantized namespace survives a clean reopen and a crash (work past the checkpoint lost,
// including a training that happened after it), and gives the same results as one built
// straight through.
TEST(HnswQuantizedIndexTest, ReopenAndCrashRecoveryGiveTheSameResults) {
  constexpr uint32_t kN = 6000, kQ = 50;
  auto all = ClusteredVectors(kN + kQ, kDim, 20, 0.3f, 17);
  std::vector<float> queries(all.begin() + size_t{kN} * kDim, all.end());
  auto make = [&](const std::string& suffix) {
    Namespace ns(TestDir(suffix), Metric::kCosine);
    ns.quantization = Quantization::kInt8;
    ns.train_count = 2000;
    std::filesystem::remove_all(ns.dir);
    return ns;
  };
  Namespace straight = make("_straight");
  straight.Open();
  straight.Add(all, 0, kN);
  straight.Checkpoint();
  const std::vector<SearchResults> want = SearchAll(*straight.index, queries, 10, 40);

  // Clean reopen: codes and ranges come from the files.
  straight.Open();
  ASSERT_TRUE(straight.index->quantized());
  EXPECT_EQ(SearchAll(*straight.index, queries, 10, 40), want);

  // Crash: checkpoint at 1000 (before training), train at 2000 and go on to 4000, crash.
  Namespace crashed = make("_crashed");
  crashed.Open();
  crashed.Add(all, 0, 1000);
  crashed.Checkpoint();
  crashed.Add(all, 1000, 4000);
  ASSERT_TRUE(crashed.index->quantized());
  crashed.Open();  // no checkpoint: as after SIGKILL (the mapped pages reach the files)
  EXPECT_EQ(crashed.index->indexed_count(), 1000u);
  EXPECT_FALSE(crashed.index->quantized());  // the ranges on disk cover slots not checkpointed
  crashed.Add(all, 1000, 3000);
  crashed.Checkpoint();
  // Crash again after the training was checkpointed.
  crashed.Add(all, 3000, 5000);
  crashed.Open();
  EXPECT_EQ(crashed.index->indexed_count(), 3000u);
  EXPECT_TRUE(crashed.index->quantized());
  crashed.Add(all, 3000, kN);
  crashed.Checkpoint();
  // Ranges and codes are a pure function of the slots: byte-identical to the straight build.
  // (The graph may differ: lists that picked up links to lost nodes were re-pruned.)
  for (const char* file : {"hnsw_quant.params", "hnsw_codes.000000", "hnsw_codes.000002"}) {
    EXPECT_EQ(ReadAll(crashed.dir / file), ReadAll(straight.dir / file)) << file;
  }
  EXPECT_GE(MeanRecall(*crashed.index, queries, 10, 40),
            MeanRecall(*straight.index, queries, 10, 40) - 0.01);
}

// An index built without quantization opened with it derives the codes from the vector store.
TEST(HnswQuantizedIndexTest, FloatIndexReopenedAsInt8DerivesItsCodes) {
  constexpr uint32_t kN = 4000, kQ = 50;
  auto all = ClusteredVectors(kN + kQ, kDim, 20, 0.3f, 23);
  std::vector<float> queries(all.begin() + size_t{kN} * kDim, all.end());
  Namespace direct(TestDir("_direct"), Metric::kL2), later(TestDir("_later"), Metric::kL2);
  direct.quantization = Quantization::kInt8;
  for (Namespace* ns : {&direct, &later}) {
    std::filesystem::remove_all(ns->dir);
    ns->Open();
    ns->Add(all, 0, kN);
    ns->Checkpoint();
  }
  later.quantization = Quantization::kInt8;
  later.Open();
  ASSERT_TRUE(later.index->quantized());
  EXPECT_EQ(SearchAll(*later.index, queries, 10, 32), SearchAll(*direct.index, queries, 10, 32));
  // And back: a NONE open ignores the codes.
  later.quantization = Quantization::kNone;
  later.Open();
  EXPECT_FALSE(later.index->quantized());
}
}  // namespace
}  // namespace engram::storage::vector
