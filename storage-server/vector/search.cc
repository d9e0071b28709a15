#include "storage-server/vector/search.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "storage-server/vector/vector_store.h"

namespace engram::storage::vector {

namespace internal {

void PrepareQuery(Metric metric, const float* query, size_t dim, size_t padded_dim, float* out) {
  std::memcpy(out, query, dim * sizeof(float));
  std::fill(out + dim, out + padded_dim, 0.0f);
  if (metric != Metric::kCosine) return;
  double norm2 = 0;
  for (size_t i = 0; i < dim; ++i) norm2 += static_cast<double>(out[i]) * out[i];
  if (norm2 <= 0) return;
  const float inv = static_cast<float>(1.0 / std::sqrt(norm2));
  for (size_t i = 0; i < dim; ++i) out[i] *= inv;
}

}  // namespace internal

namespace {

bool BetterFirst(const ScoredSlot& a, const ScoredSlot& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

// Max-heap on distance (the worst kept result on top); keeps the best k.
struct WorstOnTop {
  bool operator()(const std::pair<float, uint32_t>& a, const std::pair<float, uint32_t>& b) const {
    return a.first < b.first || (a.first == b.first && a.second < b.second);
  }
};

}  // namespace

std::vector<float> ScoreSlots(const VectorStore& store, Metric metric, const float* query,
                              const std::vector<uint32_t>& slots) {
  std::vector<float> out;
  out.reserve(slots.size());
  const size_t pd = store.padded_dim();
  std::vector<float> q(pd);
  internal::PrepareQuery(metric, query, store.dim(), pd, q.data());
  const DistanceKernels& kernels = Kernels();
  for (uint32_t slot : slots) {
    if (metric == Metric::kL2) {
      out.push_back(-kernels.l2_sqr(q.data(), store.Get(slot), pd));
    } else {
      const float dot = kernels.dot(q.data(), store.Get(slot), pd);
      out.push_back(metric == Metric::kCosine ? dot * store.InverseNorm(slot) : dot);
    }
  }
  return out;
}

SearchResults ExactSearch(const VectorStore& store, Metric metric, const float* query, size_t k,
                          uint32_t slot_begin, uint32_t slot_end, const SlotFilter* filter) {
  SearchResults out;
  if (k == 0 || slot_begin >= slot_end) return out;
  const size_t pd = store.padded_dim();
  std::vector<float> q(pd);
  internal::PrepareQuery(metric, query, store.dim(), pd, q.data());
  const DistanceKernels& kernels = Kernels();
  const DistanceKernel kernel = metric == Metric::kL2 ? kernels.l2_sqr : kernels.dot;

  // Distances (lower is better) in a bounded max-heap.
  std::vector<std::pair<float, uint32_t>> heap;
  heap.reserve(k + 1);
  constexpr uint32_t kAhead = 4;
  const size_t vector_bytes = pd * sizeof(float);
  for (uint32_t slot = slot_begin; slot < slot_end; ++slot) {
    if (slot + kAhead < slot_end) {
      const char* p = reinterpret_cast<const char*>(store.Get(slot + kAhead));
      for (size_t off = 0; off < vector_bytes; off += 64) __builtin_prefetch(p + off);
    }
    if (filter != nullptr && !filter->Allowed(slot)) continue;
    float raw = kernel(q.data(), store.Get(slot), pd);
    float dist = metric == Metric::kL2       ? raw
                 : metric == Metric::kCosine ? -raw * store.InverseNorm(slot)
                                             : -raw;
    if (heap.size() < k) {
      heap.emplace_back(dist, slot);
      std::push_heap(heap.begin(), heap.end(), WorstOnTop());
    } else if (dist < heap.front().first) {
      std::pop_heap(heap.begin(), heap.end(), WorstOnTop());
      heap.back() = {dist, slot};
      std::push_heap(heap.begin(), heap.end(), WorstOnTop());
    }
  }
  out.reserve(heap.size());
  for (const auto& [dist, slot] : heap) out.emplace_back(-dist, slot);
  std::sort(out.begin(), out.end(), BetterFirst);
  return out;
}

SearchResults MergeTopK(const SearchResults& a, const SearchResults& b, size_t k) {
  SearchResults out;
  out.reserve(std::min(k, a.size() + b.size()));
  absl::flat_hash_set<uint32_t> seen;
  size_t i = 0, j = 0;
  while (out.size() < k && (i < a.size() || j < b.size())) {
    const ScoredSlot& next =
        (j >= b.size() || (i < a.size() && !BetterFirst(b[j], a[i]))) ? a[i++] : b[j++];
    if (seen.insert(next.second).second) out.push_back(next);
  }
  return out;
}

}  // namespace engram::storage::vector
