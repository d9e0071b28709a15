// The relation extractor's noun phrases: given one tokenized clause, finds where the subject
// before a trigger and the object after it begin and end, strips determiners and hedges, splits
// coordinations ("dogs, cats and horses") into members and rejects what is not a plausible
// concept (pronouns, bare participles, digits only, too many words).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "services/hybrid/extract/segmenter.h"

namespace engram::hybrid::extract {

// A token range [begin, end) of the clause.
struct Phrase {
  size_t begin;
  size_t end;
  bool coordinated = false;  // one member of a coordination
};

// Words (not commas) among tokens[begin, end).
size_t CountWords(const std::vector<Token>& tokens, size_t begin, size_t end);

// Phrase operations on one clause's tokens. Holds references: `text` and `tokens` must outlive it.
class PhraseScanner {
 public:
  PhraseScanner(std::string_view text, const std::vector<Token>& tokens, size_t max_phrase_words)
      : text_(text), tokens_(tokens), max_phrase_words_(max_phrase_words) {}

  // Drops leading determiners / discourse words and surrounding commas; nullopt if nothing useful
  // is left or the phrase is not a plausible concept.
  std::optional<Phrase> Clean(Phrase p) const;

  // Splits "dogs, cats and horses" into its members. "loyal and friendly animals" stays whole
  // (a single adjective-looking word before "and" is a modifier, not a member).
  std::vector<Phrase> SplitCoordination(Phrase p) const;

  // The object phrase starting at `begin` within [begin, limit): up to the first clause word,
  // preposition, auxiliary, negation or participle before a preposition ("created by"); commas
  // continue it only as a list ("A, B and C").
  Phrase ObjectRegion(size_t begin, size_t limit) const;

  // The subject phrase ending at `end` within [limit, end): after the last clause word, and after
  // the last comma unless the commas separate a list (`force_list`: they do).
  // With `clause`, auxiliaries do not end the subject: TEMPORAL relations link events, which
  // may be clauses ("the committee was formed").
  Phrase SubjectRegion(size_t limit, size_t end, bool force_list, bool clause) const;

  // Pops hedge words from the end of [begin, *end) (before a trigger), multiplying *factor by
  // theirs. Returns false if a negation was found.
  bool PopTrailingHedges(size_t begin, size_t* end, float* factor) const;

  // Pops hedge words from the start of [*begin, end) (after a trigger), except "in" ("in fact"
  // only before the trigger). False on negation.
  bool PopLeadingHedges(size_t* begin, size_t end, float* factor) const;

  // The phrase as written, words single-spaced ("Golden Retriever").
  std::string Surface(const Phrase& p) const;
  // Lowercase words, single-spaced, no commas ("golden retriever"): the concept's key.
  std::string Key(const Phrase& p) const;
  // The text from the first byte of token `begin_token` to the last of token `end_token - 1`.
  std::string_view Text(size_t begin_token, size_t end_token) const;

 private:
  std::string_view text_;
  const std::vector<Token>& tokens_;
  const size_t max_phrase_words_;
};

}  // namespace engram::hybrid::extract
