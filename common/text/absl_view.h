// Debian's Abseil is built with ABSL_OPTION_USE_STD_STRING_VIEW=0: absl::string_view is its own
// type, and absl::StrCat & co. do not accept std::string_view. Engram's APIs use std::string_view
// and convert at calls into Abseil with AbslView (and back with StdView). Free, no copies.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace engram {

inline absl::string_view AbslView(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view StdView(absl::string_view s) { return {s.data(), s.size()}; }

}  // namespace engram
