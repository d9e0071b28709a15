#include "common/http/url.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::http {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

TEST(PercentDecodeTest, DecodesEscapes) {
  EXPECT_EQ(*PercentDecode("a%20b%2fc%2F"), "a b/c/");
  EXPECT_EQ(*PercentDecode("a+b"), "a+b");
  EXPECT_EQ(*PercentDecode("a+b", /*plus_is_space=*/true), "a b");
  EXPECT_EQ(*PercentDecode("%C3%A9"), "\xC3\xA9");
  EXPECT_EQ(*PercentDecode(""), "");
}

TEST(PercentDecodeTest, RejectsBadEscapes) {
  EXPECT_EQ(PercentDecode("%").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PercentDecode("%2").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PercentDecode("%zz").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseQueryTest, ParsesPairs) {
  auto query = ParseQuery("type=CAUSAL&limit=50&q=a+b%26c&flag&&limit=10&empty=");
  ASSERT_TRUE(query.ok());
  EXPECT_THAT(*query, ElementsAre(Pair("empty", ""), Pair("flag", ""), Pair("limit", "10"),
                                  Pair("q", "a b&c"), Pair("type", "CAUSAL")));
  EXPECT_TRUE(ParseQuery("")->empty());
  EXPECT_EQ(ParseQuery("a=%g0").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PercentEncodeTest, RoundTrips) {
  const std::string text = "a b/c?d=e&f\xC3\xA9~._-";
  EXPECT_EQ(PercentEncode(text), "a%20b%2Fc%3Fd%3De%26f%C3%A9~._-");
  EXPECT_EQ(*PercentDecode(PercentEncode(text)), text);
}

}  // namespace
}  // namespace engram::http
