// Text normalisation and tokenisation shared by the embedders.
//
// This is part of the pinned embedding algorithm: changing what it returns for any input changes
// vectors, which breaks Engram's "same input, same embedding on every replica and version"
// guarantee. Treat any behaviour change as a new embedder name (docs/hybrid.md).
//
// Rules (version 1):
//   - The input is decoded as UTF-8 (text::DecodeUtf8, common/text/utf8.h). An invalid or
//     truncated sequence is treated as one separator byte (never an error, never read past the end).
//   - Word characters: ASCII letters and digits, and every code point >= U+0080 except the
//     separator ranges below. Everything else separates tokens.
//   - Separator ranges (punctuation and symbols): U+0080..U+00BF, U+00D7, U+00F7,
//     U+2000..U+2BFF, U+3000..U+303F, U+FE30..U+FE4F, U+FEFF, U+FF01..U+FF0F, U+FF1A..U+FF20,
//     U+FF3B..U+FF40, U+FF5B..U+FF65, U+FFFD, U+1F000..U+1FAFF.
//   - An apostrophe (U+0027 or U+2019) between two word characters is dropped ("don't" ->
//     "dont"); elsewhere it separates.
//   - With `lowercase`, letters are lowered: ASCII A-Z, Latin-1 U+00C0..U+00DE (not U+00D7),
//     Greek U+0391..U+03A9, Cyrillic U+0400..U+042F. Other scripts are kept as they are; no
//     locale is consulted, so the result is the same on every machine.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace engram::text {

// Splits `text` into tokens under the rules above.
std::vector<std::string> TokenizeText(std::string_view text, bool lowercase);

// The tokens of TokenizeText, without a string per token: appended to `bytes` one after another,
// each as its (offset in `bytes`, length) in `spans`. For callers that tokenize many texts and
// reuse both buffers (the keyword index); TokenizeText is built on it, so both give the same
// tokens.
struct TokenSpan {
  uint32_t offset;
  uint32_t length;
};
void TokenizeTextInto(std::string_view text, bool lowercase, std::string* bytes,
                      std::vector<TokenSpan>* spans);

// Lowercases `text` with the `lowercase` rule above (code points outside it are kept; invalid
// UTF-8 bytes are dropped).
std::string LowercaseText(std::string_view text);

// Splits a token into its code points (each as a UTF-8 string view into `token`). The token must
// be valid UTF-8 (as every TokenizeText output is).
std::vector<std::string_view> SplitCodePoints(std::string_view token);

}  // namespace engram::text
