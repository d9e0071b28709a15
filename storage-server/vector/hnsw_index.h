// HnswIndex: a hierarchical navigable small world graph (Malkov & Yashunin, 2016) over the
// vectors of a VectorStore, kept in memory-mapped files so that a clean restart maps the graph
// instead of rebuilding it.
//
// The graph node of a vector is its slot (slots are inserted in order, so node id == slot). The
// vectors are read from the VectorStore; the index stores only links. Files in `dir`:
//   hnsw_links.NNNNNN   level-0 records: [count][M0 links][upper] (uint32 words), one per node;
//                       `upper` locates the node's upper-level lists (in 4-byte words)
//   hnsw_upper.NNNNNN   levels 1..L of the ~1/M nodes above level 0: L x [count][M links]
//   hnsw.meta           header written by Checkpoint(): format version, metric, dim, M, M0,
//                       ef_construction, level seed, node count, entry point, max level,
//                       bytes of upper links used, XXH64 checksum
//   hnsw_codes.NNNNNN   INT8 quantization only, per node: padded_dim uint8 codes (ScalarQuantizer)
//                       and the float L2Term of the code
//   hnsw_quant.params   INT8 only: the quantizer's per-dimension ranges, written once when trained
// Construction follows hnswlib: ef_construction-wide search per level, neighbours chosen by the
// heuristic of hnswlib's getNeighborsByHeuristic2 (M per node, 2M at level 0), back-links pruned
// by the same heuristic when full. A node's level comes from a hash of (level_seed, slot), not
// a random generator, so the same inserts in the same order build byte-identical files on every
// run, restore and machine.
//
// Usage:
//   ASSIGN_OR_RETURN(auto index, HnswIndex::Open({.dir = ns_dir, .metric = Metric::kCosine},
//                                                store.get()));
//   while (index->indexed_count() < store->published_count())          // indexer thread
//     RETURN_IF_ERROR(index->Insert(index->indexed_count()));
//   SearchResults hits = index->Search(query, /*k=*/10, /*ef=*/64, &live_filter);  // any thread
//   RETURN_IF_ERROR(store->Flush()); RETURN_IF_ERROR(index->Checkpoint());        // checkpoint
//
// Quantization (Options::quantization = kInt8): each node also gets an 8-bit code of its vector
// (for cosine, of the unit vector). Until the quantizer is trained the graph is built exactly as
// without it; after, an insert's neighbour search walks the codes too, and its candidates are
// re-scored, its neighbours chosen and old lists pruned on the float distances. Once trained,
// Search() walks the graph with the quantized distance
// (an int16 query table against the codes: ~4x fewer bytes per visited node and integer
// multiply-adds instead of float ones) and re-scores its ef
// candidates with the float vectors before returning the best k, so scores are exact. The
// quantizer is trained once, deterministically, on the first `quantization_train_count` slots
// (per-dimension 0.1/99.9 % quantile ranges), when the indexer reaches that slot; before that the
// index searches with float distances. Later vectors outside the ranges are clipped.
// Durability: the codes of the training slots are msynced before hnsw_quant.params is written;
// later codes are msynced by Checkpoint() before hnsw.meta. Open() trusts the codes of every
// checkpointed node when hnsw_quant.params exists and covers them, and otherwise (an index built
// without quantization, or a crash before training) trains and encodes from the vector store if
// enough nodes exist. All files start with "hnsw", so snapshots copy them with the graph.
//
// Thread-safety: one indexer thread calls Insert() and Checkpoint() (or the caller serialises
// them). Any number of threads call Search(), ExactSearch() and the accessors concurrently with
// it, without locks: link words are read and written as relaxed atomics, every id read from a
// link list is checked against the node count published (release) after a node is complete, and
// the entry point and top level are published together in one atomic word. A search sees the
// nodes complete when it started; nodes inserted during it may or may not be found. The
// VectorStore must outlive the index.
//
// Durability and crashes: Checkpoint() msyncs the link files, then atomically replaces
// hnsw.meta. Open() exposes exactly the checkpointed node count. Work done after the last
// checkpoint may be partly on disk after a crash: nodes past the count are simply overwritten
// when the engine inserts those slots again, and links to them that old nodes picked up are
// ignored by readers (ids >= node count) and dropped by the indexer when it next rewrites that
// list. The order must be store->Flush() then index->Checkpoint(), so the store always holds at
// least the indexed vectors (Open() checks it).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage-server/mmap/segmented_file.h"
#include "storage-server/vector/distance.h"
#include "storage-server/vector/record_array.h"
#include "storage-server/vector/scalar_quantizer.h"
#include "storage-server/vector/search.h"
#include "storage-server/vector/vector_store.h"

namespace engram::storage::vector {

namespace internal {
struct HnswCandidate {
  float dist;  // lower is better
  uint32_t id;
};
struct HnswScratch;
class HnswScratchPool;
}  // namespace internal

enum class Quantization : uint32_t { kNone = 0, kInt8 = 1 };

struct HnswParams {
  uint32_t M = 16;                         // links per node on levels >= 1; 2M on level 0. [2, 128]
  uint32_t ef_construction = 200;          // raised to M if lower, as hnswlib does
  uint64_t level_seed = 0x5eed'e9a3'0001;  // fixes the level of every slot
};

class HnswIndex {
 public:
  struct Options {
    std::filesystem::path dir;
    Metric metric = Metric::kCosine;
    HnswParams params;
    uint64_t link_segment_bytes = uint64_t{16} << 20;  // power of two
    uint64_t upper_segment_bytes = uint64_t{4} << 20;  // power of two
    Quantization quantization = Quantization::kNone;
    uint32_t quantization_train_count = 8192;         // >= 1
    uint64_t code_segment_bytes = uint64_t{8} << 20;  // power of two; fixed at training
  };
  static constexpr int kMaxLevel = 31;

  // Opens the index in options.dir, or creates an empty one. An existing index must have been
  // built with the same metric, dimension and params (FailedPrecondition otherwise); a corrupt
  // header or missing segment files are DataLoss. Does not read the graph: cost is mapping the
  // segment files.
  static absl::StatusOr<std::unique_ptr<HnswIndex>> Open(const Options& options,
                                                         const VectorStore* store);

  ~HnswIndex();
  HnswIndex(const HnswIndex&) = delete;
  HnswIndex& operator=(const HnswIndex&) = delete;

  // Indexer thread. Adds `slot`, which must equal indexed_count() and be below the store's
  // published_count(). Errors: InvalidArgument (wrong slot), FailedPrecondition (vector not
  // published), ResourceExhausted (disk full). After an error the index is unchanged.
  absl::Status Insert(uint32_t slot);

  // Indexer thread. Makes the graph of the first indexed_count() nodes durable.
  absl::Status Checkpoint();

  // Any thread. The approximate k nearest indexed slots allowed by `filter` (nullptr: all),
  // searching with a candidate list of max(ef, k). `query` has dim() floats (finite: the
  // caller validates). The filter is applied inside the traversal, so k results come back
  // whenever k allowed slots are reachable; the price is that a filter allowing very few slots
  // makes the search walk much of the graph before it gives up. When the allowed fraction is
  // small (say under ~1-2 %, or fewer allowed slots than a few times ef), ExactSearch over the
  // allowed slots is cheaper: that choice is the caller's, which knows the selectivity.
  SearchResults Search(const float* query, size_t k, size_t ef,
                       const SlotFilter* filter = nullptr) const;

  // Any thread. Brute force over store slots [slot_begin, slot_end) (see vector::ExactSearch).
  SearchResults ExactSearch(const float* query, size_t k, uint32_t slot_begin, uint32_t slot_end,
                            const SlotFilter* filter = nullptr) const;

  // Any thread.
  uint32_t indexed_count() const { return count_.load(std::memory_order_acquire); }
  int max_level() const;  // -1 when empty
  Metric metric() const { return metric_; }
  const HnswParams& params() const { return params_; }
  uint32_t dim() const { return store_->dim(); }
  const char* kernel_isa() const { return kernels_.isa; }
  // Bytes of link data in use (level 0 + upper levels) and per indexed node, excluding vectors.
  uint64_t graph_bytes() const;
  double graph_bytes_per_vector() const;
  // Bytes of the mapped link files (what they take on disk; grows a segment at a time).
  uint64_t mapped_bytes() const;
  // Quantization: whether searches walk the graph with int8 codes now, and the code bytes per
  // indexed node (0 without quantization).
  Quantization quantization() const { return quantization_; }
  bool quantized() const { return quantized_.load(std::memory_order_acquire); }
  uint64_t code_bytes_per_vector() const;

  // Indexer thread: the node count of the last checkpoint (or of Open()).
  uint32_t checkpointed_count() const { return checkpointed_; }

  // The level of `slot` (a pure function of the seed, M and slot).
  int LevelOf(uint32_t slot) const;

 private:
  using Candidate = internal::HnswCandidate;
  using Scratch = internal::HnswScratch;
  template <Metric kMetric>
  struct Dist;
  template <Metric kMetric>
  struct CodeDist;

  HnswIndex(const Options& options, const VectorStore* store);

  // Level-0 record words of `id`: [count][M0 links][upper].
  uint32_t* Record(uint32_t id) const { return reinterpret_cast<uint32_t*>(links_->At(id)); }
  // The list [count][links...] of `id` at `level`, or nullptr if it does not exist.
  uint32_t* List(uint32_t id, int level) const;

  template <Metric kMetric>
  SearchResults SearchImpl(const float* query, size_t k, size_t ef, const SlotFilter* filter) const;
  template <Metric kMetric>
  absl::Status InsertImpl(uint32_t slot);
  template <Metric kMetric>
  SearchResults SearchQuantized(const Dist<kMetric>& dist, size_t k, size_t ef,
                                const SlotFilter* filter, uint64_t entry, uint32_t count,
                                Scratch& s) const;
  template <Metric kMetric>
  CodeDist<kMetric> CodeDistFor(const Dist<kMetric>& dist, Scratch& s) const;
  template <Metric kMetric>
  static void Rescore(const Dist<kMetric>& dist, std::vector<Candidate>& candidates);
  template <typename D>
  Candidate Greedy(const D& dist, Candidate cur, int level, uint32_t count) const;
  template <bool kFiltered, typename D>
  void SearchLevel(const D& dist, Candidate entry, int level, size_t ef, const SlotFilter* filter,
                   uint32_t count, Scratch& s) const;
  template <Metric kMetric>
  void SelectNeighbors(const Dist<kMetric>& dist, const std::vector<Candidate>& sorted, size_t m,
                       std::vector<Candidate>& out) const;
  template <Metric kMetric>
  void AddLink(const Dist<kMetric>& dist, uint32_t node, uint32_t new_id, int level, Scratch& s);
  absl::Status WriteMeta(uint32_t count, uint64_t entry, uint64_t upper_used);
  // Quantization, indexer thread: codes for [0, end) (training first when due), and the
  // training itself (ranges from the first train_count_ slots, codes [0, end) msynced, then the
  // params file, then quantized_ published).
  absl::Status EncodeUpTo(uint32_t end);
  absl::Status Train(uint32_t end);
  absl::Status LoadQuantizer(const Options& options, uint32_t count);
  void EncodeSlot(const ScalarQuantizer& quantizer, uint32_t slot, Scratch& s);
  void WriteCode(const ScalarQuantizer& quantizer, const float* x, uint32_t slot);

  // Constant after Open().
  const std::filesystem::path dir_;
  const VectorStore* const store_;
  const Metric metric_;
  const HnswParams params_;
  const uint32_t m0_;
  const DistanceKernels kernels_;
  uint64_t level_thresholds_[kMaxLevel + 2];  // level >= l iff hash < level_thresholds_[l]
  std::unique_ptr<RecordArray> links_;
  std::unique_ptr<SegmentedFile> upper_;
  const std::unique_ptr<internal::HnswScratchPool> scratch_pool_;  // thread-safe
  const Quantization quantization_;
  const uint32_t train_count_;
  std::unique_ptr<RecordArray> codes_;  // kInt8 only, from Open()

  // Set once by the indexer before quantized_ is published (release); readers use it only after
  // reading quantized_ == true (acquire).
  std::unique_ptr<const ScalarQuantizer> quantizer_;
  std::atomic<bool> quantized_{false};  // every node below count_ has its code

  // Written by the indexer, read by everyone.
  std::atomic<uint32_t> count_{0};
  std::atomic<uint64_t> entry_{0};  // (max_level + 1) << 32 | entry node; 0 when empty
  std::atomic<uint64_t> upper_used_{0};

  // Indexer only.
  uint32_t checkpointed_ = 0;
  uint32_t codes_flushed_ = 0;  // codes [0, codes_flushed_) are durable
  const std::unique_ptr<internal::HnswScratch> insert_scratch_;
};

}  // namespace engram::storage::vector
