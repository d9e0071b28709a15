// The relation extractor's segmenter: cuts text into sentences, a sentence into clauses and a
// clause into tokens (lowercase words and commas). Byte-based UTF-8 handling: ASCII letters and
// digits and every non-ASCII character outside U+00A0..U+00BF and general punctuation
// (U+2000..U+206F) count as word characters, so invalid bytes read as letters and never fail.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace engram::hybrid::extract {

// A byte span [begin, end) in the full text.
struct Span {
  size_t begin;
  size_t end;
};

struct Sentence {
  Span span;      // without surrounding whitespace, with its final punctuation
  bool question;  // it ended with '?'
};

// Sentences end at . ! ? followed by whitespace (or the end), except after abbreviations
// ("Dr."), single-letter initials ("U.S."), before a lowercase word ("e.g. dogs") or inside a
// word or number ("3.5", "node.js"); a bullet ('-', '*', U+2022) or blank line opening the next
// line also ends one. Whitespace-only sentences are skipped.
std::vector<Sentence> SplitSentences(std::string_view text);

// The clauses of `sentence` (a span of `text`): split at ';' and ':'. Always at least one.
std::vector<Span> SplitClauses(std::string_view text, Span sentence);

enum class TokenKind { kWord, kComma };

struct Token {
  std::string lower;  // the word lowercased (ASCII only); "," for a comma
  size_t begin;       // byte span in the full text
  size_t end;
  TokenKind kind;
};

// Tokens of text[span]: words (with inner apostrophes, hyphens and dots; a right single quote
// reads as ') and commas (dashes between words count as commas). Text in parentheses or brackets,
// quotes and other punctuation are dropped; '&' reads as "and".
std::vector<Token> Tokenize(std::string_view text, Span span);

}  // namespace engram::hybrid::extract
