#include "services/hybrid/reason/reasoner.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <queue>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/text/absl_view.h"
#include "common/text/names.h"

namespace engram::hybrid {
namespace {

constexpr uint32_t kMaxK = 100;
constexpr uint32_t kMaxDepth = 10;
constexpr uint32_t kMaxPaths = 100;
constexpr size_t kMaxDisplayBytes = 80;

// A path under construction or complete; doubles keep the arithmetic exact enough and the
// ranking stable.
struct PathRec {
  std::vector<std::string> ids;
  std::vector<Edge> hops;
  double conf = 1;
  double seed_sim = 0;
  double evidence = 0;
};

// True if a ranks strictly before b: higher evidence, then smaller ids, then smaller types.
ReasoningPath ToReasoningPath(const PathRec& p) {
  ReasoningPath out;
  out.concept_ids = p.ids;
  out.hops = p.hops;
  out.confidence = static_cast<float>(p.conf);
  out.seed_similarity = static_cast<float>(p.seed_sim);
  out.evidence = static_cast<float>(p.evidence);
  return out;
}

bool RanksBefore(const PathRec& a, const PathRec& b) {
  if (a.evidence != b.evidence) return a.evidence > b.evidence;
  if (a.ids != b.ids) return a.ids < b.ids;
  for (size_t i = 0; i < a.hops.size() && i < b.hops.size(); ++i) {
    if (a.hops[i].type != b.hops[i].type) return a.hops[i].type < b.hops[i].type;
  }
  return false;
}

std::string EdgeKey(const Edge& e) {
  return absl::StrCat(e.source, "\x1f", e.target, "\x1f", static_cast<int>(e.type));
}

double Clamp01(double x) { return std::isfinite(x) ? std::clamp(x, 0.0, 1.0) : 0.0; }

// Shortens text to kMaxDisplayBytes at a UTF-8 boundary.
std::string Display(std::string_view text) {
  if (text.size() <= kMaxDisplayBytes) return std::string(text);
  size_t cut = kMaxDisplayBytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(AbslView(text.substr(0, cut)), "...");
}

// A concept's first name, for a sentence: its content before the first ':' and ',' ("dog" for
// "dog, domestic dog: a member of the genus Canis"); all of it, shortened, when that is empty.
std::string FirstName(std::string_view content) {
  std::string_view name = content.substr(0, content.find_first_of(":,"));
  while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
  return Display(name.empty() ? content : name);
}

std::string Fixed2(double x) { return absl::StrFormat("%.2f", x); }

bool Contains(absl::Span<const AssociationType> types, AssociationType t) {
  return std::find(types.begin(), types.end(), t) != types.end();
}

// graph.NeighborsBatch, checked to answer one list per id.
absl::StatusOr<std::vector<std::vector<Neighbor>>> NeighborLists(
    GraphSource& graph, absl::Span<const std::string> ids, absl::Span<const AssociationType> types,
    uint32_t limit, EdgeDirection direction) {
  absl::StatusOr<std::vector<std::vector<Neighbor>>> lists =
      graph.NeighborsBatch(ids, types, limit, direction);
  if (lists.ok() && lists->size() != ids.size()) {
    return absl::InternalError("GraphSource::NeighborsBatch returned a wrong number of lists");
  }
  return lists;
}

// A concept whose neighbor list came back cut at the limit is a hub (WordNet's "bird genus" has
// hundreds of hyponyms, all of confidence 1), and the cut may have lost its few outgoing
// associations -- its own hypernym or whole, the hop a chain upwards needs -- among its many
// incoming ones. For those concepts the outgoing associations are fetched on their own (along the
// asked relation when the question names one: its type, its direction), up to the same limit,
// and added to the list once each.
// Which associations to follow on a targeted fetch: along the asked relation (its type, in its
// direction) when the question names one the request's types allow; the request's types in
// `otherwise` direction when not.
struct Along {
  std::vector<AssociationType> types;
  EdgeDirection direction;
};
Along AlongAsked(const ReasonOptions& options, EdgeDirection otherwise) {
  if (options.relation.has_value() &&
      (options.types.empty() || Contains(options.types, options.relation->type))) {
    return {{options.relation->type},
            options.relation->outward ? EdgeDirection::kOut : EdgeDirection::kIn};
  }
  return {options.types, otherwise};
}

absl::Status AddCutHubEdges(GraphSource& graph, const ReasonOptions& options,
                            absl::Span<const std::string> fetched_ids, uint32_t limit,
                            std::vector<std::vector<Neighbor>>* lists, ReasonStats* stats) {
  const Along along_asked = AlongAsked(options, EdgeDirection::kOut);
  std::vector<std::string> cut;
  std::vector<size_t> cut_index;
  for (size_t i = 0; i < lists->size(); ++i) {
    if ((*lists)[i].size() < limit) continue;
    cut.push_back(fetched_ids[i]);
    cut_index.push_back(i);
  }
  if (cut.empty()) return absl::OkStatus();
  stats->hubs_refetched += static_cast<uint32_t>(cut.size());
  absl::StatusOr<std::vector<std::vector<Neighbor>>> along =
      NeighborLists(graph, cut, along_asked.types, limit, along_asked.direction);
  if (!along.ok()) return std::move(along).status();
  for (size_t j = 0; j < cut.size(); ++j) {
    std::vector<Neighbor>& list = (*lists)[cut_index[j]];
    const size_t had = list.size();
    for (Neighbor& n : (*along)[j]) {
      if (std::none_of(list.begin(), list.begin() + had,
                       [&](const Neighbor& m) { return m.edge == n.edge; })) {
        list.push_back(std::move(n));
      }
    }
  }
  return absl::OkStatus();
}

// Whether `path` is a simple path from ends.source to ends.target whose every hop joins the
// concepts beside it (a GraphSource's answer is checked before it is trusted).
bool JoinsInOrder(const FoundPath& path, const PathEnds& ends) {
  if (path.hops.empty() || path.ids.size() != path.hops.size() + 1 ||
      path.ids.front() != ends.source || path.ids.back() != ends.target) {
    return false;
  }
  const absl::flat_hash_set<std::string> distinct(path.ids.begin(), path.ids.end());
  if (distinct.size() != path.ids.size()) return false;
  for (size_t i = 0; i < path.hops.size(); ++i) {
    const Edge& e = path.hops[i];
    const bool joins = (e.source == path.ids[i] && e.target == path.ids[i + 1]) ||
                       (e.target == path.ids[i] && e.source == path.ids[i + 1]);
    if (!joins) return false;
  }
  return true;
}

}  // namespace

std::string DescribeHop(const Edge& edge, std::string_view source_text,
                        std::string_view target_text) {
  const char* relation = "is associated with";
  switch (edge.type) {
    case AssociationType::kHierarchical:
      relation = "is a kind of";
      break;
    case AssociationType::kCausal:
      relation = "causes";
      break;
    case AssociationType::kCompositional:
      relation = "is part of";
      break;
    case AssociationType::kTemporal:
      relation = "comes before";
      break;
    case AssociationType::kSemantic:
      relation = "is related to";
      break;
    case AssociationType::kUnspecified:
      break;
  }
  return absl::StrCat(Display(source_text), " ", relation, " ", Display(target_text), " (",
                      AbslView(AssociationTypeName(edge.type)), ", ",
                      Fixed2(Clamp01(edge.confidence)), ")");
}

Reasoner::Reasoner(ReasonerConfig config) : config_(config) {}

absl::Status Reasoner::ValidateOptions(const ReasonOptions& options) {
  if (options.k < 1 || options.k > kMaxK) {
    return absl::InvalidArgumentError(absl::StrCat("k: ", options.k, " not in 1..", kMaxK));
  }
  if (options.max_depth < 1 || options.max_depth > kMaxDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_depth: ", options.max_depth, " not in 1..", kMaxDepth));
  }
  if (options.max_paths < 1 || options.max_paths > kMaxPaths) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_paths: ", options.max_paths, " not in 1..", kMaxPaths));
  }
  if (!(options.min_confidence >= 0.0f && options.min_confidence <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_confidence: ", options.min_confidence, " not in 0..1"));
  }
  for (size_t i = 0; i < options.types.size(); ++i) {
    const int t = static_cast<int>(options.types[i]);
    if (t < static_cast<int>(AssociationType::kSemantic) ||
        t > static_cast<int>(AssociationType::kCompositional)) {
      return absl::InvalidArgumentError(
          absl::StrCat("types[", i, "]: ", t, " is not an association type"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ReasonResult> Reasoner::Reason(const SeedQuery& query, const ReasonOptions& options,
                                              GraphSource& graph, ReasonObserver* observer) const {
  const absl::Span<const float> query_vector = query.vector;
  ReasonObserver silent;
  if (observer == nullptr) observer = &silent;
  const auto check_cancelled = [observer]() -> absl::Status {
    if (observer->Cancelled()) return absl::CancelledError("the caller cancelled the reasoning");
    return absl::OkStatus();
  };
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  if (query_vector.empty() && query.text.empty()) {
    return absl::InvalidArgumentError("query_vector: empty, and no words to match either");
  }
  for (float x : query_vector) {
    if (!std::isfinite(x)) return absl::InvalidArgumentError("query_vector: not finite");
  }
  const double decay = Clamp01(config_.decay);
  ReasonResult result;

  // 1. Seeds.
  if (absl::Status s = check_cancelled(); !s.ok()) return s;
  const std::string source_name = text::NormalizedName(options.source_name);
  bool seeds_named = false;  // the seeds are the concepts named X (their strengths weigh, step 4)
  absl::StatusOr<std::vector<SearchHit>> hits = graph.Search(
      query, source_name.empty() ? options.k : std::max(options.k, ReasonOptions::kNamedSeedPool));
  if (!hits.ok()) return std::move(hits).status();
  // Equal relevance keeps the search's order: every concept holding the one word asked about has
  // keyword_match 1, and the search ranked the best of them (BM25F, fused with the vector) first.
  std::stable_sort(hits->begin(), hits->end(),
                   [](const SearchHit& a, const SearchHit& b) { return a.score > b.score; });
  if (!source_name.empty()) {
    std::vector<SearchHit> named;
    for (const SearchHit& hit : *hits) {
      if (text::NamedByNormalized(hit.node.content, source_name)) named.push_back(hit);
    }
    // Fewer than k among the search's best: the rest from the graph's name index, after them
    // ("horse, Equus caballus: <a long gloss>" ranks below 100 shorter texts about horses).
    if (named.size() < options.k) {
      absl::StatusOr<std::vector<SearchHit>> more =
          graph.SearchNamed(query, options.source_name, ReasonOptions::kNamedSeedPool);
      if (!more.ok()) return std::move(more).status();
      for (SearchHit& hit : *more) {
        if (named.size() == options.k) break;
        if (std::none_of(named.begin(), named.end(),
                         [&](const SearchHit& n) { return n.node.id == hit.node.id; })) {
          named.push_back(std::move(hit));
        }
      }
    }
    // Every concept named X is X as far as the question says: they seed with the best one's
    // relevance, so that no sense of X wins for a shorter text or a closer vector alone. (Their
    // strengths weigh the answers they support, step 4.)
    for (SearchHit& hit : named) hit.score = named.front().score;
    seeds_named = !named.empty();
    if (seeds_named) *hits = std::move(named);
  }
  if (hits->size() > options.k) hits->resize(options.k);
  result.support = *hits;
  observer->OnSeeds(result.support);

  absl::flat_hash_map<std::string, std::string> contents;  // id -> content, as learned
  const auto remember = [&](const ConceptLite& c) {
    auto [it, inserted] = contents.try_emplace(c.id, c.content);
    if (!inserted && it->second.empty()) it->second = c.content;
  };
  std::vector<PathRec> paths;
  absl::flat_hash_map<std::string, float> seed_strength;  // seeds named X: their strengths
  // The seeds' strengths as X: their strengths of the name X when one of them has it (1 for one
  // that has not: "guy, cat, hombre, bozo" is a strong concept, but not as "cat"), else the
  // concepts' own strengths (a word never counted itself, its senses by their synonyms').
  const bool by_name =
      seeds_named && std::any_of(hits->begin(), hits->end(), [&](const SearchHit& h) {
        return h.StrengthOfName(source_name).has_value();
      });
  for (const SearchHit& hit : *hits) {
    remember(hit.node);
    if (seeds_named) {
      seed_strength[hit.node.id] =
          std::max(by_name ? hit.StrengthOfName(source_name).value_or(1.0f) : hit.strength, 0.0f);
    }
    const double sim = Clamp01(hit.score);
    if (!(hit.score > config_.min_seed_similarity) || sim <= 0) continue;
    paths.push_back(PathRec{{hit.node.id}, {}, 1.0, sim, sim});
  }
  result.stats.seeds = static_cast<uint32_t>(paths.size());
  if (paths.empty()) {
    result.explanation = "Nothing stored matches the question.";
    return result;
  }
  const std::string top_seed = paths.front().ids.front();

  // 2. Best-first expansion.
  const auto after = [&paths](size_t a, size_t b) { return RanksBefore(paths[b], paths[a]); };
  std::priority_queue<size_t, std::vector<size_t>, decltype(after)> frontier(after);
  for (size_t i = 0; i < paths.size(); ++i) frontier.push(i);
  absl::flat_hash_map<std::string, std::vector<Neighbor>> neighbors;  // fetched so far
  absl::flat_hash_map<std::string, uint32_t> expansions_through;
  absl::flat_hash_map<std::string, std::vector<size_t>> supporting;  // end id -> paths
  bool stop = false;
  uint32_t streamed = 0;  // OnPath calls
  // What a hop from `from` along `e` multiplies a path's confidence by: the association's
  // confidence, the decay, and off_relation_factor when the question asks for another relation.
  const auto hop_factor = [&](const Edge& e, const std::string& from) {
    double fit = 1.0;
    if (options.relation.has_value()) {
      const bool along = e.type == options.relation->type &&
                         (options.relation->outward ? e.source == from : e.target == from);
      if (!along) fit = Clamp01(config_.off_relation_factor);
    }
    return Clamp01(e.confidence) * decay * fit;
  };
  // Records a path to a concept other than its seed; the first path to each concept other than
  // the top seed is streamed. Returns its index in `paths`.
  const auto add_path = [&](PathRec next) {
    const std::string end = next.ids.back();
    const size_t next_idx = paths.size();
    std::vector<size_t>& reaching = supporting[end];
    reaching.push_back(next_idx);
    paths.push_back(std::move(next));
    if (reaching.size() == 1 && end != top_seed && streamed < config_.max_streamed_paths) {
      ++streamed;
      const PathRec& p = paths[next_idx];
      std::vector<ConceptLite> concepts;
      for (const std::string& id : p.ids) {
        auto known = contents.find(id);
        concepts.push_back({id, known == contents.end() ? std::string() : known->second});
      }
      observer->OnPath(ToReasoningPath(p), concepts);
    }
    return next_idx;
  };

  while (!frontier.empty() && !stop) {
    std::vector<size_t> batch;
    while (!frontier.empty() && batch.size() < std::max<uint32_t>(config_.expansion_batch, 1)) {
      const size_t idx = frontier.top();
      frontier.pop();
      uint32_t& through = expansions_through[paths[idx].ids.back()];
      if (through >= config_.max_expansions_per_node) continue;
      ++through;
      batch.push_back(idx);
    }
    std::vector<std::string> fetch;
    for (size_t idx : batch) {
      const std::string& end = paths[idx].ids.back();
      if (!neighbors.contains(end) && std::find(fetch.begin(), fetch.end(), end) == fetch.end()) {
        fetch.push_back(end);
      }
    }
    const uint32_t budget =
        config_.max_expansions - std::min(config_.max_expansions, result.stats.nodes_expanded);
    if (fetch.size() > budget) {
      fetch.resize(budget);
      result.stats.truncated = true;
      stop = true;  // nothing more can be fetched; finish with what this batch can still use
    }
    if (!fetch.empty()) {
      if (absl::Status s = check_cancelled(); !s.ok()) return s;
      absl::StatusOr<std::vector<std::vector<Neighbor>>> fetched =
          NeighborLists(graph, fetch, options.types, config_.neighbor_limit, EdgeDirection::kBoth);
      if (!fetched.ok()) return std::move(fetched).status();
      if (absl::Status s = AddCutHubEdges(graph, options, fetch, config_.neighbor_limit, &*fetched,
                                          &result.stats);
          !s.ok()) {
        return s;
      }
      result.stats.nodes_expanded += static_cast<uint32_t>(fetch.size());
      for (size_t i = 0; i < fetch.size(); ++i) {
        std::vector<Neighbor>& list = (*fetched)[i];
        // Canonical order, whatever the source's order among equals.
        std::sort(list.begin(), list.end(), [](const Neighbor& a, const Neighbor& b) {
          if (a.edge.confidence != b.edge.confidence) return a.edge.confidence > b.edge.confidence;
          if (a.node.id != b.node.id) return a.node.id < b.node.id;
          if (a.edge.type != b.edge.type) return a.edge.type < b.edge.type;
          return a.edge.source < b.edge.source;
        });
        neighbors[fetch[i]] = std::move(list);
      }
    }

    for (size_t idx : batch) {
      const PathRec base = paths[idx];  // copy: paths grows below
      const std::string& end = base.ids.back();
      auto it = neighbors.find(end);
      if (it == neighbors.end()) continue;  // cut by the budget
      for (const Neighbor& n : it->second) {
        const Edge& e = n.edge;
        if (e.source == e.target) continue;
        const std::string* other = e.source == end   ? &e.target
                                   : e.target == end ? &e.source
                                                     : nullptr;
        if (other == nullptr) continue;  // not an edge of this concept
        if (!options.types.empty() && !Contains(options.types, e.type)) continue;
        if (std::find(base.ids.begin(), base.ids.end(), *other) != base.ids.end()) continue;
        const double conf = base.conf * hop_factor(e, end);
        const double evidence = base.seed_sim * conf;
        if (evidence < config_.min_path_evidence) continue;
        if (result.stats.paths_explored >= config_.max_explored_paths) {
          result.stats.truncated = true;
          stop = true;
          break;
        }
        remember(ConceptLite{*other, n.node.id == *other ? n.node.content : std::string()});
        PathRec next = base;
        next.ids.push_back(*other);
        next.hops.push_back(e);
        next.conf = conf;
        next.evidence = evidence;
        const size_t next_idx = add_path(std::move(next));
        ++result.stats.paths_explored;
        if (paths[next_idx].hops.size() < options.max_depth) frontier.push(next_idx);
      }
      if (stop) break;
    }
    if (!frontier.empty() && result.stats.nodes_expanded >= config_.max_expansions) {
      // Anything left would need a fetch beyond the budget, unless already fetched.
      bool needs_fetch = false;
      std::vector<size_t> kept;
      while (!frontier.empty()) {
        const size_t idx = frontier.top();
        frontier.pop();
        if (!neighbors.contains(paths[idx].ids.back())) {
          needs_fetch = true;
          continue;
        }
        kept.push_back(idx);
      }
      for (size_t idx : kept) frontier.push(idx);
      if (needs_fetch) result.stats.truncated = true;
    }
  }

  // 2b. From both ends: for a between question, the fewest-hops path from each seed to each
  // concept named Y (ReasonOptions::named_targets), which the expansion may not have reached
  // within its budget when Y is far and the seeds' neighbourhoods are wide. Not when the
  // expansion finished within its budget and reached a concept named Y: on WordNet the lookups
  // then changed no answer.
  const bool named_reached =
      std::any_of(options.named_targets.begin(), options.named_targets.end(),
                  [&](const ConceptLite& t) { return supporting.contains(t.id); });
  if (!options.named_targets.empty() && decay > 0 && (result.stats.truncated || !named_reached)) {
    for (const ConceptLite& t : options.named_targets) remember(t);
    std::vector<PathEnds> pairs;
    std::vector<size_t> pair_seed;  // the seed's index in `paths`
    for (size_t s = 0; s < result.stats.seeds; ++s) {
      for (const ConceptLite& t : options.named_targets) {
        if (t.id == paths[s].ids.front() || pairs.size() >= config_.max_bridge_pairs) continue;
        pairs.push_back({paths[s].ids.front(), t.id});
        pair_seed.push_back(s);
      }
    }
    result.stats.bridge_pairs = static_cast<uint32_t>(pairs.size());
    const Along along = AlongAsked(options, EdgeDirection::kBoth);
    if (absl::Status s = check_cancelled(); !s.ok()) return s;
    absl::StatusOr<std::vector<std::optional<FoundPath>>> found =
        pairs.empty() ? std::vector<std::optional<FoundPath>>()
                      : graph.PathsBetween(pairs, along.types, options.max_depth, along.direction);
    if (!found.ok()) return std::move(found).status();
    if (found->size() != pairs.size()) {
      return absl::InternalError("GraphSource::PathsBetween returned a wrong number of paths");
    }
    for (size_t i = 0; i < pairs.size(); ++i) {
      const std::optional<FoundPath>& f = (*found)[i];
      if (!f.has_value() || !JoinsInOrder(*f, pairs[i]) || f->hops.size() > options.max_depth) {
        continue;
      }
      PathRec next = paths[pair_seed[i]];
      for (size_t h = 0; h < f->hops.size(); ++h) next.conf *= hop_factor(f->hops[h], f->ids[h]);
      next.ids = f->ids;
      next.hops = f->hops;
      next.evidence = next.seed_sim * next.conf;
      if (next.evidence < config_.min_path_evidence) continue;
      const std::vector<size_t>& reaching = supporting[pairs[i].target];
      if (std::any_of(reaching.begin(), reaching.end(), [&](size_t idx) {
            return paths[idx].ids == next.ids && paths[idx].hops == next.hops;
          })) {
        continue;  // the expansion found it too
      }
      add_path(std::move(next));
      ++result.stats.paths_bridged;
    }
  }

  // 3. Candidates.
  struct Scored {
    Candidate candidate;
    std::vector<size_t> ranked;       // P(c) by rank
    std::vector<size_t> independent;  // D(c) by rank
    double final_exact = 0;           // final in double precision, for ranking
    float seed_strength = 1;          // the strength of its best path's seed
    bool along = true;                // its best path follows the asked relation all the way
  };
  // Whether every hop of `p` follows the relation the question asks for (any hop does when it
  // asks for none).
  const auto along_relation = [&](const PathRec& p) {
    if (!options.relation.has_value()) return true;
    for (size_t h = 0; h < p.hops.size(); ++h) {
      const Edge& e = p.hops[h];
      if (e.type != options.relation->type ||
          (options.relation->outward ? e.source != p.ids[h] : e.target != p.ids[h])) {
        return false;
      }
    }
    return true;
  };
  std::vector<Scored> scored;
  const absl::flat_hash_set<std::string> targets(options.targets.begin(), options.targets.end());
  // A between-answer's weight: its target's relevance over the best target's.
  absl::flat_hash_map<std::string, double> target_weight;
  if (options.target_relevance.size() == options.targets.size() && !options.targets.empty()) {
    const float best =
        *std::max_element(options.target_relevance.begin(), options.target_relevance.end());
    for (size_t i = 0; i < options.targets.size() && best > 0; ++i) {
      target_weight[options.targets[i]] = options.target_relevance[i] / best;
    }
  }
  // A between question's answer is a concept named Y when one is reached; `targets` otherwise.
  const std::string wanted_name = text::NormalizedName(options.target_name);
  absl::flat_hash_set<std::string> named;
  if (!wanted_name.empty()) {
    for (const auto& [id, indices] : supporting) {
      auto it = contents.find(id);
      if (id != top_seed && it != contents.end() &&
          text::NamedByNormalized(it->second, wanted_name)) {
        named.insert(id);
      }
    }
  }
  for (auto& [id, indices] : supporting) {
    if (id == top_seed) continue;
    if (!named.empty() ? !named.contains(id) : !targets.empty() && !targets.contains(id)) continue;
    std::sort(indices.begin(), indices.end(),
              [&](size_t a, size_t b) { return RanksBefore(paths[a], paths[b]); });
    Scored s;
    s.ranked = indices;
    absl::flat_hash_set<std::string> used;
    for (size_t idx : indices) {
      if (s.independent.size() >= std::max<uint32_t>(config_.max_consensus_paths, 1)) break;
      bool disjoint = true;
      for (const Edge& e : paths[idx].hops) disjoint = disjoint && !used.contains(EdgeKey(e));
      if (!disjoint) continue;
      for (const Edge& e : paths[idx].hops) used.insert(EdgeKey(e));
      s.independent.push_back(idx);
    }
    const PathRec& best = paths[s.independent.front()];
    double rest = 1.0;
    for (size_t i = 1; i < s.independent.size(); ++i)
      rest *= 1.0 - paths[s.independent[i]].evidence;
    const double consensus = 1.0 - rest;
    double final_confidence =
        1.0 - (1.0 - best.seed_sim * best.conf) * (1.0 - config_.consensus_weight * consensus);
    if (auto w = target_weight.find(id); named.empty() && w != target_weight.end()) {
      final_confidence *= w->second;
    }
    s.candidate.node.id = id;
    s.candidate.confidence = {static_cast<float>(best.conf), static_cast<float>(best.seed_sim),
                              static_cast<float>(consensus), static_cast<float>(final_confidence)};
    s.candidate.supporting_paths = static_cast<uint32_t>(indices.size());
    s.candidate.independent_paths = static_cast<uint32_t>(s.independent.size());
    s.final_exact = final_confidence;
    if (auto it = seed_strength.find(best.ids.front()); it != seed_strength.end()) {
      s.seed_strength = it->second;
    }
    s.along = along_relation(best);
    scored.push_back(std::move(s));
  }
  // A question that names only X (not "How is X related to Y?", where what joins X to Y tells its
  // sense): of the senses of X that answer it as asked (their best paths follow the asked
  // relation; any sense when none does), the one held most strongly (e.g. the most frequent)
  // is what X most likely means, and each answer keeps its share of that strength. A sense that
  // alone has the asked relation is not outweighed by a stronger one that lacks it.
  if (!seed_strength.empty() && wanted_name.empty() && targets.empty()) {
    const bool any_along =
        std::any_of(scored.begin(), scored.end(), [](const Scored& s) { return s.along; });
    float strongest = 0;
    for (const Scored& s : scored) {
      if (s.along || !any_along) strongest = std::max(strongest, s.seed_strength);
    }
    for (Scored& s : scored) {
      if (strongest <= 0) break;
      const double share = std::min(1.0, static_cast<double>(s.seed_strength) / strongest);
      s.final_exact *= share;
      s.candidate.confidence.final_confidence = static_cast<float>(s.final_exact);
    }
  }
  std::sort(scored.begin(), scored.end(), [](const Scored& a, const Scored& b) {
    return a.final_exact != b.final_exact ? a.final_exact > b.final_exact
                                          : a.candidate.node.id < b.candidate.node.id;
  });

  if (scored.empty() && (!targets.empty() || !wanted_name.empty())) {
    result.explanation =
        absl::StrCat(options.yes_no ? "No confident yes: no path" : "No path",
                     " found from the question's first subject to ",
                     options.targets.size() == 1 ? "its second" : "any match of its second",
                     " within ", options.max_depth, " hops.");
    return result;
  }
  const bool semantic_only = scored.empty();
  if (semantic_only) {
    Scored s;
    s.candidate.node.id = top_seed;
    const double sim = paths.front().seed_sim;
    s.candidate.confidence = {0.0f, static_cast<float>(sim), 0.0f,
                              static_cast<float>(sim * Clamp01(config_.semantic_only_factor))};
    scored.push_back(std::move(s));
  }

  const Scored& winner = scored.front();
  // Co-answers (step 4): a question that asks a relation of X alone ("What is a dog?", not a
  // between or yes/no question) is answered by everything the sense behind the best candidate
  // states directly: one hop along the asked relation from the same seed ("dog" is a kind of
  // "domestic animal" and of "canine"). Those within the margin answer with it instead of making
  // it a coin toss; a candidate of another sense, or further away, is still a runner-up.
  const auto direct_seed = [&](const Scored& s) -> const std::string* {
    if (s.independent.empty() || !s.along) return nullptr;
    const PathRec& p = paths[s.independent.front()];
    return p.hops.size() == 1 ? &p.ids.front() : nullptr;
  };
  std::vector<bool> co_answer(scored.size(), false);
  if (options.relation.has_value() && !options.yes_no && wanted_name.empty() && targets.empty() &&
      !semantic_only) {
    const std::string* seed = direct_seed(winner);
    for (size_t i = 1; seed != nullptr && i < scored.size(); ++i) {
      const Scored& s = scored[i];
      if (winner.candidate.confidence.final_confidence >=
          s.candidate.confidence.final_confidence + config_.min_margin) {
        break;  // decided against this one and every later one
      }
      const std::string* other = direct_seed(s);
      co_answer[i] = other != nullptr && *other == *seed &&
                     s.candidate.confidence.final_confidence >= options.min_confidence;
    }
  }

  // 5a. Paths: the best candidate's independent ones, each co-answer's best, the best
  // candidate's others, then each runner-up's best.
  std::vector<size_t> chosen;
  absl::flat_hash_set<size_t> chosen_set;
  const auto choose = [&](size_t idx) {
    if (chosen.size() < options.max_paths && chosen_set.insert(idx).second) chosen.push_back(idx);
  };
  for (size_t idx : winner.independent) choose(idx);
  for (size_t i = 1; i < scored.size(); ++i) {
    if (co_answer[i]) choose(scored[i].independent.front());
  }
  for (size_t idx : winner.ranked) choose(idx);
  for (size_t i = 1; i < scored.size(); ++i) {
    if (!scored[i].independent.empty()) choose(scored[i].independent.front());
  }
  const absl::flat_hash_set<size_t> independent_set(winner.independent.begin(),
                                                    winner.independent.end());

  // Contents of every concept we will show; fetch the ones we have not seen.
  std::vector<std::string> shown_ids;
  absl::flat_hash_set<std::string> shown_set;
  const auto show = [&](const std::string& id) {
    if (shown_set.insert(id).second) shown_ids.push_back(id);
  };
  for (size_t idx : chosen) {
    for (const std::string& id : paths[idx].ids) show(id);
  }
  show(winner.candidate.node.id);
  for (size_t i = 1; i < scored.size(); ++i) {
    if (co_answer[i]) show(scored[i].candidate.node.id);
  }
  std::vector<std::string> missing;
  for (const std::string& id : shown_ids) {
    auto it = contents.find(id);
    if (it == contents.end() || it->second.empty()) missing.push_back(id);
  }
  if (!missing.empty()) {
    if (absl::Status s = check_cancelled(); !s.ok()) return s;
    absl::StatusOr<std::vector<ConceptLite>> got = graph.Get(missing);
    if (!got.ok()) return std::move(got).status();
    for (const ConceptLite& c : *got) remember(c);
  }
  const auto content_of = [&](const std::string& id) -> std::string {
    auto it = contents.find(id);
    return it == contents.end() ? std::string() : it->second;
  };
  const auto display_of = [&](const std::string& id) -> std::string {
    const std::string content = content_of(id);
    return content.empty() ? id : content;
  };

  for (size_t idx : chosen) {
    const PathRec& p = paths[idx];
    ReasoningPath out = ToReasoningPath(p);
    out.supports_answer = p.ids.back() == winner.candidate.node.id;
    out.independent = independent_set.contains(idx);
    result.paths.push_back(std::move(out));
  }
  for (const std::string& id : shown_ids) {
    bool in_paths = false;
    for (size_t idx : chosen) {
      in_paths = in_paths || std::find(paths[idx].ids.begin(), paths[idx].ids.end(), id) !=
                                 paths[idx].ids.end();
    }
    if (in_paths) result.path_concepts.push_back({id, content_of(id)});
  }
  for (size_t i = 0; i < scored.size() && i < config_.max_candidates; ++i) {
    Candidate c = scored[i].candidate;
    c.node.content = content_of(c.node.id);
    result.candidates.push_back(std::move(c));
  }

  // 4. Answer and gate.
  const ConfidenceBreakdown& breakdown = winner.candidate.confidence;
  result.confidence = breakdown;
  result.best_guess = ConceptLite{winner.candidate.node.id, content_of(winner.candidate.node.id)};
  // The margin is to the best other candidate that is not another concept of the same name: two
  // senses of "egg" for "What is a yolk part of?" give the same answer, whichever leads. Not for
  // a between question, whose candidates are all named Y: which sense of Y is related to X is
  // what its margin decides.
  // Nor is it to a co-answer.
  const Scored* runner_up = nullptr;
  for (size_t i = 1; i < scored.size() && runner_up == nullptr; ++i) {
    if (co_answer[i]) continue;
    if (!wanted_name.empty() ||
        !SharesAName(result.best_guess->content, content_of(scored[i].candidate.node.id))) {
      runner_up = &scored[i];
    }
  }
  result.decided = runner_up == nullptr ||
                   breakdown.final_confidence >=
                       runner_up->candidate.confidence.final_confidence + config_.min_margin;
  result.confident = breakdown.final_confidence >= options.min_confidence && result.decided;
  // The co-answers named apart from the answer and from each other (another sense of the same
  // name is the same answer).
  std::vector<const Scored*> also;
  if (result.confident) {
    result.answer = result.best_guess;
    result.answers.push_back(*result.best_guess);
    for (size_t i = 1; i < scored.size(); ++i) {
      if (!co_answer[i]) continue;
      ConceptLite c{scored[i].candidate.node.id, content_of(scored[i].candidate.node.id)};
      if (std::any_of(result.answers.begin(), result.answers.end(),
                      [&](const ConceptLite& a) { return SharesAName(a.content, c.content); })) {
        continue;
      }
      result.answers.push_back(std::move(c));
      also.push_back(&scored[i]);
    }
  }

  // 5b. Explanation.
  const std::string name = absl::StrCat("\"", Display(display_of(winner.candidate.node.id)), "\"");
  std::string& text = result.explanation;
  // "Is X a Y?" answered: X is where the winner's best path starts.
  const bool yes = result.confident && options.yes_no && !semantic_only;
  const std::string not_confident = options.yes_no ? "No confident yes" : "Not confident";
  if (yes) {
    const std::string& subject = paths[winner.independent.front()].ids.front();
    text = absl::StrCat("Yes: \"", FirstName(display_of(subject)), "\" is a kind of \"",
                        FirstName(display_of(winner.candidate.node.id)), "\" (confidence ",
                        Fixed2(breakdown.final_confidence), " >= ", Fixed2(options.min_confidence),
                        "): ", name, ".");
  } else if (result.confident && !also.empty()) {
    text = absl::StrCat("Answers: ", name, " (confidence ", Fixed2(breakdown.final_confidence),
                        " >= ", Fixed2(options.min_confidence), ")");
    for (size_t i = 0; i < also.size(); ++i) {
      absl::StrAppend(&text, i + 1 == also.size() ? " and \"" : ", \"",
                      Display(display_of(also[i]->candidate.node.id)), "\" (",
                      Fixed2(also[i]->candidate.confidence.final_confidence), ")");
    }
    absl::StrAppend(&text, ", each stated directly of \"",
                    FirstName(display_of(paths[winner.independent.front()].ids.front())), "\".");
  } else if (result.confident) {
    text = absl::StrCat("Answer: ", name, " (confidence ", Fixed2(breakdown.final_confidence),
                        " >= ", Fixed2(options.min_confidence), ").");
  } else if (breakdown.final_confidence < options.min_confidence) {
    text = absl::StrCat(not_confident, ": the best guess ", name, " scores ",
                        Fixed2(breakdown.final_confidence), " < ", Fixed2(options.min_confidence),
                        ".");
  } else {
    text = absl::StrCat(not_confident, ": the best guess ", name, " (",
                        Fixed2(breakdown.final_confidence), ") is hardly better supported than \"",
                        Display(display_of(runner_up->candidate.node.id)), "\" (",
                        Fixed2(runner_up->candidate.confidence.final_confidence), ").");
  }
  if (semantic_only) {
    absl::StrAppend(&text, " It is the closest match to the question (similarity ",
                    Fixed2(breakdown.semantic), "); no association supports it.");
  } else {
    const auto describe_path = [&](const PathRec& p) {
      std::string s;
      for (const Edge& e : p.hops) {
        if (!s.empty()) s += "; ";
        s += DescribeHop(e, display_of(e.source), display_of(e.target));
      }
      return s;
    };
    const PathRec& best = paths[winner.independent.front()];
    absl::StrAppend(&text, " Best path (evidence ", Fixed2(best.evidence), " = semantic ",
                    Fixed2(best.seed_sim), " x graph ", Fixed2(best.conf),
                    "): ", describe_path(best), ".");
    const size_t more = winner.independent.size() - 1;
    if (more > 0) {
      absl::StrAppend(&text, " ", more, " more independent path", more > 1 ? "s" : "",
                      " add consensus ", Fixed2(breakdown.consensus), ":");
      for (size_t i = 1; i < winner.independent.size(); ++i) {
        absl::StrAppend(&text, i > 1 ? " |" : "", " ", describe_path(paths[winner.independent[i]]));
      }
      text += ".";
    }
    for (const Scored* s : also) {
      absl::StrAppend(&text, " And: ", describe_path(paths[s->independent.front()]), ".");
    }
    // The best candidate that is not one of the answers.
    for (size_t i = 1; i < scored.size(); ++i) {
      if (std::find(also.begin(), also.end(), &scored[i]) != also.end()) continue;
      const Candidate& next = scored[i].candidate;
      absl::StrAppend(&text, " Runner-up: \"", Display(display_of(next.node.id)), "\" (",
                      Fixed2(next.confidence.final_confidence), ").");
      break;
    }
  }
  if (result.stats.truncated) {
    absl::StrAppend(&text,
                    " (The search budget ran out; more distant knowledge was not explored.)");
  }
  return result;
}

bool SharesAName(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty()) return false;
  for (const std::string& name : text::LeadingNames(AbslView(a))) {
    if (text::NamedByNormalized(AbslView(b), name)) return true;
  }
  return false;
}

absl::Status SetBetweenTargets(GraphSource& graph, const SeedQuery& other, std::string_view name,
                               ReasonOptions* options, uint32_t k) {
  absl::StatusOr<std::vector<SearchHit>> hits =
      graph.Search(other, std::max(k, ReasonOptions::kNamedSeedPool));
  if (!hits.ok()) return hits.status();
  options->target_name = std::string(name);
  options->targets.clear();
  options->target_relevance.clear();
  options->named_targets.clear();
  const std::string wanted = text::NormalizedName(AbslView(name));
  for (size_t i = 0; i < hits->size(); ++i) {
    const SearchHit& h = (*hits)[i];
    if (i < k) {
      options->targets.push_back(h.node.id);
      options->target_relevance.push_back(h.score);
    }
    if (options->named_targets.size() < kMaxNamedTargets &&
        text::NamedByNormalized(h.node.content, wanted)) {
      options->named_targets.push_back(h.node);
    }
  }
  return absl::OkStatus();
}

}  // namespace engram::hybrid
