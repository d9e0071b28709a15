// URL pieces of an HTTP request target: percent-decoding and query strings.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace engram::http {

// Decodes %XX escapes (either hex case). With `plus_is_space` (query strings, per
// application/x-www-form-urlencoded) '+' becomes ' '. INVALID_ARGUMENT for a truncated or
// non-hex escape.
absl::StatusOr<std::string> PercentDecode(std::string_view text, bool plus_is_space = false);

// Parses "a=1&b=x%20y&flag" into {"a":"1","b":"x y","flag":""}. Empty pieces are skipped; when a
// key repeats, the last value wins. INVALID_ARGUMENT for a bad escape.
absl::StatusOr<std::map<std::string, std::string>> ParseQuery(std::string_view query);

// Escapes everything except RFC 3986 unreserved characters (for building URLs in tests/clients).
std::string PercentEncode(std::string_view text);

}  // namespace engram::http
