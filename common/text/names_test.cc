#include "common/text/names.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::text {
namespace {

using ::testing::ElementsAre;

TEST(NamesTest, NormalizedNameFoldsCaseSpacesArticlesAndTrailingPunctuation) {
  EXPECT_EQ(NormalizedName("  The   Domestic\tDog?! "), "domestic dog");
  EXPECT_EQ(NormalizedName("an egg."), "egg");
  EXPECT_EQ(NormalizedName("A"), "a");  // an article alone is a name
  EXPECT_EQ(NormalizedName("the"), "the");
  EXPECT_EQ(NormalizedName(""), "");
}

TEST(NamesTest, LeadingNamesAreBeforeTheFirstColonSplitAtCommas) {
  EXPECT_THAT(LeadingNames("vessel, watercraft: a craft, for water: transport"),
              ElementsAre("vessel", "watercraft"));
  EXPECT_THAT(LeadingNames("Dog, dog , , DOG: x"), ElementsAre("dog"));  // once each, none empty
  EXPECT_THAT(LeadingNames("A whale is a mammal"), ElementsAre("whale is a mammal"));
  EXPECT_THAT(LeadingNames(": no name"), ElementsAre());
}

TEST(NamesTest, IndexedNamesAreTheShortOnes) {
  const std::string long_name(65, 'x');
  EXPECT_THAT(IndexedNames("dog, " + long_name + ", canine: a mammal"),
              ElementsAre("dog", "canine"));
  EXPECT_THAT(IndexedNames(std::string(64, 'y') + ": x"), ElementsAre(std::string(64, 'y')));
  // Only contents of the "names: text" form have indexed names.
  EXPECT_THAT(IndexedNames("Whales eat krill"), ElementsAre());
  EXPECT_THAT(IndexedNames("mammal"), ElementsAre());
  EXPECT_THAT(LeadingNames("mammal"), ElementsAre("mammal"));
  EXPECT_THAT(LeadingNames(long_name), ElementsAre(long_name));
}

TEST(NamesTest, NamedBy) {
  EXPECT_TRUE(NamedBy("vessel, watercraft: a craft", "Watercraft"));
  EXPECT_TRUE(NamedBy("dog", "the dog?"));
  EXPECT_FALSE(NamedBy("drinking vessel: a vessel to drink from", "vessel"));
  EXPECT_FALSE(NamedBy("vessel: x", ""));
  EXPECT_TRUE(NamedByNormalized("Hot Dog, frank: a sausage", "hot dog"));
  EXPECT_TRUE(NamedBy("yolk.", "the yolk"));
  EXPECT_FALSE(NamedBy("a craft: see vessel", "vessel"));
  EXPECT_FALSE(NamedBy("", "vessel"));
}

}  // namespace
}  // namespace engram::text
