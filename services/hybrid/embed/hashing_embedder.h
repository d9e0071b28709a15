// HashingEmbedder: the built-in "hashing" embedder. No model file, no training, no state.
//
// Algorithm (version 1, pinned; docs/hybrid.md has the full description):
//   1. Tokenise with TokenizeText(text, /*lowercase=*/true) (common/text/tokenizer.h).
//   2. Three feature groups:
//        words       "w:" + token; stop words (a small fixed English list) weigh 0.1, others 1
//        bigrams     "b:" + token_i + " " + token_i+1, unless both are stop words
//        char grams  "c:" + every 3-, 4- and 5-code-point substring of "<" + token + ">",
//                    for tokens that are not stop words
//   3. Each distinct feature f with term frequency tf adds  sign(f) * weight(f) * (1 + ln tf)
//      to bucket index(f) of its group's vector, in first-occurrence order, where
//        h        = XXH64(UTF-8 bytes of the feature key, seed kHashSeed)
//        index(f) = (h mod 2^32) mod dimension
//        sign(f)  = +1 if bit 63 of h is 0, else -1   (a bit that does not feed index)
//   4. Each group vector is L2-normalised, the groups are summed with weights
//      words 1.0, bigrams 0.5, char grams 0.7, and the sum is L2-normalised.
//
// How determinism is pinned (same text -> bit-identical vector on every process, machine and
// release): XXH64's output is fixed by its published specification (xxHash 0.8, the same value on
// every platform; it reads its input as little-endian 64-bit lanes whatever the host's byte
// order, and we only ever hash byte strings, never host integers); the seed is a constant; the
// tokenizer never consults the locale; features are accumulated in a fixed order in double
// precision with correctly-rounded IEEE operations only (ln comes from DeterministicLog, not
// libm; no FMA contraction), then rounded to float once. Golden values in
// hashing_embedder_test.cc fail if any of this changes; such a change needs a new embedder name.
//
// Thread-safe and immutable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "services/hybrid/embed/embedder.h"

namespace engram::hybrid {

class HashingEmbedder final : public Embedder {
 public:
  static constexpr int kDefaultDimension = 384;
  static constexpr int kMaxDimension = 4096;
  // "engram01" as a big-endian integer. Never change it: every stored vector depends on it.
  static constexpr uint64_t kHashSeed = 0x656e6772616d3031ULL;

  // dimension in 1..kMaxDimension, else INVALID_ARGUMENT.
  static absl::StatusOr<std::unique_ptr<HashingEmbedder>> Create(int dimension = kDefaultDimension);

  const std::string& name() const override { return name_; }
  int dimension() const override { return dimension_; }
  bool cheap() const override { return true; }
  absl::StatusOr<std::vector<float>> Embed(std::string_view text) const override;

  // XXH64 of `bytes` with kHashSeed. Exposed for tests and for other embedders' subword hashing.
  static uint64_t Hash(std::string_view bytes);

  // True for the stop words weighted down by this embedder ("the", "is", ...). Input lowercase.
  static bool IsStopWord(std::string_view token);

 private:
  explicit HashingEmbedder(int dimension) : dimension_(dimension) {}

  const std::string name_ = "hashing";
  const int dimension_;
};

}  // namespace engram::hybrid
