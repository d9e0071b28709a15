#include "services/api/core/validation.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"

namespace engram::api {

namespace {

absl::Status AtMost(absl::string_view field, uint64_t value, uint64_t limit) {
  if (value > limit) return InvalidField(field, absl::StrCat(value, ", at most ", limit));
  return absl::OkStatus();
}

absl::Status ValidateTypes(absl::string_view field,
                           const google::protobuf::RepeatedField<int>& types) {
  for (int i = 0; i < types.size(); ++i) {
    RETURN_IF_ERROR(ValidateAssociationType(IndexedField(field, i), types[i], /*required=*/true));
  }
  return absl::OkStatus();
}

absl::Status ValidateUnitInterval(absl::string_view field, float value) {
  if (!std::isfinite(value) || value < 0.0f || value > 1.0f) {
    return InvalidField(field, absl::StrCat(value, " is outside 0..1"));
  }
  return absl::OkStatus();
}

absl::Status ValidateStrength(absl::string_view field, float v) {
  if (!std::isfinite(v) || v < 0.0f) {
    return InvalidField(field, absl::StrCat(v, ": must be finite and >= 0"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateEmbedder(absl::string_view field, absl::string_view embedder) {
  if (embedder.empty() || embedder == "hashing" || embedder == "none" || embedder == "use-lite") {
    return absl::OkStatus();
  }
  constexpr absl::string_view kWordVectors = "word-vectors/";
  if (absl::StartsWith(embedder, kWordVectors)) {
    absl::string_view model = embedder.substr(kWordVectors.size());
    if (absl::Status s = text::ValidateName("", model); !s.ok()) {
      return InvalidField(field,
                          "the model of word-vectors/<model> must match [a-zA-Z0-9_.-]{1,64}");
    }
    return absl::OkStatus();
  }
  return InvalidField(
      field, absl::StrCat("unknown embedder '", embedder,
                          "' (expected \"hashing\", \"use-lite\", \"none\" or \"word-vectors/<model>\")"));
}

absl::Status ValidateId(absl::string_view field, absl::string_view id,
                        const ValidationLimits& limits) {
  return text::ValidateId(field, id, limits.max_id_bytes);
}

absl::Status ValidateOptionalId(absl::string_view field, absl::string_view id,
                                const ValidationLimits& limits) {
  if (id.empty()) return absl::OkStatus();
  return ValidateId(field, id, limits);
}

absl::Status ValidateContent(absl::string_view field, absl::string_view content,
                             const ValidationLimits& limits) {
  if (content.empty()) return InvalidField(field, "required (empty)");
  if (content.size() > limits.max_content_bytes) {
    return InvalidField(field,
                        absl::StrCat(content.size(), " bytes, at most ", limits.max_content_bytes));
  }
  if (!IsValidUtf8(content)) return InvalidField(field, "not valid UTF-8");
  return absl::OkStatus();
}

absl::Status ValidateAttributes(absl::string_view field,
                                const google::protobuf::Map<std::string, std::string>& attributes,
                                const ValidationLimits& limits) {
  if (attributes.size() > limits.max_attributes) {
    return InvalidField(
        field, absl::StrCat(attributes.size(), " entries, at most ", limits.max_attributes));
  }
  for (const auto& [key, value] : attributes) {
    const std::string entry =
        absl::StrCat(field, "[\"", key.size() <= 64 ? key : key.substr(0, 64) + "...", "\"]");
    if (key.empty()) return InvalidField(field, "empty key");
    if (key.size() > limits.max_attribute_key_bytes) {
      return InvalidField(entry, absl::StrCat("key of ", key.size(), " bytes, at most ",
                                              limits.max_attribute_key_bytes));
    }
    if (value.size() > limits.max_attribute_value_bytes) {
      return InvalidField(entry, absl::StrCat("value of ", value.size(), " bytes, at most ",
                                              limits.max_attribute_value_bytes));
    }
    if (!IsValidUtf8(key) || !IsValidUtf8(value)) return InvalidField(entry, "not valid UTF-8");
  }
  return absl::OkStatus();
}

absl::Status ValidateAssociationType(absl::string_view field, int type, bool required) {
  if (!v1::AssociationType_IsValid(type))
    return InvalidField(field, absl::StrCat("unknown type ", type));
  if (required && type == v1::ASSOCIATION_TYPE_UNSPECIFIED) {
    return InvalidField(field,
                        "required (SEMANTIC, CAUSAL, TEMPORAL, HIERARCHICAL or COMPOSITIONAL)");
  }
  return absl::OkStatus();
}

absl::Status ValidateCreateNamespace(const v1::CreateNamespaceRequest& r,
                                     const ValidationLimits& l) {
  RETURN_IF_ERROR(ValidateNamespaceName("name", r.name()));
  RETURN_IF_ERROR(AtMost("dimension", r.dimension(), l.max_dimension));
  if (!v1::Metric_IsValid(r.metric()))
    return InvalidField("metric", absl::StrCat("unknown metric ", r.metric()));
  RETURN_IF_ERROR(ValidateEmbedder("embedder", r.embedder()));
  if (r.embedder() == "none" && r.dimension() == 0) {
    return InvalidField("dimension",
                        "required when the embedder is \"none\" (clients send the vectors)");
  }
  const uint32_t m = r.index_params().m();
  if (m != 0 && (m < 2 || m > 128))
    return InvalidField("indexParams.m", absl::StrCat(m, " is outside 2..128"));
  const uint32_t efc = r.index_params().ef_construction();
  const uint32_t effective_m = m == 0 ? 16 : m;
  if (efc != 0 && (efc < effective_m || efc > 4096)) {
    return InvalidField("indexParams.efConstruction",
                        absl::StrCat(efc, " is outside ", effective_m, "..4096 (m..4096)"));
  }
  if (!v1::Quantization_IsValid(r.index_params().quantization())) {
    return InvalidField("indexParams.quantization",
                        absl::StrCat("unknown quantization ", r.index_params().quantization(),
                                     " (QUANTIZATION_NONE or QUANTIZATION_INT8)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateLearnItem(absl::string_view prefix, const v1::LearnRequest& r,
                               const ValidationLimits& l) {
  RETURN_IF_ERROR(ValidateContent(absl::StrCat(prefix, "content"), r.content(), l));
  RETURN_IF_ERROR(ValidateOptionalId(absl::StrCat(prefix, "id"), r.id(), l));
  RETURN_IF_ERROR(AtMost(absl::StrCat(prefix, "vector"), r.vector_size(), l.max_dimension));
  RETURN_IF_ERROR(ValidateFinite(absl::StrCat(prefix, "vector"), r.vector()));
  RETURN_IF_ERROR(ValidateAttributes(absl::StrCat(prefix, "attributes"), r.attributes(), l));
  if (r.has_strength()) {
    RETURN_IF_ERROR(ValidateStrength(absl::StrCat(prefix, "strength"), r.strength().value()));
  }
  return absl::OkStatus();
}

absl::Status ValidateLearn(const v1::LearnRequest& r, const ValidationLimits& l) {
  RETURN_IF_ERROR(ValidateNamespaceName("namespace", r.namespace_()));
  return ValidateLearnItem("", r, l);
}

absl::Status ValidateLearnBatch(const v1::LearnBatchRequest& r, const ValidationLimits& l) {
  RETURN_IF_ERROR(ValidateNamespaceName("namespace", r.namespace_()));
  if (r.concepts_size() < 1) return InvalidField("concepts", "at least 1 required");
  if (static_cast<uint32_t>(r.concepts_size()) > l.max_batch) {
    return InvalidField("concepts",
                        absl::StrCat(r.concepts_size(), " items, at most ", l.max_batch));
  }
  for (int i = 0; i < r.concepts_size(); ++i) {
    const v1::LearnRequest& item = r.concepts(i);
    if (!item.namespace_().empty() && item.namespace_() != r.namespace_()) {
      return InvalidField(
          IndexedField("concepts", i, "namespace"),
          absl::StrCat("'", item.namespace_(), "' differs from the batch's namespace '",
                       r.namespace_(), "'"));
    }
    RETURN_IF_ERROR(ValidateLearnItem(absl::StrCat(IndexedField("concepts", i), "."), item, l));
  }
  return absl::OkStatus();
}

absl::Status ValidateGetConcept(const v1::GetConceptRequest& r, const ValidationLimits& l) {
  RETURN_IF_ERROR(ValidateNamespaceName("namespace", r.namespace_()));
  return ValidateId("id", r.id(), l);
}

absl::Status ValidateDeleteConcept(const v1::DeleteConceptRequest& r, const ValidationLimits& l) {
  RETURN_IF_ERROR(ValidateNamespaceName("namespace", r.namespace_()));
  return ValidateId("id", r.id(), l);
}

absl::Status ValidateAssociationItem(absl::string_view prefix, const v1::AssociateRequest& r,
                                     const ValidationLimits& l) {
  RETURN_IF_ERROR(ValidateId(absl::StrCat(prefix, "source"), r.source(), l));
  RETURN_IF_ERROR(ValidateId(absl::StrCat(prefix, "target"), r.target(), l));
  RETURN_IF_ERROR(
      ValidateAssociationType(absl::StrCat(prefix, "type"), r.type(), /*required=*/true));
  if (r.has_confidence()) {
    RETURN_IF_ERROR(
        ValidateUnitInterval(absl::StrCat(prefix, "confidence"), r.confidence().value()));
  }
  if (r.has_weight() && !std::isfinite(r.weight().value()))
    return InvalidField(absl::StrCat(prefix, "weight"), "not finite");
  return absl::OkStatus();
}

absl::Status ValidateAssociate(const v1::AssociateRequest& r, const ValidationLimits& l) {
  RETURN_IF_ERROR(ValidateNamespaceName("namespace", r.namespace_()));
  return ValidateAssociationItem("", r, l);
}

absl::Status ValidateAssociateBatch(const v1::AssociateBatchRequest& r, const ValidationLimits& l) {
  RETURN_IF_ERROR(ValidateNamespaceName("namespace", r.namespace_()));
  if (r.associations_size() < 1) return InvalidField("associations", "at least 1 required");
  if (static_cast<uint32_t>(r.associations_size()) > l.max_batch) {
    return InvalidField("associations",
                        absl::StrCat(r.associations_size(), " items, at most ", l.max_batch));
  }
  for (int i = 0; i < r.associations_size(); ++i) {
    const v1::AssociateRequest& item = r.associations(i);
    if (!item.namespace_().empty() && item.namespace_() != r.namespace_()) {
      return InvalidField(
          IndexedField("associations", i, "namespace"),
          absl::StrCat("'", item.namespace_(), "' differs from the batch's namespace '",
                       r.namespace_(), "'"));
    }
    RETURN_IF_ERROR(
        ValidateAssociationItem(absl::StrCat(IndexedField("associations", i), "."), item, l));
  }
  return absl::OkStatus();
}

absl::Status ValidateDeleteAssociation(const v1::DeleteAssociationRequest& r,
                                       const ValidationLimits& l) {
  RETURN_IF_ERROR(ValidateNamespaceName("namespace", r.namespace_()));
  RETURN_IF_ERROR(ValidateId("source", r.source(), l));
  RETURN_IF_ERROR(ValidateId("target", r.target(), l));
  return ValidateAssociationType("type", r.type(), /*required=*/true);
}

absl::Status ValidateListConcepts(const v1::ListConceptsRequest& r, const ValidationLimits& l,
                                  google::protobuf::Map<std::string, std::string>* filter) {
  RETURN_IF_ERROR(ValidateNamespaceName("namespace", r.namespace_()));
  RETURN_IF_ERROR(AtMost("pageSize", r.page_size(), l.max_page_size));
  if (r.page_token().size() > l.max_page_token_bytes) return InvalidField("pageToken", "malformed");
  google::protobuf::Map<std::string, std::string> parsed;
  for (int i = 0; i < r.attribute_size(); ++i) {
    const std::string& item = r.attribute(i);
    const size_t colon = item.find(':');
    if (colon == std::string::npos || colon == 0) {
      return InvalidField(IndexedField("attribute", i),
                          absl::StrCat("'", item.size() <= 64 ? item : item.substr(0, 64) + "...",
                                       "' is not key:value"));
    }
    const std::string key = item.substr(0, colon);
    const std::string value = item.substr(colon + 1);
    auto [it, inserted] = parsed.insert({key, value});
    if (!inserted && it->second != value) {
      return InvalidField(IndexedField("attribute", i),
                          absl::StrCat("key '", key, "' is given twice with different values"));
    }
  }
  RETURN_IF_ERROR(ValidateAttributes("attribute", parsed, l));
  if (filter != nullptr) *filter = std::move(parsed);
  return absl::OkStatus();
}

UpdateFields MaskedFields(const v1::UpdateConceptRequest& r) {
  UpdateFields f;
  if (r.update_mask().empty()) {
    f.content = !r.content().empty();
    f.vector = !r.vector().empty();
    f.attributes = !r.attributes().empty();
    f.strength = r.has_strength();
    f.confidence = r.has_confidence();
    return f;
  }
  for (const std::string& name : r.update_mask()) {
    if (name == "content") f.content = true;
    if (name == "vector") f.vector = true;
    if (name == "attributes") f.attributes = true;
    if (name == "strength") f.strength = true;
    if (name == "confidence") f.confidence = true;
  }
  return f;
}

absl::Status ValidateUpdateConcept(const v1::UpdateConceptRequest& r, const ValidationLimits& l) {
  RETURN_IF_ERROR(ValidateNamespaceName("namespace", r.namespace_()));
  RETURN_IF_ERROR(ValidateId("id", r.id(), l));
  static constexpr absl::string_view kFields[] = {"content", "vector", "attributes", "strength",
                                                  "confidence"};
  bool masked[5] = {false, false, false, false, false};
  for (int i = 0; i < r.update_mask_size(); ++i) {
    const std::string& name = r.update_mask(i);
    int found = -1;
    for (int f = 0; f < 5; ++f) {
      if (name == kFields[f]) found = f;
    }
    if (found < 0) {
      return InvalidField(IndexedField("updateMask", i),
                          absl::StrCat("unknown field '", name.size() <= 64 ? name : name.substr(0, 64),
                                       "' (one of content, vector, attributes, strength, "
                                       "confidence)"));
    }
    if (masked[found]) {
      return InvalidField(IndexedField("updateMask", i), absl::StrCat("'", name, "' repeated"));
    }
    masked[found] = true;
  }
  if (r.update_mask_size() == 0) {
    masked[0] = !r.content().empty();
    masked[1] = !r.vector().empty();
    masked[2] = !r.attributes().empty();
    masked[3] = r.has_strength();
    masked[4] = r.has_confidence();
    if (!(masked[0] || masked[1] || masked[2] || masked[3] || masked[4])) {
      return InvalidField("updateMask",
                          "nothing to update (set content, vector, attributes, strength or "
                          "confidence, or name them in updateMask)");
    }
  }
  if (masked[0]) RETURN_IF_ERROR(ValidateContent("content", r.content(), l));
  if (masked[1]) {
    RETURN_IF_ERROR(AtMost("vector", r.vector_size(), l.max_dimension));
    RETURN_IF_ERROR(ValidateFinite("vector", r.vector()));
  }
  if (masked[2]) RETURN_IF_ERROR(ValidateAttributes("attributes", r.attributes(), l));
  if (masked[3]) {
    if (!r.has_strength()) return InvalidField("strength", "required when updateMask names it");
    RETURN_IF_ERROR(ValidateStrength("strength", r.strength().value()));
  }
  if (masked[4]) {
    if (!r.has_confidence()) return InvalidField("confidence", "required when updateMask names it");
    RETURN_IF_ERROR(ValidateUnitInterval("confidence", r.confidence().value()));
  }
  // Fields outside an explicit mask must not be sent: they would be silently ignored.
  if (r.update_mask_size() > 0) {
    const bool sent[5] = {!r.content().empty(), !r.vector().empty(), !r.attributes().empty(),
                          r.has_strength(), r.has_confidence()};
    for (int f = 0; f < 5; ++f) {
      if (sent[f] && !masked[f]) {
        return InvalidField(kFields[f], "set but not named in updateMask");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateNeighbors(const v1::NeighborsRequest& r, const ValidationLimits& l) {
  RETURN_IF_ERROR(ValidateNamespaceName("namespace", r.namespace_()));
  RETURN_IF_ERROR(ValidateId("id", r.id(), l));
  RETURN_IF_ERROR(ValidateAssociationType("type", r.type(), /*required=*/false));
  if (!v1::Direction_IsValid(r.direction())) {
    return InvalidField("direction", absl::StrCat("unknown direction ", r.direction()));
  }
  return AtMost("limit", r.limit(), l.max_neighbors);
}

absl::Status ValidateFindPaths(const v1::FindPathsRequest& r, const ValidationLimits& l) {
  RETURN_IF_ERROR(ValidateNamespaceName("namespace", r.namespace_()));
  RETURN_IF_ERROR(ValidateId("source", r.source(), l));
  RETURN_IF_ERROR(ValidateId("target", r.target(), l));
  RETURN_IF_ERROR(AtMost("maxDepth", r.max_depth(), l.max_depth));
  RETURN_IF_ERROR(AtMost("maxPaths", r.max_paths(), l.max_paths));
  return ValidateTypes("types", r.types());
}

absl::Status ValidateSearch(const v1::SearchRequest& r, const ValidationLimits& l) {
  RETURN_IF_ERROR(ValidateNamespaceName("namespace", r.namespace_()));
  const bool has_query = !r.query().empty();
  const bool has_vector = !r.vector().empty();
  if (has_query == has_vector) return InvalidField("query, vector", "exactly one is required");
  if (!v1::SearchMode_IsValid(r.mode())) {
    return InvalidField("mode", absl::StrCat("unknown value ", static_cast<int>(r.mode())));
  }
  if (has_vector && (r.mode() == v1::KEYWORD || r.mode() == v1::HYBRID)) {
    return InvalidField("mode", absl::StrCat(v1::SearchMode_Name(r.mode()),
                                             " ranks by the query's words: give a query, not a vector"));
  }
  if (has_query) {
    if (absl::StripAsciiWhitespace(r.query()).empty()) return InvalidField("query", "blank");
    RETURN_IF_ERROR(ValidateContent("query", r.query(), l));
  } else {
    RETURN_IF_ERROR(AtMost("vector", r.vector_size(), l.max_dimension));
    RETURN_IF_ERROR(ValidateFinite("vector", r.vector()));
  }
  RETURN_IF_ERROR(AtMost("k", r.k(), l.max_k));
  RETURN_IF_ERROR(AtMost("ef", r.ef(), l.max_ef));
  return ValidateAttributes("filter.attributes", r.filter().attributes(), l);
}

absl::Status ValidateReason(const v1::ReasonRequest& r, const ValidationLimits& l) {
  RETURN_IF_ERROR(ValidateNamespaceName("namespace", r.namespace_()));
  if (absl::StripAsciiWhitespace(r.query()).empty())
    return InvalidField("query", "required (empty)");
  RETURN_IF_ERROR(ValidateContent("query", r.query(), l));
  RETURN_IF_ERROR(AtMost("k", r.k(), l.max_reason_k));
  RETURN_IF_ERROR(AtMost("maxDepth", r.max_depth(), l.max_reason_depth));
  RETURN_IF_ERROR(AtMost("maxPaths", r.max_paths(), l.max_paths));
  if (r.has_min_confidence()) {
    RETURN_IF_ERROR(ValidateUnitInterval("minConfidence", r.min_confidence().value()));
  }
  return ValidateTypes("types", r.types());
}

}  // namespace engram::api
