// ReadLog(): recovery of the write-ahead log. See wal.h for the rules.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"
#include "spdlog/spdlog.h"
#include "storage-server/wal/format.h"
#include "storage-server/wal/wal.h"

namespace engram::storage::wal {
namespace {

using internal::ParsedRecord;

absl::Status Corrupt(const std::filesystem::path& path, uint64_t offset,
                     const std::string& detail) {
  return absl::DataLossError(absl::StrCat("wal: corrupt record in ", path.string(), " at offset ",
                                          offset, ": ", detail, "; refusing to start"));
}

// Reads one segment front to back through a window of at least kChunkBytes, refilled with pread().
// Large buffered reads rather than mmap: on virtual machines the TLB misses of a 4 KiB-page file
// mapping made the checksum loop ~3x slower (wal_bench BM_ReadLog), and a file cut underneath us
// becomes an error instead of SIGBUS.
class SegmentReader {
 public:
  static constexpr uint64_t kChunkBytes = uint64_t{1} << 20;

  static absl::StatusOr<std::unique_ptr<SegmentReader>> Open(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("wal: open ", path.string()));
    auto reader = std::unique_ptr<SegmentReader>(new SegmentReader(path, fd));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("wal: fstat ", path.string()));
    }
    reader->size_ = static_cast<uint64_t>(st.st_size);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return reader;
  }

  ~SegmentReader() { ::close(fd_); }

  uint64_t size() const { return size_; }

  // Bytes [offset, offset + n) of the file, valid until the next call. Requires offset + n <=
  // size().
  absl::StatusOr<const char*> Read(uint64_t offset, uint64_t n) {
    if (offset >= window_offset_ && offset + n <= window_offset_ + window_bytes_) {
      return buffer_.data() + (offset - window_offset_);
    }
    const uint64_t want = std::min(std::max(n, kChunkBytes), size_ - offset);
    if (buffer_.size() < want) buffer_.resize(want);
    // Keep the part of the old window that the new one starts with (a record cut by the chunk end).
    uint64_t kept = 0;
    if (offset >= window_offset_ && offset < window_offset_ + window_bytes_) {
      kept = window_offset_ + window_bytes_ - offset;
      std::memmove(buffer_.data(), buffer_.data() + (offset - window_offset_), kept);
    }
    window_offset_ = offset;
    window_bytes_ = kept;
    while (window_bytes_ < want) {
      const ssize_t got = ::pread(fd_, buffer_.data() + window_bytes_, want - window_bytes_,
                                  static_cast<off_t>(offset + window_bytes_));
      if (got < 0) {
        if (errno == EINTR) continue;
        window_bytes_ = 0;
        return absl::ErrnoToStatus(errno, absl::StrCat("wal: read ", path_.string()));
      }
      if (got == 0) {
        window_bytes_ = 0;
        return absl::FailedPreconditionError(absl::StrCat(
            "wal: ", path_.string(), " shrank while being read; is another process writing it?"));
      }
      window_bytes_ += static_cast<uint64_t>(got);
    }
    return buffer_.data();
  }

 private:
  SegmentReader(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}

  const std::filesystem::path path_;
  const int fd_;
  uint64_t size_ = 0;
  std::vector<char> buffer_;
  uint64_t window_offset_ = 0;  // File offset of buffer_[0].
  uint64_t window_bytes_ = 0;   // Valid bytes in buffer_.
};

// Parses the record at `offset`, reading only what the checks need.
absl::StatusOr<ParsedRecord> ReadRecord(SegmentReader& reader, uint64_t offset) {
  const uint64_t remaining = reader.size() - offset;
  ASSIGN_OR_RETURN(const char* p, reader.Read(offset, std::min<uint64_t>(remaining, kHeaderBytes)));
  ParsedRecord record = internal::ParseHeader(p, remaining);
  if (record.kind != ParsedRecord::Kind::kOk) return record;
  ASSIGN_OR_RETURN(p, reader.Read(offset, record.record_bytes));
  internal::CheckPayload(p, &record);
  return record;
}

}  // namespace

absl::StatusOr<RecoveryResult> ReadLog(const std::filesystem::path& dir, uint64_t after_seq,
                                       const ApplyFn& apply) {
  RecoveryResult result;
  result.last_seq = after_seq;
  ASSIGN_OR_RETURN(const std::vector<internal::SegmentFile> segments, internal::ListSegments(dir));
  if (segments.empty()) return result;

  // Recovery needs every record from first_needed on; the oldest segment must not start later.
  const uint64_t first_needed = after_seq == UINT64_MAX ? UINT64_MAX : after_seq + 1;
  if (segments.front().first_seq > first_needed) {
    return Corrupt(segments.front().path, 0,
                   absl::StrCat("the log starts at seq ", segments.front().first_seq,
                                " but recovery needs every record after seq ", after_seq));
  }

  // The sequence number the next record read must carry, when the previous segment was read.
  std::optional<uint64_t> expected_seq;
  for (size_t i = 0; i < segments.size(); ++i) {
    const internal::SegmentFile& segment = segments[i];
    const bool last = i + 1 == segments.size();
    // The next segment starts at or before first_needed, so every record here is <= after_seq.
    if (!last && segments[i + 1].first_seq <= first_needed) {
      expected_seq.reset();
      continue;
    }
    if (expected_seq.has_value() && segment.first_seq != *expected_seq) {
      return Corrupt(segment.path, 0,
                     absl::StrCat("segment starts at seq ", segment.first_seq,
                                  " but the previous segment ends before seq ", *expected_seq));
    }
    expected_seq = segment.first_seq;

    ASSIGN_OR_RETURN(const std::unique_ptr<SegmentReader> reader,
                     SegmentReader::Open(segment.path));
    const uint64_t size = reader->size();
    uint64_t offset = 0;
    while (offset < size) {
      ASSIGN_OR_RETURN(const ParsedRecord record, ReadRecord(*reader, offset));
      if (record.kind != ParsedRecord::Kind::kOk) {
        // The writer's reserve: zeros written ahead of the records (a crash, or a finished segment
        // whose cut to its records did not reach the disk). Not a torn record: nothing is lost.
        ASSIGN_OR_RETURN(const char* rest, reader->Read(offset, size - offset));
        if (std::all_of(rest, rest + (size - offset), [](char c) { return c == 0; })) break;
        const char* const what = internal::Describe(record.kind);
        if (!last) return Corrupt(segment.path, offset, what);
        // A damaged record is a torn tail only if nothing valid follows it. A trusted header gives
        // the record's extent: bytes inside its payload are payload, not records.
        const uint64_t scan_from =
            record.header_valid() ? offset + record.record_bytes : offset + 1;
        if (const std::optional<uint64_t> next =
                internal::FindValidRecord(rest, size - offset, scan_from - offset)) {
          return Corrupt(
              segment.path, offset,
              absl::StrCat(what, " (a valid record follows at offset ", offset + *next, ")"));
        }
        result.tail_truncated = true;
        result.warning = absl::StrCat("wal: torn tail in ", segment.path.string(), " at offset ",
                                      offset, " (", what, "): dropping ", size - offset, " bytes");
        spdlog::warn("{}", result.warning);
        break;
      }
      if (record.seq != *expected_seq) {
        return Corrupt(
            segment.path, offset,
            absl::StrCat(record.seq > *expected_seq ? "sequence gap" : "sequence goes backwards",
                         ": expected seq ", *expected_seq, ", found ", record.seq));
      }
      if (record.seq > after_seq) {
        RETURN_IF_ERROR(apply(record.seq, record.payload));
        ++result.records_applied;
        result.last_seq = record.seq;
      }
      ++*expected_seq;
      offset += record.record_bytes;
    }
    if (last) {
      result.tail.path = segment.path;
      result.tail.valid_bytes = offset;
      result.tail.next_seq = *expected_seq;
    }
  }
  return result;
}

}  // namespace engram::storage::wal
