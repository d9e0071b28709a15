#include "services/api/core/conversions.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"

namespace engram::api {

namespace sv1 = storage::v1;
namespace hv1 = hybrid::v1;

namespace {

constexpr uint32_t kDefaultReasonK = 10;
constexpr uint32_t kDefaultReasonDepth = 4;
constexpr uint32_t kDefaultReasonPaths = 5;
constexpr float kDefaultMinConfidence = 0.3f;

}  // namespace

v1::Association ToV1(const sv1::Association& a) {
  v1::Association out;
  out.set_source(a.source());
  out.set_target(a.target());
  out.set_type(static_cast<v1::AssociationType>(a.type()));
  out.set_confidence(a.confidence());
  out.set_weight(a.weight());
  if (a.has_create_time()) *out.mutable_create_time() = a.create_time();
  return out;
}

v1::Path ToV1(const sv1::Path& p) {
  v1::Path out;
  out.mutable_concept_ids()->CopyFrom(p.concept_ids());
  for (const sv1::Association& hop : p.hops()) *out.add_hops() = ToV1(hop);
  out.set_confidence(p.confidence());
  return out;
}

v1::ConceptRef ToRef(const sv1::Concept& c) {
  v1::ConceptRef out;
  out.set_id(c.id());
  out.set_content(c.content());
  return out;
}

v1::SearchResult ToV1(const sv1::SearchResult& r) {
  v1::SearchResult out;
  out.set_id(r.node().id());
  out.set_score(r.score());
  out.set_content(r.node().content());
  out.mutable_attributes()->insert(r.node().attributes().begin(), r.node().attributes().end());
  if (r.has_vector_score()) out.mutable_scores()->set_vector(r.vector_score());
  if (r.has_keyword_score()) out.mutable_scores()->set_keyword(r.keyword_score());
  return out;
}

v1::Concept ToV1(const sv1::Concept& c, bool include_vector) {
  v1::Concept out;
  out.set_id(c.id());
  out.set_content(c.content());
  out.mutable_attributes()->insert(c.attributes().begin(), c.attributes().end());
  out.set_strength(c.strength());
  out.set_confidence(c.confidence());
  if (c.has_create_time()) *out.mutable_create_time() = c.create_time();
  if (c.has_update_time()) *out.mutable_update_time() = c.update_time();
  if (include_vector) out.mutable_vector()->CopyFrom(c.vector());
  return out;
}

v1::Namespace ToV1(const sv1::NamespaceInfo& info) {
  v1::Namespace out;
  const sv1::NamespaceConfig& c = info.config();
  out.set_name(c.name());
  out.set_dimension(c.dimension());
  out.set_metric(static_cast<v1::Metric>(c.metric()));
  out.set_embedder(c.embedder().empty() ? "hashing" : c.embedder());
  out.set_concept_count(info.concept_count());
  out.set_association_count(info.association_count());
  out.mutable_index_params()->set_m(c.index_params().m());
  out.mutable_index_params()->set_ef_construction(c.index_params().ef_construction());
  out.mutable_index_params()->set_quantization(c.index_params().quantization() == sv1::QUANTIZATION_INT8
                                                   ? v1::QUANTIZATION_INT8
                                                   : v1::QUANTIZATION_NONE);
  for (const sv1::KeywordField& f : c.keyword_fields()) {
    v1::KeywordField* k = out.add_keyword_fields();
    k->set_attribute(f.attribute());
    k->set_weight(f.weight());
    k->set_b(f.has_b() ? f.b() : 0.75);
  }
  if (info.has_create_time()) *out.mutable_create_time() = info.create_time();
  return out;
}

v1::Stats ToV1(const sv1::ServerStats& s) {
  v1::Stats out;
  out.set_namespaces(s.namespaces());
  out.set_concepts(s.concepts());
  out.set_associations(s.associations());
  out.set_vectors(s.vectors());
  out.set_last_sequence(s.last_sequence());
  out.set_sync_mode(s.sync_mode());
  out.set_log_bytes(s.log_bytes());
  out.set_mapped_bytes(s.mapped_bytes());
  if (s.has_last_checkpoint_time()) *out.mutable_last_checkpoint_time() = s.last_checkpoint_time();
  if (s.has_last_snapshot_time()) *out.mutable_last_snapshot_time() = s.last_snapshot_time();
  out.set_version(s.version());
  return out;
}

v1::ReasonResponse ToV1(const hv1::ReasonResponse& r) {
  v1::ReasonResponse out;
  if (r.has_answer()) *out.mutable_answer() = ToRef(r.answer());
  out.set_confident(r.confident());
  out.mutable_confidence()->set_graph(r.confidence().graph());
  out.mutable_confidence()->set_semantic(r.confidence().semantic());
  out.mutable_confidence()->set_consensus(r.confidence().consensus());
  out.mutable_confidence()->set_final(r.confidence().final());
  for (const sv1::Path& p : r.paths()) *out.add_paths() = ToV1(p);
  for (const sv1::SearchResult& s : r.support()) *out.add_support() = ToV1(s);
  out.set_explanation(r.explanation());
  if (r.has_best_guess()) *out.mutable_best_guess() = ToRef(r.best_guess());
  for (const sv1::Concept& c : r.path_concepts()) *out.add_path_concepts() = ToRef(c);
  for (const sv1::Concept& c : r.answers()) *out.add_answers() = ToRef(c);
  return out;
}

hv1::LearnItem ToLearnItem(const v1::LearnRequest& r) {
  hv1::LearnItem item;
  item.set_content(r.content());
  item.set_id(r.id());
  item.mutable_vector()->CopyFrom(r.vector());
  item.mutable_attributes()->insert(r.attributes().begin(), r.attributes().end());
  if (r.has_extract_associations()) *item.mutable_extract_associations() = r.extract_associations();
  if (r.has_strength()) *item.mutable_strength() = r.strength();
  return item;
}

v1::ReasonEvent ToV1(const hv1::ReasonEvent& e) {
  v1::ReasonEvent out;
  switch (e.event_case()) {
    case hv1::ReasonEvent::kSeeds:
      for (const sv1::SearchResult& s : e.seeds().support()) {
        *out.mutable_seeds()->add_support() = ToV1(s);
      }
      break;
    case hv1::ReasonEvent::kPath: {
      v1::ReasonPath* path = out.mutable_path();
      *path->mutable_path() = ToV1(e.path().path());
      for (const sv1::Concept& c : e.path().concepts()) *path->add_concepts() = ToRef(c);
      path->set_evidence(e.path().evidence());
      break;
    }
    case hv1::ReasonEvent::kAnswer:
      *out.mutable_answer() = ToV1(e.answer());
      break;
    case hv1::ReasonEvent::EVENT_NOT_SET:
      break;
  }
  return out;
}

v1::ReasonRequest NormalizedReason(const v1::ReasonRequest& request) {
  v1::ReasonRequest normal = request;
  normal.set_query(std::string(absl::StripAsciiWhitespace(request.query())));
  if (normal.k() == 0) normal.set_k(kDefaultReasonK);
  if (normal.max_depth() == 0) normal.set_max_depth(kDefaultReasonDepth);
  if (normal.max_paths() == 0) normal.set_max_paths(kDefaultReasonPaths);
  if (!normal.has_min_confidence()) normal.mutable_min_confidence()->set_value(kDefaultMinConfidence);
  std::vector<int> types(normal.types().begin(), normal.types().end());
  std::sort(types.begin(), types.end());
  types.erase(std::unique(types.begin(), types.end()), types.end());
  normal.mutable_types()->Assign(types.begin(), types.end());
  return normal;
}

hv1::ReasonRequest ToHybrid(const v1::ReasonRequest& normalized) {
  hv1::ReasonRequest req;
  req.set_namespace_(normalized.namespace_());
  req.set_query(normalized.query());
  req.set_k(normalized.k());
  req.set_max_depth(normalized.max_depth());
  req.set_max_paths(normalized.max_paths());
  *req.mutable_min_confidence() = normalized.min_confidence();
  for (int t : normalized.types()) req.add_types(static_cast<sv1::AssociationType>(t));
  return req;
}

}  // namespace engram::api
