// StorageGraphSource: the GraphSource (reason/graph_source.h) over engram-storage, bound to one
// request: its namespace, deadline and correlation id (through HybridCore::CallStorage).
//   Search -> Storage.Search, Neighbors -> Storage.Neighbors (direction BOTH),
//   Get -> Storage.GetConcepts.
// NeighborsBatch uses the default (sequential calls); issuing them concurrently is a TODO.
#pragma once

#include <string>

#include "services/hybrid/reason/graph_source.h"
#include "services/hybrid/service/hybrid_core.h"

namespace engram::hybrid {

class StorageGraphSource final : public GraphSource {
 public:
  StorageGraphSource(const HybridCore* core, CallContext call, std::string ns)
      : core_(core), call_(std::move(call)), namespace_(std::move(ns)) {}

  absl::StatusOr<std::vector<SearchHit>> Search(absl::Span<const float> vector, uint32_t k) override;
  absl::StatusOr<std::vector<Neighbor>> Neighbors(std::string_view id,
                                                  absl::Span<const AssociationType> types,
                                                  uint32_t limit) override;
  absl::StatusOr<std::vector<ConceptLite>> Get(absl::Span<const std::string> ids) override;

 private:
  const HybridCore* const core_;
  const CallContext call_;
  const std::string namespace_;
};

}  // namespace engram::hybrid
