// Vector search building blocks shared by the HNSW index and the engine: the slot filter applied
// inside a search, result lists, exact (brute-force) search over a slot range, and merging.
//
// Scores are "higher is better" for every metric: cosine similarity, negative squared L2
// distance, or the dot product. Result lists are sorted by score descending, ties by slot
// ascending, so equal inputs give equal outputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "storage-server/vector/distance.h"

namespace engram::storage::vector {

class VectorStore;

// Decides which slots may appear in results. Searches call Allowed() from the searching thread,
// possibly many times per query; it must be cheap, thread-safe for concurrent searches, and must
// not call back into the index. Filtered-out slots still route an HNSW traversal; they just never
// enter the result set. The engine uses it for liveness (deleted and superseded slots) and for
// attribute equality.
class SlotFilter {
 public:
  virtual ~SlotFilter() = default;
  virtual bool Allowed(uint32_t slot) const = 0;
};

// A SlotFilter over any callable bool(uint32_t), e.g.
//   auto even = MakeSlotFilter([](uint32_t slot) { return slot % 2 == 0; });
//   index.Search(q, 10, 64, &even);
template <typename F>
class FunctionSlotFilter final : public SlotFilter {
 public:
  explicit FunctionSlotFilter(F f) : f_(std::move(f)) {}
  bool Allowed(uint32_t slot) const override { return f_(slot); }

 private:
  F f_;
};
template <typename F>
FunctionSlotFilter<F> MakeSlotFilter(F f) {
  return FunctionSlotFilter<F>(std::move(f));
}

// (score, slot); higher score is better.
using ScoredSlot = std::pair<float, uint32_t>;
using SearchResults = std::vector<ScoredSlot>;

// Exact k-nearest search over slots [slot_begin, slot_end) of `store` (slot_end must not exceed
// an observed published_count()), skipping slots the filter rejects. `query` has store.dim()
// floats. Thread-safe; the engine uses it for exact mode and for the not-yet-indexed tail.
SearchResults ExactSearch(const VectorStore& store, Metric metric, const float* query, size_t k,
                          uint32_t slot_begin, uint32_t slot_end,
                          const SlotFilter* filter = nullptr);

// The score of `query` against each of `slots` (published slots of `store`), in their order.
std::vector<float> ScoreSlots(const VectorStore& store, Metric metric, const float* query,
                              const std::vector<uint32_t>& slots);

// The best k of two result lists (each sorted as above). A slot present in both appears once,
// so an index search and a tail scan that overlap by a few slots merge cleanly.
SearchResults MergeTopK(const SearchResults& a, const SearchResults& b, size_t k);

namespace internal {

// Copies `query` (dim floats) into `out` (padded_dim floats, zero-padded); for cosine it is
// scaled to unit length (a zero query stays zero, so every similarity is 0).
void PrepareQuery(Metric metric, const float* query, size_t dim, size_t padded_dim, float* out);

}  // namespace internal

}  // namespace engram::storage::vector
