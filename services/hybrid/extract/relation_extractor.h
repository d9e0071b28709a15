// RelationExtractor: finds the typed relations a text states ("A dog is a mammal", "Smoking causes
// cancer") so that Learn can store them as associations. Rule-based, English, deterministic.
//
// Usage:
//   RelationExtractor extractor;
//   for (const ExtractedRelation& r : extractor.Extract("Smoking causes cancer.")) {
//     // r.source == "Smoking", r.target == "cancer", r.type == kCausal, r.confidence == 0.85
//   }
//
// Edge direction (association_type.h), source -> target:
//   HIERARCHICAL specific -> general, CAUSAL cause -> effect, COMPOSITIONAL part -> whole,
//   TEMPORAL earlier -> later. Passive and inverse phrasings are turned around:
//   "cancer is caused by smoking" gives smoking -> cancer; "a car contains an engine" gives
//   engine -> car; "dinner is after lunch" gives lunch -> dinner.
//
// What is recognised (the full table is in patterns.cc and docs/hybrid.md):
//   HIERARCHICAL  X is a/an Y; X is a kind/type/sort/form/example/... of Y; X are Ys (plural
//                 noun object only); X is a member of Y; X is classified as Y; Y such as X1, X2;
//                 X1, X2 and other Y
//   CAUSAL        X causes/leads to/results in/produces/triggers/gives rise to Y; X is the cause
//                 of Y; Y is caused/triggered by X; Y results from X; Y is a result/consequence/
//                 effect of X; Y is due to X; Y because of X
//   COMPOSITIONAL X is (a) part/component/piece/section of Y; X belongs to Y; Y contains/
//                 includes/consists of/comprises/is made of/is composed of X
//   TEMPORAL      X (comes/happens/occurs/...) before Y; X (...) after Y; X precedes Y;
//                 X follows Y; X is followed by Y; X, then Y; X is prior to Y;
//                 "After X, Y"; "Before X, Y"
// Text handling: sentences are split at . ! ? (not after abbreviations, initials or decimals),
// bullets and blank lines; clauses at ; and :. Parenthesised text is ignored. Questions and
// negated statements ("is not", "does not cause", "never", "n't") yield nothing. Subjects and
// objects are noun phrases: leading articles, determiners and quantifiers are stripped; a
// phrase ends at a relative pronoun, subordinating conjunction or a preposition other than
// "of", an auxiliary ("is", "can", ...) or a participle followed by a preposition ("a language
// created by ..."); TEMPORAL subjects may be clauses ("the committee was formed"); coordinations
// ("dogs and cats", "A, B and C") give one relation per member; "which"/ "that" after an object
// makes it the next subject ("X causes Y, which leads to Z"). A phrase that is (or starts with) a
// pronoun ("this", "it", "they", ...) is rejected, so is one longer than max_phrase_words.
//
// Confidence = base(pattern) x hedge x shape, clamped to [0, 1]:
//   base    how unambiguous the pattern is, 0.55 .. 0.9 (e.g. "is a kind of" 0.9,
//           "is a" 0.8, plural "are" 0.6, "causes" 0.85, "produces" 0.65, "before" 0.7)
//   hedge   product over hedging words next to the trigger: may/might/could/can/possibly/
//           probably/likely/would 0.7; often/usually/typically/generally/commonly/frequently/
//           mainly/mostly/largely 0.9; sometimes/occasionally 0.6; rarely/seldom 0.4; a clause
//           opened by if/when/whenever 0.6; "<reporting verb> that ..." (believe, claim, say,
//           suggest, ...) 0.5, while "<denying verb> that ..." (deny, doubt, refute, ...) and
//           "unless ..." yield nothing
//   shape   0.9 if a phrase has more than 4 words; 0.95 per member of a coordination
// Relations below options.min_confidence are dropped.
//
// Thread-safe and immutable after construction.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "services/hybrid/types/association_type.h"

namespace engram::hybrid {

struct ExtractedRelation {
  std::string source;      // the edge's source as written, articles stripped ("Smoking")
  std::string target;      // the edge's target as written ("lung cancer")
  std::string source_key;  // lowercase, single-spaced source: for finding the concept by text
  std::string target_key;
  AssociationType type = AssociationType::kUnspecified;
  float confidence = 0;       // (0, 1]; see the header comment
  std::string pattern;        // the trigger as written in the text, e.g. "is a kind of"
  size_t evidence_begin = 0;  // byte span [begin, end) of the sentence in the input
  size_t evidence_end = 0;
  std::string evidence;  // that sentence
};

struct ExtractionOptions {
  size_t max_phrase_words = 8;  // longer subjects / objects are not concepts
  float min_confidence = 0.3f;  // weaker relations are dropped
  size_t max_relations = 256;   // per Extract call, in text order
};

class RelationExtractor {
 public:
  explicit RelationExtractor(ExtractionOptions options = {});

  // Relations stated in `text` (UTF-8; invalid bytes are treated as letters, never an error), in
  // text order. A relation stated twice (same type and endpoint keys) is returned once, with its
  // highest confidence; a relation from a phrase to itself is dropped.
  std::vector<ExtractedRelation> Extract(std::string_view text) const;

 private:
  const ExtractionOptions options_;
};

}  // namespace engram::hybrid
