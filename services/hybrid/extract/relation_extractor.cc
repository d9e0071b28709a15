#include "services/hybrid/extract/relation_extractor.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"

namespace engram::hybrid {
namespace {

// ---------------------------------------------------------------------------------------------
// Word lists
// ---------------------------------------------------------------------------------------------

using WordSet = absl::flat_hash_set<std::string>;

const WordSet& Set(std::initializer_list<const char*> words) {
  // Called once per list from function-local statics below.
  auto* set = new WordSet();
  for (const char* w : words) set->insert(w);
  return *set;
}

// Stripped from the start of a phrase.
const WordSet& Determiners() {
  static const WordSet& s =
      Set({"a",       "an",      "the",   "some",    "many", "most", "all",  "every", "each",
           "any",     "several", "few",   "certain", "such", "this", "that", "these", "those",
           "its",     "their",   "his",   "her",     "our",  "my",   "your", "both",  "either",
           "neither", "another", "other", "much",    "more", "less"});
  return s;
}

// A phrase that is, or starts with, one of these is not a concept.
const WordSet& Pronouns() {
  static const WordSet& s =
      Set({"i",         "you",        "he",         "she",       "it",       "we",       "they",
           "me",        "him",        "her",        "us",        "them",     "this",     "that",
           "these",     "those",      "there",      "here",      "what",     "which",    "who",
           "whom",      "whose",      "something",  "someone",   "somebody", "anything", "anyone",
           "anybody",   "everything", "everyone",   "everybody", "nothing",  "nobody",   "one",
           "ones",      "itself",     "themselves", "myself",    "yourself", "himself",  "herself",
           "ourselves", "each",       "both",       "all",       "none",     "others",   "whatever",
           "whoever"});
  return s;
}

// A phrase may not start with one of these.
const WordSet& BadPhraseStarts() {
  static const WordSet& s =
      Set({"of",   "in",   "on",      "at",   "by",    "for",   "with",   "from",   "to",
           "into", "and",  "or",      "but",  "not",   "no",    "never",  "than",   "as",
           "if",   "when", "because", "so",   "then",  "is",    "are",    "was",    "were",
           "be",   "been", "being",   "has",  "have",  "had",   "do",     "does",   "did",
           "onto", "upon", "about",   "over", "under", "after", "before", "during", "while"});
  return s;
}

// Sentence-initial connectives dropped from a subject ("However, ...", "First, ...").
const WordSet& DiscourseWords() {
  static const WordSet& s =
      Set({"however",   "moreover",     "furthermore",  "also",      "thus",      "therefore",
           "hence",     "first",        "firstly",      "second",    "secondly",  "finally",
           "then",      "next",         "so",           "and",       "but",       "or",
           "indeed",    "consequently", "additionally", "similarly", "likewise",  "meanwhile",
           "generally", "typically",    "usually",      "often",     "basically", "essentially",
           "clearly",   "obviously",    "well",         "yes",       "now",       "today",
           "later"});
  return s;
}

// A phrase ends before one of these (the object side) / starts after one (the subject side).
const WordSet& ClauseWords() {
  static const WordSet& s = Set(
      {"that",    "which", "who",       "whom",   "whose",   "where", "when", "while", "whereas",
       "because", "since", "although",  "though", "unless",  "if",    "but",  "so",    "than",
       "as",      "thus",  "therefore", "hence",  "whether", "until", "once"});
  return s;
}

// Prepositions that end an object ("cancer in humans" -> "cancer"); "of" is kept.
const WordSet& Prepositions() {
  static const WordSet& s = Set(
      {"in",      "on",      "at",        "with",    "by",         "for",     "from",      "during",
       "within",  "without", "into",      "through", "throughout", "under",   "over",      "near",
       "via",     "among",   "between",   "across",  "to",         "toward",  "towards",   "around",
       "about",   "against", "like",      "unlike",  "despite",    "per",     "after",     "before",
       "beyond",  "behind",  "inside",    "outside", "onto",       "upon",    "along",     "beside",
       "besides", "except",  "including", "above",   "below",      "beneath", "throughout"});
  return s;
}

// Auxiliaries and copulas start a predicate: a noun phrase never runs through them.
const WordSet& Auxiliaries() {
  static const WordSet& s =
      Set({"is",  "are",   "was",  "were",  "be",    "been",   "being", "am",
           "has", "have",  "had",  "do",    "does",  "did",    "can",   "could",
           "may", "might", "will", "would", "shall", "should", "must"});
  return s;
}

// "X believes that <relation>": reported, so weakened; "X denies that <relation>": dropped.
const WordSet& ReportingVerbs() {
  static const WordSet& s =
      Set({"believe",   "believes",   "believed",    "think",        "thinks",  "thought",
           "claim",     "claims",     "claimed",     "say",          "says",    "said",
           "suggest",   "suggests",   "suggested",   "argue",        "argues",  "argued",
           "suspect",   "suspects",   "suspected",   "fear",         "fears",   "feared",
           "hope",      "hopes",      "hoped",       "assume",       "assumes", "assumed",
           "speculate", "speculated", "hypothesize", "hypothesized", "rumored", "rumoured",
           "possible",  "likely"});
  return s;
}
const WordSet& DenyingVerbs() {
  static const WordSet& s =
      Set({"deny",      "denies", "denied",  "doubt",    "doubts",   "doubted", "disprove",
           "disproved", "refute", "refutes", "refuted",  "reject",   "rejects", "rejected",
           "myth",      "false",  "untrue",  "unlikely", "disputed", "dispute", "disputes"});
  return s;
}

const WordSet& RelativePronouns() {
  static const WordSet& s = Set({"which", "that", "who"});
  return s;
}

// Words between the subject and the trigger (or opening the object) that weaken a relation,
// with their factor. Words with factor 1 are simply skipped.
const absl::flat_hash_map<std::string, float>& Hedges() {
  static const auto* const kHedges = new absl::flat_hash_map<std::string, float>{
      {"may", 0.7f},          {"might", 0.7f},      {"could", 0.7f},      {"can", 0.7f},
      {"possibly", 0.7f},     {"probably", 0.7f},   {"likely", 0.7f},     {"would", 0.7f},
      {"often", 0.9f},        {"usually", 0.9f},    {"typically", 0.9f},  {"generally", 0.9f},
      {"commonly", 0.9f},     {"frequently", 0.9f}, {"mainly", 0.9f},     {"mostly", 0.9f},
      {"largely", 0.9f},      {"primarily", 0.9f},  {"normally", 0.9f},   {"sometimes", 0.6f},
      {"occasionally", 0.6f}, {"rarely", 0.4f},     {"seldom", 0.4f},     {"always", 1.0f},
      {"certainly", 1.0f},    {"definitely", 1.0f}, {"directly", 1.0f},   {"indirectly", 1.0f},
      {"also", 1.0f},         {"eventually", 1.0f}, {"ultimately", 1.0f}, {"actually", 1.0f},
      {"really", 1.0f},       {"does", 1.0f},       {"do", 1.0f},         {"did", 1.0f},
      {"has", 1.0f},          {"have", 1.0f},       {"had", 1.0f},        {"will", 1.0f},
      {"must", 1.0f},         {"should", 1.0f},     {"shall", 1.0f},      {"still", 1.0f},
      {"just", 1.0f},         {"only", 1.0f},       {"even", 1.0f},       {"in", 1.0f},
      {"fact", 1.0f},         {"truly", 1.0f},      {"itself", 1.0f},     {"themselves", 1.0f}};
  return *kHedges;
}

bool IsNegation(std::string_view lower) {
  if (lower == "not" || lower == "never" || lower == "no" || lower == "cannot" ||
      lower == "neither" || lower == "nor" || lower == "hardly" || lower == "barely" ||
      lower == "nobody" || lower == "nothing") {
    return true;
  }
  return lower.size() > 3 && lower.substr(lower.size() - 3) == "n't";
}

bool IsAbbreviation(std::string_view lower) {
  static const WordSet& s = Set(
      {"mr",   "mrs", "ms",  "dr",     "prof", "sr",  "jr", "st", "vs",  "etc", "inc", "ltd", "co",
       "corp", "no",  "fig", "approx", "dept", "est", "mt", "ft", "gen", "gov", "sgt", "col", "lt",
       "capt", "rev", "al",  "cf",     "ca",   "vol", "eq", "ch", "sec", "p",   "pp"});
  return s.contains(std::string(lower));
}

// ---------------------------------------------------------------------------------------------
// Patterns
// ---------------------------------------------------------------------------------------------

enum class PatternKind {
  kPlain,
  kPluralCopula,  // "X are Ys": only when the object looks like a plural noun
};

struct PatternDef {
  // Space-separated elements; each element is '|'-separated alternatives; a trailing '?' makes
  // the element optional. Matching is on lowercase tokens; "," is the comma token.
  const char* spec;
  AssociationType type;
  float base;
  bool reversed;  // true: the edge goes object -> subject
  PatternKind kind = PatternKind::kPlain;
};

constexpr const char* kCopula = "is|are|was|were|be|been|being";

// Longest match wins at each position, so "is a part of" beats "is a".
const std::vector<PatternDef>& PatternDefs() {
  using T = AssociationType;
  static const auto* const kDefs = new std::vector<PatternDef>{
      // HIERARCHICAL: specific -> general.
      {"COP a|an? kind|kinds|type|types|sort|sorts|form|forms|variety|varieties|species|"
       "subtype|subtypes|subclass|subclasses|subset|example|examples|instance|instances|"
       "category|class of",
       T::kHierarchical, 0.9f, false},
      {"COP a|an? member|members of", T::kHierarchical, 0.75f, false},
      {"COP classified|categorized|categorised as", T::kHierarchical, 0.85f, false},
      {"is|was|be|been|being a|an", T::kHierarchical, 0.8f, false},
      {"are|were", T::kHierarchical, 0.6f, false, PatternKind::kPluralCopula},
      {",? such as", T::kHierarchical, 0.75f, true},
      {"and|or other", T::kHierarchical, 0.7f, false},
      // CAUSAL: cause -> effect.
      {"causes|cause|caused", T::kCausal, 0.85f, false},
      {"leads|lead|led|leading to", T::kCausal, 0.8f, false},
      {"results|result|resulted in", T::kCausal, 0.8f, false},
      {"produces|produce|produced", T::kCausal, 0.65f, false},
      {"triggers|trigger|triggered", T::kCausal, 0.75f, false},
      {"gives|give|gave rise to", T::kCausal, 0.8f, false},
      {"COP a|an|the|one? main|major|primary|leading? cause|causes of", T::kCausal, 0.85f, false},
      {"COP caused|triggered|produced by", T::kCausal, 0.85f, true},
      {"results|result|resulted from", T::kCausal, 0.8f, true},
      {"COP a|an|the? direct? result|results|consequence|consequences|effect|effects of",
       T::kCausal, 0.8f, true},
      {"COP due to", T::kCausal, 0.7f, true},
      {"COP? because of", T::kCausal, 0.6f, true},
      // COMPOSITIONAL: part -> whole.
      {"COP a|an|the? part|parts|component|components|piece|pieces|section|sections|element|"
       "elements of",
       T::kCompositional, 0.9f, false},
      {"belongs|belong|belonged to", T::kCompositional, 0.6f, false},
      {"contains|contain|contained", T::kCompositional, 0.75f, true},
      {"includes|include|included", T::kCompositional, 0.7f, true},
      {"consists|consist|consisted of", T::kCompositional, 0.85f, true},
      {"comprises|comprise|comprised", T::kCompositional, 0.8f, true},
      {"COP made|composed|comprised of", T::kCompositional, 0.85f, true},
      {"COP made up of", T::kCompositional, 0.85f, true},
      // TEMPORAL: earlier -> later.
      {"comes|come|came|happens|happen|happened|occurs|occur|occurred|goes|go|went|is|are|was|"
       "were|takes|take|took? place? before",
       T::kTemporal, 0.7f, false},
      {"comes|come|came|happens|happen|happened|occurs|occur|occurred|goes|go|went|is|are|was|"
       "were|takes|take|took? place? after",
       T::kTemporal, 0.7f, true},
      {"precedes|precede|preceded", T::kTemporal, 0.8f, false},
      {"COP preceded by", T::kTemporal, 0.8f, true},
      {",? COP? followed by", T::kTemporal, 0.8f, false},
      {"follows|follow|followed", T::kTemporal, 0.7f, true},
      {",? and? then", T::kTemporal, 0.65f, false},
      {"COP prior to", T::kTemporal, 0.75f, false},
  };
  return *kDefs;
}

struct Element {
  std::vector<std::string> alternatives;
  bool optional = false;
};

struct Pattern {
  std::vector<Element> elements;
  const PatternDef* def;
};

std::vector<std::string> SplitOn(std::string_view s, char c) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(c, start);
    if (end == std::string_view::npos) end = s.size();
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::vector<Pattern> CompilePatterns() {
  std::vector<Pattern> patterns;
  for (const PatternDef& def : PatternDefs()) {
    Pattern p{{}, &def};
    for (std::string element : SplitOn(def.spec, ' ')) {
      Element e;
      if (element.back() == '?') {
        e.optional = true;
        element.pop_back();
      }
      for (const std::string& alt : SplitOn(element, '|')) {
        if (alt == "COP") {
          for (const std::string& cop : SplitOn(kCopula, '|')) e.alternatives.push_back(cop);
        } else {
          e.alternatives.push_back(alt);
        }
      }
      p.elements.push_back(std::move(e));
    }
    patterns.push_back(std::move(p));
  }
  return patterns;
}

const std::vector<Pattern>& Patterns() {
  static const auto* const kPatterns = new std::vector<Pattern>(CompilePatterns());
  return *kPatterns;
}

// ---------------------------------------------------------------------------------------------
// Sentences and tokens
// ---------------------------------------------------------------------------------------------

struct Span {
  size_t begin;
  size_t end;
};

struct Sentence {
  Span span;
  bool question;
};

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

enum class TokenKind { kWord, kComma };

struct Token {
  std::string lower;
  size_t begin;  // byte span in the full text
  size_t end;
  TokenKind kind;
};

// A participle followed by a preposition opens a modifier: "a language created by ...",
// "a city located in ...".
bool IsParticipleBeforePreposition(const std::vector<Token>& tokens, size_t i) {
  const std::string& w = tokens[i].lower;
  return i + 1 < tokens.size() && w.size() > 4 && w.substr(w.size() - 2) == "ed" &&
         tokens[i + 1].kind == TokenKind::kWord && Prepositions().contains(tokens[i + 1].lower);
}

// Tokens of text[span]: words (with inner apostrophes, hyphens and dots) and commas. Text in
// parentheses or brackets, quotes and other punctuation are dropped; '&' reads as "and".
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

// Splits a sentence span into clauses at ';' and ':' (outside parentheses is good enough).
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

// ---------------------------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------------------------

// End (exclusive) of the longest match of p.elements[e..] at tokens[pos..], or 0 if none.
size_t MatchFrom(const Pattern& p, size_t e, const std::vector<Token>& tokens, size_t pos) {
  if (e == p.elements.size()) return pos;
  const Element& element = p.elements[e];
  size_t best = 0;
  if (pos < tokens.size()) {
    for (const std::string& alt : element.alternatives) {
      if (tokens[pos].lower == alt) {
        best = std::max(best, MatchFrom(p, e + 1, tokens, pos + 1));
        break;
      }
    }
  }
  if (element.optional) best = std::max(best, MatchFrom(p, e + 1, tokens, pos));
  return best;
}

struct Trigger {
  size_t begin;  // token range
  size_t end;
  const PatternDef* def;
};

std::vector<Trigger> FindTriggers(const std::vector<Token>& tokens, size_t from) {
  std::vector<Trigger> out;
  size_t pos = from;
  while (pos < tokens.size()) {
    size_t best_end = 0;
    const PatternDef* best = nullptr;
    for (const Pattern& p : Patterns()) {
      const size_t end = MatchFrom(p, 0, tokens, pos);
      // A match must consume at least one word (not only an optional comma).
      if (end > pos && end > best_end && tokens[end - 1].kind == TokenKind::kWord) {
        best_end = end;
        best = p.def;
      }
    }
    if (best != nullptr) {
      out.push_back({pos, best_end, best});
      pos = best_end;
    } else {
      ++pos;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Phrases
// ---------------------------------------------------------------------------------------------

struct Phrase {
  size_t begin;  // token range, non-empty
  size_t end;
  bool coordinated = false;
};

size_t CountWords(const std::vector<Token>& tokens, size_t begin, size_t end) {
  size_t n = 0;
  for (size_t i = begin; i < end; ++i) n += tokens[i].kind == TokenKind::kWord;
  return n;
}

// Looks like an adjective by its suffix ("loyal", "friendly", "dangerous").
bool LooksAdjectival(std::string_view w) {
  for (std::string_view suffix : {"ful", "ous", "ive", "able", "ible", "al", "ic", "less", "ly",
                                  "ish", "ent", "ant", "ary"}) {
    if (w.size() > suffix.size() + 1 && w.substr(w.size() - suffix.size()) == suffix) return true;
  }
  return false;
}

// Looks like a plural noun: ends in "s" but not like an adjective or a singular
// ("mammals" yes; "dangerous", "useless", "analysis", "virus" no).
bool LooksPlural(std::string_view w) {
  if (w.size() < 3 || w.back() != 's') return false;
  for (std::string_view suffix : {"ss", "us", "is", "ous", "'s"}) {
    if (w.substr(w.size() - suffix.size()) == suffix) return false;
  }
  return true;
}

class ClauseExtractor {
 public:
  ClauseExtractor(std::string_view text, const std::vector<Token>& tokens,
                  const ExtractionOptions& options)
      : text_(text), tokens_(tokens), options_(options) {}

  // Drops leading determiners / discourse words and trailing commas; nullopt if nothing useful
  // is left or the phrase is not a plausible concept.
  std::optional<Phrase> Clean(Phrase p) const {
    while (p.begin < p.end && tokens_[p.begin].kind == TokenKind::kComma) ++p.begin;
    while (p.end > p.begin && tokens_[p.end - 1].kind == TokenKind::kComma) --p.end;
    while (p.begin + 1 < p.end && (Determiners().contains(tokens_[p.begin].lower) ||
                                   DiscourseWords().contains(tokens_[p.begin].lower))) {
      ++p.begin;
      while (p.begin < p.end && tokens_[p.begin].kind == TokenKind::kComma) ++p.begin;
    }
    if (p.begin >= p.end) return std::nullopt;
    const std::string& first = tokens_[p.begin].lower;
    if (Pronouns().contains(first) || BadPhraseStarts().contains(first) || IsNegation(first) ||
        Determiners().contains(first)) {
      return std::nullopt;
    }
    const size_t words = CountWords(tokens_, p.begin, p.end);
    if (words == 0 || words > options_.max_phrase_words) return std::nullopt;
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

  // Splits "dogs, cats and horses" into its members. "loyal and friendly animals" stays whole
  // (a single adjective-looking word before "and" is a modifier, not a member).
  std::vector<Phrase> SplitCoordination(Phrase p) const {
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

  // The object phrase starting at `begin` within [begin, limit): up to the first clause word or
  // preposition; commas continue it only as a list ("A, B and C").
  Phrase ObjectRegion(size_t begin, size_t limit) const {
    size_t end = begin;
    while (end < limit) {
      const Token& t = tokens_[end];
      if (t.kind == TokenKind::kWord &&
          (ClauseWords().contains(t.lower) || Prepositions().contains(t.lower) ||
           Auxiliaries().contains(t.lower) || IsNegation(t.lower) ||
           IsParticipleBeforePreposition(tokens_, end))) {
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
              (ClauseWords().contains(u.lower) || Prepositions().contains(u.lower) ||
               Auxiliaries().contains(u.lower))) {
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

  // The subject phrase ending at `end` within [limit, end): after the last clause word, and after
  // the last comma unless the commas separate a list.
  // With `clause`, auxiliaries do not end the subject: TEMPORAL relations link events, which
  // may be clauses ("the committee was formed").
  Phrase SubjectRegion(size_t limit, size_t end, bool force_list, bool clause) const {
    size_t begin = end;
    while (begin > limit) {
      const Token& t = tokens_[begin - 1];
      if (t.kind == TokenKind::kWord &&
          (ClauseWords().contains(t.lower) || (!clause && Auxiliaries().contains(t.lower)))) {
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
               !ClauseWords().contains(tokens_[item_begin - 1].lower)) {
          --item_begin;
        }
        const bool short_item = item_end - item_begin <= 3 && item_end > item_begin &&
                                !DiscourseWords().contains(tokens_[item_begin].lower) &&
                                !Prepositions().contains(tokens_[item_begin].lower);
        if (!(list && short_item)) break;
      }
      --begin;
    }
    return {begin, end};
  }

  // Pops hedge words from the end of [begin, *end) (before a trigger). Returns false if a
  // negation was found.
  bool PopTrailingHedges(size_t begin, size_t* end, float* factor) const {
    while (*end > begin) {
      const std::string& w = tokens_[*end - 1].lower;
      if (IsNegation(w)) return false;
      auto it = Hedges().find(w);
      if (it == Hedges().end()) break;
      *factor *= it->second;
      --*end;
    }
    return true;
  }

  // Pops hedge words from the start of [*begin, end) (after a trigger). False on negation.
  bool PopLeadingHedges(size_t* begin, size_t end, float* factor) const {
    while (*begin < end) {
      const std::string& w = tokens_[*begin].lower;
      if (IsNegation(w)) return false;
      auto it = Hedges().find(w);
      // "in" and "fact" only as "in fact"; "only"/"even"/"just" fine.
      if (it == Hedges().end() || w == "in") break;
      *factor *= it->second;
      ++*begin;
    }
    return true;
  }

  std::string Surface(const Phrase& p) const {
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

  std::string Key(const Phrase& p) const {
    std::string out;
    for (size_t i = p.begin; i < p.end; ++i) {
      if (tokens_[i].kind == TokenKind::kComma) continue;
      if (!out.empty()) out += " ";
      out += tokens_[i].lower;
    }
    return out;
  }

  std::string_view Text(size_t begin_token, size_t end_token) const {
    return text_.substr(tokens_[begin_token].begin,
                        tokens_[end_token - 1].end - tokens_[begin_token].begin);
  }

 private:
  std::string_view text_;
  const std::vector<Token>& tokens_;
  const ExtractionOptions& options_;
};

}  // namespace

RelationExtractor::RelationExtractor(ExtractionOptions options) : options_(options) {
  Patterns();  // compile once, up front
}

std::vector<ExtractedRelation> RelationExtractor::Extract(std::string_view text) const {
  std::vector<ExtractedRelation> out;
  absl::flat_hash_map<std::string, size_t> seen;  // type|source|target -> index in out

  for (const Sentence& sentence : SplitSentences(text)) {
    if (sentence.question) continue;
    for (const Span clause : SplitClauses(text, sentence.span)) {
      const std::vector<Token> tokens = Tokenize(text, clause);
      if (tokens.empty()) continue;
      ClauseExtractor cx(text, tokens, options_);

      // One candidate relation between two phrase lists.
      const auto emit = [&](const std::vector<Phrase>& subjects, const std::vector<Phrase>& objects,
                            const PatternDef& def, float factor, std::string_view pattern) {
        for (const Phrase& s : subjects) {
          for (const Phrase& o : objects) {
            float confidence = def.base * factor;
            if (CountWords(tokens, s.begin, s.end) > 4 || CountWords(tokens, o.begin, o.end) > 4) {
              confidence *= 0.9f;
            }
            if (s.coordinated) confidence *= 0.95f;
            if (o.coordinated) confidence *= 0.95f;
            confidence = std::clamp(confidence, 0.0f, 1.0f);
            if (confidence < options_.min_confidence) continue;
            const Phrase& src = def.reversed ? o : s;
            const Phrase& dst = def.reversed ? s : o;
            ExtractedRelation r;
            r.source = cx.Surface(src);
            r.target = cx.Surface(dst);
            r.source_key = cx.Key(src);
            r.target_key = cx.Key(dst);
            if (r.source_key == r.target_key) continue;
            r.type = def.type;
            r.confidence = confidence;
            r.pattern = std::string(pattern);
            r.evidence_begin = sentence.span.begin;
            r.evidence_end = sentence.span.end;
            r.evidence = std::string(
                text.substr(sentence.span.begin, sentence.span.end - sentence.span.begin));
            std::string key = std::string(AssociationTypeName(r.type));
            key.append("\x1f").append(r.source_key).append("\x1f").append(r.target_key);
            // A relation past max_relations is not recorded in `seen`: a restatement of it
            // must not refer to an index `out` does not have.
            if (auto it = seen.find(key); it != seen.end()) {
              if (out[it->second].confidence < r.confidence) out[it->second] = std::move(r);
            } else {
              if (out.size() >= options_.max_relations) return;
              seen.emplace(std::move(key), out.size());
              out.push_back(std::move(r));
            }
          }
        }
      };

      size_t start = 0;
      float clause_factor = 1.0f;
      const std::string& opener = tokens[0].lower;
      if (opener == "if" || opener == "when" || opener == "whenever") {
        clause_factor = 0.6f;
        start = 1;
      } else if (opener == "unless") {
        continue;  // "unless X, Y" says nothing certain about X or Y
      }

      // "After X, Y" (X -> Y) and "Before X, Y" (Y -> X).
      if ((opener == "after" || opener == "before") && tokens.size() > 3) {
        size_t comma = 1;
        while (comma < tokens.size() && tokens[comma].kind != TokenKind::kComma) ++comma;
        if (comma + 1 < tokens.size()) {
          float factor = 1.0f;
          size_t y_begin = comma + 1;
          const bool negated = !cx.PopLeadingHedges(&y_begin, tokens.size(), &factor);
          auto x = cx.Clean({1, comma});
          auto y = cx.Clean(cx.ObjectRegion(y_begin, tokens.size()));
          if (!negated && x && y) {
            static const PatternDef kAfter{"after", AssociationType::kTemporal, 0.7f, false};
            static const PatternDef kBefore{"before", AssociationType::kTemporal, 0.7f, true};
            emit({*x}, {*y}, opener == "after" ? kAfter : kBefore, factor, cx.Text(0, 1));
          }
          continue;
        }
      }

      // Triggers, without plural-copula matches whose object is not a plural noun.
      std::vector<Trigger> triggers;
      for (const Trigger& t : FindTriggers(tokens, start)) {
        if (t.def->kind == PatternKind::kPluralCopula) {
          size_t b = t.end;
          float ignored = 1.0f;
          if (!cx.PopLeadingHedges(&b, tokens.size(), &ignored)) continue;
          const Phrase region = cx.ObjectRegion(b, tokens.size());
          if (region.end == region.begin) continue;
          if (CountWords(tokens, region.begin, region.end) > 4) continue;
          if (!LooksPlural(tokens[region.end - 1].lower)) continue;
        }
        triggers.push_back(t);
      }
      if (triggers.empty()) continue;

      // Regions: subject of trigger i lies in [left[i], trigger.begin), object in
      // [trigger.end, right[i]). Between two triggers, the last boundary word splits the gap.
      std::vector<size_t> left(triggers.size()), right(triggers.size());
      std::vector<bool> relative(triggers.size(), false);
      left[0] = start;
      right.back() = tokens.size();
      for (size_t i = 1; i < triggers.size(); ++i) {
        const size_t gap_begin = triggers[i - 1].end;
        const size_t gap_end = triggers[i].begin;
        size_t boundary = gap_end;
        for (size_t j = gap_end; j > gap_begin; --j) {
          const Token& t = tokens[j - 1];
          if (t.kind == TokenKind::kComma || t.lower == "and" || t.lower == "or" ||
              t.lower == "but" || ClauseWords().contains(t.lower)) {
            boundary = j - 1;
            break;
          }
        }
        if (boundary == gap_end) {
          right[i - 1] = gap_end;
          left[i] = gap_end;  // no subject of its own
        } else {
          right[i - 1] = boundary;
          left[i] = boundary + 1;
          relative[i] = RelativePronouns().contains(tokens[boundary].lower);
        }
      }

      std::vector<Phrase> previous_objects;
      for (size_t i = 0; i < triggers.size(); ++i) {
        const Trigger& t = triggers[i];
        const PatternDef& def = *t.def;
        float factor = clause_factor;

        // Subject.
        size_t subject_end = t.begin;
        if (!cx.PopTrailingHedges(left[i], &subject_end, &factor)) {
          previous_objects.clear();
          continue;  // negated
        }
        std::vector<Phrase> subjects;
        const bool force_list = def.spec == std::string_view("and|or other");
        const Phrase subject_region = cx.SubjectRegion(left[i], subject_end, force_list,
                                                       def.type == AssociationType::kTemporal);
        if (subject_region.begin >= 2 && tokens[subject_region.begin - 1].lower == "that") {
          const std::string& verb = tokens[subject_region.begin - 2].lower;
          if (DenyingVerbs().contains(verb)) {
            previous_objects.clear();
            continue;
          }
          if (ReportingVerbs().contains(verb)) factor *= 0.5f;
        }
        if (subject_region.end > subject_region.begin) {
          for (const Phrase& p : cx.SplitCoordination(subject_region)) {
            if (auto c = cx.Clean(p)) subjects.push_back(*c);
          }
        } else if (relative[i] && !previous_objects.empty()) {
          subjects.push_back(previous_objects.back());
          subjects.back().coordinated = false;
        }

        // Object.
        size_t object_begin = t.end;
        if (!cx.PopLeadingHedges(&object_begin, right[i], &factor)) {
          previous_objects.clear();
          continue;  // negated
        }
        std::vector<Phrase> objects;
        const Phrase object_region = cx.ObjectRegion(object_begin, right[i]);
        if (object_region.end > object_region.begin) {
          for (const Phrase& p : cx.SplitCoordination(object_region)) {
            if (auto c = cx.Clean(p)) objects.push_back(*c);
          }
        }
        previous_objects = objects;
        if (subjects.empty() || objects.empty()) continue;
        emit(subjects, objects, def, factor, cx.Text(t.begin, t.end));
      }
    }
  }
  return out;
}

}  // namespace engram::hybrid
