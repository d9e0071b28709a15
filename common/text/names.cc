#include "common/text/names.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace engram::text {

std::string NormalizedName(absl::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
    } else {
      out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '.' || out.back() == '?' ||
                          out.back() == '!' || out.back() == ';')) {
    out.pop_back();
  }
  for (absl::string_view article : {"a ", "an ", "the "}) {
    if (absl::StartsWith(out, article)) {
      out.erase(0, article.size());
      break;
    }
  }
  return out;
}

namespace {
absl::string_view NamesPart(absl::string_view content) {
  return content.substr(0, content.find(':'));
}
}  // namespace

namespace {
std::vector<std::string> Names(absl::string_view content, size_t max_bytes) {
  std::vector<std::string> out;
  for (absl::string_view one : absl::StrSplit(NamesPart(content), ',')) {
    if (one.size() > 4 * max_bytes) continue;
    std::string name = NormalizedName(one);
    if (!name.empty() && name.size() <= max_bytes &&
        std::find(out.begin(), out.end(), name) == out.end()) {
      out.push_back(std::move(name));
    }
  }
  return out;
}
}  // namespace

std::vector<std::string> LeadingNames(absl::string_view content) {
  return Names(content, content.size());
}

std::vector<std::string> IndexedNames(absl::string_view content) {
  if (content.find(':') == absl::string_view::npos) return {};
  return Names(content, kMaxIndexedNameBytes);
}

bool NamedByNormalized(absl::string_view content, absl::string_view wanted) {
  if (wanted.empty()) return false;
  for (absl::string_view one : absl::StrSplit(NamesPart(content), ',')) {
    if (NormalizedName(one) == wanted) return true;
  }
  return false;
}

bool NamedBy(absl::string_view content, absl::string_view name) {
  return NamedByNormalized(content, NormalizedName(name));
}

}  // namespace engram::text
