// engramctl's concept commands: learn (one text, or a file's lines as LearnBatch), get, list
// (page by page), update (an update mask from the flags given) and delete.
#include <algorithm>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/engramctl/commands.h"
#include "cli/engramctl/render.h"

namespace engram::cli::commands {

absl::Status Learn(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("learn");
  std::string file, id, vector;
  bool whole = false, no_extract = false;
  std::vector<std::string> attrs;
  BulkOptions bulk;
  parser.AddString("file", &file, "FILE", "learn each line of FILE (- for stdin)");
  parser.AddBool("whole", &whole, "with --file or -: the whole input is one concept");
  parser.AddString("id", &id, "ID", "concept id (default: derived from the content)");
  parser.AddRepeated("attr", &attrs, "KEY=VALUE", "attribute (repeatable)");
  parser.AddString("vector", &vector, "V1,V2,...", "the concept's vector (skips the embedder)");
  parser.AddBool("no_extract", &no_extract, "do not create associations automatically");
  parser.AddUint("batch", &bulk.batch, 1, kMaxBatch, "N", "line mode: concepts per LearnBatch");
  parser.AddUint("parallel", &bulk.parallel, 1, 64, "N", "line mode: batches in flight");
  constexpr char kSynopsis[] = "learn <text> | learn --file FILE [--whole] | learn - [--whole]";
  if (inv.help) {
    return PrintHelp(inv, kSynopsis,
                     "Teaches one concept (the text), or one concept per non-empty line of a file "
                     "or stdin (sent as LearnBatch), or a whole file as one concept.",
                     &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> words, inv.Parse(&parser, args));
  bool from_stdin = words.size() == 1 && words[0] == "-";
  if (from_stdin) {
    if (!file.empty()) return UsageError("learn: give either - or --file, not both");
    file = "-";
    words.clear();
  }
  if (!file.empty() && !words.empty()) {
    return UsageError("learn: give either <text> or --file, not both");
  }
  if (file.empty() && words.empty()) {
    return UsageError("learn: missing argument <text> (or --file FILE, or - for stdin)");
  }
  if (whole && file.empty()) return UsageError("learn: --whole needs --file FILE or -");

  engram::v1::LearnRequest request;
  request.set_namespace_(inv.options().ns);
  RETURN_IF_ERROR(ParseKeyValues(attrs, "--attr", request.mutable_attributes()));
  if (no_extract) request.mutable_extract_associations()->set_value(false);

  const bool single = file.empty() || whole;
  if (single) {
    if (!id.empty()) request.set_id(id);
    if (!vector.empty()) RETURN_IF_ERROR(ParseVector(vector, request.mutable_vector()));
    if (file.empty()) {
      request.set_content(absl::StrJoin(words, " "));
    } else if (file == "-") {
      ASSIGN_OR_RETURN(*request.mutable_content(), ReadAll(*inv.io().in, "stdin"));
    } else {
      std::ifstream in(file, std::ios::binary);
      if (!in) return absl::NotFoundError(absl::StrCat(file, ": cannot open"));
      ASSIGN_OR_RETURN(*request.mutable_content(), ReadAll(in, file));
    }
    if (request.content().empty()) return UsageError("learn: the content is empty");
    engram::v1::LearnResponse response;
    RETURN_IF_ERROR(inv.Call(&Stub::Learn, request, &response));
    inv.Print(response, RenderLearn(response));
    return absl::OkStatus();
  }

  if (!id.empty()) return UsageError("learn: --id: only for a single concept (not line mode)");
  if (!vector.empty()) return UsageError("learn: --vector: only for a single concept");
  engram::v1::LearnRequest prototype = request;
  prototype.clear_namespace_();
  LineParser parse = [&prototype](absl::string_view line, size_t) -> absl::StatusOr<ImportRecord> {
    if (absl::StripAsciiWhitespace(line).empty()) return ImportRecord();
    engram::v1::LearnRequest item = prototype;
    item.set_content(std::string(line));
    return ImportRecord(std::move(item));
  };
  ASSIGN_OR_RETURN(ImportSummary summary,
                   ImportFrom(inv, file,
                              [&](const RpcClient& client, Progress* progress, std::istream& in,
                                  absl::string_view name, uint64_t size) {
                                return ImportLines(client, in, name, size, parse, inv.options().ns,
                                                   bulk, progress, inv.io().sleep, inv.io().now);
                              }));
  return FinishImport(inv, summary);
}

absl::Status Get(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("get");
  bool with_vector = false;
  parser.AddBool("vector", &with_vector, "include the concept's vector");
  if (inv.help) return PrintHelp(inv, "get <ID> [--vector]", "Prints one concept.", &parser);
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  RETURN_IF_ERROR(ExpectPositionals("get", positionals, {"<ID>"}));
  engram::v1::GetConceptRequest request;
  request.set_namespace_(inv.options().ns);
  request.set_id(positionals[0]);
  request.set_include_vector(with_vector);
  engram::v1::Concept response;
  RETURN_IF_ERROR(inv.Call(&Stub::GetConcept, request, &response));
  inv.Print(response, RenderConcept(response));
  return absl::OkStatus();
}

absl::Status Delete(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("delete");
  if (inv.help) {
    return PrintHelp(inv, "delete <ID>", "Deletes a concept with its vector and associations.",
                     &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  RETURN_IF_ERROR(ExpectPositionals("delete", positionals, {"<ID>"}));
  engram::v1::DeleteConceptRequest request;
  request.set_namespace_(inv.options().ns);
  request.set_id(positionals[0]);
  engram::v1::DeleteConceptResponse response;
  RETURN_IF_ERROR(inv.Call(&Stub::DeleteConcept, request, &response));
  inv.Print(response, absl::StrCat("deleted ", request.id(), "\n"));
  return absl::OkStatus();
}

absl::Status List(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("list");
  uint32_t page_size = 0;
  uint64_t limit = 0;
  std::string page_token;
  std::vector<std::string> attrs;
  bool with_vector = false, one_page = false;
  parser.AddUint("page_size", &page_size, 1, 1000, "N",
                 "concepts per ListConcepts call (default 100)");
  parser.AddUint64("limit", &limit, 1, UINT64_MAX, "N", "stop after N concepts (default: all)");
  parser.AddRepeated("attr", &attrs, "KEY=VALUE", "only concepts with this attribute (repeatable)");
  parser.AddString("page_token", &page_token, "TOKEN", "continue a listing (from --page)");
  parser.AddBool("page", &one_page, "fetch one page only and print the next page token");
  parser.AddBool("vector", &with_vector, "include the vectors");
  if (inv.help) {
    return PrintHelp(inv, "list [--attr K=V ...] [--page_size N] [--limit N] [--page]",
                     "Lists the namespace's concepts page by page (a point-in-time view): one "
                     "line per concept (id and content), or one JSON Concept per line with "
                     "--output json.",
                     &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  RETURN_IF_ERROR(ExpectPositionals("list", positionals, {}));
  engram::v1::ListConceptsRequest request;
  request.set_namespace_(inv.options().ns);
  request.set_page_size(page_size);
  request.set_include_vector(with_vector);
  request.set_page_token(page_token);
  for (const std::string& item : attrs) {
    ASSIGN_OR_RETURN(const auto key_value, ParseKeyValue(item, "--attr"));
    request.add_attribute(absl::StrCat(key_value.first, ":", key_value.second));
  }
  uint64_t printed = 0;
  while (true) {
    engram::v1::ListConceptsResponse response;
    RETURN_IF_ERROR(inv.Call(&Stub::ListConcepts, request, &response));
    for (const engram::v1::Concept& c : response.concepts()) {
      if (limit != 0 && printed >= limit) break;
      if (inv.json()) {
        *inv.io().out << ToJson(c) << '\n';
      } else {
        std::string content = c.content();
        std::replace(content.begin(), content.end(), '\n', ' ');
        if (content.size() > 100) content = content.substr(0, 97) + "...";
        *inv.io().out << c.id() << "  " << content << '\n';
      }
      ++printed;
    }
    if (one_page) {
      if (!response.next_page_token().empty()) {
        (inv.json() ? *inv.io().out : *inv.io().err)
            << (inv.json()
                    ? absl::StrCat("{\"nextPageToken\":\"", response.next_page_token(), "\"}\n")
                    : absl::StrCat("next page: --page_token=", response.next_page_token(), "\n"));
      }
      break;
    }
    if (response.next_page_token().empty() || (limit != 0 && printed >= limit)) break;
    request.set_page_token(response.next_page_token());
  }
  if (!inv.json() && printed == 0) *inv.io().err << "no concepts\n";
  return absl::OkStatus();
}

absl::Status Update(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("update");
  std::optional<std::string> content;
  std::string vector;
  std::vector<std::string> attrs;
  std::optional<float> strength, confidence;
  bool clear_attributes = false;
  parser.AddOptionalString("content", &content, "TEXT",
                           "new content (re-embedded unless --vector)");
  parser.AddString("vector", &vector, "V1,V2,...", "new vector");
  parser.AddRepeated("attr", &attrs, "KEY=VALUE",
                     "attribute (repeatable); replaces every attribute of the concept");
  parser.AddBool("clear_attributes", &clear_attributes, "remove every attribute");
  parser.AddFloat("strength", &strength, 0, std::numeric_limits<float>::max(), "S", ">= 0");
  parser.AddFloat("confidence", &confidence, 0, 1, "C", "0..1");
  if (inv.help) {
    return PrintHelp(inv,
                     "update <ID> [--content TEXT] [--vector V,...] [--attr K=V ...] "
                     "[--clear_attributes] [--strength S] [--confidence C]",
                     "Changes an existing concept in place (UpdateConcept): only the given fields "
                     "change; its associations stay. New content without --vector is re-embedded "
                     "by the namespace's embedder.",
                     &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  RETURN_IF_ERROR(ExpectPositionals("update", positionals, {"<ID>"}));
  engram::v1::UpdateConceptRequest request;
  request.set_namespace_(inv.options().ns);
  request.set_id(positionals[0]);
  if (content) {
    if (content->empty()) return UsageError("--content: empty");
    request.set_content(*content);
    request.add_update_mask("content");
  }
  if (!vector.empty()) {
    RETURN_IF_ERROR(ParseVector(vector, request.mutable_vector()));
    request.add_update_mask("vector");
  }
  if (!attrs.empty() && clear_attributes) {
    return UsageError("update: give either --attr or --clear_attributes, not both");
  }
  if (!attrs.empty() || clear_attributes) {
    RETURN_IF_ERROR(ParseKeyValues(attrs, "--attr", request.mutable_attributes()));
    request.add_update_mask("attributes");
  }
  if (strength) {
    request.mutable_strength()->set_value(*strength);
    request.add_update_mask("strength");
  }
  if (confidence) {
    request.mutable_confidence()->set_value(*confidence);
    request.add_update_mask("confidence");
  }
  if (request.update_mask().empty()) {
    return UsageError(
        "update: nothing to change (give --content, --vector, --attr, --clear_attributes, "
        "--strength or --confidence)");
  }
  engram::v1::Concept response;
  RETURN_IF_ERROR(inv.Call(&Stub::UpdateConcept, request, &response));
  inv.Print(response, RenderConcept(response));
  return absl::OkStatus();
}

}  // namespace engram::cli::commands
