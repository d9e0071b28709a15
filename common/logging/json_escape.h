// JSON string escaping shared by the log formatters (and anything else that hand-writes JSON).
#pragma once

#include <string>
#include <string_view>

namespace engram::logging {

// Appends `text` to `out` as the contents of a JSON string (without the surrounding quotes):
// '"' and '\\' are escaped, control characters become \n, \t, ... or \u00XX, and byte sequences
// that are not valid UTF-8 become U+FFFD, so the result is always valid JSON.
void AppendJsonEscaped(std::string_view text, std::string* out);

// Convenience: the escaped text wrapped in double quotes.
std::string JsonQuote(std::string_view text);

}  // namespace engram::logging
