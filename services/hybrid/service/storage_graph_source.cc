#include "services/hybrid/service/storage_graph_source.h"

#include "common/status/status_macros.h"

namespace engram::hybrid {

namespace sv1 = storage::v1;

absl::StatusOr<std::vector<SearchHit>> StorageGraphSource::Search(absl::Span<const float> vector,
                                                                  uint32_t k) {
  sv1::SearchRequest req;
  req.set_namespace_(namespace_);
  req.mutable_vector()->Assign(vector.begin(), vector.end());
  req.set_k(k);
  sv1::SearchResponse resp;
  RETURN_IF_ERROR(core_->CallStorage(call_, "Search", [&](grpc::ClientContext* c) {
    return core_->storage()->Search(c, req, &resp);
  }));
  std::vector<SearchHit> hits;
  hits.reserve(resp.results_size());
  for (const auto& r : resp.results()) {
    hits.push_back({.node = {r.node().id(), r.node().content()}, .score = r.score()});
  }
  return hits;
}

namespace {

sv1::NeighborsRequest NeighborsRequestFor(const std::string& ns, std::string_view id,
                                          absl::Span<const AssociationType> types, uint32_t limit) {
  sv1::NeighborsRequest req;
  req.set_namespace_(ns);
  req.set_id(std::string(id));
  for (AssociationType t : types) req.add_types(static_cast<sv1::AssociationType>(t));
  req.set_direction(sv1::BOTH);
  req.set_limit(limit);
  return req;
}

std::vector<Neighbor> FromProto(const sv1::NeighborsResponse& resp) {
  std::vector<Neighbor> out;
  out.reserve(resp.neighbors_size());
  for (const auto& n : resp.neighbors()) {
    const auto& a = n.association();
    out.push_back({.node = {n.node().id(), n.node().content()},
                   .edge = {.source = a.source(),
                            .target = a.target(),
                            .type = static_cast<AssociationType>(a.type()),
                            .confidence = a.confidence(),
                            .weight = a.weight()}});
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<Neighbor>> StorageGraphSource::Neighbors(
    std::string_view id, absl::Span<const AssociationType> types, uint32_t limit) {
  sv1::NeighborsRequest req = NeighborsRequestFor(namespace_, id, types, limit);
  sv1::NeighborsResponse resp;
  RETURN_IF_ERROR(core_->CallStorage(call_, "Neighbors", [&](grpc::ClientContext* c) {
    return core_->storage()->Neighbors(c, req, &resp);
  }));
  return FromProto(resp);
}

absl::StatusOr<std::vector<std::vector<Neighbor>>> StorageGraphSource::NeighborsBatch(
    absl::Span<const std::string> ids, absl::Span<const AssociationType> types, uint32_t limit) {
  std::vector<sv1::NeighborsRequest> requests;
  requests.reserve(ids.size());
  for (const std::string& id : ids) requests.push_back(NeighborsRequestFor(namespace_, id, types, limit));
  std::vector<sv1::NeighborsResponse> responses;
  std::vector<absl::Status> statuses = core_->CallStorageConcurrently(
      call_, "Neighbors", requests, &responses,
      [this](grpc::ClientContext* c, const sv1::NeighborsRequest& r, grpc::CompletionQueue* cq) {
        return core_->storage()->PrepareAsyncNeighbors(c, r, cq);
      });
  std::vector<std::vector<Neighbor>> out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (statuses[i].ok()) {
      out[i] = FromProto(responses[i]);
    } else if (!absl::IsNotFound(statuses[i]) || IsNamespaceNotFound(statuses[i])) {
      return statuses[i];
    }
  }
  return out;
}

absl::StatusOr<std::vector<ConceptLite>> StorageGraphSource::Get(absl::Span<const std::string> ids) {
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
