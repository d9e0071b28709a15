#include "services/hybrid/reason/in_memory_graph.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"

namespace engram::hybrid {

void InMemoryGraph::AddConcept(std::string id, std::string content, std::vector<float> vector,
                               float strength) {
  concepts_[std::move(id)] = Node{std::move(content), std::move(vector), strength};
}

void InMemoryGraph::AddEdge(const std::string& source, const std::string& target,
                            AssociationType type, float confidence, float weight) {
  for (Edge& e : edges_) {
    if (e.source == source && e.target == target && e.type == type) {
      e.confidence = confidence;
      e.weight = weight;
      return;
    }
  }
  edges_.push_back(Edge{source, target, type, confidence, weight});
}

void InMemoryGraph::RemoveConcept(const std::string& id) {
  concepts_.erase(id);
  std::erase_if(edges_, [&](const Edge& e) { return e.source == id || e.target == id; });
}

void InMemoryGraph::SetNameStrength(const std::string& id, std::string name, float strength) {
  concepts_.at(id).name_strengths.emplace_back(std::move(name), strength);
}

absl::StatusOr<std::vector<SearchHit>> InMemoryGraph::Search(const SeedQuery& query, uint32_t k) {
  const absl::Span<const float> vector = query.vector;
  ++search_calls_;
  if (!search_error_.ok()) return search_error_;
  std::vector<SearchHit> hits;
  for (const auto& [id, node] : concepts_) {
    if (node.vector.size() != vector.size()) continue;
    double dot = 0, a = 0, b = 0;
    for (size_t i = 0; i < vector.size(); ++i) {
      dot += static_cast<double>(vector[i]) * node.vector[i];
      a += static_cast<double>(vector[i]) * vector[i];
      b += static_cast<double>(node.vector[i]) * node.vector[i];
    }
    const float score = (a > 0 && b > 0) ? static_cast<float>(dot / std::sqrt(a * b)) : 0.0f;
    hits.push_back({{id, node.content}, score, node.strength, node.name_strengths});
  }
  std::sort(hits.begin(), hits.end(), [](const SearchHit& x, const SearchHit& y) {
    return x.score != y.score ? x.score > y.score : x.node.id < y.node.id;
  });
  if (hits.size() > k) hits.resize(k);
  return hits;
}

absl::StatusOr<std::vector<Neighbor>> InMemoryGraph::Neighbors(
    std::string_view id, absl::Span<const AssociationType> types, uint32_t limit,
    EdgeDirection direction) {
  ++neighbors_calls_;
  if (!neighbors_error_.ok()) return neighbors_error_;
  if (!concepts_.contains(std::string(id))) {
    return absl::NotFoundError(absl::StrCat("concept ", std::string(id), " not found"));
  }
  std::vector<Neighbor> out;
  for (const Edge& e : edges_) {
    if (e.source != id && e.target != id) continue;
    if ((direction == EdgeDirection::kOut && e.source != id) ||
        (direction == EdgeDirection::kIn && e.target != id)) {
      continue;
    }
    if (!types.empty() && std::find(types.begin(), types.end(), e.type) == types.end()) continue;
    const std::string& other = e.source == id ? e.target : e.source;
    out.push_back(
        {{other, omit_neighbor_content_ ? std::string() : concepts_.at(other).content}, e});
  }
  std::sort(out.begin(), out.end(), [](const Neighbor& x, const Neighbor& y) {
    if (x.edge.confidence != y.edge.confidence) return x.edge.confidence > y.edge.confidence;
    if (x.node.id != y.node.id) return x.node.id < y.node.id;
    return x.edge.type < y.edge.type;
  });
  if (out.size() > limit) out.resize(limit);
  if (reverse_neighbor_order_) std::reverse(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::vector<std::vector<Neighbor>>> InMemoryGraph::NeighborsBatch(
    absl::Span<const std::string> ids, absl::Span<const AssociationType> types, uint32_t limit,
    EdgeDirection direction) {
  ++batch_calls_;
  return GraphSource::NeighborsBatch(ids, types, limit, direction);
}

absl::StatusOr<std::vector<std::optional<FoundPath>>> InMemoryGraph::PathsBetween(
    absl::Span<const PathEnds> pairs, absl::Span<const AssociationType> types, uint32_t max_depth,
    EdgeDirection direction) {
  std::vector<std::optional<FoundPath>> out;
  for (const PathEnds& ends : pairs) {
    ++path_pairs_;
    out.emplace_back();
    if (!concepts_.contains(ends.source) || !concepts_.contains(ends.target)) continue;
    // Level by level; a concept keeps the most confident way in at its first level (every
    // fewest-hops path reaches each of its concepts at that concept's first level).
    struct Label {
      uint32_t level;
      double confidence;
      std::string parent;
      const Edge* via;
    };
    std::map<std::string, Label> labels = {{ends.source, {0, 1.0, "", nullptr}}};
    std::vector<std::string> frontier = {ends.source};
    for (uint32_t level = 1;
         level <= max_depth && !frontier.empty() && !labels.contains(ends.target); ++level) {
      std::vector<std::string> next;
      for (const std::string& from : frontier) {
        const double base = labels.at(from).confidence;
        for (const Edge& e : edges_) {
          if (!types.empty() && std::find(types.begin(), types.end(), e.type) == types.end()) {
            continue;
          }
          const bool out_of = e.source == from && direction != EdgeDirection::kIn;
          const bool into = e.target == from && direction != EdgeDirection::kOut;
          if (!out_of && !into) continue;
          const std::string& to = out_of ? e.target : e.source;
          const double confidence = base * e.confidence;
          auto [it, inserted] = labels.try_emplace(to, Label{level, confidence, from, &e});
          if (inserted) {
            next.push_back(to);
          } else if (it->second.level == level && confidence > it->second.confidence) {
            it->second = Label{level, confidence, from, &e};
          }
        }
      }
      frontier = std::move(next);
    }
    if (!labels.contains(ends.target) || ends.source == ends.target) continue;
    FoundPath path;
    for (std::string at = ends.target; at != ends.source; at = labels.at(at).parent) {
      path.ids.push_back(at);
      path.hops.push_back(*labels.at(at).via);
    }
    path.ids.push_back(ends.source);
    std::reverse(path.ids.begin(), path.ids.end());
    std::reverse(path.hops.begin(), path.hops.end());
    out.back() = std::move(path);
  }
  return out;
}

absl::StatusOr<std::vector<ConceptLite>> InMemoryGraph::Get(absl::Span<const std::string> ids) {
  ++get_calls_;
  std::vector<ConceptLite> out;
  for (const std::string& id : ids) {
    auto it = concepts_.find(id);
    if (it != concepts_.end()) out.push_back({id, it->second.content});
  }
  return out;
}

}  // namespace engram::hybrid
