// The relation extractor's word classes and word-shape tests.
#include "services/hybrid/extract/lexicon.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::hybrid::extract {
namespace {

using ::testing::Optional;

TEST(LexiconTest, WordClasses) {
  EXPECT_TRUE(IsDeterminer("the"));
  EXPECT_TRUE(IsDeterminer("their"));
  EXPECT_FALSE(IsDeterminer("dog"));
  EXPECT_TRUE(IsPronoun("they"));
  EXPECT_TRUE(IsPronoun("something"));
  EXPECT_FALSE(IsPronoun("the"));
  EXPECT_TRUE(IsBadPhraseStart("of"));
  EXPECT_TRUE(IsDiscourseWord("however"));
  EXPECT_TRUE(IsClauseWord("which"));
  EXPECT_TRUE(IsAuxiliary("can"));
  EXPECT_TRUE(IsReportingVerb("believes"));
  EXPECT_TRUE(IsDenyingVerb("refutes"));
  EXPECT_TRUE(IsRelativePronoun("that"));
  EXPECT_FALSE(IsRelativePronoun("whose"));
  EXPECT_TRUE(IsAbbreviation("dr"));
  EXPECT_TRUE(IsAbbreviation("etc"));
  EXPECT_FALSE(IsAbbreviation("dog"));
}

TEST(LexiconTest, OfIsNoPrepositionThatEndsAPhrase) {
  EXPECT_TRUE(IsPreposition("in"));
  EXPECT_TRUE(IsPreposition("throughout"));
  EXPECT_FALSE(IsPreposition("of"));
}

TEST(LexiconTest, LookupsAreExactAndLowercase) {
  EXPECT_FALSE(IsDeterminer("The"));  // callers pass Token::lower
  EXPECT_FALSE(IsDeterminer("th"));
  EXPECT_FALSE(IsDeterminer(""));
  const std::string word = "these dogs";
  EXPECT_TRUE(IsDeterminer(std::string_view(word).substr(0, 5)));  // no terminator needed
}

TEST(LexiconTest, Negation) {
  for (const char* w : {"not", "never", "no", "cannot", "neither", "nor", "hardly", "barely",
                        "nobody", "nothing", "isn't", "doesn't", "won't"}) {
    EXPECT_TRUE(IsNegation(w)) << w;
  }
  for (const char* w : {"n't", "note", "now", "knot", "dog"}) EXPECT_FALSE(IsNegation(w)) << w;
}

TEST(LexiconTest, HedgeFactors) {
  EXPECT_THAT(HedgeFactor("may"), Optional(0.7f));
  EXPECT_THAT(HedgeFactor("often"), Optional(0.9f));
  EXPECT_THAT(HedgeFactor("sometimes"), Optional(0.6f));
  EXPECT_THAT(HedgeFactor("rarely"), Optional(0.4f));
  EXPECT_THAT(HedgeFactor("also"), Optional(1.0f));  // skipped, not weakening
  EXPECT_EQ(HedgeFactor("dog"), std::nullopt);
  EXPECT_EQ(HedgeFactor("not"), std::nullopt);  // negation is not a hedge
}

TEST(LexiconTest, LooksAdjectival) {
  for (const char* w : {"loyal", "friendly", "dangerous", "useful", "massive", "readable"}) {
    EXPECT_TRUE(LooksAdjectival(w)) << w;
  }
  // A suffix needs at least two letters before it.
  for (const char* w : {"dog", "al", "fly", "ant"}) EXPECT_FALSE(LooksAdjectival(w)) << w;
}

TEST(LexiconTest, LooksPlural) {
  for (const char* w : {"mammals", "dogs", "trees", "ideas"}) EXPECT_TRUE(LooksPlural(w)) << w;
  for (const char* w : {"dangerous", "useless", "analysis", "virus", "dog's", "is", "mammal"}) {
    EXPECT_FALSE(LooksPlural(w)) << w;
  }
}

}  // namespace
}  // namespace engram::hybrid::extract
