// On-disk record formats of a namespace's record arena ("records.NNNNNN" segment files).
//
// The arena is append-only: a record, once written and published, never changes. A concept
// update appends a new version that points at the previous one; a delete appends a tombstone.
// Readers at snapshot sequence S walk a version chain to the newest record with seq <= S, so a
// half-applied batch (seq > S) is never visible. Associations form per-concept chains (one for
// outgoing, one for incoming edges) through prev_out / prev_in.
//
// Records are 16-byte aligned (lengths are multiples of 16), little endian, and never span a segment: when a record does not
// fit in the rest of a segment, a padding record fills it. All offsets stored in records are
// "offset + 1" so that 0 means none.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/string_view.h"

namespace engram::storage {

enum RecordKind : uint32_t {
  kRecordPadding = 0x50414421,       // fills the rest of a segment
  kRecordConcept = 0x434f4e31,       // a concept version
  kRecordConceptTomb = 0x434f4e30,   // a concept deletion
  kRecordAssoc = 0x41534f31,         // an association version
  kRecordAssocTomb = 0x41534f30,     // an association deletion
};

constexpr uint32_t kNoSlot = 0xFFFFFFFFu;

struct RecordHeader {
  uint32_t kind;
  uint32_t length;  // whole record, padded to 8
  uint64_t seq;
};

struct ConceptRecord {
  RecordHeader h;
  uint64_t prev;  // previous version of this concept (offset + 1), 0 if none
  int64_t create_micros;
  int64_t update_micros;
  uint32_t concept_number;  // dense per-namespace number of the id
  uint32_t slot;            // vector slot, kNoSlot if none
  float strength;
  float confidence;
  uint32_t id_len;
  uint32_t content_len;
  uint32_t attrs_len;  // attributes: repeated [u32 klen][k][u32 vlen][v], sorted by key
  uint32_t reserved;
  // followed by id, content, attributes

  const char* id_ptr() const { return reinterpret_cast<const char*>(this + 1); }
  absl::string_view id() const { return {id_ptr(), id_len}; }
  absl::string_view content() const { return {id_ptr() + id_len, content_len}; }
  absl::string_view attrs() const { return {id_ptr() + id_len + content_len, attrs_len}; }
  bool tombstone() const { return h.kind == kRecordConceptTomb; }
};
static_assert(sizeof(ConceptRecord) == 72);

struct AssocRecord {
  RecordHeader h;
  uint64_t prev_out;  // previous record in the source's outgoing chain (offset + 1)
  uint64_t prev_in;   // previous record in the target's incoming chain (offset + 1)
  int64_t create_micros;
  uint32_t source;  // concept numbers
  uint32_t target;
  uint32_t type;
  float confidence;
  float weight;
  uint32_t reserved;
  bool tombstone() const { return h.kind == kRecordAssocTomb; }
};
static_assert(sizeof(AssocRecord) == 64);  // a multiple of 16: records are 16-aligned


// Iterates attributes encoded in a ConceptRecord. Calls fn(key, value) for each; stops early
// when fn returns false.
template <typename Fn>
void ForEachAttribute(absl::string_view encoded, Fn&& fn) {
  size_t pos = 0;
  while (pos + 4 <= encoded.size()) {
    uint32_t klen;
    std::memcpy(&klen, encoded.data() + pos, 4);
    absl::string_view key = encoded.substr(pos + 4, klen);
    pos += 4 + klen;
    uint32_t vlen;
    std::memcpy(&vlen, encoded.data() + pos, 4);
    absl::string_view value = encoded.substr(pos + 4, vlen);
    pos += 4 + vlen;
    if (!fn(key, value)) return;
  }
}

// Value of attribute `key`, or nullptr-like empty optional semantics via found flag.
inline bool FindAttribute(absl::string_view encoded, absl::string_view key, absl::string_view* value) {
  bool found = false;
  ForEachAttribute(encoded, [&](absl::string_view k, absl::string_view v) {
    if (k == key) {
      *value = v;
      found = true;
      return false;
    }
    return true;
  });
  return found;
}

}  // namespace engram::storage
