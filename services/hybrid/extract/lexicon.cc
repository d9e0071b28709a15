// The word lists behind lexicon.h, built once into hash sets.
#include "services/hybrid/extract/lexicon.h"

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "common/text/absl_view.h"

namespace engram::hybrid::extract {
namespace {

using WordSet = absl::flat_hash_set<std::string>;

// One member per word class of lexicon.h (the comments there say what each is for).
struct WordLists {
  WordSet determiners = {"a",       "an",    "the",   "some",    "many", "most",    "all",
                         "every",   "each",  "any",   "several", "few",  "certain", "such",
                         "this",    "that",  "these", "those",   "its",  "their",   "his",
                         "her",     "our",   "my",    "your",    "both", "either",  "neither",
                         "another", "other", "much",  "more",    "less"};
  WordSet pronouns = {"i",         "you",        "he",       "she",      "it",      "we",
                      "they",      "me",         "him",      "her",      "us",      "them",
                      "this",      "that",       "these",    "those",    "there",   "here",
                      "what",      "which",      "who",      "whom",     "whose",   "something",
                      "someone",   "somebody",   "anything", "anyone",   "anybody", "everything",
                      "everyone",  "everybody",  "nothing",  "nobody",   "one",     "ones",
                      "itself",    "themselves", "myself",   "yourself", "himself", "herself",
                      "ourselves", "each",       "both",     "all",      "none",    "others",
                      "whatever",  "whoever"};
  WordSet bad_phrase_starts = {
      "of",   "in",   "on",      "at",   "by",    "for",   "with",   "from",   "to",
      "into", "and",  "or",      "but",  "not",   "no",    "never",  "than",   "as",
      "if",   "when", "because", "so",   "then",  "is",    "are",    "was",    "were",
      "be",   "been", "being",   "has",  "have",  "had",   "do",     "does",   "did",
      "onto", "upon", "about",   "over", "under", "after", "before", "during", "while"};
  WordSet discourse_words = {
      "however",   "moreover",     "furthermore",  "also",      "thus",      "therefore",
      "hence",     "first",        "firstly",      "second",    "secondly",  "finally",
      "then",      "next",         "so",           "and",       "but",       "or",
      "indeed",    "consequently", "additionally", "similarly", "likewise",  "meanwhile",
      "generally", "typically",    "usually",      "often",     "basically", "essentially",
      "clearly",   "obviously",    "well",         "yes",       "now",       "today",
      "later"};
  WordSet clause_words = {"that",  "which",   "who",     "whom",  "whose",    "where",  "when",
                          "while", "whereas", "because", "since", "although", "though", "unless",
                          "if",    "but",     "so",      "than",  "as",       "thus",   "therefore",
                          "hence", "whether", "until",   "once"};
  WordSet prepositions = {
      "in",      "on",      "at",        "with",    "by",         "for",     "from",      "during",
      "within",  "without", "into",      "through", "throughout", "under",   "over",      "near",
      "via",     "among",   "between",   "across",  "to",         "toward",  "towards",   "around",
      "about",   "against", "like",      "unlike",  "despite",    "per",     "after",     "before",
      "beyond",  "behind",  "inside",    "outside", "onto",       "upon",    "along",     "beside",
      "besides", "except",  "including", "above",   "below",      "beneath", "throughout"};
  WordSet auxiliaries = {"is",  "are",   "was",  "were",  "be",    "been",   "being", "am",
                         "has", "have",  "had",  "do",    "does",  "did",    "can",   "could",
                         "may", "might", "will", "would", "shall", "should", "must"};
  WordSet reporting_verbs = {"believe",   "believes",   "believed",    "think",        "thinks",
                             "thought",   "claim",      "claims",      "claimed",      "say",
                             "says",      "said",       "suggest",     "suggests",     "suggested",
                             "argue",     "argues",     "argued",      "suspect",      "suspects",
                             "suspected", "fear",       "fears",       "feared",       "hope",
                             "hopes",     "hoped",      "assume",      "assumes",      "assumed",
                             "speculate", "speculated", "hypothesize", "hypothesized", "rumored",
                             "rumoured",  "possible",   "likely"};
  WordSet denying_verbs = {"deny",     "denies",    "denied",  "doubt",   "doubts",  "doubted",
                           "disprove", "disproved", "refute",  "refutes", "refuted", "reject",
                           "rejects",  "rejected",  "myth",    "false",   "untrue",  "unlikely",
                           "disputed", "dispute",   "disputes"};
  WordSet relative_pronouns = {"which", "that", "who"};
  WordSet abbreviations = {
      "mr",   "mrs", "ms",  "dr",     "prof", "sr",  "jr", "st", "vs",  "etc", "inc", "ltd", "co",
      "corp", "no",  "fig", "approx", "dept", "est", "mt", "ft", "gen", "gov", "sgt", "col", "lt",
      "capt", "rev", "al",  "cf",     "ca",   "vol", "eq", "ch", "sec", "p",   "pp"};
  // Words with factor 1 are simply skipped (between the subject and the trigger, or opening the
  // object).
  absl::flat_hash_map<std::string, float> hedges = {
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
};

const WordLists& Words() {
  static const WordLists* const kWords = new WordLists();
  return *kWords;
}

// Whether `word` is in one of the lists.
bool In(const WordSet WordLists::*list, std::string_view word) {
  return (Words().*list).contains(AbslView(word));
}

bool EndsWith(std::string_view word, std::string_view suffix) {
  return word.size() >= suffix.size() && word.substr(word.size() - suffix.size()) == suffix;
}

}  // namespace

bool IsDeterminer(std::string_view word) { return In(&WordLists::determiners, word); }
bool IsPronoun(std::string_view word) { return In(&WordLists::pronouns, word); }
bool IsBadPhraseStart(std::string_view word) { return In(&WordLists::bad_phrase_starts, word); }
bool IsDiscourseWord(std::string_view word) { return In(&WordLists::discourse_words, word); }
bool IsClauseWord(std::string_view word) { return In(&WordLists::clause_words, word); }
bool IsPreposition(std::string_view word) { return In(&WordLists::prepositions, word); }
bool IsAuxiliary(std::string_view word) { return In(&WordLists::auxiliaries, word); }
bool IsReportingVerb(std::string_view word) { return In(&WordLists::reporting_verbs, word); }
bool IsDenyingVerb(std::string_view word) { return In(&WordLists::denying_verbs, word); }
bool IsRelativePronoun(std::string_view word) { return In(&WordLists::relative_pronouns, word); }
bool IsAbbreviation(std::string_view word) { return In(&WordLists::abbreviations, word); }

bool IsNegation(std::string_view word) {
  if (word == "not" || word == "never" || word == "no" || word == "cannot" || word == "neither" ||
      word == "nor" || word == "hardly" || word == "barely" || word == "nobody" ||
      word == "nothing") {
    return true;
  }
  return word.size() > 3 && EndsWith(word, "n't");
}

std::optional<float> HedgeFactor(std::string_view word) {
  const auto& hedges = Words().hedges;
  auto it = hedges.find(AbslView(word));
  if (it == hedges.end()) return std::nullopt;
  return it->second;
}

bool LooksAdjectival(std::string_view word) {
  for (std::string_view suffix : {"ful", "ous", "ive", "able", "ible", "al", "ic", "less", "ly",
                                  "ish", "ent", "ant", "ary"}) {
    if (word.size() > suffix.size() + 1 && EndsWith(word, suffix)) return true;
  }
  return false;
}

bool LooksPlural(std::string_view word) {
  if (word.size() < 3 || word.back() != 's') return false;
  for (std::string_view suffix : {"ss", "us", "is", "ous", "'s"}) {
    if (EndsWith(word, suffix)) return false;
  }
  return true;
}

}  // namespace engram::hybrid::extract
