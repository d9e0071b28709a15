#include "storage-server/wal/format.h"

#include <algorithm>
#include <cstring>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "storage-server/wal/crc32c.h"
#include "storage-server/wal/wal.h"

namespace engram::storage::wal::internal {
namespace {

constexpr size_t kSeqDigits = 20;

void PutFixed32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void PutFixed64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t GetFixed32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}
uint64_t GetFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}

}  // namespace

std::string SegmentFileName(uint64_t first_seq) {
  return absl::StrFormat("%020u%s", first_seq, kSegmentSuffix);
}

std::optional<uint64_t> ParseSegmentFileName(std::string_view name) {
  if (name.size() != kSeqDigits + kSegmentSuffix.size()) return std::nullopt;
  if (name.substr(kSeqDigits) != kSegmentSuffix) return std::nullopt;
  const std::string_view digits = name.substr(0, kSeqDigits);
  if (!std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit)) return std::nullopt;
  uint64_t seq;
  if (!absl::SimpleAtoi(absl::string_view(digits.data(), digits.size()), &seq))
    return std::nullopt;  // Above 2^64 - 1.
  return seq;
}

absl::StatusOr<std::vector<SegmentFile>> ListSegments(const std::filesystem::path& dir) {
  std::vector<SegmentFile> segments;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return segments;
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::optional<uint64_t> seq = ParseSegmentFileName(it->path().filename().native());
    if (seq.has_value()) segments.push_back({it->path(), *seq});
  }
  if (ec) {
    return absl::ErrnoToStatus(ec.value(), absl::StrCat("wal: list ", dir.string()));
  }
  std::sort(segments.begin(), segments.end(),
            [](const SegmentFile& a, const SegmentFile& b) { return a.first_seq < b.first_seq; });
  return segments;
}

void EncodeRecord(uint64_t seq, std::string_view payload, std::string* out) {
  EncodeRecordWith(seq, payload.size(), out, [&](char* p) {
    if (!payload.empty()) std::memcpy(p, payload.data(), payload.size());
  });
}

void EncodeRecordWith(uint64_t seq, size_t payload_len, std::string* out,
                      absl::FunctionRef<void(char*)> fill) {
  const size_t start = out->size();
  out->resize(start + RecordBytes(payload_len));
  char* p = out->data() + start;
  PutFixed32(p, static_cast<uint32_t>(payload_len));
  PutFixed64(p + 4, seq);
  PutFixed32(p + 12, Crc32c(p, 12));
  fill(p + kHeaderBytes);
  PutFixed32(p + kHeaderBytes + payload_len, Crc32c(p + kHeaderBytes, payload_len));
}

ParsedRecord ParseHeader(const char* p, uint64_t remaining) {
  using Kind = ParsedRecord::Kind;
  ParsedRecord r{Kind::kOk};
  if (remaining < kHeaderBytes) {
    r.kind = Kind::kIncompleteHeader;
    return r;
  }
  if (Crc32c(p, 12) != GetFixed32(p + 12)) {
    r.kind = Kind::kBadHeaderChecksum;
    return r;
  }
  const uint32_t len = GetFixed32(p);
  r.seq = GetFixed64(p + 4);
  if (len > kMaxPayloadBytes) {
    r.kind = Kind::kBadLength;
    return r;
  }
  r.record_bytes = RecordBytes(len);
  if (remaining < r.record_bytes) r.kind = Kind::kIncompleteRecord;
  return r;
}

void CheckPayload(const char* p, ParsedRecord* record) {
  const uint64_t len = record->record_bytes - kHeaderBytes - kTrailerBytes;
  record->payload = std::string_view(p + kHeaderBytes, len);
  if (Crc32c(p + kHeaderBytes, len) != GetFixed32(p + kHeaderBytes + len)) {
    record->kind = ParsedRecord::Kind::kBadPayloadChecksum;
  }
}

ParsedRecord ParseRecord(const char* data, uint64_t size, uint64_t offset) {
  ParsedRecord r = ParseHeader(data + offset, size - offset);
  if (r.kind == ParsedRecord::Kind::kOk) CheckPayload(data + offset, &r);
  return r;
}

const char* Describe(ParsedRecord::Kind kind) {
  using Kind = ParsedRecord::Kind;
  switch (kind) {
    case Kind::kOk:
      return "valid record";
    case Kind::kIncompleteHeader:
      return "incomplete record header";
    case Kind::kBadHeaderChecksum:
      return "header checksum mismatch";
    case Kind::kBadLength:
      return "payload length exceeds limit";
    case Kind::kIncompleteRecord:
      return "incomplete record";
    case Kind::kBadPayloadChecksum:
      return "payload checksum mismatch";
  }
  return "unknown";
}

std::optional<uint64_t> FindValidRecord(const char* data, uint64_t size, uint64_t from) {
  for (uint64_t off = from; off + RecordBytes(0) <= size; ++off) {
    const char* p = data + off;
    // Cheap pre-check before the full parse: the header checksum.
    if (Crc32c(p, 12) != GetFixed32(p + 12)) continue;
    if (ParseRecord(data, size, off).kind == ParsedRecord::Kind::kOk) return off;
  }
  return std::nullopt;
}

}  // namespace engram::storage::wal::internal
