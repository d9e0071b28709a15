// The trigger table and its longest-match matcher.
#include "services/hybrid/extract/patterns.h"

#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::hybrid::extract {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Each trigger as "<matched words> <TYPE>[ reversed]".
std::vector<std::string> Triggers(std::string_view text, size_t from = 0) {
  const std::vector<Token> tokens = Tokenize(text, {0, text.size()});
  std::vector<std::string> out;
  for (const Trigger& t : FindTriggers(tokens, from)) {
    std::string s;
    for (size_t i = t.begin; i < t.end; ++i) s += tokens[i].lower + " ";
    s += std::string(AssociationTypeName(t.def->type));
    if (t.def->reversed) s += " reversed";
    out.push_back(s);
  }
  return out;
}

TEST(FindTriggersTest, LongestMatchWins) {
  EXPECT_THAT(Triggers("a dog is a mammal"), ElementsAre("is a HIERARCHICAL"));
  EXPECT_THAT(Triggers("a dog is a kind of mammal"), ElementsAre("is a kind of HIERARCHICAL"));
  EXPECT_THAT(Triggers("the engine is a part of the car"),
              ElementsAre("is a part of COMPOSITIONAL"));
  EXPECT_THAT(Triggers("smoking is the main cause of cancer"),
              ElementsAre("is the main cause of CAUSAL"));
}

TEST(FindTriggersTest, CopulaAndOptionalElements) {
  // COP expands to every form of "be"; "a|an?" may be absent.
  EXPECT_THAT(Triggers("dogs were kinds of mammals"), ElementsAre("were kinds of HIERARCHICAL"));
  EXPECT_THAT(Triggers("cancer is caused by smoking"), ElementsAre("is caused by CAUSAL reversed"));
  EXPECT_THAT(Triggers("cancer was triggered by smoking"),
              ElementsAre("was triggered by CAUSAL reversed"));
  EXPECT_THAT(Triggers("the wheel is part of the bike"), ElementsAre("is part of COMPOSITIONAL"));
  EXPECT_THAT(Triggers("it takes place before noon"), ElementsAre("takes place before TEMPORAL"));
  EXPECT_THAT(Triggers("lunch is after breakfast"), ElementsAre("is after TEMPORAL reversed"));
}

TEST(FindTriggersTest, CommaOnlyCountsWithAWordAfterIt) {
  EXPECT_THAT(Triggers("mammals, such as dogs"), ElementsAre(", such as HIERARCHICAL reversed"));
  EXPECT_THAT(Triggers("mix, then bake"), ElementsAre(", then TEMPORAL"));
  EXPECT_THAT(Triggers("a, b"), IsEmpty());
}

TEST(FindTriggersTest, SeveralTriggersLeftToRightWithoutOverlap) {
  EXPECT_THAT(Triggers("viruses cause diseases, which lead to death"),
              ElementsAre("cause CAUSAL", "lead to CAUSAL"));
  EXPECT_THAT(Triggers("is a is a"), ElementsAre("is a HIERARCHICAL", "is a HIERARCHICAL"));
}

TEST(FindTriggersTest, StartsAtFrom) {
  EXPECT_THAT(Triggers("causes smoking causes cancer", 1), ElementsAre("causes CAUSAL"));
  EXPECT_THAT(Triggers("causes", 1), IsEmpty());
}

TEST(FindTriggersTest, PluralCopulaIsMarked) {
  const std::string text = "whales are mammals";
  const std::vector<Token> tokens = Tokenize(text, {0, text.size()});
  const std::vector<Trigger> triggers = FindTriggers(tokens, 0);
  ASSERT_EQ(triggers.size(), 1u);
  EXPECT_EQ(triggers[0].def->kind, PatternKind::kPluralCopula);
  EXPECT_FLOAT_EQ(triggers[0].def->base, 0.6f);
}

TEST(FindTriggersTest, NoTriggerInPlainText) {
  EXPECT_THAT(Triggers("the quick brown fox jumps over the lazy dog"), IsEmpty());
  EXPECT_THAT(Triggers(""), IsEmpty());
}

}  // namespace
}  // namespace engram::hybrid::extract
