#include "services/hybrid/embed/embedder.h"

#include <utility>

#include "absl/status/status.h"

namespace engram::hybrid {

absl::StatusOr<std::vector<std::vector<float>>> Embedder::EmbedBatch(
    absl::Span<const std::string_view> texts) const {
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  for (std::string_view text : texts) {
    absl::StatusOr<std::vector<float>> vector = Embed(text);
    if (!vector.ok()) return std::move(vector).status();
    out.push_back(*std::move(vector));
  }
  return out;
}

NoneEmbedder::NoneEmbedder(int dimension) : dimension_(dimension) {}

absl::StatusOr<std::vector<float>> NoneEmbedder::Embed(std::string_view) const {
  return absl::FailedPreconditionError(
      "embedder is \"none\": this namespace cannot embed text; send vectors with the request");
}

}  // namespace engram::hybrid
