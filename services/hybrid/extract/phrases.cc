// Noun-phrase boundaries and clean-up for the relation extractor (see phrases.h).
#include "services/hybrid/extract/phrases.h"

#include "services/hybrid/extract/lexicon.h"

namespace engram::hybrid::extract {
namespace {

// A participle followed by a preposition opens a modifier: "a language created by ...",
// "a city located in ...".
bool IsParticipleBeforePreposition(const std::vector<Token>& tokens, size_t i) {
  const std::string& w = tokens[i].lower;
  return i + 1 < tokens.size() && w.size() > 4 && w.substr(w.size() - 2) == "ed" &&
         tokens[i + 1].kind == TokenKind::kWord && IsPreposition(tokens[i + 1].lower);
}

}  // namespace

size_t CountWords(const std::vector<Token>& tokens, size_t begin, size_t end) {
  size_t n = 0;
  for (size_t i = begin; i < end; ++i) n += tokens[i].kind == TokenKind::kWord;
  return n;
}

std::optional<Phrase> PhraseScanner::Clean(Phrase p) const {
  while (p.begin < p.end && tokens_[p.begin].kind == TokenKind::kComma) ++p.begin;
  while (p.end > p.begin && tokens_[p.end - 1].kind == TokenKind::kComma) --p.end;
  while (p.begin + 1 < p.end &&
         (IsDeterminer(tokens_[p.begin].lower) || IsDiscourseWord(tokens_[p.begin].lower))) {
    ++p.begin;
    while (p.begin < p.end && tokens_[p.begin].kind == TokenKind::kComma) ++p.begin;
  }
  if (p.begin >= p.end) return std::nullopt;
  const std::string& first = tokens_[p.begin].lower;
  if (IsPronoun(first) || IsBadPhraseStart(first) || IsNegation(first) || IsDeterminer(first)) {
    return std::nullopt;
  }
  const size_t words = CountWords(tokens_, p.begin, p.end);
  if (words == 0 || words > max_phrase_words_) return std::nullopt;
  // A bare participle ("formed") is the rest of a predicate, not a concept.
  if (words == 1 && first.size() > 4 && first.substr(first.size() - 2) == "ed") {
    return std::nullopt;
  }
  bool has_letter = false;
  for (size_t i = p.begin; i < p.end && !has_letter; ++i) {
    for (char c : tokens_[i].lower) {
      if (!(c >= '0' && c <= '9') && c != '.' && c != '-' && c != '\'' && c != ',') {
        has_letter = true;
        break;
      }
    }
  }
  if (!has_letter) return std::nullopt;
  return p;
}

std::vector<Phrase> PhraseScanner::SplitCoordination(Phrase p) const {
  std::vector<Phrase> parts;
  size_t start = p.begin;
  for (size_t i = p.begin; i < p.end; ++i) {
    const std::string& w = tokens_[i].lower;
    if (tokens_[i].kind == TokenKind::kComma || w == "and" || w == "or") {
      if (i > start) parts.push_back({start, i});
      start = i + 1;
    }
  }
  if (p.end > start) parts.push_back({start, p.end});
  if (parts.size() <= 1) return {p};
  const Phrase& last = parts.back();
  for (size_t k = 0; k + 1 < parts.size(); ++k) {
    if (parts[k].end - parts[k].begin == 1 && LooksAdjectival(tokens_[parts[k].begin].lower) &&
        last.end - last.begin >= 2) {
      return {p};
    }
  }
  for (Phrase& part : parts) part.coordinated = true;
  return parts;
}

Phrase PhraseScanner::ObjectRegion(size_t begin, size_t limit) const {
  size_t end = begin;
  while (end < limit) {
    const Token& t = tokens_[end];
    if (t.kind == TokenKind::kWord &&
        (IsClauseWord(t.lower) || IsPreposition(t.lower) || IsAuxiliary(t.lower) ||
         IsNegation(t.lower) || IsParticipleBeforePreposition(tokens_, end))) {
      break;
    }
    if (t.kind == TokenKind::kComma) {
      // Continue through a list: the rest up to the next stop must contain "and"/"or" with
      // short items in between.
      size_t j = end + 1;
      bool list = false;
      size_t item_words = 0;
      bool short_items = true;
      while (j < limit) {
        const Token& u = tokens_[j];
        if (u.kind == TokenKind::kWord &&
            (IsClauseWord(u.lower) || IsPreposition(u.lower) || IsAuxiliary(u.lower))) {
          break;
        }
        if (u.kind == TokenKind::kComma) {
          if (item_words > 3) short_items = false;
          item_words = 0;
        } else if (u.lower == "and" || u.lower == "or") {
          list = true;
        } else {
          ++item_words;
        }
        ++j;
      }
      if (!(list && short_items && item_words <= 3)) break;
    }
    ++end;
  }
  return {begin, end};
}

Phrase PhraseScanner::SubjectRegion(size_t limit, size_t end, bool force_list, bool clause) const {
  size_t begin = end;
  while (begin > limit) {
    const Token& t = tokens_[begin - 1];
    if (t.kind == TokenKind::kWord &&
        (IsClauseWord(t.lower) || (!clause && IsAuxiliary(t.lower)))) {
      break;
    }
    if (t.kind == TokenKind::kComma) {
      bool list = force_list;
      for (size_t i = begin; i < end && !list; ++i) {
        list = tokens_[i].lower == "and" || tokens_[i].lower == "or";
      }
      const size_t item_end = begin - 1;
      size_t item_begin = item_end;
      while (item_begin > limit && tokens_[item_begin - 1].kind == TokenKind::kWord &&
             !IsClauseWord(tokens_[item_begin - 1].lower)) {
        --item_begin;
      }
      const bool short_item = item_end - item_begin <= 3 && item_end > item_begin &&
                              !IsDiscourseWord(tokens_[item_begin].lower) &&
                              !IsPreposition(tokens_[item_begin].lower);
      if (!(list && short_item)) break;
    }
    --begin;
  }
  return {begin, end};
}

bool PhraseScanner::PopTrailingHedges(size_t begin, size_t* end, float* factor) const {
  while (*end > begin) {
    const std::string& w = tokens_[*end - 1].lower;
    if (IsNegation(w)) return false;
    const std::optional<float> hedge = HedgeFactor(w);
    if (!hedge.has_value()) break;
    *factor *= *hedge;
    --*end;
  }
  return true;
}

bool PhraseScanner::PopLeadingHedges(size_t* begin, size_t end, float* factor) const {
  while (*begin < end) {
    const std::string& w = tokens_[*begin].lower;
    if (IsNegation(w)) return false;
    const std::optional<float> hedge = HedgeFactor(w);
    // "in" and "fact" only as "in fact"; "only"/"even"/"just" fine.
    if (!hedge.has_value() || w == "in") break;
    *factor *= *hedge;
    ++*begin;
  }
  return true;
}

std::string PhraseScanner::Surface(const Phrase& p) const {
  std::string out;
  for (size_t i = p.begin; i < p.end; ++i) {
    if (tokens_[i].kind == TokenKind::kComma) {
      out += ",";
      continue;
    }
    if (!out.empty()) out += " ";
    out.append(text_.substr(tokens_[i].begin, tokens_[i].end - tokens_[i].begin));
  }
  return out;
}

std::string PhraseScanner::Key(const Phrase& p) const {
  std::string out;
  for (size_t i = p.begin; i < p.end; ++i) {
    if (tokens_[i].kind == TokenKind::kComma) continue;
    if (!out.empty()) out += " ";
    out += tokens_[i].lower;
  }
  return out;
}

std::string_view PhraseScanner::Text(size_t begin_token, size_t end_token) const {
  return text_.substr(tokens_[begin_token].begin,
                      tokens_[end_token - 1].end - tokens_[begin_token].begin);
}

}  // namespace engram::hybrid::extract
