// UseLiteTokenizer: the SentencePiece-unigram tokenizer of Universal Sentence Encoder Lite, as its
// TensorFlow.js reference runs it (@energetic-ai/embeddings 0.2.0, from tfjs-models'
// universal-sentence-encoder), so that token ids — and so vectors — match the reference.
//
//   ASSIGN_OR_RETURN(UseLiteTokenizer t, UseLiteTokenizer::FromVocabularyJson(json, "vocab.json"));
//   std::vector<int> ids = t.Encode("A dog is a mammal.");   // {74, 959, 18, 11, 688, 945, 90, 6}
//
// Encode: bytes that are not well-formed UTF-8 become U+FFFD; the text is NFKC-normalised
// (utf8proc), prefixed with U+2581 and its spaces replaced by U+2581; then the best-scoring
// segmentation over the vocabulary's pieces is found (the reference's lattice walk, kept exactly,
// including its tie rule and its step back by a piece's UTF-16 length); a character in no piece
// is id 0, and consecutive unknowns are one. Empty text gives no ids.
//
// Thread-safety: immutable after construction; Encode is thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace engram::hybrid {

class UseLiteTokenizer {
 public:
  // `json` is vocab.json: an array of [piece, score] (score a number or null, read as 0). The
  // first kReservedPieces entries are control symbols, never produced by Encode. Errors name
  // `file_name` and the entry.
  static absl::StatusOr<UseLiteTokenizer> FromVocabularyJson(std::string_view json,
                                                             std::string_view file_name);

  std::vector<int> Encode(std::string_view text) const;

  size_t vocabulary_size() const { return scores_.size(); }

  static constexpr int kReservedPieces = 6;

 private:
  struct TrieNode {
    absl::flat_hash_map<char32_t, int> children;  // code point -> node index
    int piece = -1;                               // vocabulary index ending here, or -1
    int depth = 0;                                // code points from the root
  };

  UseLiteTokenizer() = default;
  void Insert(const std::u32string& piece, int index);

  std::vector<TrieNode> trie_;   // trie_[0] is the root
  std::vector<double> scores_;   // per vocabulary index
  std::vector<int> utf16_units_;  // per vocabulary index: the piece's length in UTF-16 units
};

// The text as the tokenizer sees it: well-formed UTF-8 (U+FFFD for bad bytes), NFKC, U+2581 for
// each space and in front. Empty for empty text. Exposed for tests.
std::u32string UseLitePreprocess(std::string_view text);

}  // namespace engram::hybrid
