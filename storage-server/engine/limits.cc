#include "storage-server/engine/limits.h"

#include <xxhash.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status/status_macros.h"

namespace engram::storage {

absl::Status ValidateAtMost(absl::string_view field, uint64_t value, uint64_t max,
                            absl::string_view unit) {
  if (value <= max) return absl::OkStatus();
  return InvalidField(field, absl::StrCat(value, unit.empty() ? "" : " ", unit, ", at most ", max));
}

absl::Status NormalizeNamespaceConfig(const Limits& limits, v1::NamespaceConfig* c) {
  RETURN_IF_ERROR(ValidateName("config.name", c->name()));
  if (c->dimension() == 0) c->set_dimension(384);
  RETURN_IF_ERROR(ValidateAtMost("config.dimension", c->dimension(), limits.max_dimension));
  if (c->metric() == v1::METRIC_UNSPECIFIED) c->set_metric(v1::COSINE);
  if (!v1::Metric_IsValid(c->metric())) return InvalidField("config.metric", "unknown metric");
  auto* p = c->mutable_index_params();
  if (p->m() == 0) p->set_m(16);
  if (p->ef_construction() == 0) p->set_ef_construction(200);
  if (p->ef_search() == 0) p->set_ef_search(64);
  if (p->quantization() == v1::QUANTIZATION_UNSPECIFIED) p->set_quantization(v1::QUANTIZATION_NONE);
  if (!v1::Quantization_IsValid(p->quantization())) {
    return InvalidField("config.index_params.quantization", "unknown quantization");
  }
  if (p->m() < 2 || p->m() > 128) return InvalidField("config.index_params.m", "must be in 2..128");
  if (p->ef_construction() < p->m() || p->ef_construction() > limits.max_ef) {
    return InvalidField("config.index_params.ef_construction",
                        absl::StrFormat("must be in m..%d", limits.max_ef));
  }
  if (p->ef_search() > limits.max_ef) {
    return InvalidField("config.index_params.ef_search",
                        absl::StrFormat("at most %d", limits.max_ef));
  }
  if (c->embedder().empty()) c->set_embedder("hashing");
  if (c->embedder().size() > 256) return InvalidField("config.embedder", "longer than 256 bytes");
  if (c->keyword_fields_size() > kMaxKeywordFields) {
    return InvalidField("config.keyword_fields",
                        absl::StrCat(c->keyword_fields_size(), " fields, at most ", kMaxKeywordFields));
  }
  for (int i = 0; i < c->keyword_fields_size(); ++i) {
    v1::KeywordField* f = c->mutable_keyword_fields(i);
    const std::string where = absl::StrCat("config.keyword_fields[", i, "]");
    if (f->attribute().empty() || f->attribute().size() > 128) {
      return InvalidField(absl::StrCat(where, ".attribute"), "must be 1..128 bytes");
    }
    for (int j = 0; j < i; ++j) {
      if (c->keyword_fields(j).attribute() == f->attribute()) {
        return InvalidField(absl::StrCat(where, ".attribute"),
                            absl::StrCat("'", f->attribute(), "' is already field ", j));
      }
    }
    if (f->weight() == 0) f->set_weight(1.0);
    if (!(f->weight() > 0 && f->weight() <= 1000)) {  // also rejects NaN
      return InvalidField(absl::StrCat(where, ".weight"), "must be in (0, 1000]");
    }
    if (!f->has_b()) f->set_b(0.75);
    if (!(f->b() >= 0 && f->b() <= 1)) return InvalidField(absl::StrCat(where, ".b"), "must be in 0..1");
  }
  return absl::OkStatus();
}

std::string ContentHashId(absl::string_view content) {
  XXH128_hash_t h = XXH3_128bits(content.data(), content.size());
  return absl::StrFormat("c-%016x%016x", h.high64, h.low64);
}

absl::Status NormalizeConcept(absl::string_view field, const Limits& limits, uint32_t dimension,
                              v1::Concept* c) {
  RETURN_IF_ERROR(ValidateAtMost(absl::StrCat(field, ".content"), c->content().size(),
                                 limits.max_content_bytes, "bytes"));
  if (!IsValidUtf8(c->content())) {
    return InvalidField(absl::StrCat(field, ".content"), "not valid UTF-8");
  }
  if (c->id().empty()) {
    if (c->content().empty()) {
      return InvalidField(absl::StrCat(field, ".id"), "required when content is empty");
    }
    c->set_id(ContentHashId(c->content()));
  }
  RETURN_IF_ERROR(ValidateId(absl::StrCat(field, ".id"), c->id(), limits));
  if (!c->vector().empty()) {
    RETURN_IF_ERROR(ValidateVector(absl::StrCat(field, ".vector"), c->vector(), dimension));
  }
  RETURN_IF_ERROR(ValidateAtMost(absl::StrCat(field, ".attributes"), c->attributes_size(),
                                 limits.max_attributes, "entries"));
  for (const auto& [k, v] : c->attributes()) {
    std::string f = absl::StrCat(field, ".attributes[", k.substr(0, 32), "]");
    if (k.empty() || k.size() > limits.max_attribute_key_bytes) {
      return InvalidField(
          f, absl::StrFormat("key must be 1..%d bytes", limits.max_attribute_key_bytes));
    }
    if (v.size() > limits.max_attribute_value_bytes) {
      return InvalidField(
          f, absl::StrFormat("value longer than %d bytes", limits.max_attribute_value_bytes));
    }
    if (!IsValidUtf8(k) || !IsValidUtf8(v)) return InvalidField(f, "not valid UTF-8");
  }
  if (!std::isfinite(c->strength()) || c->strength() < 0) {
    return InvalidField(absl::StrCat(field, ".strength"), "must be finite and >= 0");
  }
  if (!std::isfinite(c->confidence()) || c->confidence() < 0 || c->confidence() > 1) {
    return InvalidField(absl::StrCat(field, ".confidence"), "must be in [0, 1]");
  }
  if (!c->has_strength()) c->set_strength(1.0f);
  if (!c->has_confidence()) c->set_confidence(1.0f);
  c->clear_create_time();
  c->clear_update_time();
  return absl::OkStatus();
}

static absl::Status ValidateType(absl::string_view field, v1::AssociationType type) {
  if (type == v1::ASSOCIATION_TYPE_UNSPECIFIED || !v1::AssociationType_IsValid(type)) {
    return InvalidField(field,
                        "must be one of SEMANTIC, CAUSAL, TEMPORAL, HIERARCHICAL, COMPOSITIONAL");
  }
  return absl::OkStatus();
}

absl::Status NormalizeAssociation(absl::string_view field, const Limits& limits,
                                  v1::Association* a) {
  RETURN_IF_ERROR(ValidateId(absl::StrCat(field, ".source"), a->source(), limits));
  RETURN_IF_ERROR(ValidateId(absl::StrCat(field, ".target"), a->target(), limits));
  RETURN_IF_ERROR(ValidateType(absl::StrCat(field, ".type"), a->type()));
  if (!std::isfinite(a->confidence()) || a->confidence() < 0 || a->confidence() > 1) {
    return InvalidField(absl::StrCat(field, ".confidence"), "must be in [0, 1]");
  }
  if (!std::isfinite(a->weight())) {
    return InvalidField(absl::StrCat(field, ".weight"), "not finite");
  }
  if (!a->has_confidence()) a->set_confidence(1.0f);
  if (!a->has_weight()) a->set_weight(1.0f);
  a->clear_create_time();
  return absl::OkStatus();
}

absl::Status ValidateAssociationKey(absl::string_view field, const Limits& limits,
                                    const v1::AssociationKey& key) {
  RETURN_IF_ERROR(ValidateId(absl::StrCat(field, ".source"), key.source(), limits));
  RETURN_IF_ERROR(ValidateId(absl::StrCat(field, ".target"), key.target(), limits));
  return ValidateType(absl::StrCat(field, ".type"), key.type());
}

absl::Status NormalizeWriteRequest(const Limits& limits, uint32_t dimension, v1::WriteRequest* r) {
  if (r->mutations().empty()) return InvalidField("mutations", "at least one mutation is required");
  RETURN_IF_ERROR(ValidateAtMost("mutations", r->mutations_size(), limits.max_batch, "mutations"));
  for (int i = 0; i < r->mutations_size(); ++i) {
    v1::Mutation* m = r->mutable_mutations(i);
    switch (m->op_case()) {
      case v1::Mutation::kPutConcept:
        RETURN_IF_ERROR(NormalizeConcept(IndexedField("mutations", i, "put_concept"), limits,
                                         dimension, m->mutable_put_concept()));
        break;
      case v1::Mutation::kDeleteConcept:
        RETURN_IF_ERROR(ValidateId(IndexedField("mutations", i, "delete_concept"),
                                   m->delete_concept(), limits));
        break;
      case v1::Mutation::kPutAssociation:
        RETURN_IF_ERROR(NormalizeAssociation(IndexedField("mutations", i, "put_association"),
                                             limits, m->mutable_put_association()));
        break;
      case v1::Mutation::kDeleteAssociation:
        RETURN_IF_ERROR(ValidateAssociationKey(IndexedField("mutations", i, "delete_association"),
                                               limits, m->delete_association()));
        break;
      case v1::Mutation::OP_NOT_SET:
        return InvalidField(IndexedField("mutations", i), "no operation set");
    }
  }
  return absl::OkStatus();
}

}  // namespace engram::storage
