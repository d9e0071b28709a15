#include "common/logging/json_escape.h"

#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace engram::logging {
namespace {

std::string Escaped(std::string_view text) {
  std::string out;
  AppendJsonEscaped(text, &out);
  return out;
}

TEST(JsonEscapeTest, EscapesSpecialCharacters) {
  EXPECT_EQ(Escaped("plain"), "plain");
  EXPECT_EQ(Escaped("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(Escaped("\n\r\t\b\f"), "\\n\\r\\t\\b\\f");
  EXPECT_EQ(Escaped(std::string("\x01\x1f\x7f", 3)), "\\u0001\\u001f\\u007f");
  EXPECT_EQ(Escaped(std::string("nul\0byte", 8)), "nul\\u0000byte");
}

TEST(JsonEscapeTest, KeepsValidUtf8AndReplacesInvalid) {
  EXPECT_EQ(Escaped("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"),
            "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  EXPECT_EQ(Escaped("\xFF"), "\xEF\xBF\xBD");
  EXPECT_EQ(Escaped("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  EXPECT_EQ(Escaped("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(Escaped("trunc\xE2\x82"), "trunc\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(JsonEscapeTest, EveryByteRoundTripsThroughAJsonParser) {
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  const nlohmann::json parsed = nlohmann::json::parse("{\"v\":" + JsonQuote(all_bytes) + "}");
  const std::string value = parsed["v"];
  EXPECT_EQ(value.substr(0, 128), all_bytes.substr(0, 128));
}

}  // namespace
}  // namespace engram::logging
