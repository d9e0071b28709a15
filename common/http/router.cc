#include "common/http/router.h"

#include <set>

#include "absl/strings/str_cat.h"

namespace engram::http::router_internal {
namespace {

bool IsParamNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (!first && c >= '0' && c <= '9');
}

}  // namespace

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  if (path.empty() || path.front() != '/') return segments;
  path.remove_prefix(1);
  while (true) {
    const size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

absl::Status ParsePattern(std::string_view pattern, std::vector<ParsedSegment>* segments) {
  const auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid route pattern \"", std::string(pattern), "\": ", std::string(why)));
  };
  if (pattern.empty() || pattern.front() != '/') return invalid("must start with '/'");
  std::set<std::string> names;
  for (std::string_view text : SplitPath(pattern)) {
    ParsedSegment segment;
    if (!text.empty() && text.front() == '{') {
      const size_t close = text.find('}');
      if (close == std::string_view::npos) return invalid("unclosed '{'");
      const std::string_view name = text.substr(1, close - 1);
      if (name.empty()) return invalid("empty parameter name");
      for (size_t i = 0; i < name.size(); ++i) {
        if (!IsParamNameChar(name[i], i == 0)) return invalid("bad parameter name");
      }
      segment.param = std::string(name);
      segment.literal = std::string(text.substr(close + 1));
      if (!names.insert(segment.param).second) return invalid("duplicate parameter name");
    } else {
      if (text.empty() && segments->size() + 1 < SplitPath(pattern).size()) {
        return invalid("empty segment");
      }
      segment.literal = std::string(text);
    }
    if (segment.literal.find_first_of("{}") != std::string::npos) {
      return invalid("'{' or '}' outside a whole-segment parameter");
    }
    segments->push_back(std::move(segment));
  }
  return absl::OkStatus();
}

}  // namespace engram::http::router_internal
