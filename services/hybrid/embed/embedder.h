// Embedder: turns text into a fixed-dimension vector.
//
// Implementations:
//   HashingEmbedder       built in, no model: signed feature hashing (hashing_embedder.h)
//   WordVectorsEmbedder   pretrained word vectors from a local model directory
//                         (word_vectors_embedder.h)
// A transformer model can implement the same interface later; EmbedBatch is virtual so that such
// an implementation can run a whole batch through the model at once.
//
// Usage:
//   std::shared_ptr<const Embedder> embedder = ...;  // e.g. from EmbedderRegistry
//   ASSIGN_OR_RETURN(std::vector<float> v, embedder->Embed("A dog is a mammal"));
//   // v.size() == embedder->dimension()
//
// Contract for every implementation:
//   - Thread-safe: Embed and EmbedBatch are const and may be called concurrently.
//   - Deterministic: the same text gives a bit-identical vector in every process, on every
//     machine and in every release that keeps name() unchanged.
//   - Returned vectors have exactly dimension() finite values and are L2-normalised, except
//     the zero vector for text without features (e.g. empty or only punctuation).
//   - Errors are returned as absl::Status, never thrown.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace engram::hybrid {

class Embedder {
 public:
  virtual ~Embedder() = default;

  // The registry name this embedder answers to, e.g. "hashing" or "word-vectors/glove-50".
  virtual const std::string& name() const = 0;

  // Length of every returned vector (> 0).
  virtual int dimension() const = 0;

  // Embeds one text (UTF-8; invalid bytes are treated as separators, never an error).
  virtual absl::StatusOr<std::vector<float>> Embed(std::string_view text) const = 0;

  // Embeds every text; result[i] belongs to texts[i]. Fails as a whole if any text fails.
  // The default implementation calls Embed for each text.
  virtual absl::StatusOr<std::vector<std::vector<float>>> EmbedBatch(
      absl::Span<const std::string_view> texts) const;

  // Whether embedding one short text (a search query) costs microseconds — hashing, a table
  // lookup — so a caller may run it on the thread serving the request instead of handing it to
  // the compute pool (HybridCore::SearchAsync). False for models (use-lite), whose cost the
  // pool's admission control exists for.
  virtual bool cheap() const { return false; }
};

// The "none" embedder of namespaces whose clients send their own vectors: every Embed fails with
// FAILED_PRECONDITION. dimension() is the namespace dimension it was created for.
class NoneEmbedder final : public Embedder {
 public:
  explicit NoneEmbedder(int dimension);
  const std::string& name() const override { return name_; }
  int dimension() const override { return dimension_; }
  bool cheap() const override { return true; }
  absl::StatusOr<std::vector<float>> Embed(std::string_view text) const override;

 private:
  const std::string name_ = "none";
  const int dimension_;
};

}  // namespace engram::hybrid
