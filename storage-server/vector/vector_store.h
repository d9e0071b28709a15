// VectorStore: the vectors of one namespace, addressed by slot, in memory-mapped segment files.
//
// A slot is a dense uint32 the engine assigns in insertion order, one per stored vector version
// (an update gets a new slot; the old one becomes dead and the engine filters it out of search).
// Each slot holds the original vector, zero-padded to a multiple of kDimAlignment floats so the
// distance kernels need no tails, plus its inverse Euclidean norm (0 for the zero vector) for
// cosine similarity. Files in `dir`:
//   vectors.NNNNNN   padded vectors, floor(segment_bytes / stride) per segment file
//   norms.NNNNNN     one float per slot: 1 / |v|
//   vectors.meta     header written by Flush(): format version, dim, layout, slot count, checksum
//
// Usage:
//   ASSIGN_OR_RETURN(auto store, VectorStore::Open({.dir = ns_dir, .dim = 128}));
//   RETURN_IF_ERROR(store->Put(store->size(), v));   // writer thread
//   store->Publish(store->size());                   // readers may now Get() it
//   const float* x = store->Get(slot);               // any thread, slot < published_count()
//   RETURN_IF_ERROR(store->Flush());                 // checkpoint: data, then header
//
// Thread-safety: one writer thread calls Put(), Publish(), Truncate() and Flush(). Any thread may
// call Get(), InverseNorm() and published_count() concurrently; Get(slot) is valid for
// slot < a published_count() the caller has observed, and the pointer stays valid (segments are
// never remapped) for the life of the VectorStore. Slots >= published_count() are the writer's.
//
// Durability: Flush() msyncs the vectors written since the last Flush() and then atomically
// replaces vectors.meta with the new slot count. Open() exposes exactly the slots counted in
// vectors.meta; anything written after the last Flush() (possibly torn by a crash) is ignored and
// overwritten when the engine replays its log and Put()s those slots again.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage-server/vector/distance.h"
#include "storage-server/vector/record_array.h"

namespace engram::storage::vector {

class VectorStore {
 public:
  struct Options {
    std::filesystem::path dir;
    uint32_t dim = 0;                                 // 1 .. kMaxDim
    uint64_t segment_bytes = uint64_t{32} << 20;      // vectors file; power of two
    uint64_t norm_segment_bytes = uint64_t{4} << 20;  // norms file; power of two
  };
  static constexpr uint32_t kMaxDim = 4096;

  // Opens or creates the store in options.dir. An existing store must have the same dim
  // (FailedPrecondition otherwise); its layout (segment sizes) is taken from vectors.meta.
  // A corrupt vectors.meta or missing segments are DataLoss.
  static absl::StatusOr<std::unique_ptr<VectorStore>> Open(const Options& options);

  ~VectorStore();
  VectorStore(const VectorStore&) = delete;
  VectorStore& operator=(const VectorStore&) = delete;

  // Writer. Appends `v` (dim() floats) at `slot`, which must equal size(). InvalidArgument for
  // a wrong slot or a non-finite component; ResourceExhausted if the disk is full. The vector is
  // staged in memory and written with the next WriteStaged() (by Put itself once kStageBytes are
  // staged, and by Publish and Flush): one pwrite per run of slots instead of a store through
  // the mapping per vector (the files are mapped read-only; see SegmentedFile::Options).
  absl::Status Put(uint32_t slot, const float* v);
  // Writer. Writes the staged vectors into their slots.
  absl::Status WriteStaged();
  static constexpr size_t kStageBytes = size_t{1} << 20;

  // Writer. Makes slots [0, count) visible to readers; count <= size(), never decreasing. Writes
  // the staged vectors first; if that fails, the slots not written stay unpublished.
  void Publish(uint32_t count);

  // Writer. Drops unpublished slots [count, size()); count >= published_count().
  absl::Status Truncate(uint32_t count);

  // Writer, during recovery, before any reader exists: forgets slots [count, size()) in memory so
  // the engine's log replay can Put() them again. vectors.meta is left alone (it keeps covering
  // those slots until the next Flush), so an index built over them still opens after a crash.
  absl::Status Rewind(uint32_t count);

  // Writer. Makes room for slots [0, count) so that Put() below count cannot fail for lack of
  // space (the engine reserves before applying a batch, keeping batches atomic).
  absl::Status Reserve(uint32_t count);

  // Writer. Checkpoint: msync the data, then durably record size() in vectors.meta.
  absl::Status Flush();
  // Any thread, for published slots: msync slots [begin, end) without recording anything (the
  // engine writes pages back ahead of a checkpoint's Flush).
  absl::Status SyncSlots(uint32_t begin, uint32_t end) const;

  // Any thread; slot < an observed published_count(). padded_dim() floats, zeros after dim().
  const float* Get(uint32_t slot) const {
    return reinterpret_cast<const float*>(vectors_->At(slot));
  }
  const float& InverseNorm(uint32_t slot) const {
    return *reinterpret_cast<const float*>(norms_->At(slot));
  }

  uint32_t published_count() const { return published_.load(std::memory_order_acquire); }
  uint32_t size() const { return size_; }  // writer only
  uint32_t dim() const { return dim_; }
  uint32_t padded_dim() const { return padded_dim_; }

  // Bytes of files used per stored vector (padded vector + norm), and bytes currently mapped.
  uint64_t bytes_per_vector() const { return uint64_t{padded_dim_} * 4 + 4; }
  uint64_t mapped_bytes() const { return vectors_->mapped_bytes() + norms_->mapped_bytes(); }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  VectorStore() = default;
  absl::Status WriteMeta(uint32_t count);

  // Constant after Open().
  std::filesystem::path dir_;
  uint32_t dim_ = 0;
  uint32_t padded_dim_ = 0;
  std::unique_ptr<RecordArray> vectors_;
  std::unique_ptr<RecordArray> norms_;

  void DropStagedFrom(uint32_t count);  // forgets staged slots >= count

  // Writer only.
  // Vectors (padded) and inverse norms of slots [size_ - staged_norms_.size(), size_), not yet
  // written to the files.
  std::vector<float> staged_;
  std::vector<float> staged_norms_;
  uint32_t size_ = 0;
  uint32_t flushed_ = 0;  // slots [0, flushed_) are durable

  std::atomic<uint32_t> published_{0};
};

}  // namespace engram::storage::vector
