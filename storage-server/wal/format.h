// Internal to the WAL: encoding and decoding of records and segment names (format in wal.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

namespace engram::storage::wal::internal {

inline constexpr std::string_view kSegmentSuffix = ".wal";

// "<first_seq as 20 digits>.wal".
std::string SegmentFileName(uint64_t first_seq);
// The first sequence number encoded in a segment file name, or nullopt if `name` is not one.
std::optional<uint64_t> ParseSegmentFileName(std::string_view name);

struct SegmentFile {
  std::filesystem::path path;
  uint64_t first_seq;
};
// The segment files in `dir`, oldest first; other files are ignored. A missing `dir` is empty.
absl::StatusOr<std::vector<SegmentFile>> ListSegments(const std::filesystem::path& dir);

// Appends the encoded record to `out`.
void EncodeRecord(uint64_t seq, std::string_view payload, std::string* out);
// The same record, its payload written in place by `fill` into the `payload_len` bytes it is
// handed (no intermediate copy). The bytes are identical to EncodeRecord() of that payload.
void EncodeRecordWith(uint64_t seq, size_t payload_len, std::string* out,
                      absl::FunctionRef<void(char*)> fill);

inline uint64_t RecordBytes(uint64_t payload_len) {
  return 16 + payload_len + 4;  // kHeaderBytes + payload + kTrailerBytes
}

// What lies at one offset of a segment.
struct ParsedRecord {
  enum class Kind {
    kOk,
    kIncompleteHeader,    // Fewer than kHeaderBytes left.
    kBadHeaderChecksum,   // header_crc does not match.
    kBadLength,           // payload_len > kMaxPayloadBytes (header checksum matched).
    kIncompleteRecord,    // Valid header, but the record runs past the end of the data.
    kBadPayloadChecksum,  // Valid header, payload_crc does not match.
  };
  Kind kind;
  uint64_t seq = 0;
  std::string_view payload;
  // For kOk, kIncompleteRecord and kBadPayloadChecksum: the record's size per its (valid) header.
  uint64_t record_bytes = 0;

  // Whether the header can be trusted, so the record's extent is known even if it is damaged.
  bool header_valid() const {
    return kind == Kind::kOk || kind == Kind::kIncompleteRecord ||
           kind == Kind::kBadPayloadChecksum;
  }
};

// Parses the record starting at `p`, where `remaining` bytes of the segment are left from `p` on.
// ParseHeader() reads only the first min(remaining, kHeaderBytes) bytes: it returns kOk for a
// header that is valid and whose record fits in `remaining` (payload not yet checked).
// CheckPayload() then reads all record_bytes of such a record and finishes the check.
ParsedRecord ParseHeader(const char* p, uint64_t remaining);
void CheckPayload(const char* p, ParsedRecord* record);

// Both steps, on a segment held in memory: the record at `offset` of `data[0, size)`.
ParsedRecord ParseRecord(const char* data, uint64_t size, uint64_t offset);
const char* Describe(ParsedRecord::Kind kind);

// The offset of the first valid record (kOk) starting in [from, size), or nullopt.
std::optional<uint64_t> FindValidRecord(const char* data, uint64_t size, uint64_t from);

}  // namespace engram::storage::wal::internal
