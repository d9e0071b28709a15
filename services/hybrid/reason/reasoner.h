// Reasoner: answers a question from the knowledge graph and explains the answer with the paths
// that support it. Transport-agnostic: it sees the graph only through GraphSource.
//
// Pipeline (docs/hybrid.md has the full description and a worked example):
//   1. Seeds. The k concepts that best match the question (GraphSource::Search: its vector and
//      its words, fused). A seed's similarity sim(s) is its score clamped to [0, 1] (for a hybrid
//      hit SeedRelevance: the higher of its vector similarity and the share of the question's
//      word weight it holds); seeds with sim <= min_seed_similarity are ignored. All hits form the
//      `support` list.
//   2. Expansion. Best-first over simple paths starting at the seeds, ordered by path evidence
//          e(p) = sim(seed) * conf(p),   conf(p) = prod(hop confidence) * decay^hops
//      (decay 0.85 per hop; when the question asks for a relation — "What is X part of?" —
//      each hop that is not that relation in that direction also counts off_relation_factor,
//      0.25, so the answer follows what was asked, not whatever is near). Edges are followed in
//      both directions; `types` filters them;
//      paths stop at max_depth hops. Frontier entries are expanded in batches of
//      expansion_batch through one NeighborsBatch call; at most max_expansions concepts are
//      fetched, at most max_explored_paths paths scored, and a concept is expanded as the end
//      of at most max_expansions_per_node paths. Running out of budget sets stats.truncated.
//      For a between question, when the expansion ran out of budget or reached no concept
//      named Y, the fewest-hops path from each seed to each concept named Y
//      (ReasonOptions::named_targets; GraphSource::PathsBetween, a search from both ends, at
//      most max_bridge_pairs pairs) is added to the paths found, scored the same way.
//   3. Candidates. Every concept reached by a path of >= 1 hop, except the top seed (the
//      concept the question is most directly about: answering it would restate the question);
//      with ReasonOptions::targets, only those (a "how is X related to Y" question).
//      For candidate c with supporting paths P(c):
//        D(c)      = edge-disjoint subset of P(c), chosen greedily by decreasing e(p), at most
//                    max_consensus_paths ("independent" paths share no association)
//        p*        = the best path in D(c)
//        semantic  = sim(seed of p*)
//        graph     = conf(p*)
//        consensus = 1 - prod_{p in D(c), p != p*} (1 - e(p))
//        final     = 1 - (1 - semantic * graph) * (1 - w * consensus),  w = consensus_weight
//      i.e. a noisy-OR of the best path's evidence and the other independent paths' evidence,
//      the latter weighted by w (0.25): a concept supported by several independent paths beats
//      one supported by a single path of similar strength, but many weak paths into a hub do not
//      beat one strong path (bench/reason_quality_bench measured w = 1 against lower values).
//      If no concept is reached, the top seed is the only candidate with graph = 0,
//      consensus = 0 and final = semantic * semantic_only_factor (0.5): a bare similarity
//      match is never fully trusted.
//   4. Answer and gate. The best candidate by (final desc, id asc). confident = final >=
//      min_confidence and final >= the runner-up's final + min_margin (0.08; an answer hardly
//      better supported than another is a coin toss, measured in bench/reason_quality_bench).
//      The runner-up is the best candidate of another name (SharesAName: two senses of "egg"
//      are one answer), except for a between question, whose candidates all share Y's name.
//      Co-answers: for a question that asks a relation of X alone, a candidate within the margin
//      that the best candidate's seed reaches in one hop along that relation, as the best
//      candidate is reached, answers with it ("What is a dog?": "domestic animal" and "canine")
//      and is not the runner-up. The answer is set only when confident, with `answers` (the
//      answer, then its co-answers of other names); best_guess always.
//   5. Output. Paths: the answer's supporting paths (independent ones first, by evidence), then
//      the best path of each runner-up, at most max_paths. An explanation built from them, e.g.
//        Answer: "mammal" (confidence 0.76 >= 0.30). Best path (evidence 0.69 = semantic 0.90
//        x graph 0.77): dog is a kind of mammal (HIERARCHICAL, 0.90). ...
// Deterministic: the same graph and query give the same result, whatever the order in which
// the GraphSource returns equal-scored items (ties are broken by concept id, then type).
//
// Thread-safe: Reason is const; each call uses its own GraphSource.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "services/hybrid/reason/graph_source.h"
#include "services/hybrid/types/association_type.h"

namespace engram::hybrid {

// The relation a question asks for (ParseQuestion): its type, followed from the concept asked
// about source -> target (outward) or target -> source.
struct AskedRelation {
  AssociationType type = AssociationType::kUnspecified;
  bool outward = true;
};

// Per-request options (the fields of ReasonRequest).
struct ReasonOptions {
  uint32_t k = 10;                     // seeds, 1..100
  uint32_t max_depth = 4;              // hops per path, 1..10
  uint32_t max_paths = 5;              // paths returned, 1..100
  float min_confidence = 0.3f;         // quality gate, 0..1
  std::vector<AssociationType> types;  // empty: every type
  // Set from the question: a hop along this relation, in this direction, keeps its confidence;
  // any other hop is multiplied by ReasonerConfig::off_relation_factor.
  std::optional<AskedRelation> relation;
  // Set for a question about how two things are related ("How is X related to Y?"): only these
  // concepts (Y's best matches) can be the answer, and the answer's paths are the relation. Empty:
  // any concept reached.
  std::vector<std::string> targets;
  // Parallel to `targets` (empty: 1 each): how well each matches Y. A candidate's final confidence
  // is scaled by its target's relevance over the best target's, so a concept that only mentions Y
  // ("drinking vessel" for "vessel") does not win over one named Y on a shorter path alone.
  std::vector<float> target_relevance;
  // Set for a between question to Y as written: any concept reached whose content is named Y
  // (text::NamedBy) can be the answer, and while one is, nothing else can; `targets` are the
  // answers only when no concept named Y is reached.
  std::string target_name;
  // Set for a between question: the concepts named Y among Y's best matches (SetBetweenTargets),
  // best first. The fewest-hops path from each seed to each of them (GraphSource::PathsBetween)
  // joins the paths the expansion found, so a Y too far for the expansion's budget is reached.
  std::vector<ConceptLite> named_targets;
  // Set for a question about a concept X (a relation question, "What is a violin?", or a between
  // question) to X as written: the concepts named X (text::NamedBy) alone are the seeds (X's
  // senses), so that the paths start at X rather than at a concept whose name only contains X
  // ("prairie dog", "violin lesson") and which BM25 ranks higher for its shorter text. They are
  // those among the search's best kNamedSeedPool hits, in its order, then, while fewer than k,
  // the others GraphSource::SearchNamed finds (storage's name index: "horse, Equus caballus: <a
  // long gloss>" although 200 shorter texts about horses rank first); when none is named X the
  // seeds are as usual. X's senses seed with equal
  // relevance (the best one's): the question names X and prefers none of them, so an answer
  // one sense alone supports is not confident while another sense supports another as well.
  std::string source_name;
  static constexpr uint32_t kNamedSeedPool = 100;
  // Set for "Is X a Y?": a confident answer's explanation reads as the yes it is ("Yes: X is a
  // kind of Y"), and a missing one as "No confident yes".
  bool yes_no = false;
};

// Whether two concepts' leading names (as text::NamedBy reads them, common/text/names.h) have one
// in common: "egg, eggs: oval reproductive body of a fowl ..." and "egg: animal reproductive body
// ..." do. Empty content shares nothing.
bool SharesAName(std::string_view a, std::string_view b);

// "How is X related to Y?": sets options->target_name to `name` (Y as written),
// options->named_targets to the concepts named Y among the search's best
// ReasonOptions::kNamedSeedPool matches for `other` (at most kMaxNamedTargets, best first), and,
// for when no concept named Y is reached, options->targets to Y's best `k` matches with their
// search scores as relevance. Shared by engram-hybrid and reason_quality_bench.
inline constexpr uint32_t kMaxNamedTargets = 4;
absl::Status SetBetweenTargets(GraphSource& graph, const SeedQuery& other, std::string_view name,
                               ReasonOptions* options, uint32_t k = 3);

// Service-wide tuning (from flags, not from requests).
struct ReasonerConfig {
  float decay = 0.85f;                   // per-hop decay, (0, 1]
  uint32_t max_expansions = 256;         // concepts whose neighbors are fetched, per request
  uint32_t neighbor_limit = 32;          // neighbors fetched per concept (best first)
  uint32_t expansion_batch = 8;          // frontier entries per NeighborsBatch call
  uint32_t max_explored_paths = 20000;   // partial paths scored, per request
  uint32_t max_expansions_per_node = 4;  // paths extended through the same concept
  uint32_t max_consensus_paths = 8;      // independent paths counted per candidate
  float consensus_weight = 0.25f;        // w: share of consensus in final, [0, 1]
  float min_seed_similarity = 0.0f;      // seeds must score above this
  float min_path_evidence = 1e-3f;       // weaker partial paths are pruned
  float semantic_only_factor = 0.5f;     // final of an answer no path supports
  uint32_t max_candidates = 10;          // candidates kept in the result
  uint32_t max_streamed_paths = 100;     // ReasonObserver::OnPath calls, per request
  float off_relation_factor = 0.25f;     // a hop off the asked relation (ReasonOptions::relation)
  // The answer must beat the runner-up candidate's final confidence by this much to be confident:
  // two nearly equally supported answers mean the graph does not decide between them.
  float min_margin = 0.08f;
  // Seed -> named target pairs whose path is looked up from both ends (ReasonOptions::
  // named_targets), per request.
  uint32_t max_bridge_pairs = 32;
};

struct ConfidenceBreakdown {
  float graph = 0;
  float semantic = 0;
  float consensus = 0;
  float final_confidence = 0;  // "final" in the API
};

struct ReasoningPath {
  std::vector<std::string> concept_ids;  // a seed first; hops[i] joins ids[i] and ids[i+1]
  std::vector<Edge> hops;                // as stored (may be traversed target -> source)
  float confidence = 0;                  // prod(hop confidence) * decay^hops
  float seed_similarity = 0;
  float evidence = 0;            // seed_similarity * confidence
  bool supports_answer = false;  // ends at the best candidate
  bool independent = false;      // in D(best candidate)
};

struct Candidate {
  ConceptLite node;
  ConfidenceBreakdown confidence;
  uint32_t supporting_paths = 0;   // |P(c)|
  uint32_t independent_paths = 0;  // |D(c)|
};

struct ReasonStats {
  uint32_t seeds = 0;
  uint32_t nodes_expanded = 0;
  uint32_t hubs_refetched = 0;  // of those, cut at neighbor_limit: outgoing ones fetched again
  uint32_t paths_explored = 0;
  uint32_t bridge_pairs = 0;   // (seed, named target) pairs looked up with PathsBetween
  uint32_t paths_bridged = 0;  // paths those found that the expansion had not
  bool truncated = false;
};

struct ReasonResult {
  std::optional<ConceptLite> answer;  // set when confident
  // When confident: the answer, then its co-answers (step 4), each of another name; else empty.
  std::vector<ConceptLite> answers;
  std::optional<ConceptLite> best_guess;  // set when anything was found
  bool confident = false;
  // The best candidate beats the runner-up by min_margin (or has none): confident is decided and
  // final >= min_confidence.
  bool decided = false;
  ConfidenceBreakdown confidence;          // of best_guess
  std::vector<ReasoningPath> paths;        // ranked, at most max_paths
  std::vector<SearchHit> support;          // the search hits, best first
  std::vector<ConceptLite> path_concepts;  // every concept of `paths`, first appearance order
  std::vector<Candidate> candidates;       // best first, at most config.max_candidates
  std::string explanation;
  ReasonStats stats;
};

// What a streaming caller (ReasonStream) sees of one Reason call while it runs. Every method is
// called on the thread running Reason.
class ReasonObserver {
 public:
  virtual ~ReasonObserver() = default;
  // Checked before each graph read: true stops the reasoning with CANCELLED.
  virtual bool Cancelled() { return false; }
  // The seeds (the whole `support` list), once, before any path.
  virtual void OnSeeds(absl::Span<const SearchHit> support) {}
  // The first path found to a concept other than the top seed, in discovery order (best-first
  // expansion, so usually its best path, not always), at most ReasonerConfig::max_streamed_paths
  // times. `concepts[i]` is path.concept_ids[i] with its content as far as known (may be empty).
  virtual void OnPath(const ReasoningPath& path, absl::Span<const ConceptLite> concepts) {}
};

class Reasoner {
 public:
  explicit Reasoner(ReasonerConfig config = {});

  // Answers the question seeded by `query`: its embedding (the caller embeds the text) and the
  // words to match, either of which may be empty.
  // Errors: INVALID_ARGUMENT naming the option (k, max_depth, max_paths, min_confidence, types)
  // or query_vector (not finite; empty with no words either); any error of `graph` except
  // NOT_FOUND of a concept deleted meanwhile, unchanged.
  // `observer` (may be null) sees the seeds and the paths as they are found and can cancel.
  absl::StatusOr<ReasonResult> Reason(const SeedQuery& query, const ReasonOptions& options,
                                      GraphSource& graph, ReasonObserver* observer = nullptr) const;
  // Seeded by the vector alone.
  absl::StatusOr<ReasonResult> Reason(absl::Span<const float> query_vector,
                                      const ReasonOptions& options, GraphSource& graph,
                                      ReasonObserver* observer = nullptr) const {
    return Reason(SeedQuery{query_vector, {}}, options, graph, observer);
  }

  // The option checks Reason applies.
  static absl::Status ValidateOptions(const ReasonOptions& options);

  const ReasonerConfig& config() const { return config_; }

 private:
  const ReasonerConfig config_;
};

// The sentence an explanation uses for one association, in stored direction, e.g.
// "dog is a kind of mammal (HIERARCHICAL, 0.90)". Content longer than 80 bytes is shortened.
std::string DescribeHop(const Edge& edge, std::string_view source_text,
                        std::string_view target_text);

}  // namespace engram::hybrid
