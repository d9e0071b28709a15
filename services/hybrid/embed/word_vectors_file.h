// Readers for pretrained word-vector files.
//
// Formats:
//   Text (GloVe, word2vec text, fastText .vec): one word per line, "word v1 v2 ... vD", values
//     separated by spaces or tabs. An optional first line "count dim" (two integers) is a header;
//     when present the file must hold exactly `count` vectors of `dim` values (a shorter file is
//     a truncated download). Without a header, D is the value count of the first line. A word may
//     contain spaces (GloVe 840B has a few): the last D fields are the values. Blank lines are
//     skipped; "\r\n" line ends are accepted.
//   Binary (word2vec .bin): a text header line "count dim", then `count` entries, each a word
//     (bytes up to a space; leading newlines skipped) followed by dim little-endian IEEE-754
//     float32 values.
// Values must be finite. Every malformed input is an INVALID_ARGUMENT naming the file and the
// line (text) or entry and byte offset (binary); a missing file is NOT_FOUND. No input crashes.
// Words keep the file's order (frequency order for the common models; SIF relies on it). A word
// that appears twice keeps its first vector; duplicates are counted.
//
// Thread-compatible value types; the readers are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace engram::hybrid {

// A vocabulary with one vector per word. Move-only: the index points into the word arena.
class WordVectorTable {
 public:
  WordVectorTable() = default;
  WordVectorTable(WordVectorTable&&) = default;
  WordVectorTable& operator=(WordVectorTable&&) = default;
  WordVectorTable(const WordVectorTable&) = delete;
  WordVectorTable& operator=(const WordVectorTable&) = delete;

  int dimension() const { return dimension_; }
  size_t size() const { return offsets_.size(); }
  size_t duplicate_words() const { return duplicate_words_; }

  // Row of `word`, or -1.
  int64_t Find(std::string_view word) const;
  std::string_view word(size_t row) const;
  absl::Span<const float> vector(size_t row) const {
    return absl::MakeConstSpan(values_.data() + row * dimension_, dimension_);
  }

  // Approximate heap bytes held (vectors, words, index).
  size_t MemoryBytes() const;

 private:
  friend class WordVectorTableBuilder;

  int dimension_ = 0;
  // All words, concatenated. A vector, not a std::string: index_ holds views into it, and moving a
  // vector keeps its buffer, whereas a short string lives inside the object and moves with it
  // (word_vectors_fuzz found the views dangling after a small table was returned by value).
  std::vector<char> arena_;
  std::vector<uint32_t> offsets_;  // start of word i in arena_; its end is the next
  std::vector<uint32_t> ends_;     // end of word i in arena_
  std::vector<float> values_;      // size() * dimension_, row-major
  absl::flat_hash_map<std::string_view, uint32_t> index_;  // views into arena_
  size_t duplicate_words_ = 0;
};

// Reads a text-format file (GloVe / word2vec text / fastText .vec). max_words > 0 keeps only the
// first max_words vectors (the header count is then not checked).
absl::StatusOr<WordVectorTable> ReadTextWordVectors(const std::string& path, size_t max_words = 0);

// Reads a word2vec binary file.
absl::StatusOr<WordVectorTable> ReadBinaryWordVectors(const std::string& path,
                                                      size_t max_words = 0);

// Reads a frequency file: "word count" per line (count a positive integer), blank lines and lines
// starting with '#' skipped. Returns word -> count; a repeated word is an error.
absl::StatusOr<absl::flat_hash_map<std::string, uint64_t>> ReadWordFrequencies(
    const std::string& path);

// Reads exactly `dimension` finite floats separated by whitespace (a stored common component).
absl::StatusOr<std::vector<float>> ReadFloatVector(const std::string& path, int dimension);

}  // namespace engram::hybrid
