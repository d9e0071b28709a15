// UTF-8, decoded one way everywhere: request validation (engram-api, engram-storage), the log's
// JSON escaping and the embedders' tokenizer share these functions.
//
// Well-formed means: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF,
// no truncated sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace engram::text {

// Decodes the code point at text[*pos] and advances *pos past it. Returns -1 (and advances by one
// byte) for an invalid, overlong, surrogate or truncated sequence. Requires *pos < text.size().
int32_t DecodeUtf8(std::string_view text, size_t* pos);

// Length of the well-formed sequence starting at text[pos] (1 for ASCII), or 0 when it is not
// well-formed. Requires pos < text.size().
size_t Utf8SequenceLength(std::string_view text, size_t pos);

// Appends the UTF-8 encoding of `code_point` (must be a Unicode scalar value) to *out.
void AppendUtf8(int32_t code_point, std::string* out);

// True when `s` is well-formed UTF-8.
bool IsValidUtf8(absl::string_view s);

}  // namespace engram::text
