#include "common/text/tokenizer.h"

#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::text {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(TokenizeTextTest, LowercasesAsciiAndSplitsOnPunctuation) {
  EXPECT_THAT(TokenizeText("Hello, World! 42 times.", true),
              ElementsAre("hello", "world", "42", "times"));
  EXPECT_THAT(TokenizeText("Hello, World!", false), ElementsAre("Hello", "World"));
}

TEST(TokenizeTextTest, ApostrophesInsideWordsAreDropped) {
  EXPECT_THAT(TokenizeText("Don't stop 'quoted' rock\xE2\x80\x99n", true),
              ElementsAre("dont", "stop", "quoted", "rockn"));
}

TEST(TokenizeTextTest, KeepsNonAsciiLettersAndLowersLatinGreekCyrillic) {
  EXPECT_THAT(TokenizeText("\xC3\x89"
                           "cole caf\xC3\xA9",
                           true),  // "École café"
              ElementsAre("\xC3\xA9"
                          "cole",
                          "caf\xC3\xA9"));
  EXPECT_THAT(TokenizeText("\xCE\x91\xCE\xB8\xCE\xAE\xCE\xBD\xCE\xB1", true),  // "Αθήνα"
              ElementsAre("\xCE\xB1\xCE\xB8\xCE\xAE\xCE\xBD\xCE\xB1"));
  EXPECT_THAT(TokenizeText("\xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0", true),  // "Москва"
              ElementsAre("\xD0\xBC\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0"));
  // CJK is one run of word characters; the ideographic full stop separates.
  EXPECT_THAT(TokenizeText("\xE6\x9D\xB1\xE4\xBA\xAC\xE3\x80\x82\xE7\x8A\xAC", true),
              ElementsAre("\xE6\x9D\xB1\xE4\xBA\xAC", "\xE7\x8A\xAC"));
}

TEST(TokenizeTextTest, UnicodePunctuationSeparates) {
  // em dash, curly quotes, non-breaking space
  EXPECT_THAT(TokenizeText("cats\xE2\x80\x94"
                           "dogs \xE2\x80\x9C"
                           "birds\xE2\x80\x9D\xC2\xA0"
                           "fish",
                           true),
              ElementsAre("cats", "dogs", "birds", "fish"));
}

TEST(TokenizeTextTest, InvalidUtf8IsASeparatorNeverAnError) {
  EXPECT_THAT(TokenizeText("ab\xFF"
                           "cd\xC3",
                           true),
              ElementsAre("ab", "cd"));
  EXPECT_THAT(TokenizeText("\xE2\x82", true), IsEmpty());                    // truncated
  EXPECT_THAT(TokenizeText("x\xC0\xAFy", true), ElementsAre("x", "y"));      // overlong '/'
  EXPECT_THAT(TokenizeText("x\xED\xA0\x80y", true), ElementsAre("x", "y"));  // surrogate
  EXPECT_THAT(TokenizeText("", true), IsEmpty());
  EXPECT_THAT(TokenizeText("... !!! ???", true), IsEmpty());
}

// Random texts from pieces whose class is known (ASCII and non-ASCII letters with their lower
// case, ASCII and Unicode separators, apostrophes, an invalid byte): the tokens must be what the
// classes say, for both lowercase settings (the ASCII fast path and the decoding path agree).
TEST(TokenizeTextTest, RandomMixedTextsTokenizeAsTheirPiecesSay) {
  struct Piece {
    std::string text, lower;
    enum Kind { kWord, kSeparator, kApostrophe } kind;
  };
  const std::vector<Piece> pieces = {
      {"a", "a", Piece::kWord},          {"Z", "z", Piece::kWord},
      {"7", "7", Piece::kWord},          {"\xC3\xA9", "\xC3\xA9", Piece::kWord},  // é
      {"\xC3\x89", "\xC3\xA9", Piece::kWord},                               // É -> é
      {"\xD0\x96", "\xD0\xB6", Piece::kWord},                               // Ж -> ж
      {" ", "", Piece::kSeparator},      {",", "", Piece::kSeparator},
      {"\xE2\x80\x94", "", Piece::kSeparator},                                // em dash
      {"\xFF", "", Piece::kSeparator},                                        // invalid
      {"'", "", Piece::kApostrophe},     {"\xE2\x80\x99", "", Piece::kApostrophe},  // ’
  };
  std::mt19937 rng(3);
  for (int round = 0; round < 2000; ++round) {
    std::vector<const Piece*> seq(rng() % 40);
    for (const Piece*& p : seq) p = &pieces[rng() % pieces.size()];
    for (bool lowercase : {true, false}) {
      std::string text;
      std::vector<std::string> expected;
      std::string current;
      for (size_t i = 0; i < seq.size(); ++i) {
        text += seq[i]->text;
        if (seq[i]->kind == Piece::kWord) {
          current += lowercase ? seq[i]->lower : seq[i]->text;
          continue;
        }
        if (seq[i]->kind == Piece::kApostrophe && !current.empty() && i + 1 < seq.size() &&
            seq[i + 1]->kind == Piece::kWord) {
          continue;
        }
        if (!current.empty()) expected.push_back(std::move(current));
        current.clear();
      }
      if (!current.empty()) expected.push_back(current);
      ASSERT_EQ(TokenizeText(text, lowercase), expected) << "text: " << text;
    }
  }
}

// Into appends: the spans of a second text follow the first's in the same buffers, and a token
// that ends one text never runs into the next text's first one.
TEST(TokenizeTextTest, IntoAppendsEachTextsTokensAfterTheBuffersContents) {
  std::string bytes = "kept";
  std::vector<TokenSpan> spans;
  TokenizeTextInto("Don't STOP", true, &bytes, &spans);
  TokenizeTextInto("stop\xE2\x80\x94\xC3\x89t\xC3\xA9", true, &bytes, &spans);  // stop—Été
  TokenizeTextInto("", true, &bytes, &spans);
  std::vector<std::string> tokens;
  for (const TokenSpan& s : spans) tokens.push_back(bytes.substr(s.offset, s.length));
  EXPECT_THAT(tokens, ElementsAre("dont", "stop", "stop", "\xC3\xA9t\xC3\xA9"));
  EXPECT_EQ(bytes.substr(0, 4), "kept");
  EXPECT_EQ(spans[0].offset, 4u);
}

TEST(TokenizeTextTest, SplitCodePoints) {
  EXPECT_THAT(SplitCodePoints("a\xC3\xA9"
                              "b"),
              ElementsAre("a", "\xC3\xA9", "b"));
}

TEST(TokenizeTextTest, LowercaseText) {
  EXPECT_EQ(LowercaseText("ABC \xC3\x89t\xC3\xA9"), "abc \xC3\xA9t\xC3\xA9");
}

}  // namespace
}  // namespace engram::text
