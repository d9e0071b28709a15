// Output of engramctl: human-readable text, or the protobuf JSON mapping of a response.
//
// Text formats (stable; scripts should still prefer --output json):
//   association  "<source> --<TYPE>(<confidence %.2f>)--> <target>"
//   path         "(<confidence>) a --HIERARCHICAL(0.90)--> b <--CAUSAL(0.70)-- c"; a hop that runs
//                against the stored direction is drawn as "<--TYPE(c)--".
//   search hit   "<rank>. [<score %.4f>] <id>  <content>"
// Each Render* function returns complete lines, each ending in '\n'. Pure functions.
#pragma once

#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "engram/v1/engram.pb.h"
#include "google/protobuf/message.h"

namespace engram::cli {

// One JSON object on one line (lowerCamelCase names, enums by name, default values included),
// without the trailing newline.
std::string ToJson(const google::protobuf::Message& message);

// The label of a concept in a path: its content when known, else its id. Content of the form
// "term: definition" is labelled by the term; labels are shortened to 60 characters.
using ConceptLabel = std::function<std::string(const std::string& id)>;
ConceptLabel IdLabel();
ConceptLabel ContentLabel(const google::protobuf::RepeatedPtrField<engram::v1::ConceptRef>& refs);

// Shortens `text` to at most `max_chars` UTF-8 characters, ending in "..." when cut.
std::string Shorten(absl::string_view text, size_t max_chars);

std::string RenderAssociation(const engram::v1::Association& association);
std::string RenderPath(const engram::v1::Path& path, const ConceptLabel& label);
std::string RenderLearn(const engram::v1::LearnResponse& response);
std::string RenderConcept(const engram::v1::Concept& concept_message);
std::string RenderNeighbors(const std::string& center, const engram::v1::NeighborsResponse& r);
std::string RenderPaths(const engram::v1::FindPathsResponse& response);
std::string RenderSearch(const engram::v1::SearchResponse& response);
std::string RenderReason(const engram::v1::ReasonResponse& response);
// One event of a streamed reason: "Seeds: ..." lines, "Path: ..." (as RenderPath), or the answer
// (RenderReason).
std::string RenderReasonEvent(const engram::v1::ReasonEvent& event);
std::string RenderNamespace(const engram::v1::Namespace& ns);
std::string RenderNamespaces(const engram::v1::ListNamespacesResponse& response);
std::string RenderStats(const engram::v1::Stats& stats);

}  // namespace engram::cli
