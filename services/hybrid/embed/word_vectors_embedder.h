// WordVectorsEmbedder: the "word-vectors/<model>" embedder, built from pretrained word vectors in a
// local model directory (never downloaded).
//
// Model directory layout (<model_dir>/<model>/, e.g. /models/glove-6b-300/):
//   vectors.txt | vectors.vec | vectors.bin   exactly one of them (required):
//                     .txt  GloVe or word2vec text, with or without the "count dim" header
//                     .vec  fastText text vectors (same reader as .txt)
//                     .bin  word2vec binary
//                   (symlink a downloaded file to this name; word_vectors_file.h has the formats)
//   frequencies.txt   optional, "word count" per line: word probabilities for SIF weights.
//                     Without it, p(word) follows Zipf's law from the word's rank in the vectors
//                     file (all the common models list words most frequent first).
//   common_component.txt   optional, D floats: the common component to remove. Without it, it is
//                     computed at load (see below). Ship one to pin it for a model.
//
// Sentence vector (Arora, Liang and Ma 2017, "A simple but tough-to-beat baseline for sentence
// embeddings"), for the tokens t of TokenizeText(text, /*lowercase=*/false):
//   v = (1/n) sum_t  a / (a + p(t)) * vec(t)       a = options.sif_a (1e-3)
//   vec(t): the word's vector (exact spelling first, then lowercased); an out-of-vocabulary token
//     uses its subword vector (below), weighted like the rarest known word; a token with neither
//     is skipped and n counts only tokens that contributed.
//   v <- v - (u . v) u   when options.remove_common_component, u = the first principal component
//     (unit, uncentered, i.e. the top right singular vector) of the first
//     options.common_component_sample vectors of the file, computed with Eigen at load.
//   v <- v / |v|
// Subword vectors for out-of-vocabulary tokens: at load, every character 3..5-gram g of
// "<word>" of the first options.oov_sample_words words adds the word's unit vector to bucket
//   XXH64("o:" + g, HashingEmbedder::kHashSeed) mod options.oov_buckets;
// bucket vectors are the means. An OOV token's vector is the mean of its n-grams' non-empty
// buckets, scaled to the mean norm of the vocabulary vectors. Deterministic; 0 buckets disables.
//
// Load time and memory are logged (spdlog) and kept in load_stats() for metrics.
// Immutable after Load; Embed is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "services/hybrid/embed/embedder.h"
#include "services/hybrid/embed/word_vectors_file.h"

namespace engram::hybrid {

struct WordVectorsOptions {
  double sif_a = 1e-3;  // SIF smoothing a, > 0
  bool remove_common_component = true;
  size_t common_component_sample = 10000;  // words (file order) the component is computed from
  uint32_t oov_buckets = 1u << 15;         // subword buckets; memory = buckets * D * 4 bytes
  size_t oov_sample_words = 50000;         // words (file order) that fill the subword buckets
  size_t max_words = 0;                    // > 0: load only the first max_words vectors
};

class WordVectorsEmbedder final : public Embedder {
 public:
  struct LoadStats {
    std::string vectors_file;  // path of the vectors file read
    std::string format;        // "text" or "binary"
    size_t words = 0;
    size_t duplicate_words = 0;  // repeated words ignored (first vector kept)
    int dimension = 0;
    bool frequencies_from_file = false;
    bool common_component_from_file = false;
    double load_seconds = 0;
    size_t memory_bytes = 0;  // approximate heap bytes held by the embedder
  };

  // Loads the model in `directory` (layout above) under `name` (e.g. "word-vectors/glove").
  // Errors: NOT_FOUND if the directory or its vectors file is missing; INVALID_ARGUMENT for
  // malformed files (naming file and line), several vectors files, or bad options.
  static absl::StatusOr<std::unique_ptr<WordVectorsEmbedder>> Load(
      std::string name, const std::string& directory, const WordVectorsOptions& options = {});

  const std::string& name() const override { return name_; }
  int dimension() const override { return table_.dimension(); }
  bool cheap() const override { return true; }
  absl::StatusOr<std::vector<float>> Embed(std::string_view text) const override;

  const LoadStats& load_stats() const { return stats_; }
  // The removed common component (unit length), or empty when removal is off.
  absl::Span<const float> common_component() const { return common_component_; }
  // SIF weight a / (a + p(word)) of an in-vocabulary word (exact spelling), or nullopt.
  std::optional<float> SifWeight(std::string_view word) const;

 private:
  WordVectorsEmbedder(std::string name, WordVectorTable table, const WordVectorsOptions& options);

  // Row of a token (exact, then lowercased) or -1.
  int64_t FindToken(std::string_view token) const;
  // Adds the subword vector of an OOV token to `sum` scaled by `weight`; false if none.
  bool AddSubwordVector(std::string_view token, double weight, std::vector<double>* sum) const;

  void ComputeSifWeights(const absl::flat_hash_map<std::string, uint64_t>* frequencies);
  void ComputeCommonComponent();
  void BuildSubwordBuckets();

  const std::string name_;
  const WordVectorsOptions options_;
  WordVectorTable table_;
  std::vector<float> sif_weights_;       // per row
  float oov_weight_ = 1.0f;              // weight of a subword-vector token
  std::vector<float> common_component_;  // empty or unit length
  std::vector<float> buckets_;           // oov_buckets * D, mean unit vectors
  std::vector<uint8_t> bucket_filled_;   // per bucket
  double mean_norm_ = 1.0;               // mean L2 norm of the vocabulary vectors
  LoadStats stats_;
};

}  // namespace engram::hybrid
