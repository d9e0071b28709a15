#include "services/hybrid/reason/question.h"

#include <gtest/gtest.h>

#include <string>

namespace engram::hybrid {
namespace {

using D = Question::Direction;
using K = Question::Kind;
using T = AssociationType;

struct Case {
  std::string text;
  K kind;
  std::string focus;
  T type = T::kUnspecified;
  D direction = D::kOut;
  std::string other = "";
};

TEST(ParseQuestionTest, RecognisesTheRelationAskedForAndItsFocus) {
  const Case cases[] = {
      {"What is a yolk part of?", K::kRelation, "yolk", T::kCompositional, D::kOut},
      {"what are wheels part of", K::kRelation, "wheels", T::kCompositional, D::kOut},
      {"What's the yolk a part of?", K::kRelation, "yolk", T::kCompositional, D::kOut},
      {"A yolk is part of what?", K::kRelation, "yolk", T::kCompositional, D::kOut},
      {"What are the parts of a bicycle?", K::kRelation, "bicycle", T::kCompositional, D::kIn},
      {"What is bread made of?", K::kRelation, "bread", T::kCompositional, D::kIn},
      {"What does a virus cause?", K::kRelation, "virus", T::kCausal, D::kOut},
      {"What can smoking cause?", K::kRelation, "smoking", T::kCausal, D::kOut},
      {"What is caused by rain?", K::kRelation, "rain", T::kCausal, D::kOut},
      {"What are the effects of drought?", K::kRelation, "drought", T::kCausal, D::kOut},
      {"What causes floods?", K::kRelation, "floods", T::kCausal, D::kIn},
      {"what leads to inflation", K::kRelation, "inflation", T::kCausal, D::kIn},
      {"Why does thunder happen?", K::kRelation, "thunder", T::kCausal, D::kIn},
      {"What happens after the storm?", K::kRelation, "storm", T::kTemporal, D::kOut},
      {"What comes before dinner?", K::kRelation, "dinner", T::kTemporal, D::kIn},
      {"What kinds of birds are there?", K::kRelation, "birds", T::kHierarchical, D::kIn},
      {"Name a kind of tree", K::kRelation, "tree", T::kHierarchical, D::kIn},
      {"What are some types of cheese?", K::kRelation, "cheese", T::kHierarchical, D::kIn},
      {"What kind of animal is a ptarmigan?", K::kRelation, "ptarmigan", T::kHierarchical, D::kOut},
      {"What is a ptarmigan?", K::kRelation, "ptarmigan", T::kHierarchical, D::kOut},
      {"  what's   an  ENZYME ?? ", K::kRelation, "ENZYME", T::kHierarchical, D::kOut},
      {"Who was Ada Lovelace?", K::kRelation, "Ada Lovelace", T::kHierarchical, D::kOut},
      {"Define photosynthesis.", K::kRelation, "photosynthesis", T::kHierarchical, D::kOut},
      {"How is a dog related to a wolf?", K::kBetween, "dog", T::kUnspecified, D::kOut, "wolf"},
      {"How are rain and floods related?", K::kBetween, "rain", T::kUnspecified, D::kOut, "floods"},
      {"What connects Paris and London?", K::kBetween, "Paris", T::kUnspecified, D::kOut, "London"},
      {"Is a dog a mammal?", K::kBetween, "dog", T::kHierarchical, D::kOut, "mammal"},
      {"is an oak a tree", K::kBetween, "oak", T::kHierarchical, D::kOut, "tree"},
      {"Is the Nile a river?", K::kBetween, "Nile", T::kHierarchical, D::kOut, "river"},
      {"Is a polar bear a kind of bear?", K::kBetween, "polar bear", T::kHierarchical, D::kOut,
       "bear"},
      {"Are whales a type of fish?", K::kBetween, "whales", T::kHierarchical, D::kOut, "fish"},
  };
  for (const Case& c : cases) {
    const Question q = ParseQuestion(c.text);
    EXPECT_EQ(q.kind, c.kind) << c.text;
    EXPECT_EQ(q.focus, c.focus) << c.text;
    EXPECT_EQ(q.type, c.type) << c.text;
    EXPECT_EQ(q.direction, c.direction) << c.text;
    EXPECT_EQ(q.other, c.other) << c.text;
  }
}

TEST(ParseQuestionTest, AnythingElseIsOpen) {
  for (const char* text : {"", "?", "rain floods", "Tell me about dogs", "what", "What is?", "how is it related to",
                           "\xff\xfe garbage", "Is there a cure for rabies?", "Is it a bird?",
                           "Is a dog"}) {
    const Question q = ParseQuestion(text);
    EXPECT_EQ(q.kind, K::kOpen) << text;
    EXPECT_TRUE(q.focus.empty()) << text;
  }
  // Very long text is not parsed (bounded work), it is an open question.
  EXPECT_EQ(ParseQuestion("What is " + std::string(5000, 'a') + "?").kind, K::kOpen);
}

}  // namespace
}  // namespace engram::hybrid
