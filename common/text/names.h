// The names of a concept, read from its content: the text before the first ':' (all of it when
// there is none), split at ','. "vessel, watercraft: a craft designed for water transportation"
// is named "vessel" and "watercraft"; "drinking vessel: a vessel ..." is named "drinking vessel"
// only. Names compare normalized: lower case, single spaces, no surrounding spaces, no leading
// article ("a ", "an ", "the ") and no trailing '.', '?', '!' or ';'.
//
//   text::NamedBy("Dog, domestic dog: a member of the genus Canis", "the dog?")  // true
//
// engram-storage indexes the names of contents in that "names: text" form (a ':' present), each of
// at most kMaxIndexedNameBytes normalized, so that Search can be restricted to the concepts of one
// name (storage.v1 SearchRequest.name); engram-hybrid's reasoner reads the same names (a
// question's "What is a X?"). A content without ':' -- a sentence, or a bare name, which a word
// search ranks first anyway -- has no indexed name.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace engram::text {

// Longer names are not indexed, nor names written in more than 4x as many bytes (not even
// normalized).
inline constexpr size_t kMaxIndexedNameBytes = 64;

// A concept's attribute "strength:<name>" (the name normalized) is how strongly that name means
// the concept, e.g. how often the word was used in that sense; engram-hybrid's reasoner weighs
// the concepts a question names by it (docs/hybrid.md, "sense counts"): when one of them lists
// the name, each weighs by its strength of that name (1 when it lists none); when none does, by
// their concepts' strengths.
inline constexpr char kNameStrengthPrefix[] = "strength:";

// `name` normalized as above.
std::string NormalizedName(absl::string_view name);
// The content's names, normalized, each once, in order; empty ones skipped.
std::vector<std::string> LeadingNames(absl::string_view content);
// The names engram-storage indexes: with a ':' in the content, its LeadingNames of at most
// kMaxIndexedNameBytes; without one, none.
std::vector<std::string> IndexedNames(absl::string_view content);
// Whether one of the content's names is `wanted`, which is already normalized.
bool NamedByNormalized(absl::string_view content, absl::string_view wanted);
// Whether one of the content's names is `name` (normalized here).
bool NamedBy(absl::string_view content, absl::string_view name);

}  // namespace engram::text
