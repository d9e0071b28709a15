// Request-field checks shared by every edge that accepts requests (engram-api checks at the edge,
// engram-storage again before it writes): one implementation and one wording of every error, so
// both reject the same input with the same message naming the field.
//
//   RETURN_IF_ERROR(text::ValidateId(text::IndexedField("concepts", 3, "id"), id, 128));
//   // -> INVALID_ARGUMENT "concepts[3].id: 200 bytes, at most 128"
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace engram::text {

// "<name>[<index>]" or "<name>[<index>].<sub>".
std::string IndexedField(absl::string_view name, int index, absl::string_view sub = "");
// INVALID_ARGUMENT "<field>: <problem>".
absl::Status InvalidField(absl::string_view field, absl::string_view problem);

// Namespace and model names: [a-zA-Z0-9_.-]{1,64}, not "." or ".." (they name directories).
absl::Status ValidateName(absl::string_view field, absl::string_view name);
// Concept ids: required, at most `max_bytes`, UTF-8, no control characters.
absl::Status ValidateId(absl::string_view field, absl::string_view id, size_t max_bytes);
// Every value finite ("<field>[i]: not finite").
absl::Status ValidateFinite(absl::string_view field, absl::Span<const float> values);
// Exactly `dimension` values, all finite.
absl::Status ValidateVector(absl::string_view field, absl::Span<const float> values,
                            uint32_t dimension);

}  // namespace engram::text
