#include "services/hybrid/reason/graph_source.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "common/text/absl_view.h"
#include "common/text/names.h"

namespace engram::hybrid {

float SeedRelevance(std::optional<float> vector_score, std::optional<float> keyword_match) {
  const float v = std::clamp(vector_score.value_or(0.0f), 0.0f, 1.0f);
  const float w = std::clamp(keyword_match.value_or(0.0f), 0.0f, 1.0f);
  return std::max(v, w);
}

std::optional<float> SearchHit::StrengthOfName(std::string_view normalized_name) const {
  for (const auto& [name, s] : name_strengths) {
    if (name == normalized_name) return s;
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<SearchHit>> GraphSource::SearchNamed(const SeedQuery& query,
                                                                std::string_view name, uint32_t k) {
  absl::StatusOr<std::vector<SearchHit>> hits = Search(query, k);
  if (!hits.ok()) return hits;
  const std::string wanted = text::NormalizedName(AbslView(name));
  std::erase_if(
      *hits, [&](const SearchHit& h) { return !text::NamedByNormalized(h.node.content, wanted); });
  return hits;
}

absl::StatusOr<std::vector<std::vector<Neighbor>>> GraphSource::NeighborsBatch(
    absl::Span<const std::string> ids, absl::Span<const AssociationType> types, uint32_t limit,
    EdgeDirection direction) {
  std::vector<std::vector<Neighbor>> out;
  out.reserve(ids.size());
  for (const std::string& id : ids) {
    absl::StatusOr<std::vector<Neighbor>> neighbors = Neighbors(id, types, limit, direction);
    if (absl::IsNotFound(neighbors.status())) {
      out.emplace_back();
      continue;
    }
    if (!neighbors.ok()) return std::move(neighbors).status();
    out.push_back(*std::move(neighbors));
  }
  return out;
}

}  // namespace engram::hybrid
