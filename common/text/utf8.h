// UTF-8 validation shared by every edge that accepts text (engram-api, engram-storage).
#pragma once

#include "absl/strings/string_view.h"

namespace engram::text {

// True when `s` is well-formed UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF,
// no truncated sequence.
bool IsValidUtf8(absl::string_view s);

}  // namespace engram::text
