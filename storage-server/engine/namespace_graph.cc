// NamespaceStore's graph queries: the neighbours of a concept and the paths between two concepts
// (best-first by confidence, or shortest), over the association chains of the record arena at a
// reader's snapshot sequence. Record access and edge iteration are in namespace_store.cc.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <queue>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"
#include "storage-server/engine/namespace_store.h"

namespace engram::storage {

namespace {

// Partial paths FindPaths may expand before it returns what it has, marked truncated.
constexpr size_t kPathExpansionBudget = 200000;
// Concepts the backward search from the target (FindPaths' hops-to-target bound) may expand; past
// it, the concepts not yet reached get the bound of the last level it finished.
constexpr size_t kBoundExpansionBudget = 20000;
// Concepts the backward Dijkstra from the target (BEST's cost-to-target bound) may settle.
constexpr size_t kCostBoundExpansionBudget = 2000;

bool TypeAllowed(const google::protobuf::RepeatedField<int>& types, uint32_t type) {
  if (types.empty()) return true;
  for (int t : types) {
    if (static_cast<uint32_t>(t) == type) return true;
  }
  return false;
}

absl::Status ValidateTypes(absl::string_view field,
                           const google::protobuf::RepeatedField<int>& types) {
  for (int i = 0; i < types.size(); ++i) {
    if (types[i] == v1::ASSOCIATION_TYPE_UNSPECIFIED || !v1::AssociationType_IsValid(types[i])) {
      return InvalidField(absl::StrCat(field, "[", i, "]"), "unknown association type");
    }
  }
  return absl::OkStatus();
}

// A hop's cost for the most-confident-path searches: -ln(confidence x decay), so that the cheapest
// path is the most confident. A confidence of 0 costs more than any path of non-zero hops can, so
// such paths rank last (as their product 0 does) but are still found.
double HopCost(float confidence, float decay) {
  const double c = static_cast<double>(confidence) * decay;
  return c > 0 ? -std::log(c) : 1e9;
}

// The path of a search from both ends that met at the hop `meet` from `forward_end` (reached from
// the source) to `backward_end` (reached from the target): the source's chain to forward_end, the
// meeting hop, then backward_end's chain to the target. `forward` and `backward` map each concept
// a side reached to its label, whose `parent` is one concept closer to that side's start and
// `via` the hop between them (null at the start).
template <class Labels>
void JoinHalves(const Labels& forward, const Labels& backward, uint32_t forward_end,
                const AssocRecord* meet, uint32_t backward_end, std::vector<uint32_t>* nodes,
                std::vector<const AssocRecord*>* hops) {
  auto chain = [](const Labels& labels, uint32_t node, std::vector<uint32_t>* chain_nodes,
                  std::vector<const AssocRecord*>* chain_hops) {  // node first
    for (uint32_t n = node;;) {
      chain_nodes->push_back(n);
      const auto& label = labels.at(n);
      if (label.via == nullptr) return;
      chain_hops->push_back(label.via);
      n = label.parent;
    }
  };
  nodes->clear();
  hops->clear();
  chain(forward, forward_end, nodes, hops);
  std::reverse(nodes->begin(), nodes->end());
  std::reverse(hops->begin(), hops->end());
  hops->push_back(meet);
  chain(backward, backward_end, nodes, hops);
}

}  // namespace

absl::StatusOr<v1::NeighborsResponse> NamespaceStore::Neighbors(const v1::NeighborsRequest& request,
                                                                uint64_t seq) const {
  RETURN_IF_ERROR(ValidateId("id", request.id(), *limits_));
  RETURN_IF_ERROR(ValidateTypes("types", request.types()));
  if (!v1::Direction_IsValid(request.direction())) {
    return InvalidField("direction", "unknown direction");
  }
  uint32_t limit = request.limit() == 0 ? 50 : request.limit();
  RETURN_IF_ERROR(ValidateAtMost("limit", limit, limits_->max_neighbors));
  auto n = NumberOf(request.id());
  if (!n || Visible(*n, seq) == nullptr) {
    return absl::NotFoundError(absl::StrCat("concept '", request.id(), "' not found"));
  }
  std::vector<EdgeView> edges;
  ForEachEdge(*n, request.direction(), seq, [&](const EdgeView& e) {
    if (TypeAllowed(request.types(), e.record->type) && Visible(e.other, seq) != nullptr) {
      edges.push_back(e);
    }
  });
  std::sort(edges.begin(), edges.end(), [&](const EdgeView& a, const EdgeView& b) {
    if (a.record->confidence != b.record->confidence) {
      return a.record->confidence > b.record->confidence;
    }
    if (a.other != b.other) return IdOf(a.other) < IdOf(b.other);
    if (a.record->type != b.record->type) return a.record->type < b.record->type;
    return a.direction < b.direction;
  });
  if (edges.size() > limit) edges.resize(limit);
  v1::NeighborsResponse response;
  for (const EdgeView& e : edges) {
    v1::Neighbor* out = response.add_neighbors();
    const ConceptRecord* other = Visible(e.other, seq);
    FillIdContentAttributes(*other, out->mutable_node());
    FillAssociation(*e.record, out->mutable_association());
    out->set_direction(e.direction);
  }
  return response;
}

absl::StatusOr<v1::FindPathsResponse> NamespaceStore::FindPaths(const v1::FindPathsRequest& request,
                                                                uint64_t seq) const {
  RETURN_IF_ERROR(ValidateId("source", request.source(), *limits_));
  RETURN_IF_ERROR(ValidateId("target", request.target(), *limits_));
  RETURN_IF_ERROR(ValidateTypes("types", request.types()));
  uint32_t max_depth = request.max_depth() == 0 ? 6 : request.max_depth();
  RETURN_IF_ERROR(ValidateAtMost("max_depth", max_depth, limits_->max_depth));
  uint32_t max_paths = request.max_paths() == 0 ? 3 : request.max_paths();
  RETURN_IF_ERROR(ValidateAtMost("max_paths", max_paths, limits_->max_paths));
  float decay = request.decay() == 0 ? 0.85f : request.decay();
  if (!(decay > 0 && decay <= 1)) return InvalidField("decay", "must be in (0, 1]");
  if (!v1::PathMode_IsValid(request.mode())) return InvalidField("mode", "unknown mode");
  if (!v1::Direction_IsValid(request.direction())) {
    return InvalidField("direction", "unknown direction");
  }
  const bool shortest = request.mode() == v1::SHORTEST;

  auto src = NumberOf(request.source());
  if (!src || Visible(*src, seq) == nullptr) {
    return absl::NotFoundError(absl::StrCat("source: concept '", request.source(), "' not found"));
  }
  auto dst = NumberOf(request.target());
  if (!dst || Visible(*dst, seq) == nullptr) {
    return absl::NotFoundError(absl::StrCat("target: concept '", request.target(), "' not found"));
  }

  const v1::Direction forward = request.direction() == v1::DIRECTION_UNSPECIFIED ? v1::BOTH
                                                                                : request.direction();
  const v1::Direction backward =
      forward == v1::OUT ? v1::IN : forward == v1::IN ? v1::OUT : v1::BOTH;
  v1::FindPathsResponse response;
  auto add_path = [&](const std::vector<uint32_t>& nodes, const std::vector<const AssocRecord*>& hops,
                      float confidence) {
    v1::Path* path = response.add_paths();
    for (size_t i = 0; i < nodes.size(); ++i) {
      path->add_concept_ids(std::string(IdOf(nodes[i])));
      if (i < hops.size()) FillAssociation(*hops[i], path->add_hops());
    }
    path->set_confidence(confidence);
  };

  // One path: searches from both ends, which reach a few thousand concepts where a search from
  // the source alone reaches most of a large graph before it gets to a distant target.
  //   SHORTEST: a breadth-first search from both ends; exact (fewest hops, then the most
  //     confident of those), it answers alone.
  //   BEST: the most confident path of any length, by a bidirectional Dijkstra. When that path
  //     fits within max_depth it is also the answer under the bound (exact); when it is longer,
  //     or not simple (a cycle of confidence-1 hops), the bounded search below answers.
  if (max_paths == 1) {
    std::vector<uint32_t> nodes;
    std::vector<const AssocRecord*> hops;
    const BestPathOutcome outcome =
        shortest ? FewestHopsPath(*src, *dst, request, forward, backward, decay, max_depth, seq,
                                  kPathExpansionBudget, &nodes, &hops)
                 : MostConfidentPath(*src, *dst, request, forward, backward, decay, seq,
                                     kPathExpansionBudget, &nodes, &hops);
    switch (outcome) {
      case BestPathOutcome::kNoPath:
        return response;
      case BestPathOutcome::kBudget:
        response.set_truncated(true);
        return response;
      case BestPathOutcome::kFound: {
        absl::flat_hash_set<uint32_t> distinct(nodes.begin(), nodes.end());
        if (hops.size() <= max_depth && distinct.size() == nodes.size()) {  // always for SHORTEST
          float confidence = 1.0f;  // multiplied in FindPaths' order, so the same float
          for (const AssocRecord* hop : hops) confidence = confidence * hop->confidence * decay;
          add_path(nodes, hops, confidence);
          return response;
        }
        break;
      }
    }
  }

  // Hops from each concept to the target within max_depth (a breadth-first search backwards from
  // it, ignoring simplicity, so a lower bound): a partial path that cannot reach the target
  // within max_depth is never queued, so it neither costs expansions nor takes one of a concept's
  // max_paths places from a path that can. SHORTEST orders partials by hops + that bound (A*; the
  // bound is consistent, so paths still come out by hops, and at each concept in the same order).
  // A concept the search did not reach is at least `beyond` hops away: past max_depth when the
  // search finished, one more than its last finished level when it ran out of budget.
  absl::flat_hash_map<uint32_t, uint32_t> to_target;  // concept -> hops to the target
  uint32_t beyond = max_depth + 1;
  {
    to_target[*dst] = 0;
    std::vector<uint32_t> frontier = {*dst}, next;
    size_t expanded = 0;
    for (uint32_t depth = 1; depth <= max_depth && !frontier.empty(); ++depth) {
      if (expanded + frontier.size() > kBoundExpansionBudget) {
        beyond = depth;  // levels < depth are complete; the rest is at least `depth` away
        break;
      }
      expanded += frontier.size();
      next.clear();
      for (uint32_t node : frontier) {
        ForEachEdge(node, backward, seq, [&](const EdgeView& e) {
          if (!TypeAllowed(request.types(), e.record->type)) return;
          if (!to_target.try_emplace(e.other, depth).second) return;
          if (Visible(e.other, seq) != nullptr) next.push_back(e.other);
        });
      }
      frontier.swap(next);
    }
  }
  auto hops_left = [&](uint32_t node) {
    auto it = to_target.find(node);
    return it == to_target.end() ? beyond : it->second;
  };
  if (hops_left(*src) > max_depth) return response;  // no path within max_depth

  const bool single = max_paths == 1 && !shortest;
  // BEST with one path: a hop's cost (HopCost), and the cost from each concept to
  // the target, by a Dijkstra backwards from it over at most kCostBoundExpansionBudget concepts
  // (the A* heuristic below): exact for the concepts it settled, and for the others at least the
  // cost of the last it settled (infinite when it settled every concept that reaches the target).
  // Both ignore the depth bound, so they are lower bounds, and consistent ones.
  auto cost = [decay](float confidence) { return HopCost(confidence, decay); };
  absl::flat_hash_map<uint32_t, double> cost_to_target;  // settled concepts only
  double cost_beyond = 0;
  if (single) {
    using Entry = std::pair<double, uint32_t>;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue;
    absl::flat_hash_map<uint32_t, double> reached;
    reached[*dst] = 0;
    queue.push({0, *dst});
    cost_beyond = std::numeric_limits<double>::infinity();
    while (!queue.empty()) {
      const double d = queue.top().first;  // not a structured binding: clang 14 (the ASan
      const uint32_t node = queue.top().second;  // build) cannot capture one in a lambda
      if (cost_to_target.contains(node)) {
        queue.pop();  // stale
        continue;
      }
      if (cost_to_target.size() >= kCostBoundExpansionBudget) {
        cost_beyond = d;
        break;
      }
      queue.pop();
      cost_to_target[node] = d;
      ForEachEdge(node, backward, seq, [&](const EdgeView& e) {
        if (!TypeAllowed(request.types(), e.record->type)) return;
        if (cost_to_target.contains(e.other) || Visible(e.other, seq) == nullptr) return;
        const double through = d + cost(e.record->confidence);
        auto [it, inserted] = reached.try_emplace(e.other, through);
        if (!inserted && through >= it->second) return;
        it->second = through;
        queue.push({through, e.other});
      });
    }
  }
  auto cost_left = [&](uint32_t node) {
    auto it = cost_to_target.find(node);
    return it == cost_to_target.end() ? cost_beyond : it->second;
  };

  struct Partial {
    float confidence;
    uint32_t hops;
    uint32_t bound;  // hops + hops still needed at least
    uint32_t node;
    int32_t parent;
    const AssocRecord* via;
    double cost = 0;  // BEST with one path: -ln(confidence x decay) summed so far
    double key = 0;   // and cost + cost_left (A*)
  };
  std::vector<Partial> pool;
  auto worse = [&](int32_t a, int32_t b) {
    const Partial& x = pool[a];
    const Partial& y = pool[b];
    if (shortest && x.bound != y.bound) return x.bound > y.bound;
    if (single && x.key != y.key) return x.key > y.key;
    if (!single && x.confidence != y.confidence) return x.confidence < y.confidence;
    return a > b;  // earlier discovered first: deterministic
  };
  std::priority_queue<int32_t, std::vector<int32_t>, decltype(worse)> queue(worse);
  absl::flat_hash_map<uint32_t, uint32_t> settled;  // concept -> partials popped for it
  // BEST with one path (here when the bidirectional search's path was too long, or not simple): an
  // A* search over (concept, hops) states on the cost -ln(confidence x decay), exact under the
  // bound (to the cost's double rounding, as the bidirectional search). The heuristic is
  // consistent, so a concept's partials pop in order of cost, and one that pops for a concept after
  // another with no more hops is dominated: whatever reaches the target from it within max_depth
  // also does from the other, at least as confidently (a walk that repeats a concept loses nothing
  // by dropping the cycle, so the best walk within the bound is a simple path). Such a partial is
  // dropped when popped, and is never queued when the dominating one has popped already (this
  // covers the concepts on its own chain, so every partial is a simple path without walking the
  // chain), nor when a partial for the same (concept, hops) that pops first is queued (Dijkstra's
  // relaxation). A concept is so expanded at most once per hop count, and only at hop counts from
  // which the target is still within reach. (SHORTEST, an A* search on hops, has few stale
  // entries; there this bookkeeping cost more than it saved: 58-64 against 70-75 paths/s.)
  absl::flat_hash_map<uint32_t, uint32_t> fewest_popped;  // concept -> fewest hops of a popped one
  // (concept, hops) -> its first-to-pop partial.
  absl::flat_hash_map<std::pair<uint32_t, uint32_t>, int32_t> best_queued;
  auto pops_before = [](const Partial& x, const Partial& y) {  // x queued after y
    return x.key < y.key;  // the same concept, so the same cost_left; a tie pops y first
  };
  auto dominated = [&](uint32_t node, uint32_t hops) {
    auto it = fewest_popped.find(node);
    return it != fewest_popped.end() && it->second <= hops;
  };
  pool.push_back({1.0f, 0, hops_left(*src), *src, -1, nullptr, 0, single ? cost_left(*src) : 0});
  queue.push(0);
  size_t expansions = 0;
  while (!queue.empty() && static_cast<uint32_t>(response.paths_size()) < max_paths) {
    const int32_t index = queue.top();
    const Partial cur = pool[index];
    if (single && dominated(cur.node, cur.hops)) {  // a stale entry: no expansion
      queue.pop();
      continue;
    }
    if (++expansions > kPathExpansionBudget) {
      response.set_truncated(true);
      break;
    }
    queue.pop();
    if (single) {
      fewest_popped[cur.node] = cur.hops;  // fewer than any popped before: not dominated
    } else if (++settled[cur.node] > max_paths) {
      continue;  // each node is settled at most max_paths times: the k best ways to reach it
    }
    if (cur.node == *dst) {
      std::vector<uint32_t> nodes;
      std::vector<const AssocRecord*> hops;
      for (int32_t i = index; i >= 0; i = pool[i].parent) {
        nodes.push_back(pool[i].node);
        if (pool[i].via != nullptr) hops.push_back(pool[i].via);
      }
      std::reverse(nodes.begin(), nodes.end());
      std::reverse(hops.begin(), hops.end());
      add_path(nodes, hops, cur.confidence);
      continue;
    }
    if (cur.hops >= max_depth) continue;
    ForEachEdge(cur.node, request.direction(), seq, [&](const EdgeView& e) {
      if (!TypeAllowed(request.types(), e.record->type)) return;
      const uint32_t left = hops_left(e.other);
      if (cur.hops + 1 + left > max_depth) return;
      Partial next{cur.confidence * e.record->confidence * decay,
                   cur.hops + 1,
                   cur.hops + 1 + left,
                   e.other,
                   index,
                   e.record};
      const int32_t next_index = static_cast<int32_t>(pool.size());
      if (single) {
        if (dominated(e.other, next.hops)) return;  // covers the concepts on cur's chain
        next.cost = cur.cost + cost(e.record->confidence);
        next.key = next.cost + cost_left(e.other);
        if (std::isinf(next.key)) return;  // the target is out of its reach
        auto best = best_queued.find({e.other, next.hops});
        if (best != best_queued.end() && !pops_before(next, pool[best->second])) return;
        if (Visible(e.other, seq) == nullptr) return;
        best_queued[{e.other, next.hops}] = next_index;
      } else {
        for (int32_t i = index; i >= 0; i = pool[i].parent) {
          if (pool[i].node == e.other) return;  // simple paths only
        }
        if (Visible(e.other, seq) == nullptr) return;
      }
      pool.push_back(next);
      queue.push(next_index);
    });
  }
  return response;
}

NamespaceStore::BestPathOutcome NamespaceStore::MostConfidentPath(
    uint32_t src, uint32_t dst, const v1::FindPathsRequest& request, v1::Direction forward,
    v1::Direction backward, float decay, uint64_t seq, size_t budget, std::vector<uint32_t>* nodes,
    std::vector<const AssocRecord*>* hops) const {
  nodes->clear();
  hops->clear();
  if (src == dst) {
    nodes->push_back(src);
    return BestPathOutcome::kFound;
  }
  auto cost = [decay](float confidence) { return HopCost(confidence, decay); };
  struct Label {
    double cost;
    uint32_t parent;  // toward the side's start
    const AssocRecord* via;
    bool settled;
  };
  using Entry = std::pair<double, uint32_t>;
  struct Side {
    v1::Direction direction;
    absl::flat_hash_map<uint32_t, Label> labels;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue;
    // The cost of the cheapest unsettled label (the queue's stale entries dropped first).
    double Top() {
      while (!queue.empty()) {
        const Label& l = labels.at(queue.top().second);
        if (!l.settled && l.cost == queue.top().first) return l.cost;
        queue.pop();
      }
      return std::numeric_limits<double>::infinity();
    }
  };
  Side sides[2];  // 0 from the source along `forward`, 1 from the target along `backward`
  sides[0].direction = forward;
  sides[1].direction = backward;
  sides[0].labels[src] = {0, src, nullptr, false};
  sides[0].queue.push({0, src});
  sides[1].labels[dst] = {0, dst, nullptr, false};
  sides[1].queue.push({0, dst});
  // The best meeting so far: the edge `via` from `from` (reached by side `side`) to `to` (reached
  // by the other side), and the whole path's cost.
  double best = std::numeric_limits<double>::infinity();
  int meet_side = -1;
  uint32_t meet_from = 0, meet_to = 0;
  const AssocRecord* meet_via = nullptr;
  size_t settled = 0;
  while (true) {
    const double top0 = sides[0].Top(), top1 = sides[1].Top();
    // Every path not yet seen costs at least top0 + top1 (standard bidirectional stop rule).
    if (top0 + top1 >= best || std::isinf(top0) || std::isinf(top1)) break;
    // Grow the smaller frontier: with the graph fanning out, the two balls stay small together.
    const int s = sides[0].queue.size() <= sides[1].queue.size() ? 0 : 1;
    Side& side = sides[s];
    Side& other = sides[1 - s];
    const uint32_t u = side.queue.top().second;
    side.queue.pop();
    Label& lu = side.labels.at(u);
    lu.settled = true;
    if (++settled > budget) return BestPathOutcome::kBudget;
    const double du = lu.cost;
    ForEachEdge(u, side.direction, seq, [&](const EdgeView& e) {
      if (!TypeAllowed(request.types(), e.record->type)) return;
      const uint32_t v = e.other;
      if (Visible(v, seq) == nullptr) return;
      const double dv = du + cost(e.record->confidence);
      auto [it, inserted] = side.labels.try_emplace(v, Label{dv, u, e.record, false});
      if (inserted) {
        side.queue.push({dv, v});
      } else if (!it->second.settled && dv < it->second.cost) {
        it->second = {dv, u, e.record, false};
        side.queue.push({dv, v});  // the entry with the old cost goes stale
      }
      if (auto o = other.labels.find(v); o != other.labels.end() && dv + o->second.cost < best) {
        best = dv + o->second.cost;
        meet_side = s;
        meet_from = u;
        meet_to = v;
        meet_via = e.record;
      }
    });
  }
  if (meet_side < 0) return BestPathOutcome::kNoPath;
  JoinHalves(sides[0].labels, sides[1].labels, meet_side == 0 ? meet_from : meet_to, meet_via,
             meet_side == 0 ? meet_to : meet_from, nodes, hops);
  return BestPathOutcome::kFound;
}

NamespaceStore::BestPathOutcome NamespaceStore::FewestHopsPath(
    uint32_t src, uint32_t dst, const v1::FindPathsRequest& request, v1::Direction forward,
    v1::Direction backward, float decay, uint32_t max_depth, uint64_t seq, size_t budget,
    std::vector<uint32_t>* nodes, std::vector<const AssocRecord*>* hops) const {
  nodes->clear();
  hops->clear();
  if (src == dst) {
    nodes->push_back(src);
    return BestPathOutcome::kFound;
  }
  struct Label {
    uint32_t level;     // hops from the side's start
    double confidence;  // the best over paths of `level` hops from the start (× decay per hop)
    uint32_t parent;    // toward the start, on that best path
    const AssocRecord* via;
  };
  struct Side {
    v1::Direction direction;
    absl::flat_hash_map<uint32_t, Label> labels;
    std::vector<uint32_t> frontier;  // the concepts at level `level`
    uint32_t level = 0;
  };
  Side sides[2];  // 0 from the source along `forward`, 1 from the target along `backward`
  sides[0].direction = forward;
  sides[1].direction = backward;
  sides[0].labels[src] = {0, 1.0, src, nullptr};
  sides[0].frontier = {src};
  sides[1].labels[dst] = {0, 1.0, dst, nullptr};
  sides[1].frontier = {dst};
  size_t expanded = 0;
  while (!sides[0].frontier.empty() && !sides[1].frontier.empty()) {
    // A path not met yet has more than level0 + level1 + 1 hops.
    if (sides[0].level + sides[1].level + 1 > max_depth) return BestPathOutcome::kNoPath;
    // Expand the smaller frontier by one whole level. An edge from it into a concept the other
    // side has reached closes a path of level + 1 + (the other's level of that concept) hops; the
    // fewest such hops, once the level is done, is the distance (every shorter path would have
    // met in an earlier level), and every path of that length crosses from this level to the
    // other side by exactly one such edge, so the best product over them is the answer.
    const int s = sides[0].frontier.size() <= sides[1].frontier.size() ? 0 : 1;
    Side& side = sides[s];
    const Side& other = sides[1 - s];
    const uint32_t next_level = side.level + 1;
    std::vector<uint32_t> next;
    uint32_t meet_hops = std::numeric_limits<uint32_t>::max();
    double meet_confidence = -1;
    uint32_t meet_from = 0, meet_to = 0;
    const AssocRecord* meet_via = nullptr;
    for (uint32_t u : side.frontier) {
      if (++expanded > budget) return BestPathOutcome::kBudget;
      const double cu = side.labels.at(u).confidence;
      ForEachEdge(u, side.direction, seq, [&](const EdgeView& e) {
        if (!TypeAllowed(request.types(), e.record->type)) return;
        const uint32_t v = e.other;
        if (Visible(v, seq) == nullptr) return;
        const double cv = cu * e.record->confidence * decay;
        if (auto o = other.labels.find(v); o != other.labels.end()) {
          const uint32_t total = next_level + o->second.level;
          const double through = cv * o->second.confidence;
          if (total < meet_hops || (total == meet_hops && through > meet_confidence)) {
            meet_hops = total;
            meet_confidence = through;
            meet_from = u;
            meet_to = v;
            meet_via = e.record;
          }
        }
        auto [it, inserted] = side.labels.try_emplace(v, Label{next_level, cv, u, e.record});
        if (inserted) {
          next.push_back(v);
        } else if (it->second.level == next_level && cv > it->second.confidence) {
          it->second = {next_level, cv, u, e.record};
        }
      });
    }
    if (meet_via != nullptr) {
      if (meet_hops > max_depth) return BestPathOutcome::kNoPath;
      JoinHalves(sides[0].labels, sides[1].labels, s == 0 ? meet_from : meet_to, meet_via,
                 s == 0 ? meet_to : meet_from, nodes, hops);
      return BestPathOutcome::kFound;
    }
    side.frontier.swap(next);
    side.level = next_level;
  }
  return BestPathOutcome::kNoPath;
}

}  // namespace engram::storage
