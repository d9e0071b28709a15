// Sentence, clause and token boundaries for the relation extractor (see segmenter.h).
#include "services/hybrid/extract/segmenter.h"

#include <cctype>
#include <utility>

#include "services/hybrid/extract/lexicon.h"

namespace engram::hybrid::extract {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// General punctuation U+2000..U+206F is E2 80 80 .. E2 81 AF.
bool IsUnicodePunctuationAt(std::string_view text, size_t i, size_t* length) {
  if (i + 2 < text.size() && static_cast<unsigned char>(text[i]) == 0xE2 &&
      (static_cast<unsigned char>(text[i + 1]) == 0x80 ||
       static_cast<unsigned char>(text[i + 1]) == 0x81)) {
    *length = 3;
    return true;
  }
  if (i + 1 < text.size() && static_cast<unsigned char>(text[i]) == 0xC2 &&
      static_cast<unsigned char>(text[i + 1]) >= 0xA0 &&
      static_cast<unsigned char>(text[i + 1]) <= 0xBF) {  // nbsp, «, », ¿, ...
    *length = 2;
    return true;
  }
  return false;
}

bool IsRightSingleQuoteAt(std::string_view text, size_t i) {
  return i + 2 < text.size() && static_cast<unsigned char>(text[i]) == 0xE2 &&
         static_cast<unsigned char>(text[i + 1]) == 0x80 &&
         static_cast<unsigned char>(text[i + 2]) == 0x99;
}

bool IsWordByte(std::string_view text, size_t i) {
  const unsigned char c = static_cast<unsigned char>(text[i]);
  if (c < 0x80) return IsAsciiAlnum(static_cast<char>(c));
  size_t len;
  return !IsUnicodePunctuationAt(text, i, &len);
}

// The lowercase word that ends right before text[end] (letters only), for abbreviation checks.
std::string WordBefore(std::string_view text, size_t end) {
  size_t start = end;
  while (start > 0 && IsAsciiAlnum(text[start - 1])) --start;
  std::string word;
  for (size_t i = start; i < end; ++i) word.push_back(ToLower(text[i]));
  return word;
}

bool LineStartsWithBullet(std::string_view text, size_t i) {
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  if (i >= text.size()) return false;
  if (text[i] == '-' || text[i] == '*' || text[i] == '\n') return true;
  return i + 2 < text.size() && static_cast<unsigned char>(text[i]) == 0xE2 &&
         static_cast<unsigned char>(text[i + 1]) == 0x80 &&
         static_cast<unsigned char>(text[i + 2]) == 0xA2;  // U+2022 bullet
}

}  // namespace

std::vector<Sentence> SplitSentences(std::string_view text) {
  std::vector<Sentence> out;
  size_t start = 0;
  const auto emit = [&](size_t end, bool question) {
    size_t b = start;
    size_t e = end;
    while (b < e && IsSpace(text[b])) ++b;
    while (e > b && IsSpace(text[e - 1])) --e;
    if (e > b) out.push_back({{b, e}, question});
    start = end;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.' || c == '!' || c == '?') {
      size_t j = i + 1;
      bool question = c == '?';
      while (j < text.size() && (text[j] == '.' || text[j] == '!' || text[j] == '?' ||
                                 text[j] == '"' || text[j] == '\'' || text[j] == ')')) {
        question |= text[j] == '?';
        ++j;
      }
      if (j < text.size() && !IsSpace(text[j])) continue;  // "3.5", "node.js", "U.S"
      if (c == '.') {
        const std::string word = WordBefore(text, i);
        if (word.size() == 1 && std::isalpha(static_cast<unsigned char>(word[0]))) continue;
        if (IsAbbreviation(word)) continue;
        size_t k = j;
        while (k < text.size() && IsSpace(text[k])) ++k;
        if (k < text.size() && IsLower(text[k])) continue;  // "e.g. dogs", "approx. five"
      }
      emit(j, question);
      i = j - 1;
    } else if (c == '\n' && LineStartsWithBullet(text, i + 1)) {
      emit(i, false);
    }
  }
  emit(text.size(), false);
  return out;
}

std::vector<Span> SplitClauses(std::string_view text, Span sentence) {
  std::vector<Span> out;
  size_t start = sentence.begin;
  for (size_t i = sentence.begin; i < sentence.end; ++i) {
    if (text[i] == ';' || text[i] == ':') {
      out.push_back({start, i});
      start = i + 1;
    }
  }
  out.push_back({start, sentence.end});
  return out;
}

std::vector<Token> Tokenize(std::string_view text, Span span) {
  std::vector<Token> tokens;
  int depth = 0;
  size_t i = span.begin;
  while (i < span.end) {
    const char c = text[i];
    if (c == '(' || c == '[') {
      ++depth;
      ++i;
      continue;
    }
    if ((c == ')' || c == ']') && depth > 0) {
      --depth;
      ++i;
      continue;
    }
    if (depth > 0) {
      ++i;
      continue;
    }
    if (IsWordByte(text, i)) {
      const size_t begin = i;
      std::string lower;
      while (i < span.end) {
        if (IsWordByte(text, i)) {
          lower.push_back(ToLower(text[i]));
          ++i;
          continue;
        }
        // Joiners between word characters: ' - . and the right single quote.
        size_t joiner = 0;
        char as = 0;
        if (text[i] == '\'' || text[i] == '-' || text[i] == '.') {
          joiner = 1;
          as = text[i];
        } else if (IsRightSingleQuoteAt(text, i)) {
          joiner = 3;
          as = '\'';
        }
        if (joiner > 0 && i + joiner < span.end && IsWordByte(text, i + joiner)) {
          lower.push_back(as);
          i += joiner;
          continue;
        }
        break;
      }
      tokens.push_back({std::move(lower), begin, i, TokenKind::kWord});
      continue;
    }
    // Dashes between words separate like commas ("a restaurant -- a small one").
    const bool dash = c == '-' || (i + 2 < span.end && static_cast<unsigned char>(c) == 0xE2 &&
                                   static_cast<unsigned char>(text[i + 1]) == 0x80 &&
                                   (static_cast<unsigned char>(text[i + 2]) == 0x93 ||
                                    static_cast<unsigned char>(text[i + 2]) == 0x94));
    if (c == ',' || dash) {
      tokens.push_back({",", i, i + 1, TokenKind::kComma});
    } else if (c == '&') {
      tokens.push_back({"and", i, i + 1, TokenKind::kWord});
    }
    size_t len = 1;
    if (static_cast<unsigned char>(c) >= 0x80) IsUnicodePunctuationAt(text, i, &len);
    i += len;
  }
  return tokens;
}

}  // namespace engram::hybrid::extract
