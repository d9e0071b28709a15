// InMemoryGraph: a GraphSource over concepts and associations held in memory. For unit tests,
// benchmarks and examples; exact (brute-force cosine) search.
//
// Usage:
//   InMemoryGraph graph;
//   graph.AddConcept("dog", "Dogs", {0.9f, 0.1f});
//   graph.AddConcept("mammal", "Mammals", {0.1f, 0.9f});
//   graph.AddEdge("dog", "mammal", AssociationType::kHierarchical, 0.9f);
//   ASSIGN_OR_RETURN(ReasonResult r, reasoner.Reason(vector, options, graph));
//
// Counts calls so tests can check batching and budgets; an error can be injected per method.
// Thread-compatible (not thread-safe), like the per-request GraphSource it stands in for.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "services/hybrid/reason/graph_source.h"

namespace engram::hybrid {

class InMemoryGraph : public GraphSource {
 public:
  // Adds or replaces a concept. Vectors are compared by cosine similarity.
  void AddConcept(std::string id, std::string content, std::vector<float> vector,
                  float strength = 1.0f);
  // Adds or replaces the association (source, target, type). Both concepts must exist.
  void AddEdge(const std::string& source, const std::string& target, AssociationType type,
               float confidence, float weight = 1.0f);
  // How strongly `name` (normalized) means the concept (SearchHit::name_strengths).
  void SetNameStrength(const std::string& id, std::string name, float strength);
  // Removes a concept and its associations (Neighbors of it then returns NOT_FOUND).
  void RemoveConcept(const std::string& id);

  // By vector only (cosine); the query's words are ignored.
  absl::StatusOr<std::vector<SearchHit>> Search(const SeedQuery& query, uint32_t k) override;
  absl::StatusOr<std::vector<Neighbor>> Neighbors(std::string_view id,
                                                  absl::Span<const AssociationType> types,
                                                  uint32_t limit, EdgeDirection direction) override;
  absl::StatusOr<std::vector<std::vector<Neighbor>>> NeighborsBatch(
      absl::Span<const std::string> ids, absl::Span<const AssociationType> types, uint32_t limit,
      EdgeDirection direction) override;
  // A breadth-first search from the source (a test graph is small).
  absl::StatusOr<std::vector<std::optional<FoundPath>>> PathsBetween(
      absl::Span<const PathEnds> pairs, absl::Span<const AssociationType> types, uint32_t max_depth,
      EdgeDirection direction) override;
  absl::StatusOr<std::vector<ConceptLite>> Get(absl::Span<const std::string> ids) override;

  // Test hooks.
  void FailSearchWith(absl::Status status) { search_error_ = std::move(status); }
  void FailNeighborsWith(absl::Status status) { neighbors_error_ = std::move(status); }
  // Returns neighbors in reverse order of the documented one (still honouring `limit` on the
  // documented order), to show that callers do not depend on the order.
  void set_reverse_neighbor_order(bool reverse) { reverse_neighbor_order_ = reverse; }
  // Omit concept contents from neighbor results (as a lean storage reply might).
  void set_omit_neighbor_content(bool omit) { omit_neighbor_content_ = omit; }

  int search_calls() const { return search_calls_; }
  int neighbors_calls() const { return neighbors_calls_; }  // ids looked up
  int batch_calls() const { return batch_calls_; }
  int get_calls() const { return get_calls_; }
  int path_pairs() const { return path_pairs_; }  // PathsBetween pairs asked

 private:
  struct Node {
    std::string content;
    std::vector<float> vector;
    float strength = 1.0f;
    std::vector<std::pair<std::string, float>> name_strengths;
  };
  std::map<std::string, Node> concepts_;
  std::vector<Edge> edges_;

  absl::Status search_error_;
  absl::Status neighbors_error_;
  bool reverse_neighbor_order_ = false;
  bool omit_neighbor_content_ = false;
  int search_calls_ = 0;
  int neighbors_calls_ = 0;
  int batch_calls_ = 0;
  int get_calls_ = 0;
  int path_pairs_ = 0;
};

}  // namespace engram::hybrid
