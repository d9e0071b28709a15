#include "common/text/fields.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/text/utf8.h"

namespace engram::text {

std::string IndexedField(absl::string_view name, int index, absl::string_view sub) {
  std::string out = absl::StrCat(name, "[", index, "]");
  if (!sub.empty()) absl::StrAppend(&out, ".", sub);
  return out;
}

absl::Status InvalidField(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

absl::Status ValidateName(absl::string_view field, absl::string_view name) {
  if (name.empty()) return InvalidField(field, "required");
  if (name.size() > 64) return InvalidField(field, absl::StrCat(name.size(), " characters, at most 64"));
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return InvalidField(field, "must match [a-zA-Z0-9_.-]{1,64}");
  }
  if (name == "." || name == "..") return InvalidField(field, "must not be '.' or '..'");
  return absl::OkStatus();
}

absl::Status ValidateId(absl::string_view field, absl::string_view id, size_t max_bytes) {
  if (id.empty()) return InvalidField(field, "required");
  if (id.size() > max_bytes) return InvalidField(field, absl::StrCat(id.size(), " bytes, at most ", max_bytes));
  if (!IsValidUtf8(id)) return InvalidField(field, "not valid UTF-8");
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7F) return InvalidField(field, "contains a control character");
  }
  return absl::OkStatus();
}

absl::Status ValidateFinite(absl::string_view field, absl::Span<const float> values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) return InvalidField(IndexedField(field, static_cast<int>(i)), "not finite");
  }
  return absl::OkStatus();
}

absl::Status ValidateVector(absl::string_view field, absl::Span<const float> values,
                            uint32_t dimension) {
  if (values.size() != dimension) {
    return InvalidField(field, absl::StrCat("dimension ", values.size(), " != namespace dimension ", dimension));
  }
  return ValidateFinite(field, values);
}

}  // namespace engram::text
