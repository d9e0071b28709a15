// Edge validation of engram.v1 requests: the limits of api.md, checked before anything reaches a
// dependency (engram-storage checks them again).
//
// Every check returns OK or INVALID_ARGUMENT whose message starts with the offending field path,
// e.g. "concepts[3].vector[7]: not finite" or "k: 1001, at most 1000". Checks that need the
// namespace's dimension take it as an argument; EngramCore looks it up.
//
//   RETURN_IF_ERROR(ValidateSearch(request));
//   RETURN_IF_ERROR(ValidateVector("vector", request.vector(), config.dimension()));
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/text/fields.h"
#include "common/text/utf8.h"
#include "engram/v1/engram.pb.h"
#include "google/protobuf/map.h"
#include "google/protobuf/repeated_field.h"

namespace engram::api {

struct ValidationLimits {
  uint64_t max_content_bytes = 1 << 20;
  uint32_t max_id_bytes = 128;
  uint32_t max_dimension = 4096;
  uint32_t max_batch = 1000;
  uint32_t max_k = 1000;
  uint32_t max_reason_k = 100;
  uint32_t max_ef = 4096;
  uint32_t max_depth = 20;
  uint32_t max_reason_depth = 10;
  uint32_t max_paths = 100;
  uint32_t max_neighbors = 1000;
  uint32_t max_attributes = 64;
  uint32_t max_attribute_key_bytes = 128;
  uint32_t max_attribute_value_bytes = 4096;
  uint32_t max_page_size = 1000;
  uint32_t max_page_token_bytes = 512;
};

// The field checks shared with engram-storage (common/text/fields.h): IndexedField, InvalidField,
// ValidateFinite (every value finite) and ValidateVector (exactly `dimension` values, all finite).
using text::IndexedField;
using text::InvalidField;
using text::IsValidUtf8;  // common/text/utf8.h
using text::ValidateFinite;
using text::ValidateVector;

// [a-zA-Z0-9_.-]{1,64}, not "." or "..".
inline absl::Status ValidateNamespaceName(absl::string_view field, absl::string_view name) {
  return text::ValidateName(field, name);
}
// "hashing", "none", "word-vectors/<model>" with model [a-zA-Z0-9_.-]{1,64} (not "." / ".."),
// or "" (the default, hashing).
absl::Status ValidateEmbedder(absl::string_view field, absl::string_view embedder);
// Required; <= max_id_bytes, UTF-8, no control characters.
absl::Status ValidateId(absl::string_view field, absl::string_view id,
                        const ValidationLimits& limits);
// Optional id: "" is allowed (derived from the content), otherwise as ValidateId.
absl::Status ValidateOptionalId(absl::string_view field, absl::string_view id,
                                const ValidationLimits& limits);
// Required; 1 byte .. max_content_bytes, UTF-8.
absl::Status ValidateContent(absl::string_view field, absl::string_view content,
                             const ValidationLimits& limits);
absl::Status ValidateAttributes(absl::string_view field,
                                const google::protobuf::Map<std::string, std::string>& attributes,
                                const ValidationLimits& limits);
// A set association type (not ASSOCIATION_TYPE_UNSPECIFIED) when `required`; a known value always.
absl::Status ValidateAssociationType(absl::string_view field, int type, bool required);

// Request checks that need no namespace configuration. Vector dimensions are checked separately.
absl::Status ValidateCreateNamespace(const v1::CreateNamespaceRequest& r,
                                     const ValidationLimits& l);
absl::Status ValidateLearnItem(absl::string_view prefix, const v1::LearnRequest& r,
                               const ValidationLimits& l);
absl::Status ValidateLearn(const v1::LearnRequest& r, const ValidationLimits& l);
absl::Status ValidateLearnBatch(const v1::LearnBatchRequest& r, const ValidationLimits& l);
absl::Status ValidateGetConcept(const v1::GetConceptRequest& r, const ValidationLimits& l);
absl::Status ValidateDeleteConcept(const v1::DeleteConceptRequest& r, const ValidationLimits& l);
absl::Status ValidateAssociate(const v1::AssociateRequest& r, const ValidationLimits& l);
// One association of a request; `prefix` is prepended to field names ("associations[3].").
absl::Status ValidateAssociationItem(absl::string_view prefix, const v1::AssociateRequest& r,
                                     const ValidationLimits& l);
absl::Status ValidateAssociateBatch(const v1::AssociateBatchRequest& r, const ValidationLimits& l);
absl::Status ValidateDeleteAssociation(const v1::DeleteAssociationRequest& r,
                                       const ValidationLimits& l);
// Also parses the "key:value" filters into `filter` (may be null), checked like attributes.
absl::Status ValidateListConcepts(const v1::ListConceptsRequest& r, const ValidationLimits& l,
                                  google::protobuf::Map<std::string, std::string>* filter);
// The mask names known fields without repeats, every masked field that is set is valid, and
// something is updated. Vector dimensions are checked separately.
absl::Status ValidateUpdateConcept(const v1::UpdateConceptRequest& r, const ValidationLimits& l);

// The fields an UpdateConceptRequest replaces: those of update_mask, or, with an empty mask,
// every field the request sets.
struct UpdateFields {
  bool content = false;
  bool vector = false;
  bool attributes = false;
  bool strength = false;
  bool confidence = false;
};
UpdateFields MaskedFields(const v1::UpdateConceptRequest& r);
absl::Status ValidateNeighbors(const v1::NeighborsRequest& r, const ValidationLimits& l);
absl::Status ValidateFindPaths(const v1::FindPathsRequest& r, const ValidationLimits& l);
absl::Status ValidateSearch(const v1::SearchRequest& r, const ValidationLimits& l);
absl::Status ValidateReason(const v1::ReasonRequest& r, const ValidationLimits& l);

}  // namespace engram::api
