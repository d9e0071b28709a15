// Input limits of engram-storage and the stateless checks that enforce them.
//
// Every check returns INVALID_ARGUMENT whose message starts with the offending field path, e.g.
// "mutations[3].put_concept.vector[7]: not finite". Checks are pure functions of the request (and
// the namespace configuration where dimensions matter), so they run on the caller's thread before
// anything is queued; a rejected request changes nothing.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/text/fields.h"
#include "common/text/utf8.h"
#include "engram/storage/v1/storage.pb.h"

namespace engram::storage {

struct Limits {
  uint64_t max_content_bytes = 1 << 20;  // --max_content_bytes
  uint32_t max_batch = 1000;
  uint32_t max_dimension = 4096;
  uint32_t max_id_bytes = 128;
  uint32_t max_k = 1000;
  uint32_t max_depth = 20;
  uint32_t max_paths = 100;
  uint32_t max_neighbors = 1000;
  uint32_t max_page_size = 1000;
  uint32_t max_attributes = 64;
  uint32_t max_attribute_key_bytes = 128;
  uint32_t max_attribute_value_bytes = 4096;
  uint32_t max_ef = 4096;
  // An uploaded snapshot archive, and the namespace files its manifest says it restores.
  uint64_t max_snapshot_bytes = uint64_t{64} << 30;
};

// The field checks shared with engram-api (common/text/fields.h).
// IndexedField("mutations", 3, "put_concept") == "mutations[3].put_concept"
using text::IndexedField;
using text::InvalidField;
using text::ValidateName;  // namespace names
using text::ValidateVector;
inline absl::Status ValidateId(absl::string_view field, absl::string_view id,
                               const Limits& limits) {
  return text::ValidateId(field, id, limits.max_id_bytes);
}
// OK when value <= max; otherwise INVALID_ARGUMENT "<field>: <value>[ <unit>], at most <max>".
absl::Status ValidateAtMost(absl::string_view field, uint64_t value, uint64_t max,
                            absl::string_view unit = "");

// Attributes a namespace's keyword index may score beside the content (NamespaceConfig).
inline constexpr int kMaxKeywordFields = 7;

// Applies defaults (dimension 384, COSINE, m 16, ef_construction 200, ef_search 64,
// quantization NONE, "hashing", keyword field weight 1 and b 0.75) and checks ranges.
absl::Status NormalizeNamespaceConfig(const Limits& limits, v1::NamespaceConfig* config);

// Checks a concept for a put into a namespace of `dimension`; fills in defaults (strength and
// confidence 1.0) and the content-hash id when the id is empty.
absl::Status NormalizeConcept(absl::string_view field, const Limits& limits, uint32_t dimension,
                              v1::Concept* concept_msg);

absl::Status NormalizeAssociation(absl::string_view field, const Limits& limits,
                                  v1::Association* association);
absl::Status ValidateAssociationKey(absl::string_view field, const Limits& limits,
                                    const v1::AssociationKey& key);

// Checks the batch size and every mutation; normalises in place.
absl::Status NormalizeWriteRequest(const Limits& limits, uint32_t dimension,
                                   v1::WriteRequest* request);

// The id derived from content when a client gives none: "c-" + 32 hex digits of a 128-bit
// XXH3 hash of the UTF-8 content. Stable across versions (XXH3 is a frozen spec) so learning the
// same text twice is idempotent.
std::string ContentHashId(absl::string_view content);

using text::IsValidUtf8;  // common/text/utf8.h

}  // namespace engram::storage
