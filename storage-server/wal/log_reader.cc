// ReadLog(): recovery of the write-ahead log. See wal.h for the rules.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <utility>

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

// A segment mapped read-only for one sequential scan. Empty files are not mapped.
class MappedSegment {
 public:
  static absl::StatusOr<MappedSegment> Open(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("wal: open ", path.string()));
    MappedSegment m;
    m.fd_ = fd;
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("wal: fstat ", path.string()));
    }
    m.size_ = static_cast<uint64_t>(st.st_size);
    if (m.size_ == 0) return m;
    void* addr = ::mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      return absl::ErrnoToStatus(errno, absl::StrCat("wal: mmap ", path.string()));
    }
    m.data_ = static_cast<const char*>(addr);
    ::madvise(addr, m.size_, MADV_SEQUENTIAL);
    ::madvise(addr, m.size_, MADV_WILLNEED);
    return m;
  }

  MappedSegment(MappedSegment&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  MappedSegment& operator=(MappedSegment&&) = delete;
  ~MappedSegment() {
    if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
  }

  const char* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  MappedSegment() = default;

  int fd_ = -1;
  const char* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace

absl::StatusOr<RecoveryResult> ReadLog(const std::filesystem::path& dir, uint64_t after_seq,
                                       const ApplyFn& apply) {
  RecoveryResult result;
  result.last_seq = after_seq;
  ASSIGN_OR_RETURN(const std::vector<internal::SegmentFile> segments, internal::ListSegments(dir));
  if (segments.empty()) return result;

  // Recovery needs every record from after_seq + 1 on; the oldest segment must not start later.
  if (after_seq < UINT64_MAX && segments.front().first_seq > after_seq + 1) {
    return Corrupt(segments.front().path, 0,
                   absl::StrCat("the log starts at seq ", segments.front().first_seq,
                                " but recovery needs every record after seq ", after_seq));
  }

  // The sequence number the next record read must carry, when the previous segment was read.
  std::optional<uint64_t> expected_seq;
  for (size_t i = 0; i < segments.size(); ++i) {
    const internal::SegmentFile& segment = segments[i];
    const bool last = i + 1 == segments.size();
    // The next segment starts at or before after_seq + 1, so every record here is <= after_seq.
    if (!last && segments[i + 1].first_seq <= after_seq + 1) {
      expected_seq.reset();
      continue;
    }
    if (expected_seq.has_value() && segment.first_seq != *expected_seq) {
      return Corrupt(segment.path, 0,
                     absl::StrCat("segment starts at seq ", segment.first_seq,
                                  " but the previous segment ends before seq ", *expected_seq));
    }
    expected_seq = segment.first_seq;

    ASSIGN_OR_RETURN(const MappedSegment mapped, MappedSegment::Open(segment.path));
    const char* const data = mapped.data();
    const uint64_t size = mapped.size();
    uint64_t offset = 0;
    while (offset < size) {
      const ParsedRecord record = internal::ParseRecord(data, size, offset);
      if (record.kind != ParsedRecord::Kind::kOk) {
        const char* const what = internal::Describe(record.kind);
        if (!last) return Corrupt(segment.path, offset, what);
        // A damaged record is a torn tail only if nothing valid follows it. A trusted header gives
        // the record's extent: bytes inside its payload are payload, not records.
        const uint64_t scan_from =
            record.header_valid() ? offset + record.record_bytes : offset + 1;
        if (const std::optional<uint64_t> next = internal::FindValidRecord(data, size, scan_from)) {
          return Corrupt(segment.path, offset,
                         absl::StrCat(what, " (a valid record follows at offset ", *next, ")"));
        }
        result.tail_truncated = true;
        result.warning = absl::StrCat("wal: torn tail in ", segment.path.string(), " at offset ",
                                      offset, " (", what, "): dropping ", size - offset,
                                      " bytes of unsynced data");
        spdlog::warn("{}", result.warning);
        break;
      }
      if (record.seq != *expected_seq) {
        return Corrupt(segment.path, offset,
                       absl::StrCat("sequence gap: expected seq ", *expected_seq, ", found ",
                                    record.seq));
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
