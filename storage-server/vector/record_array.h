// RecordArray: fixed-size records addressed by a dense uint32 index, stored in a SegmentedFile.
//
// A record never spans a segment: each segment holds floor(segment_bytes / record_bytes) records
// and the remainder of the segment is unused. The record -> (segment, offset) division uses a
// precomputed multiplier (Lemire, "Faster remainder by direct computation", 2019), so any record
// size works without wasting half a segment on power-of-two padding.
//
// Thread-safety: as SegmentedFile. One writer calls EnsureRecords()/Flush(); any thread may call
// At(i) for i below a records_capacity() it has observed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage-server/mmap/segmented_file.h"

namespace engram::storage::vector {

class RecordArray {
 public:
  // `segment_bytes` must be a power of two >= 4096 and >= record_bytes.
  static absl::StatusOr<std::unique_ptr<RecordArray>> Open(const std::filesystem::path& dir,
                                                           const std::string& prefix,
                                                           uint32_t record_bytes,
                                                           uint64_t segment_bytes,
                                                           bool read_only_mapping = false);

  char* At(uint32_t index) const { return file_->At(Offset(index)); }

  uint64_t Offset(uint32_t index) const {
    uint64_t segment = static_cast<uint64_t>((static_cast<__uint128_t>(magic_) * index) >> 64);
    uint64_t within = index - segment * per_segment_;
    return (segment << segment_shift_) + within * record_bytes_;
  }

  // Writer only, for an array opened with read_only_mapping: stores records [begin, begin + count)
  // from `data` (count * record_bytes() bytes), below records_capacity().
  absl::Status Write(uint32_t begin, const void* data, uint32_t count);

  // Writer only. Maps segments until records [0, count) are addressable.
  absl::Status EnsureRecords(uint64_t count);

  // msync of records [begin, end): the writer, or any thread for records below an observed
  // records_capacity() (as SegmentedFile::Flush).
  absl::Status Flush(uint32_t begin, uint32_t end);

  uint64_t records_capacity() const { return (file_->capacity() >> segment_shift_) * per_segment_; }
  uint32_t record_bytes() const { return record_bytes_; }
  uint64_t segment_bytes() const { return file_->segment_bytes(); }
  uint64_t mapped_bytes() const { return file_->capacity(); }
  SegmentedFile& file() const { return *file_; }

 private:
  RecordArray(std::unique_ptr<SegmentedFile> file, uint32_t record_bytes);

  std::unique_ptr<SegmentedFile> file_;
  uint32_t record_bytes_;
  uint64_t per_segment_;
  uint64_t magic_;  // ceil(2^64 / per_segment_): index / per_segment_ == (magic_ * index) >> 64
  int segment_shift_;
};

// Writes `bytes` to `path` atomically and durably: temp file, fsync, rename, fsync directory.
absl::Status WriteFileAtomically(const std::filesystem::path& path, const void* bytes, size_t size);

// Reads a whole small file. NotFound if it does not exist.
absl::StatusOr<std::string> ReadSmallFile(const std::filesystem::path& path);

}  // namespace engram::storage::vector
