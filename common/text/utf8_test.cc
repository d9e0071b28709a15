#include "common/text/utf8.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace engram::text {
namespace {

std::vector<int32_t> Decode(std::string_view text) {
  std::vector<int32_t> out;
  for (size_t pos = 0; pos < text.size();) out.push_back(DecodeUtf8(text, &pos));
  return out;
}

TEST(Utf8Test, DecodesEveryLength) {
  EXPECT_EQ(Decode("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"),
            (std::vector<int32_t>{'a', 0xE9, 0x20AC, 0x1F600}));
  EXPECT_EQ(Decode(std::string_view("\0", 1)), (std::vector<int32_t>{0}));
}

TEST(Utf8Test, EveryIllFormedSequenceIsOneBadByte) {
  // Each case decodes to -1 for its first byte and then resynchronises one byte later.
  struct Case {
    const char* name;
    std::string bytes;
  };
  const Case cases[] = {
      {"lone continuation", "\x80"},
      {"overlong 2-byte", "\xC0\xAF"},
      {"overlong 2-byte C1", "\xC1\xBF"},
      {"overlong 3-byte", "\xE0\x80\xAF"},
      {"overlong 4-byte", "\xF0\x80\x80\xAF"},
      {"surrogate", "\xED\xA0\x80"},
      {"above U+10FFFF", "\xF4\x90\x80\x80"},
      {"F5 lead", "\xF5\x80\x80\x80"},
      {"truncated 3-byte", "\xE2\x82"},
      {"truncated 4-byte", "\xF0\x9F\x98"},
      {"bad continuation", "\xC3\x28"},
  };
  for (const Case& c : cases) {
    size_t pos = 0;
    EXPECT_EQ(DecodeUtf8(c.bytes, &pos), -1) << c.name;
    EXPECT_EQ(pos, 1u) << c.name;
    EXPECT_EQ(Utf8SequenceLength(c.bytes, 0), 0u) << c.name;
    EXPECT_FALSE(IsValidUtf8(c.bytes)) << c.name;
  }
}

TEST(Utf8Test, BoundariesAreValid) {
  for (const char* s : {"\x7F", "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF",
                        "\xEE\x80\x80", "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF"}) {
    EXPECT_TRUE(IsValidUtf8(s)) << s;
    EXPECT_EQ(Utf8SequenceLength(s, 0), std::string_view(s).size()) << s;
  }
  EXPECT_TRUE(IsValidUtf8(""));
}

TEST(Utf8Test, AppendIsTheInverseOfDecode) {
  for (int32_t cp : {0x00, 0x41, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000,
                     0x10FFFF}) {
    std::string encoded;
    AppendUtf8(cp, &encoded);
    EXPECT_TRUE(IsValidUtf8(encoded)) << cp;
    size_t pos = 0;
    EXPECT_EQ(DecodeUtf8(encoded, &pos), cp);
    EXPECT_EQ(pos, encoded.size());
  }
}

}  // namespace
}  // namespace engram::text
