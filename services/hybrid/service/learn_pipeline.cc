// Learn's storage-free steps (see learn_pipeline.h).
#include "services/hybrid/service/learn_pipeline.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status/error_detail.h"

namespace engram::hybrid {

namespace sv1 = storage::v1;

std::string ContentHashId(std::string_view content) {
  XXH128_hash_t h = XXH3_128bits(content.data(), content.size());
  return absl::StrFormat("c-%016x%016x", h.high64, h.low64);
}

bool IsZeroVector(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return x == 0.0f; });
}

absl::StatusOr<LearnSettings> CheckLearnRequest(const v1::LearnRequest& request,
                                                uint32_t max_items) {
  const int n = request.items_size();
  if (n < 1 || static_cast<uint32_t>(n) > max_items) {
    return absl::InvalidArgumentError(absl::StrCat("items: 1..", max_items, " required"));
  }
  LearnSettings settings;
  if (request.options().has_semantic_links()) {
    settings.semantic_links = request.options().semantic_links().value();
  }
  if (request.options().has_semantic_threshold()) {
    settings.semantic_threshold = request.options().semantic_threshold().value();
  }
  if (settings.semantic_links > 100) {
    return absl::InvalidArgumentError("options.semantic_links: at most 100");
  }
  if (!(settings.semantic_threshold >= 0 && settings.semantic_threshold <= 1)) {
    return absl::InvalidArgumentError("options.semantic_threshold: must be in [0, 1]");
  }
  for (int i = 0; i < n; ++i) {
    if (request.items(i).content().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("items[", i, "].content: empty"));
    }
  }
  return settings;
}

bool ExtractsAssociations(const v1::LearnItem& item) {
  return !item.has_extract_associations() || item.extract_associations().value();
}

absl::StatusOr<LearnItems> LearnItems::From(const v1::LearnRequest& request, int dimension,
                                            const Embedder& embedder) {
  const int n = request.items_size();
  LearnItems out;
  out.ids.resize(n);
  out.vectors.resize(n);
  for (int i = 0; i < n; ++i) {
    const v1::LearnItem& item = request.items(i);
    out.ids[i] = item.id().empty() ? ContentHashId(item.content()) : item.id();
    if (item.has_strength() &&
        (!std::isfinite(item.strength().value()) || item.strength().value() < 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "items[", i, "].strength: ", item.strength().value(), ": must be finite and >= 0"));
    }
    if (item.vector_size() > 0) {
      if (item.vector_size() != dimension) {
        return absl::InvalidArgumentError(
            absl::StrCat("items[", i, "].vector: ", item.vector_size(),
                         " values, the namespace dimension is ", dimension));
      }
      for (float x : item.vector()) {
        if (!std::isfinite(x)) {
          return absl::InvalidArgumentError(absl::StrCat("items[", i, "].vector: not finite"));
        }
      }
      out.vectors[i].assign(item.vector().begin(), item.vector().end());
    } else {
      out.to_embed.push_back(item.content());
      out.to_embed_index.push_back(i);
    }
  }
  if (!out.to_embed.empty() && embedder.name() == "none") {
    return absl::FailedPreconditionError(
        absl::StrCat("items[", out.to_embed_index[0],
                     "].vector: required, the namespace's embedder is \"none\""));
  }
  out.id_set.insert(out.ids.begin(), out.ids.end());
  return out;
}

LearnRelations LearnRelations::Extract(const RelationExtractor& extractor,
                                       const v1::LearnRequest& request) {
  LearnRelations out;
  for (const v1::LearnItem& item : request.items()) {
    if (!ExtractsAssociations(item)) continue;
    for (ExtractedRelation& r : extractor.Extract(item.content())) {
      if (r.source_key.empty() || r.target_key.empty()) continue;
      Relation rel{ContentHashId(r.source_key), ContentHashId(r.target_key), r.type, r.confidence};
      for (auto& [id, key] :
           {std::pair{rel.source, &r.source_key}, std::pair{rel.target, &r.target_key}}) {
        if (out.relation_content.emplace(id, *key).second) out.relation_ids.push_back(id);
      }
      out.relations.push_back(std::move(rel));
    }
  }
  return out;
}

std::vector<std::string> LearnRelations::EndpointsOutside(
    const absl::flat_hash_set<std::string>& item_ids) const {
  std::vector<std::string> out;
  for (const auto& id : relation_ids) {
    if (!item_ids.contains(id)) out.push_back(id);
  }
  return out;
}

void AssociationSet::Add(const std::string& source, const std::string& target, AssociationType type,
                         float confidence) {
  if (source == target) return;
  confidence = std::clamp(confidence, 0.0f, 1.0f);
  if (confidence <= 0) return;  // 0 would mean 1.0 to storage
  Key key{source, target, static_cast<int>(type)};
  auto [it, inserted] = index_.emplace(key, associations_.size());
  if (!inserted) {
    auto& a = associations_[it->second];
    a.set_confidence(std::max(a.confidence(), confidence));
    return;
  }
  sv1::Association a;
  a.set_source(source);
  a.set_target(target);
  a.set_type(static_cast<sv1::AssociationType>(type));
  a.set_confidence(confidence);
  a.set_weight(1.0f);
  associations_.push_back(std::move(a));
}

SemanticLinkSearches SemanticLinkSearches::For(const v1::LearnRequest& request,
                                               const LearnItems& items,
                                               const LearnSettings& settings) {
  SemanticLinkSearches out;
  for (int i = 0; i < request.items_size(); ++i) {
    if (!ExtractsAssociations(request.items(i)) || IsZeroVector(items.vectors[i])) continue;
    sv1::SearchRequest req;
    req.set_namespace_(request.namespace_());
    req.mutable_vector()->Assign(items.vectors[i].begin(), items.vectors[i].end());
    req.set_k(settings.semantic_links + 1);
    out.item_index.push_back(i);
    out.requests.push_back(std::move(req));
  }
  return out;
}

void SemanticLinkSearches::AddLinks(const std::vector<sv1::SearchResponse>& found,
                                    const LearnItems& items, const LearnSettings& settings,
                                    AssociationSet* associations) const {
  for (size_t j = 0; j < item_index.size(); ++j) {
    const std::string& id = items.ids[item_index[j]];
    uint32_t taken = 0;
    for (const auto& hit : found[j].results()) {
      if (taken >= settings.semantic_links) break;
      if (hit.node().id() == id || hit.score() < settings.semantic_threshold) continue;
      associations->Add(id, hit.node().id(), AssociationType::kSemantic, hit.score());
      ++taken;
    }
  }
}

absl::StatusOr<sv1::WriteRequest> BuildLearnWrite(const v1::LearnRequest& request,
                                                  const LearnItems& items,
                                                  const LearnRelations& relations,
                                                  const std::vector<std::string>& to_create,
                                                  const AssociationSet& associations) {
  const int n = request.items_size();
  const size_t total = n + to_create.size() + associations.list().size();
  if (total > 1000) {
    return status::WithDetail(
        absl::InvalidArgumentError(
            absl::StrCat("items: this call needs ", total,
                         " storage mutations (concepts and associations), at most 1000 "
                         "fit in one atomic write; send fewer items")),
        status::WriteTooLargeDetail("items"));
  }
  sv1::WriteRequest write;
  write.set_namespace_(request.namespace_());
  for (int i = 0; i < n; ++i) {
    const auto& item = request.items(i);
    const std::vector<float>& vector = items.vectors[i];
    sv1::Concept* c = write.add_mutations()->mutable_put_concept();
    c->set_id(items.ids[i]);
    c->set_content(item.content());
    if (!IsZeroVector(vector) || item.vector_size() > 0) {
      c->mutable_vector()->Assign(vector.begin(), vector.end());
    }
    *c->mutable_attributes() = item.attributes();
    if (item.has_strength()) c->set_strength(item.strength().value());
  }
  for (const std::string& id : to_create) {
    sv1::Concept* c = write.add_mutations()->mutable_put_concept();
    c->set_id(id);
    c->set_content(relations.relation_content.at(id));
    auto v = relations.key_vectors.find(id);
    if (v != relations.key_vectors.end() && !IsZeroVector(v->second)) {
      c->mutable_vector()->Assign(v->second.begin(), v->second.end());
    }
    (*c->mutable_attributes())["engram.origin"] = "relation";
  }
  for (const auto& a : associations.list()) *write.add_mutations()->mutable_put_association() = a;
  return write;
}

v1::LearnResponse BuildLearnResponse(const LearnItems& items, const LearnRelations& relations,
                                     const std::vector<std::string>& to_create,
                                     const AssociationSet& associations,
                                     const sv1::WriteResponse& written) {
  const int n = static_cast<int>(items.ids.size());
  v1::LearnResponse response;
  for (int i = 0; i < n; ++i) {
    auto* r = response.add_results();
    r->set_id(items.ids[i]);
    r->set_created(written.results(i).created());
  }
  absl::flat_hash_map<std::string, bool> created_relation;
  for (size_t j = 0; j < to_create.size(); ++j) {
    created_relation[to_create[j]] = written.results(n + j).created();
  }
  for (const auto& id : relations.relation_ids) {
    auto* r = response.add_relation_concepts();
    r->set_id(id);
    auto it = created_relation.find(id);
    r->set_created(it != created_relation.end() && it->second);
  }
  std::map<int, uint64_t> by_type;
  for (const auto& a : associations.list()) {
    *response.add_associations() = a;
    ++by_type[a.type()];
  }
  for (const auto& [type, count] : by_type) {
    auto* c = response.add_associations_by_type();
    c->set_type(static_cast<sv1::AssociationType>(type));
    c->set_count(count);
  }
  response.set_associations_created(associations.list().size());
  return response;
}

}  // namespace engram::hybrid
