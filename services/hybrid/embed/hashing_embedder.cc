#include "services/hybrid/embed/hashing_embedder.h"

#include <cmath>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "services/hybrid/embed/deterministic_math.h"
#include "common/text/tokenizer.h"
#include "xxhash.h"

namespace engram::hybrid {
namespace {

constexpr double kStopWordWeight = 0.1;
constexpr double kWordGroupWeight = 1.0;
constexpr double kBigramGroupWeight = 0.5;
constexpr double kCharGramGroupWeight = 0.7;
constexpr int kMinCharGram = 3;
constexpr int kMaxCharGram = 5;

// Part of the pinned algorithm: editing this list changes vectors.
const absl::flat_hash_set<std::string_view>& StopWords() {
  static const auto* const kWords = new absl::flat_hash_set<std::string_view>{
      "a",    "an",   "the",  "is",   "are",   "was",   "were",  "be",    "been", "being", "am",
      "of",   "to",   "in",   "on",   "at",    "by",    "for",   "with",  "from", "and",   "or",
      "but",  "it",   "its",  "this", "that",  "these", "those", "as",    "do",   "does",  "did",
      "has",  "have", "had",  "i",    "you",   "he",    "she",   "we",    "they", "me",    "him",
      "her",  "us",   "them", "my",   "your",  "his",   "our",   "their", "what", "which", "who",
      "whom", "how",  "why",  "when", "where", "there", "here",  "so",    "than", "too",   "very",
      "can",  "will", "just", "into", "about", "over",  "also",  "if",    "then"};
  return *kWords;
}

// The features of one group: distinct hashes with weight and term frequency, in first-occurrence
// order (the accumulation order is part of the pinned algorithm).
class FeatureGroup {
 public:
  void Add(std::string_view key, double weight) {
    const uint64_t hash = HashingEmbedder::Hash(key);
    auto [it, inserted] = index_.try_emplace(hash, features_.size());
    if (inserted) {
      features_.push_back({hash, weight, 1});
    } else {
      ++features_[it->second].count;
    }
  }

  // Adds the group, L2-normalised and scaled by group_weight, into *out.
  void AccumulateInto(double group_weight, std::vector<double>* out) const {
    const size_t dimension = out->size();
    std::vector<double> group(dimension, 0.0);
    for (const Feature& f : features_) {
      const size_t index = static_cast<uint32_t>(f.hash) % dimension;
      const double sign = (f.hash >> 63) ? -1.0 : 1.0;
      group[index] += sign * (f.weight * (1.0 + DeterministicLog(f.count)));
    }
    double norm2 = 0;
    for (double x : group) norm2 += x * x;
    if (norm2 <= 0) return;
    const double scale = group_weight / std::sqrt(norm2);
    for (size_t i = 0; i < dimension; ++i) (*out)[i] += group[i] * scale;
  }

 private:
  struct Feature {
    uint64_t hash;
    double weight;
    uint32_t count;
  };
  std::vector<Feature> features_;
  absl::flat_hash_map<uint64_t, size_t> index_;  // hash -> position in features_
};

}  // namespace

absl::StatusOr<std::unique_ptr<HashingEmbedder>> HashingEmbedder::Create(int dimension) {
  if (dimension < 1 || dimension > kMaxDimension) {
    return absl::InvalidArgumentError(absl::StrCat("hashing embedder: dimension ", dimension,
                                                   " out of range 1..", kMaxDimension));
  }
  return std::unique_ptr<HashingEmbedder>(new HashingEmbedder(dimension));
}

uint64_t HashingEmbedder::Hash(std::string_view bytes) {
  return XXH64(bytes.data(), bytes.size(), kHashSeed);
}

bool HashingEmbedder::IsStopWord(std::string_view token) { return StopWords().contains(token); }

absl::StatusOr<std::vector<float>> HashingEmbedder::Embed(std::string_view text) const {
  const std::vector<std::string> tokens = text::TokenizeText(text, /*lowercase=*/true);
  FeatureGroup words, bigrams, char_grams;
  std::string key;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& token = tokens[i];
    const bool stop = IsStopWord(token);
    key.assign("w:").append(token);
    words.Add(key, stop ? kStopWordWeight : 1.0);
    if (i + 1 < tokens.size() && !(stop && IsStopWord(tokens[i + 1]))) {
      key.assign("b:").append(token).append(" ").append(tokens[i + 1]);
      bigrams.Add(key, 1.0);
    }
    if (stop) continue;
    const std::string padded = "<" + token + ">";
    const std::vector<std::string_view> cps = text::SplitCodePoints(padded);
    for (int n = kMinCharGram; n <= kMaxCharGram; ++n) {
      for (size_t start = 0; start + n <= cps.size(); ++start) {
        const char* begin = cps[start].data();
        const char* end = cps[start + n - 1].data() + cps[start + n - 1].size();
        key.assign("c:").append(begin, end - begin);
        char_grams.Add(key, 1.0);
      }
    }
  }

  std::vector<double> sum(dimension_, 0.0);
  words.AccumulateInto(kWordGroupWeight, &sum);
  bigrams.AccumulateInto(kBigramGroupWeight, &sum);
  char_grams.AccumulateInto(kCharGramGroupWeight, &sum);
  double norm2 = 0;
  for (double x : sum) norm2 += x * x;
  std::vector<float> out(dimension_, 0.0f);
  if (norm2 > 0) {
    const double inv = 1.0 / std::sqrt(norm2);
    for (int i = 0; i < dimension_; ++i) out[i] = static_cast<float>(sum[i] * inv);
  }
  return out;
}

}  // namespace engram::hybrid
