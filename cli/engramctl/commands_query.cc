// engramctl's query commands: search (by text or vector) and reason (unary, or --stream: the
// seeds and each path as found, then the answer).
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/engramctl/commands.h"
#include "cli/engramctl/render.h"

namespace engram::cli::commands {

absl::Status Search(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("search");
  std::string vector;
  uint32_t k = 0, ef = 0;
  std::vector<std::string> filters;
  parser.AddString("vector", &vector, "V1,V2,...", "search by this vector instead of text");
  parser.AddUint("k", &k, 1, 1000, "N", "results (default 10)");
  parser.AddUint("ef", &ef, 1, 100000, "N", "HNSW candidate list (default: the namespace's)");
  parser.AddRepeated("filter", &filters, "KEY=VALUE", "attribute equality (repeatable)");
  std::string mode;
  parser.AddString("mode", &mode, "MODE",
                   "hybrid (a text's default: words and vectors fused), keyword (BM25 only) or "
                   "vector");
  if (inv.help) {
    return PrintHelp(inv,
                     "search <TEXT> [--mode hybrid|keyword|vector] | search --vector V1,V2,... "
                     "[--k N] [--filter K=V ...]",
                     "Finds the concepts that best match a text (its words and its meaning) or "
                     "are nearest to a vector.",
                     &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> words, inv.Parse(&parser, args));
  if (words.empty() && vector.empty()) {
    return UsageError("search: missing argument <TEXT> (or --vector)");
  }
  if (!words.empty() && !vector.empty()) {
    return UsageError("search: give either <TEXT> or --vector, not both");
  }
  engram::v1::SearchRequest request;
  if (!mode.empty()) {
    engram::v1::SearchMode parsed;
    if (!engram::v1::SearchMode_Parse(absl::AsciiStrToUpper(mode), &parsed) ||
        parsed == engram::v1::SEARCH_MODE_UNSPECIFIED) {
      return UsageError(absl::StrCat("search: --mode: '", mode, "' is not hybrid, keyword or vector"));
    }
    request.set_mode(parsed);
  }
  request.set_namespace_(inv.options().ns);
  if (!words.empty()) request.set_query(absl::StrJoin(words, " "));
  if (!vector.empty()) RETURN_IF_ERROR(ParseVector(vector, request.mutable_vector()));
  request.set_k(k);
  request.set_ef(ef);
  if (!filters.empty()) {
    RETURN_IF_ERROR(
        ParseKeyValues(filters, "--filter", request.mutable_filter()->mutable_attributes()));
  }
  engram::v1::SearchResponse response;
  RETURN_IF_ERROR(inv.Call(&Stub::Search, request, &response));
  inv.Print(response, RenderSearch(response));
  return absl::OkStatus();
}

absl::Status Reason(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("reason");
  uint32_t k = 0, max_depth = 0, max_paths = 0;
  std::optional<float> min_confidence;
  std::string types;
  parser.AddUint("k", &k, 1, 100, "N", "seed concepts (default 10)");
  parser.AddUint("max_depth", &max_depth, 1, 10, "D", "most hops per path (default 4)");
  parser.AddUint("max_paths", &max_paths, 1, 100, "P", "most paths (default 5)");
  parser.AddFloat("min_confidence", &min_confidence, 0, 1, "C",
                  "answer only at this confidence or more (default 0.3)");
  parser.AddString("types", &types, "T,...", "only these association types");
  bool stream = false;
  parser.AddBool("stream", &stream,
                 "print the seeds and each candidate path as the reasoning finds them, then the "
                 "answer (ReasonStream; with --output json one event per line)");
  if (inv.help) {
    return PrintHelp(inv,
                     "reason <QUESTION> [--k N] [--max_depth D] [--max_paths P] "
                     "[--min_confidence C] [--stream]",
                     "Answers a question with the paths that support the answer, the confidence "
                     "breakdown and an explanation (or \"I don't know\" with the best guess).",
                     &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> words, inv.Parse(&parser, args));
  if (words.empty()) return UsageError("reason: missing argument <QUESTION>");
  engram::v1::ReasonRequest request;
  request.set_namespace_(inv.options().ns);
  request.set_query(absl::StrJoin(words, " "));
  request.set_k(k);
  request.set_max_depth(max_depth);
  request.set_max_paths(max_paths);
  if (min_confidence) request.mutable_min_confidence()->set_value(*min_confidence);
  if (!types.empty()) RETURN_IF_ERROR(ParseTypes(types, "--types", request.mutable_types()));
  if (stream) {
    ASSIGN_OR_RETURN(const RpcClient* client, inv.Client());
    bool answered = false;
    const absl::Status status = client->Stream<engram::v1::ReasonRequest, engram::v1::ReasonEvent>(
        &Stub::ReasonStream, request, client->settings().timeout,
        [&](const engram::v1::ReasonEvent& event) {
          answered = answered || event.has_answer();
          inv.Print(event, RenderReasonEvent(event));
          inv.io().out->flush();  // as they arrive
          return absl::OkStatus();
        });
    RETURN_IF_ERROR(status);
    if (!answered) return absl::UnavailableError("reason: the stream ended without an answer");
    return absl::OkStatus();
  }
  engram::v1::ReasonResponse response;
  RETURN_IF_ERROR(inv.Call(&Stub::Reason, request, &response));
  inv.Print(response, RenderReason(response));
  return absl::OkStatus();
}

}  // namespace engram::cli::commands
