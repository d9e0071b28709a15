// GraphSource: what the reasoner needs from the knowledge graph, and nothing more.
//
// The production implementation (written with the gRPC adapter) wraps engram-storage calls:
//   Search          -> Storage.Search           (one call; HYBRID with a vector and words)
//   NeighborsBatch  -> Storage.Neighbors        (one call per id, issued concurrently)
//   Get             -> Storage.GetConcepts      (one call for all ids)
//   PathsBetween    -> Storage.FindPaths        (SHORTEST, one call per pair, issued concurrently)
// It is created per request, bound to one namespace and to the request's deadline and
// correlation id, which it puts on every storage call. InMemoryGraph (in_memory_graph.h) is the
// implementation for tests and benchmarks.
//
// Contract:
//   - Not required to be thread-safe: the reasoner calls one GraphSource from one thread.
//   - Errors are absl::Status values: UNAVAILABLE / DEADLINE_EXCEEDED from storage abort the
//     reasoning and are returned to the caller unchanged.
//   - NeighborsBatch reports a concept that no longer exists (deleted since the search) as an
//     empty neighbor list, not as an error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "services/hybrid/types/association_type.h"

namespace engram::hybrid {

// A concept as the reasoner sees it: no vector, no attributes.
struct ConceptLite {
  std::string id;
  std::string content;

  friend bool operator==(const ConceptLite&, const ConceptLite&) = default;
};

struct SearchHit {
  ConceptLite node;
  // The hit's relevance to the question, higher is better; the reasoner clamps it to [0, 1] as a
  // seed's similarity. SeedRelevance() for a hybrid hit; the cosine similarity for a vector hit.
  float score = 0;
  // The concept's strength (Concept.strength, >= 0; 1 unless learned otherwise): how much of the
  // relevance a concept keeps among the concepts a question names by the same word.
  float strength = 1;
  // Its per-name strengths (attributes "strength:<name>", common/text/names.h), if it has any.
  std::vector<std::pair<std::string, float>> name_strengths;

  // How strongly `normalized_name` means this concept, when its name strengths list the name.
  std::optional<float> StrengthOfName(std::string_view normalized_name) const;

  friend bool operator==(const SearchHit&, const SearchHit&) = default;
};

// What the reasoner seeds from: the question's vector and the words to match (BM25), either of
// which may be empty (not both).
struct SeedQuery {
  absl::Span<const float> vector;
  std::string_view text;
};

// A seed's relevance from its component scores: the higher of its vector similarity (clamped to
// [0, 1]) and the share of the question's word weight its content holds (storage's
// SearchResult.keyword_match). Absent components count 0.
float SeedRelevance(std::optional<float> vector_score, std::optional<float> keyword_match);

// An association as stored: source -> target (see association_type.h for directions).
struct Edge {
  std::string source;
  std::string target;
  AssociationType type = AssociationType::kUnspecified;
  float confidence = 0;  // 0..1
  float weight = 1;

  friend bool operator==(const Edge&, const Edge&) = default;
};

// Which of a concept's associations: those whose source it is (kOut), whose target it is (kIn),
// or both.
enum class EdgeDirection { kBoth, kOut, kIn };

// A path between two concepts: ids.front() is where it starts, hops[i] joins ids[i] and
// ids[i + 1] (as stored, so it may be followed target -> source).
struct FoundPath {
  std::vector<std::string> ids;
  std::vector<Edge> hops;

  friend bool operator==(const FoundPath&, const FoundPath&) = default;
};

// A path wanted from `source` to `target`.
struct PathEnds {
  std::string source;
  std::string target;
};

// One association touching a concept, with the concept at its other end.
struct Neighbor {
  ConceptLite node;  // the other endpoint
  Edge edge;         // as stored; node.id is edge.source or edge.target
};

class GraphSource {
 public:
  virtual ~GraphSource() = default;

  // The k concepts that best match `query`, best first: by vector and words fused when it has
  // both, by either alone otherwise (an implementation without a keyword index uses the vector).
  virtual absl::StatusOr<std::vector<SearchHit>> Search(const SeedQuery& query, uint32_t k) = 0;

  // The concepts named `name` (common/text/names.h), at most k, ranked and scored against `query`
  // as Search ranks. An implementation over engram-storage asks its name index: every concept
  // whose content has the "names: text" form and that name, however many other contents mention
  // the word (a bare name without ':' is not indexed there). The default keeps those of Search's
  // best k that are named so.
  virtual absl::StatusOr<std::vector<SearchHit>> SearchNamed(const SeedQuery& query,
                                                             std::string_view name, uint32_t k);

  // Associations of `id` in `direction`, highest confidence first, at most `limit` (the
  // direction and types are applied before the limit); `types` empty means every type. A missing
  // concept may return NOT_FOUND.
  virtual absl::StatusOr<std::vector<Neighbor>> Neighbors(std::string_view id,
                                                          absl::Span<const AssociationType> types,
                                                          uint32_t limit,
                                                          EdgeDirection direction) = 0;

  // Neighbors of several concepts: result[i] belongs to ids[i]. The default calls Neighbors
  // for each id in turn and maps NOT_FOUND to an empty list; implementations over a network
  // override it to issue the calls concurrently.
  virtual absl::StatusOr<std::vector<std::vector<Neighbor>>> NeighborsBatch(
      absl::Span<const std::string> ids, absl::Span<const AssociationType> types, uint32_t limit,
      EdgeDirection direction);

  // For each pair, the path from its source to its target of the fewest hops within
  // `max_depth`, the most confident of those (the product of its hops' confidences): result[i]
  // belongs to pairs[i] and is empty where there is no such path, where a concept is missing, or
  // where the source's search budget ran out first. Hops follow `types` (empty: every type), in
  // `direction` from the source (kOut: source -> target of each association). The search works
  // from both ends, so it costs little even when the two are far apart in a large graph.
  virtual absl::StatusOr<std::vector<std::optional<FoundPath>>> PathsBetween(
      absl::Span<const PathEnds> pairs, absl::Span<const AssociationType> types, uint32_t max_depth,
      EdgeDirection direction) = 0;

  // The concepts that exist among `ids`, in request order (missing ones omitted).
  virtual absl::StatusOr<std::vector<ConceptLite>> Get(absl::Span<const std::string> ids) = 0;
};

}  // namespace engram::hybrid
