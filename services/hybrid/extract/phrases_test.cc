// Noun-phrase boundaries and clean-up around a trigger.
#include "services/hybrid/extract/phrases.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::hybrid::extract {
namespace {

using ::testing::ElementsAre;

// One clause's tokens and a scanner over them; phrases are read back as their keys.
class PhraseScannerTest : public ::testing::Test {
 protected:
  void Scan(std::string text, size_t max_phrase_words = 8) {
    text_ = std::move(text);
    tokens_ = Tokenize(text_, {0, text_.size()});
    scanner_.emplace(text_, tokens_, max_phrase_words);
  }
  Phrase All() const { return {0, tokens_.size()}; }
  // The key of the cleaned phrase, or "(none)".
  std::string Cleaned(Phrase p) const {
    std::optional<Phrase> c = scanner_->Clean(p);
    return c ? scanner_->Key(*c) : "(none)";
  }
  std::vector<std::string> Members(Phrase p) const {
    std::vector<std::string> out;
    for (const Phrase& m : scanner_->SplitCoordination(p)) {
      out.push_back(scanner_->Key(m) + (m.coordinated ? " [c]" : ""));
    }
    return out;
  }

  std::string text_;
  std::vector<Token> tokens_;
  std::optional<PhraseScanner> scanner_;
};

TEST_F(PhraseScannerTest, CleanStripsDeterminersAndDiscourseWords) {
  Scan("the big dog");
  EXPECT_EQ(Cleaned(All()), "big dog");
  Scan("however , all the dogs");
  EXPECT_EQ(Cleaned(All()), "dogs");
  Scan("this dog");  // "this" before a noun is a determiner, alone a pronoun
  EXPECT_EQ(Cleaned(All()), "dog");
  Scan(", dogs ,");
  EXPECT_EQ(Cleaned(All()), "dogs");
  Scan("the");  // nothing left after the determiner
  EXPECT_EQ(Cleaned(All()), "(none)");
}

TEST_F(PhraseScannerTest, CleanRejectsWhatIsNoConcept) {
  for (const char* text :
       {"it", "they all", "this", "of dogs", "not dogs", "formed", "2.5", "1-2", ""}) {
    Scan(text);
    if (tokens_.empty()) continue;
    EXPECT_EQ(Cleaned(All()), "(none)") << text;
  }
  Scan("one two three four five six seven eight nine");
  EXPECT_EQ(Cleaned(All()), "(none)");
  Scan("the committee was formed");  // a participle alone is rejected, inside a clause it is not
  EXPECT_EQ(Cleaned(All()), "committee was formed");
  Scan("big red dog", /*max_phrase_words=*/2);
  EXPECT_EQ(Cleaned(All()), "(none)");
}

TEST_F(PhraseScannerTest, SplitCoordination) {
  Scan("dogs , cats and horses");
  EXPECT_THAT(Members(All()), ElementsAre("dogs [c]", "cats [c]", "horses [c]"));
  Scan("tea or coffee");
  EXPECT_THAT(Members(All()), ElementsAre("tea [c]", "coffee [c]"));
  Scan("loyal and friendly animal");  // an adjective before "and" modifies the rest
  EXPECT_THAT(Members(All()), ElementsAre("loyal and friendly animal"));
  Scan("salt and pepper");
  EXPECT_THAT(Members(All()), ElementsAre("salt [c]", "pepper [c]"));
  Scan("lung cancer");
  EXPECT_THAT(Members(All()), ElementsAre("lung cancer"));
}

TEST_F(PhraseScannerTest, ObjectRegionEndsAtPrepositionsClauseWordsAndPredicates) {
  const auto object = [&](std::string text) {
    Scan(std::move(text));
    return scanner_->Key(scanner_->ObjectRegion(0, tokens_.size()));
  };
  EXPECT_EQ(object("cancer in humans"), "cancer");
  EXPECT_EQ(object("member of the cat family"), "member of the cat family");  // "of" stays
  EXPECT_EQ(object("animal that barks"), "animal");
  EXPECT_EQ(object("language created by guido"), "language");
  EXPECT_EQ(object("mammals are warm"), "mammals");
  EXPECT_EQ(object("dogs , cats and horses"), "dogs cats and horses");  // a list goes on
  EXPECT_EQ(object("diseases , which lead to death"), "diseases");
  EXPECT_EQ(object("heat , but only in the very long run"), "heat");
}

TEST_F(PhraseScannerTest, SubjectRegionStartsAfterClauseWordsAndClauseCommas) {
  const auto subject = [&](std::string text, bool force_list = false, bool clause = false) {
    Scan(std::move(text));
    return scanner_->Key(scanner_->SubjectRegion(0, tokens_.size(), force_list, clause));
  };
  EXPECT_EQ(subject("we know that smoking"), "smoking");
  EXPECT_EQ(subject("in the end , smoking"), "smoking");
  EXPECT_EQ(subject("dogs , cats and horses"), "dogs cats and horses");
  EXPECT_EQ(subject("apples , pears", /*force_list=*/true), "apples pears");
  EXPECT_EQ(subject("apples , pears"), "pears");
  EXPECT_EQ(subject("the committee was formed"), "formed");
  EXPECT_EQ(subject("the committee was formed", false, /*clause=*/true),
            "the committee was formed");
}

TEST_F(PhraseScannerTest, HedgesMultiplyAndNegationsStop) {
  Scan("smoking may often");
  size_t end = tokens_.size();
  float factor = 1.0f;
  EXPECT_TRUE(scanner_->PopTrailingHedges(0, &end, &factor));
  EXPECT_EQ(end, 1u);
  EXPECT_FLOAT_EQ(factor, 0.7f * 0.9f);

  Scan("smoking does not");
  end = tokens_.size();
  EXPECT_FALSE(scanner_->PopTrailingHedges(0, &end, &factor));

  Scan("also rarely cancer");
  size_t begin = 0;
  factor = 1.0f;
  EXPECT_TRUE(scanner_->PopLeadingHedges(&begin, tokens_.size(), &factor));
  EXPECT_EQ(begin, 2u);
  EXPECT_FLOAT_EQ(factor, 0.4f);

  Scan("in fact cancer");  // after a trigger, "in" opens the object
  begin = 0;
  EXPECT_TRUE(scanner_->PopLeadingHedges(&begin, tokens_.size(), &factor));
  EXPECT_EQ(begin, 0u);

  Scan("never cancer");
  begin = 0;
  EXPECT_FALSE(scanner_->PopLeadingHedges(&begin, tokens_.size(), &factor));
}

TEST_F(PhraseScannerTest, SurfaceKeyAndText) {
  Scan("The  Golden   Retriever, Dog");
  const Phrase p{1, tokens_.size()};
  EXPECT_EQ(scanner_->Surface(p), "Golden Retriever, Dog");
  EXPECT_EQ(scanner_->Key(p), "golden retriever dog");
  EXPECT_EQ(scanner_->Text(1, 3), "Golden   Retriever");
  EXPECT_EQ(CountWords(tokens_, 0, tokens_.size()), 4u);
}

}  // namespace
}  // namespace engram::hybrid::extract
