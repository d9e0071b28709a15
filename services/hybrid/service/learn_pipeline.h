// Learn's steps that need no storage and no compute pool: checking the request, the items' ids
// and given vectors, the relations stated in their texts, the association set, the one Write
// request and the response. HybridCore::Learn (hybrid_core.cc) runs them in the order of the
// steps in hybrid_core.h's header comment, with its storage calls and the pool task in between.
// Pure functions and plain data; nothing here is shared between requests.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "engram/hybrid/v1/hybrid.pb.h"
#include "engram/storage/v1/storage.pb.h"
#include "services/hybrid/embed/embedder.h"
#include "services/hybrid/extract/relation_extractor.h"
#include "services/hybrid/types/association_type.h"

namespace engram::hybrid {

// "c-" + 32 hex digits of XXH3-128(content): the id engram-storage derives for a concept put
// without an id (storage-server/engine/limits.h ContentHashId).
std::string ContentHashId(std::string_view content);

// True when every component is 0: what an embedder returns for text without features.
bool IsZeroVector(const std::vector<float>& v);

// The request's options with their defaults applied.
struct LearnSettings {
  uint32_t semantic_links = 10;     // per item, 0..100
  float semantic_threshold = 0.5f;  // 0..1
};

// Checks what needs no namespace: 1..max_items items, each with content; options in range.
absl::StatusOr<LearnSettings> CheckLearnRequest(const v1::LearnRequest& request,
                                                uint32_t max_items);

// Whether Learn creates associations for `item` (extract_associations unset or true).
bool ExtractsAssociations(const v1::LearnItem& item);

// Step 2: the items' ids and vectors.
struct LearnItems {
  std::vector<std::string> ids;             // per item: given, or ContentHashId(content)
  absl::flat_hash_set<std::string> id_set;  // the same ids
  std::vector<std::vector<float>> vectors;  // per item: given, or embedded in step 3
  std::vector<std::string_view> to_embed;   // contents of the items without a vector
  std::vector<int> to_embed_index;          // their item indices

  // Ids and the given vectors (exactly `dimension` finite values each); the items without one
  // go to `to_embed`, which must stay empty when the embedder is "none". The views point into
  // `request`.
  static absl::StatusOr<LearnItems> From(const v1::LearnRequest& request, int dimension,
                                         const Embedder& embedder);
};

// Step 3: the relations stated in the items' texts, their endpoints as concepts.
struct LearnRelations {
  struct Relation {
    std::string source, target;  // concept ids: ContentHashId of the phrase's key
    AssociationType type;
    float confidence;
  };
  std::vector<Relation> relations;                                   // text order
  std::vector<std::string> relation_ids;                             // endpoints, first mention
  absl::flat_hash_map<std::string, std::string> relation_content;    // endpoint id -> key
  absl::flat_hash_map<std::string, std::vector<float>> key_vectors;  // endpoint id -> embedding

  // What `extractor` finds in the texts of the items that extract associations (endpoints with
  // an empty key are skipped). key_vectors is left empty.
  static LearnRelations Extract(const RelationExtractor& extractor,
                                const v1::LearnRequest& request);

  // The endpoint ids that are not in `item_ids`, in relation_ids order.
  std::vector<std::string> EndpointsOutside(const absl::flat_hash_set<std::string>& item_ids) const;
};

// Learn's associations: one per (source, target, type), in first-added order.
class AssociationSet {
 public:
  // Clamps `confidence` to [0, 1]; a repeat keeps the highest confidence. A self-link, or a
  // confidence of 0 (storage would read that as 1.0), is dropped.
  void Add(const std::string& source, const std::string& target, AssociationType type,
           float confidence);

  const std::vector<storage::v1::Association>& list() const { return associations_; }

 private:
  using Key = std::tuple<std::string, std::string, int>;
  std::vector<storage::v1::Association> associations_;
  std::map<Key, size_t> index_;  // -> associations_
};

// Step 4, around the storage searches: one Search per item that extracts associations and has a
// nonzero vector, k = semantic_links + 1.
struct SemanticLinkSearches {
  std::vector<int> item_index;  // the item each request searches for
  std::vector<storage::v1::SearchRequest> requests;

  static SemanticLinkSearches For(const v1::LearnRequest& request, const LearnItems& items,
                                  const LearnSettings& settings);
  // Adds a SEMANTIC association item -> hit, confidence = score, for the hits of each search
  // (`found`, one per request) other than the item itself with score >= threshold, at most
  // semantic_links per item.
  void AddLinks(const std::vector<storage::v1::SearchResponse>& found, const LearnItems& items,
                const LearnSettings& settings, AssociationSet* associations) const;
};

// Step 6: the one atomic Write: item puts, puts of the relation concepts in `to_create` (content
// = key, vector = the key's embedding unless zero, attribute engram.origin=relation), then the
// associations. More than 1000 mutations is INVALID_ARGUMENT.
absl::StatusOr<storage::v1::WriteRequest> BuildLearnWrite(const v1::LearnRequest& request,
                                                          const LearnItems& items,
                                                          const LearnRelations& relations,
                                                          const std::vector<std::string>& to_create,
                                                          const AssociationSet& associations);

// The response for a Write built by BuildLearnWrite that `written` answered (one result per
// mutation, in order): created flags of the items and of the relation concepts, the
// associations and their counts by type.
v1::LearnResponse BuildLearnResponse(const LearnItems& items, const LearnRelations& relations,
                                     const std::vector<std::string>& to_create,
                                     const AssociationSet& associations,
                                     const storage::v1::WriteResponse& written);

}  // namespace engram::hybrid
