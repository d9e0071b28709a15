// The persisted copy of a namespace's DRAM indexes ("derived" file in the namespace directory).
//
// A namespace's id table, chain heads, slot liveness, the writer's association map and the
// keyword (BM25) index are pure functions of its record arena: NamespaceStore rebuilds them by
// scanning the arena when it opens. At 1M concepts that scan takes seconds, so at a checkpoint the
// namespace also writes them to `derived` (NamespaceStore::PersistDerived), recording the arena
// offset they cover. Open loads the file and scans only the arena past that offset.
//
// The file is a cache, never the truth: it is written atomically (temp file, fsync, rename) after
// the checkpoint that covers its arena offset is durable, and at open it is used only if its
// magic, format version, length and XXH3-64 checksum of the whole body hold, it names the same
// namespace incarnation, its offset lies within the checkpoint's arena, and a fingerprint of the
// arena bytes just before that offset matches the arena on disk. Anything else logs a warning
// and falls back to the full scan. Snapshots do not copy it (a restored namespace rebuilds).
//
// Layout: a 32-byte header {magic "ENGDRV\0\1", u32 version, u32 reserved, u64 body bytes,
// u64 XXH3-64 of the body}, then the body, whose sections NamespaceStore and KeywordIndex encode
// with ByteWriter below (little-endian fixed integers and LEB128 varints).
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace engram::storage {

inline constexpr char kDerivedFileName[] = "derived";
inline constexpr uint32_t kDerivedFormatVersion = 3;  // 2: live concept bytes; 3: names

// Appends encoded values to a string.
class ByteWriter {
 public:
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void Bytes(absl::string_view s) {
    Varint(s.size());
    out_.append(s.data(), s.size());
  }
  void Raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  // Overwrites 8 bytes at `pos` (a length written before the section it measures).
  void PatchU64(size_t pos, uint64_t v) { std::memcpy(out_.data() + pos, &v, 8); }
  std::string& out() { return out_; }
  size_t size() const { return out_.size(); }

 private:
  std::string out_;
};

// Reads what ByteWriter wrote. A read past the end (or an overlong varint) sets !ok() and returns
// zeros; callers check ok() once per section.
class ByteReader {
 public:
  explicit ByteReader(absl::string_view in) : in_(in) {}
  uint32_t U32() {
    uint32_t v = 0;
    Raw(&v, 4);
    return v;
  }
  uint64_t U64() {
    uint64_t v = 0;
    Raw(&v, 8);
    return v;
  }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) break;
      const uint8_t b = static_cast<uint8_t>(in_[pos_++]);
      v |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return v;
    }
    ok_ = false;
    return 0;
  }
  // A varint length, then that many bytes.
  absl::string_view Bytes() { return Take(Varint()); }
  void Raw(void* p, size_t n) {
    if (!ok_ || n > in_.size() - pos_) {
      ok_ = false;
      return;
    }
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }
  // The next n bytes, skipped (for a section another reader decodes).
  absl::string_view Take(size_t n) {
    if (!ok_ || n > in_.size() - pos_) {
      ok_ = false;
      return {};
    }
    absl::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  bool ok() const { return ok_; }
  bool done() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }
  void Fail() { ok_ = false; }

 private:
  absl::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Writes header + `body` to `path` atomically and durably.
absl::Status WriteDerivedFile(const std::filesystem::path& path, absl::string_view body);

// A derived-state file mapped read-only, its header and checksum checked.
class DerivedFile {
 public:
  // NotFound if there is no file, DataLoss (naming the file and what is wrong) if it is torn or
  // damaged.
  static absl::StatusOr<std::unique_ptr<DerivedFile>> Open(const std::filesystem::path& path);
  ~DerivedFile();
  DerivedFile(const DerivedFile&) = delete;
  DerivedFile& operator=(const DerivedFile&) = delete;

  absl::string_view body() const { return body_; }

 private:
  DerivedFile(void* map, size_t size) : map_(map), size_(size) {}
  void* map_;
  size_t size_;
  absl::string_view body_;
};

}  // namespace engram::storage
