// SegmentedFile: a growable byte array backed by fixed-size memory-mapped files.
//
// Growing an ordinary mapping (mremap, or unmap + map) moves it, and any reader holding a pointer
// into the old mapping is left dangling. SegmentedFile never remaps: it grows by adding segment
// files "<dir>/<prefix>.<NNNNNN>", each mapped once (Boost.Interprocess) for the life of the
// object. A pointer obtained from At() therefore stays valid until the SegmentedFile is destroyed.
//
// Thread-safety: one writer calls EnsureCapacity()/ShrinkTo(); any thread may call At(), Flush()
// and capacity() concurrently. At(offset) is valid for offset < a capacity() value the caller has
// observed (capacity is published with release semantics after the segment is mapped). What the
// bytes mean, and when they are complete, is the caller's protocol to publish.
//
// Objects never span segments: callers that store variable-size objects must not place one across
// a segment boundary (see ContiguousEnd()).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/sync/atomic_directory.h"

namespace engram::storage {

class SegmentedFile {
 public:
  // ::msync's signature: how pages are written back (injectable, Options::msync).
  using MsyncFn = int (*)(void* addr, size_t length, int flags);
  struct Options {
    std::filesystem::path dir;
    std::string prefix;
    uint64_t segment_bytes = uint64_t{64} << 20;  // power of two
    // Map the segments read-only; the writer stores with Write() (pwrite) instead of through At().
    // Writing back a page of a writable shared mapping write-protects it in every thread's page
    // table (a TLB shootdown per page, ~8 us on a VM), and the first store to a page faults; a
    // read-only mapping has neither cost. Readers see Write()'s bytes at once (one page cache).
    bool read_only_mapping = false;
    // How Flush() writes pages back: ::msync when null. Tests inject write-back failures here
    // (the kernel's EIO on a failed write-back cannot be produced on demand).
    MsyncFn msync = nullptr;
  };
  static constexpr size_t kMaxSegments = size_t{1} << 16;

  // Maps every existing segment of `prefix` in `dir` (creating `dir` if needed). Segments must be
  // numbered contiguously from 0 and have exactly segment_bytes; anything else is DataLoss.
  static absl::StatusOr<std::unique_ptr<SegmentedFile>> Open(const Options& options);

  ~SegmentedFile();
  SegmentedFile(const SegmentedFile&) = delete;
  SegmentedFile& operator=(const SegmentedFile&) = delete;

  // Writer only. Adds segments until capacity() >= bytes. New bytes read as zero. Each new segment
  // has its blocks allocated (posix_fallocate) before it is mapped; no room (ENOSPC, EDQUOT, or
  // EFBIG past RLIMIT_FSIZE) is RESOURCE_EXHAUSTED with the out-of-space mark naming the file and
  // the bytes needed, leaves no file behind and changes nothing; a later call tries again. When
  // statvfs already shows less room than a segment, no allocation is attempted at all.
  absl::Status EnsureCapacity(uint64_t bytes);

  // Writer only, with read_only_mapping: stores `len` bytes at `offset` (offset + len <= capacity(),
  // within one segment: see ContiguousEnd()).
  absl::Status Write(uint64_t offset, const void* data, size_t len);

  // Pointer to the byte at `offset` (< an observed capacity()).
  char* At(uint64_t offset) const { return segments_.Get(offset >> shift_) + (offset & mask_); }

  // The end of the segment holding `offset`: an object starting at `offset` must end before it.
  uint64_t ContiguousEnd(uint64_t offset) const { return (offset | mask_) + 1; }

  uint64_t capacity() const { return capacity_.load(std::memory_order_acquire); }
  uint64_t segment_bytes() const { return mask_ + 1; }
  size_t segment_count() const { return regions_count_.load(std::memory_order_acquire); }

  // msync(MS_SYNC) of the pages covering [begin, end): the writer, or any thread for bytes below an
  // observed capacity() (it reads only the segment directory, which EnsureCapacity may grow
  // meanwhile), but not while ShrinkTo() runs.
  absl::Status Flush(uint64_t begin, uint64_t end);

  // Writer only. Unmaps and deletes segments wholly at or beyond `bytes` (rounded up to a segment).
  absl::Status ShrinkTo(uint64_t bytes);

  // Paths of the mapped segments, in order.
  std::vector<std::filesystem::path> SegmentPaths() const;
  std::filesystem::path SegmentPath(size_t index) const;

 private:
  struct Region;
  explicit SegmentedFile(const Options& options);
  absl::Status MapSegment(size_t index, bool create);

  const std::filesystem::path dir_;
  const std::string prefix_;
  const bool read_only_mapping_;
  const MsyncFn msync_;
  int shift_ = 0;
  uint64_t mask_ = 0;
  // Each mapped segment's base, by index (sized by the segments mapped: a namespace holds several
  // SegmentedFiles, and a table for kMaxSegments was 512 KB of RSS each).
  sync::AtomicDirectory<char> segments_;
  std::vector<std::unique_ptr<Region>> regions_;    // writer only
  std::atomic<size_t> regions_count_{0};
  std::atomic<uint64_t> capacity_{0};
};

}  // namespace engram::storage
