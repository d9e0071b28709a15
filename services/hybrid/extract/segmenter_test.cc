// Sentence, clause and token boundaries of the relation extractor.
#include "services/hybrid/extract/segmenter.h"

#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::hybrid::extract {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> Sentences(std::string_view text) {
  std::vector<std::string> out;
  for (const Sentence& s : SplitSentences(text)) {
    out.push_back(std::string(text.substr(s.span.begin, s.span.end - s.span.begin)) +
                  (s.question ? " [?]" : ""));
  }
  return out;
}

// Words as "lower", commas as ",".
std::vector<std::string> Tokens(std::string_view text) {
  std::vector<std::string> out;
  for (const Token& t : Tokenize(text, {0, text.size()})) out.push_back(t.lower);
  return out;
}

TEST(SplitSentencesTest, EndsAtTerminalPunctuationFollowedBySpace) {
  EXPECT_THAT(Sentences("Dogs bark. Cats meow! Do birds sing? Fish swim"),
              ElementsAre("Dogs bark.", "Cats meow!", "Do birds sing? [?]", "Fish swim"));
  EXPECT_THAT(Sentences("  Trimmed.  \n"), ElementsAre("Trimmed."));
  EXPECT_THAT(Sentences("He said \"go.\" Then left."),
              ElementsAre("He said \"go.\"", "Then left."));
  EXPECT_THAT(Sentences("Really?! Yes."), ElementsAre("Really?! [?]", "Yes."));
  EXPECT_THAT(Sentences(""), IsEmpty());
  EXPECT_THAT(Sentences(" \n\t "), IsEmpty());
}

TEST(SplitSentencesTest, NotAfterAbbreviationsInitialsNumbersOrBeforeLowercase) {
  EXPECT_THAT(Sentences("Dr. Smith is a surgeon. He works."),
              ElementsAre("Dr. Smith is a surgeon.", "He works."));
  EXPECT_THAT(Sentences("The U.S. economy grew."), ElementsAre("The U.S. economy grew."));
  EXPECT_THAT(Sentences("Version 2.5 uses node.js now."),
              ElementsAre("Version 2.5 uses node.js now."));
  EXPECT_THAT(Sentences("Pets, e.g. dogs, are loyal. Yes."),
              ElementsAre("Pets, e.g. dogs, are loyal.", "Yes."));
}

TEST(SplitSentencesTest, BulletsAndBlankLinesEndSentences) {
  EXPECT_THAT(Sentences("Notes:\n- Dogs are mammals\n- Cats are mammals"),
              ElementsAre("Notes:", "- Dogs are mammals", "- Cats are mammals"));
  EXPECT_THAT(Sentences("First line\n\nSecond line"), ElementsAre("First line", "Second line"));
  EXPECT_THAT(Sentences("One\n\xE2\x80\xA2 Two"), ElementsAre("One", "\xE2\x80\xA2 Two"));
  EXPECT_THAT(Sentences("No break\nhere"), ElementsAre("No break\nhere"));
}

TEST(SplitClausesTest, SplitsAtSemicolonAndColon) {
  const std::string text = "x. Smoking causes cancer; cancer causes death: sad";
  const Span sentence{3, text.size()};
  std::vector<std::string> clauses;
  for (const Span& c : SplitClauses(text, sentence)) {
    clauses.push_back(text.substr(c.begin, c.end - c.begin));
  }
  EXPECT_THAT(clauses, ElementsAre("Smoking causes cancer", " cancer causes death", " sad"));
  EXPECT_EQ(SplitClauses(text, {0, 2}).size(), 1u);
}

TEST(TokenizeTest, WordsLowercasedWithInnerJoiners) {
  EXPECT_THAT(Tokens("The Kid's well-known U.S. toy"),
              ElementsAre("the", "kid's", "well-known", "u.s", "toy"));
  EXPECT_THAT(Tokens("The kid\xE2\x80\x99s toy"), ElementsAre("the", "kid's", "toy"));
  EXPECT_THAT(Tokens("caf\xC3\xA9 au lait"), ElementsAre("caf\xC3\xA9", "au", "lait"));
}

TEST(TokenizeTest, CommasDashesAmpersandsAndDroppedText) {
  EXPECT_THAT(Tokens("dogs, cats & horses"), ElementsAre("dogs", ",", "cats", "and", "horses"));
  EXPECT_THAT(Tokens("a restaurant \xE2\x80\x94 a small one"),
              ElementsAre("a", "restaurant", ",", "a", "small", "one"));
  EXPECT_THAT(Tokens("a cafe - small"), ElementsAre("a", "cafe", ",", "small"));
  EXPECT_THAT(Tokens("Dogs (Canis [familiaris]) are \"loyal\"!"),
              ElementsAre("dogs", "are", "loyal"));
  EXPECT_THAT(Tokens("\xC2\xAB"
                     "quoted\xC2\xBB"),
              ElementsAre("quoted"));
}

TEST(TokenizeTest, TokensCarryTheirByteSpanInTheFullText) {
  const std::string text = "xx Smoking, causes";
  const std::vector<Token> tokens = Tokenize(text, {3, text.size()});
  ASSERT_EQ(tokens.size(), 3u);
  EXPECT_EQ(text.substr(tokens[0].begin, tokens[0].end - tokens[0].begin), "Smoking");
  EXPECT_EQ(tokens[1].kind, TokenKind::kComma);
  EXPECT_EQ(tokens[1].begin, 10u);
  EXPECT_EQ(tokens[2].kind, TokenKind::kWord);
  EXPECT_EQ(tokens[2].end, text.size());
}

TEST(TokenizeTest, InvalidUtf8ReadsAsLetters) {
  EXPECT_THAT(Tokens("a\xFF\xFE b"), ElementsAre("a\xFF\xFE", "b"));
}

}  // namespace
}  // namespace engram::hybrid::extract
