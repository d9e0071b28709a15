#include "services/hybrid/service/storage_graph_source.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "common/status/status_macros.h"
#include "common/text/names.h"

namespace engram::hybrid {

namespace sv1 = storage::v1;

absl::StatusOr<std::vector<SearchHit>> StorageGraphSource::Search(const SeedQuery& query,
                                                                  uint32_t k) {
  sv1::SearchRequest req = SeedSearchRequest(namespace_, query, k);
  sv1::SearchResponse resp;
  RETURN_IF_ERROR(core_->CallStorage(call_, "Search", [&](grpc::ClientContext* c) {
    return core_->storage()->Search(c, req, &resp);
  }));
  return SeedHits(resp);
}

absl::StatusOr<std::vector<SearchHit>> StorageGraphSource::SearchNamed(const SeedQuery& query,
                                                                       std::string_view name,
                                                                       uint32_t k) {
  sv1::SearchRequest req = SeedSearchRequest(namespace_, query, k);
  req.set_name(std::string(name));
  sv1::SearchResponse resp;
  RETURN_IF_ERROR(core_->CallStorage(call_, "Search", [&](grpc::ClientContext* c) {
    return core_->storage()->Search(c, req, &resp);
  }));
  return SeedHits(resp);
}

sv1::SearchRequest SeedSearchRequest(const std::string& ns, const SeedQuery& query, uint32_t k) {
  sv1::SearchRequest req;
  req.set_namespace_(ns);
  req.mutable_vector()->Assign(query.vector.begin(), query.vector.end());
  req.set_text(std::string(query.text));
  req.set_mode(query.vector.empty() ? sv1::SEARCH_MODE_KEYWORD
               : query.text.empty() ? sv1::SEARCH_MODE_VECTOR
                                    : sv1::SEARCH_MODE_HYBRID);
  req.set_k(k);
  return req;
}

std::vector<SearchHit> SeedHits(const sv1::SearchResponse& response) {
  std::vector<SearchHit> hits;
  hits.reserve(response.results_size());
  // A hit's word match counts in proportion to its BM25 against the best hit's: of two concepts
  // holding the question's words, the one most about them (the words repeated, a short text)
  // leads.
  float best_bm25 = 0;
  for (const auto& r : response.results()) best_bm25 = std::max(best_bm25, r.keyword_score());
  for (const auto& r : response.results()) {
    std::optional<float> words;
    if (r.has_keyword_match() && best_bm25 > 0) {
      words = r.keyword_match() * r.keyword_score() / best_bm25;
    }
    const float relevance = SeedRelevance(
        r.has_vector_score() ? std::optional<float>(r.vector_score()) : std::nullopt, words);
    SearchHit& hit = hits.emplace_back(
        SearchHit{.node = {r.node().id(), r.node().content()},
                  .score = relevance,
                  .strength = r.node().has_strength() ? r.node().strength() : 1.0f});
    for (const auto& [key, value] : r.node().attributes()) {
      float s = 0;
      if (absl::StartsWith(key, text::kNameStrengthPrefix) && absl::SimpleAtof(value, &s) &&
          std::isfinite(s) && s >= 0) {
        hit.name_strengths.emplace_back(key.substr(std::strlen(text::kNameStrengthPrefix)), s);
      }
    }
  }
  return hits;
}

namespace {

sv1::Direction DirectionProto(EdgeDirection direction) {
  return direction == EdgeDirection::kOut  ? sv1::OUT
         : direction == EdgeDirection::kIn ? sv1::IN
                                           : sv1::BOTH;
}

Edge EdgeFromProto(const sv1::Association& a) {
  return {.source = a.source(),
          .target = a.target(),
          .type = static_cast<AssociationType>(a.type()),
          .confidence = a.confidence(),
          .weight = a.weight()};
}

// The answers of one storage call per item, issued concurrently, converted: a concept's NOT_FOUND
// (deleted since the search) is an empty answer; the namespace's NOT_FOUND and every other error
// fail them all (the first failing item's, in item order).
template <typename Out, typename Response, typename Convert>
absl::StatusOr<std::vector<Out>> PerItem(const std::vector<absl::Status>& statuses,
                                         const std::vector<Response>& responses, Convert convert) {
  std::vector<Out> out(statuses.size());
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (statuses[i].ok()) {
      out[i] = convert(responses[i]);
    } else if (!absl::IsNotFound(statuses[i]) || IsNamespaceNotFound(statuses[i])) {
      return statuses[i];
    }
  }
  return out;
}

}  // namespace

sv1::NeighborsRequest NeighborsRequestFor(const std::string& ns, std::string_view id,
                                          absl::Span<const AssociationType> types, uint32_t limit,
                                          EdgeDirection direction) {
  sv1::NeighborsRequest req;
  req.set_namespace_(ns);
  req.set_id(std::string(id));
  for (AssociationType t : types) req.add_types(static_cast<sv1::AssociationType>(t));
  req.set_direction(DirectionProto(direction));
  req.set_limit(limit);
  return req;
}

std::vector<Neighbor> NeighborsFromProto(const sv1::NeighborsResponse& resp) {
  std::vector<Neighbor> out;
  out.reserve(resp.neighbors_size());
  for (const auto& n : resp.neighbors()) {
    out.push_back(
        {.node = {n.node().id(), n.node().content()}, .edge = EdgeFromProto(n.association())});
  }
  return out;
}

sv1::FindPathsRequest PathRequestFor(const std::string& ns, const PathEnds& ends,
                                     absl::Span<const AssociationType> types, uint32_t max_depth,
                                     EdgeDirection direction) {
  sv1::FindPathsRequest req;
  req.set_namespace_(ns);
  req.set_source(ends.source);
  req.set_target(ends.target);
  req.set_max_depth(max_depth);
  req.set_max_paths(1);
  for (AssociationType t : types) req.add_types(static_cast<sv1::AssociationType>(t));
  req.set_mode(sv1::SHORTEST);
  req.set_direction(DirectionProto(direction));
  return req;
}

std::optional<FoundPath> PathFromProto(const sv1::FindPathsResponse& response) {
  if (response.paths_size() == 0) return std::nullopt;
  const sv1::Path& p = response.paths(0);
  FoundPath out;
  out.ids.assign(p.concept_ids().begin(), p.concept_ids().end());
  for (const sv1::Association& a : p.hops()) out.hops.push_back(EdgeFromProto(a));
  return out;
}

absl::StatusOr<std::vector<Neighbor>> StorageGraphSource::Neighbors(
    std::string_view id, absl::Span<const AssociationType> types, uint32_t limit,
    EdgeDirection direction) {
  sv1::NeighborsRequest req = NeighborsRequestFor(namespace_, id, types, limit, direction);
  sv1::NeighborsResponse resp;
  RETURN_IF_ERROR(core_->CallStorage(call_, "Neighbors", [&](grpc::ClientContext* c) {
    return core_->storage()->Neighbors(c, req, &resp);
  }));
  return NeighborsFromProto(resp);
}

absl::StatusOr<std::vector<std::vector<Neighbor>>> StorageGraphSource::NeighborsBatch(
    absl::Span<const std::string> ids, absl::Span<const AssociationType> types, uint32_t limit,
    EdgeDirection direction) {
  std::vector<sv1::NeighborsRequest> requests;
  requests.reserve(ids.size());
  for (const std::string& id : ids) {
    requests.push_back(NeighborsRequestFor(namespace_, id, types, limit, direction));
  }
  std::vector<sv1::NeighborsResponse> responses;
  std::vector<absl::Status> statuses = core_->CallStorageConcurrently(
      call_, "Neighbors", requests, &responses,
      [this](grpc::ClientContext* c, const sv1::NeighborsRequest& r, grpc::CompletionQueue* cq) {
        return core_->storage()->PrepareAsyncNeighbors(c, r, cq);
      });
  return PerItem<std::vector<Neighbor>>(statuses, responses, NeighborsFromProto);
}

absl::StatusOr<std::vector<std::optional<FoundPath>>> StorageGraphSource::PathsBetween(
    absl::Span<const PathEnds> pairs, absl::Span<const AssociationType> types, uint32_t max_depth,
    EdgeDirection direction) {
  std::vector<sv1::FindPathsRequest> requests;
  requests.reserve(pairs.size());
  for (const PathEnds& ends : pairs) {
    requests.push_back(PathRequestFor(namespace_, ends, types, max_depth, direction));
  }
  std::vector<sv1::FindPathsResponse> responses;
  std::vector<absl::Status> statuses = core_->CallStorageConcurrently(
      call_, "FindPaths", requests, &responses,
      [this](grpc::ClientContext* c, const sv1::FindPathsRequest& r, grpc::CompletionQueue* cq) {
        return core_->storage()->PrepareAsyncFindPaths(c, r, cq);
      });
  return PerItem<std::optional<FoundPath>>(statuses, responses, PathFromProto);
}

absl::StatusOr<std::vector<ConceptLite>> StorageGraphSource::Get(
    absl::Span<const std::string> ids) {
  std::vector<ConceptLite> out;
  for (size_t begin = 0; begin < ids.size(); begin += 1000) {
    sv1::GetConceptsRequest req;
    req.set_namespace_(namespace_);
    for (size_t i = begin; i < ids.size() && i < begin + 1000; ++i) req.add_ids(ids[i]);
    sv1::GetConceptsResponse resp;
    RETURN_IF_ERROR(core_->CallStorage(call_, "GetConcepts", [&](grpc::ClientContext* c) {
      return core_->storage()->GetConcepts(c, req, &resp);
    }));
    for (const auto& cpt : resp.concepts()) out.push_back({cpt.id(), cpt.content()});
  }
  return out;
}

}  // namespace engram::hybrid
