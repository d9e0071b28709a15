// The relation extractor's lexicon: the English word classes it consults (determiners, pronouns,
// prepositions, hedges, ...) and the suffix tests it uses instead of a part-of-speech tagger.
// Every function takes a lowercase word (a Token's `lower`) and is a pure lookup: thread-safe,
// no allocation after the first call.
#pragma once

#include <optional>
#include <string_view>

namespace engram::hybrid::extract {

// Word classes.
bool IsDeterminer(std::string_view word);       // stripped from the start of a phrase ("the")
bool IsPronoun(std::string_view word);          // a phrase starting with one is not a concept
bool IsBadPhraseStart(std::string_view word);   // a phrase may not start with one ("of", "is")
bool IsDiscourseWord(std::string_view word);    // dropped from a subject ("However, ...")
bool IsClauseWord(std::string_view word);       // ends an object / starts a subject ("which")
bool IsPreposition(std::string_view word);      // ends an object; "of" is not one here
bool IsAuxiliary(std::string_view word);        // starts a predicate ("is", "can")
bool IsReportingVerb(std::string_view word);    // "X believes that ..." weakens what follows
bool IsDenyingVerb(std::string_view word);      // "X denies that ..." drops what follows
bool IsRelativePronoun(std::string_view word);  // "which", "that", "who"
bool IsNegation(std::string_view word);         // "not", "never", "-n't", ...
bool IsAbbreviation(std::string_view word);     // "dr", "etc": a '.' after one ends no sentence

// The factor a hedge word next to a trigger multiplies the confidence by ("may" 0.7, "often" 0.9,
// "rarely" 0.4; filler such as "also" or "does" 1.0); nullopt for a word that is no hedge.
std::optional<float> HedgeFactor(std::string_view word);

// Word shapes.
// Looks like an adjective by its suffix ("loyal", "friendly", "dangerous").
bool LooksAdjectival(std::string_view word);
// Looks like a plural noun: ends in "s" but not like an adjective or a singular
// ("mammals" yes; "dangerous", "useless", "analysis", "virus" no).
bool LooksPlural(std::string_view word);

}  // namespace engram::hybrid::extract
