// Question: what an English question asks for, so that reasoning can follow the relation asked
// about from the concept asked about, instead of anything near the question's words.
//
//   Question q = ParseQuestion("What is a yolk part of?");
//   // q.kind == Question::Kind::kRelation, q.focus == "yolk",
//   // q.type == AssociationType::kCompositional, q.direction == Question::Direction::kOut
//
// Recognised forms (case-insensitive, articles dropped from the focus, a trailing "?" or "."
// ignored); `direction` is as stored: kOut follows source -> target from the focus, kIn
// target -> source (docs/hybrid.md, "Edge direction convention"):
//   what is a X / what are X / what's a X / what kind of thing is X / define X   HIERARCHICAL out
//   what kinds|types|sorts of X are there / name a kind of X                    HIERARCHICAL in
//   what is X (a) part of / X is (a) part of what                               COMPOSITIONAL out
//   what are the parts of X / what is X made of / what does X consist of        COMPOSITIONAL in
//   what does X cause / what do X cause / what is caused by X / effects of X     CAUSAL out
//   what causes X / what can cause X / what leads to X / why does X happen       CAUSAL in
//   what happens after X / what comes after X                                   TEMPORAL out
//   what happens before X / what comes before X                                 TEMPORAL in
//   how is X related to Y / how are X and Y related / what connects X and|to Y  kBetween X, Y
//   is (a) X a|an Y / is X a kind|type of Y                       kBetween X, Y; HIERARCHICAL out
// Anything else is kOpen: no focus, the whole text is the query.
// Pure function; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "services/hybrid/types/association_type.h"

namespace engram::hybrid {

struct Question {
  enum class Kind { kOpen, kRelation, kBetween };
  enum class Direction { kOut, kIn };

  Kind kind = Kind::kOpen;
  std::string focus;   // kRelation, kBetween: the concept asked about (as written, articles dropped)
  std::string other;   // kBetween: the second concept
  // kRelation, and kBetween when the question names one: the relation asked for, followed from
  // the focus in `direction`.
  AssociationType type = AssociationType::kUnspecified;
  Direction direction = Direction::kOut;
};

Question ParseQuestion(std::string_view text);

// The words a question's seeds should match (keyword search): for a relation or between
// question, the concept it is about ("yolk" in "What is a yolk part of?", "dog" in "How is a dog
// related to a wolf?"), whose rare words would otherwise be diluted by "what is ... part of";
// otherwise the whole text.
std::string_view SeedWords(const Question& question, std::string_view text);

}  // namespace engram::hybrid
