#include "common/text/tokenizer.h"

#include "common/text/utf8.h"

namespace engram::text {
namespace {

using text::AppendUtf8;
using text::DecodeUtf8;

bool IsSeparatorCodePoint(int32_t cp) {
  if (cp < 0) return true;
  if (cp < 0x80) {
    return !((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9'));
  }
  return (cp <= 0xBF) || cp == 0xD7 || cp == 0xF7 || (cp >= 0x2000 && cp <= 0x2BFF) ||
         (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFE30 && cp <= 0xFE4F) || cp == 0xFEFF ||
         (cp >= 0xFF01 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
         (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65) || cp == 0xFFFD ||
         (cp >= 0x1F000 && cp <= 0x1FAFF);
}

bool IsApostrophe(int32_t cp) { return cp == 0x27 || cp == 0x2019; }

int32_t Lower(int32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 0x20;
  if (cp < 0xC0) return cp;
  if (cp <= 0xDE && cp != 0xD7) return cp + 0x20;
  if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 0x20;
  if (cp >= 0x410 && cp <= 0x42F) return cp + 0x20;
  if (cp >= 0x400 && cp <= 0x40F) return cp + 0x50;
  return cp;
}

}  // namespace

void TokenizeTextInto(std::string_view text, bool lowercase, std::string* bytes,
                      std::vector<TokenSpan>* spans) {
  // One pass, decoding as it goes; ASCII (most text) takes no call per character. Each code point
  // is read exactly where a decode of the whole text would read it, so the tokens are the same.
  auto next = [&](size_t* pos) -> int32_t {
    const auto c = static_cast<unsigned char>(text[*pos]);
    if (c < 0x80) {
      ++*pos;
      return c;
    }
    return DecodeUtf8(text, pos);
  };
  std::string& out = *bytes;
  size_t start = out.size();  // of the token being read
  auto end_token = [&] {
    if (out.size() > start) {
      spans->push_back(
          TokenSpan{static_cast<uint32_t>(start), static_cast<uint32_t>(out.size() - start)});
      start = out.size();
    }
  };
  for (size_t pos = 0; pos < text.size();) {
    const int32_t cp = next(&pos);
    if (cp >= 0 && cp < 0x80) {
      if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9')) {
        out.push_back(static_cast<char>(cp));
        continue;
      }
      if (cp >= 'A' && cp <= 'Z') {
        out.push_back(static_cast<char>(lowercase ? cp + 0x20 : cp));
        continue;
      }
    } else if (!IsSeparatorCodePoint(cp)) {
      AppendUtf8(lowercase ? Lower(cp) : cp, &out);
      continue;
    }
    if (IsApostrophe(cp) && out.size() > start && pos < text.size()) {
      size_t peek = pos;
      if (!IsSeparatorCodePoint(next(&peek))) continue;  // "don't" -> "dont": the word goes on.
    }
    end_token();
  }
  end_token();
}

std::vector<std::string> TokenizeText(std::string_view text, bool lowercase) {
  std::string bytes;
  std::vector<TokenSpan> spans;
  TokenizeTextInto(text, lowercase, &bytes, &spans);
  std::vector<std::string> tokens;
  tokens.reserve(spans.size());
  for (const TokenSpan& s : spans) tokens.emplace_back(bytes, s.offset, s.length);
  return tokens;
}

std::string LowercaseText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const int32_t cp = DecodeUtf8(text, &pos);
    if (cp >= 0) AppendUtf8(Lower(cp), &out);
  }
  return out;
}

std::vector<std::string_view> SplitCodePoints(std::string_view token) {
  std::vector<std::string_view> out;
  out.reserve(token.size());
  for (size_t pos = 0; pos < token.size();) {
    const size_t start = pos;
    DecodeUtf8(token, &pos);
    out.push_back(token.substr(start, pos - start));
  }
  return out;
}

}  // namespace engram::text
