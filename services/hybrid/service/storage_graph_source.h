// StorageGraphSource: the GraphSource (reason/graph_source.h) over engram-storage, bound to one
// request: its namespace, deadline and correlation id (through HybridCore::CallStorage).
//   Search -> Storage.Search (HYBRID with a vector and words, else VECTOR or KEYWORD; a hit's
//             score is SeedRelevance of its component scores), Neighbors -> Storage.Neighbors
//             (direction BOTH),
//   NeighborsBatch -> one Storage.Neighbors per id, issued concurrently as async calls
//                     (HybridCore::CallStorageConcurrently), so a frontier costs about one round
//                     trip instead of one per concept; result[i] is still ids[i]'s list, so the
//                     reasoning stays deterministic whatever order the answers arrive in,
//   PathsBetween -> one Storage.FindPaths (SHORTEST, one path) per pair, issued concurrently
//                   like NeighborsBatch,
//   Get -> Storage.GetConcepts.
// A concept's NOT_FOUND (deleted since the search) is an empty list; the namespace's NOT_FOUND
// and every other error fail the batch (the first failing id's error, in id order).
#pragma once

#include <string>

#include "services/hybrid/reason/graph_source.h"
#include "services/hybrid/service/hybrid_core.h"

namespace engram::hybrid {

class StorageGraphSource final : public GraphSource {
 public:
  StorageGraphSource(const HybridCore* core, CallContext call, std::string ns)
      : core_(core), call_(std::move(call)), namespace_(std::move(ns)) {}

  absl::StatusOr<std::vector<SearchHit>> Search(const SeedQuery& query, uint32_t k) override;
  // Storage.Search with `name` set: its name index.
  absl::StatusOr<std::vector<SearchHit>> SearchNamed(const SeedQuery& query, std::string_view name,
                                                     uint32_t k) override;
  absl::StatusOr<std::vector<Neighbor>> Neighbors(std::string_view id,
                                                  absl::Span<const AssociationType> types,
                                                  uint32_t limit, EdgeDirection direction) override;
  absl::StatusOr<std::vector<std::vector<Neighbor>>> NeighborsBatch(
      absl::Span<const std::string> ids, absl::Span<const AssociationType> types, uint32_t limit,
      EdgeDirection direction) override;
  absl::StatusOr<std::vector<std::optional<FoundPath>>> PathsBetween(
      absl::Span<const PathEnds> pairs, absl::Span<const AssociationType> types, uint32_t max_depth,
      EdgeDirection direction) override;
  absl::StatusOr<std::vector<ConceptLite>> Get(absl::Span<const std::string> ids) override;

 private:
  const HybridCore* const core_;
  const CallContext call_;
  const std::string namespace_;
};

// The storage requests and answers behind a GraphSource, for any caller of engram-storage's API
// (this class over gRPC; benchmarks over an in-process engine).
storage::v1::SearchRequest SeedSearchRequest(const std::string& ns, const SeedQuery& query,
                                             uint32_t k);
std::vector<SearchHit> SeedHits(const storage::v1::SearchResponse& response);
storage::v1::NeighborsRequest NeighborsRequestFor(const std::string& ns, std::string_view id,
                                                  absl::Span<const AssociationType> types,
                                                  uint32_t limit, EdgeDirection direction);
std::vector<Neighbor> NeighborsFromProto(const storage::v1::NeighborsResponse& response);
// PathsBetween's request for one pair, and its answer (empty when storage found no path).
storage::v1::FindPathsRequest PathRequestFor(const std::string& ns, const PathEnds& ends,
                                             absl::Span<const AssociationType> types,
                                             uint32_t max_depth, EdgeDirection direction);
std::optional<FoundPath> PathFromProto(const storage::v1::FindPathsResponse& response);

}  // namespace engram::hybrid
