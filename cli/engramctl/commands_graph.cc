// engramctl's association commands: associate (one, or a JSONL file as AssociateBatch), unlink,
// neighbors and paths.
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/engramctl/commands.h"
#include "cli/engramctl/render.h"

namespace engram::cli::commands {

using engram::v1::AssociationType;

namespace {

// The edge of associate and unlink, from <SOURCE> <TARGET> <TYPE>: the request's namespace,
// source, target and type.
template <typename Request>
absl::Status ParseEdge(const Invocation& inv, absl::string_view command,
                       const std::vector<std::string>& positionals, Request* request) {
  RETURN_IF_ERROR(ExpectPositionals(command, positionals, {"<SOURCE>", "<TARGET>", "<TYPE>"}));
  request->set_namespace_(inv.options().ns);
  request->set_source(positionals[0]);
  request->set_target(positionals[1]);
  ASSIGN_OR_RETURN(AssociationType type,
                   ParseType(positionals[2], absl::StrCat(command, ": <TYPE>")));
  request->set_type(type);
  return absl::OkStatus();
}

}  // namespace

absl::Status Associate(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("associate");
  std::optional<float> confidence, weight;
  std::string file;
  BulkOptions bulk;
  uint32_t retries = 5;
  parser.AddFloat("confidence", &confidence, 0, 1, "C", "0..1 (default 1)");
  parser.AddFloat("weight", &weight, -std::numeric_limits<float>::max(),
                  std::numeric_limits<float>::max(), "W", "finite (default 1)");
  parser.AddString("file", &file, "FILE",
                   "bulk: one JSON Associate body per line (- for stdin), sent as AssociateBatch");
  parser.AddUint("batch", &bulk.batch, 1, kMaxBatch, "N",
                 "--file: associations per AssociateBatch (default 500)");
  parser.AddUint("parallel", &bulk.parallel, 1, 64, "N", "--file: batches in flight (default 4)");
  parser.AddUint("retries", &retries, 0, 100, "N",
                 "--file: retries of a batch refused with RESOURCE_EXHAUSTED/UNAVAILABLE "
                 "(default 5)");
  if (inv.help) {
    return PrintHelp(inv,
                     "associate <SOURCE> <TARGET> <TYPE> [--confidence C] [--weight W] | "
                     "associate --file FILE|-",
                     "Creates or replaces the association SOURCE -TYPE-> TARGET. TYPE: SEMANTIC, "
                     "CAUSAL, TEMPORAL, HIERARCHICAL or COMPOSITIONAL. With --file: one JSON "
                     "body {\"source\", \"target\", \"type\", \"confidence\"?, \"weight\"?} "
                     "per line, sent in atomic AssociateBatch calls with progress on stderr; a bad "
                     "line or a refused batch stops the import with an error naming the line.",
                     &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  if (!file.empty()) {
    if (!positionals.empty()) {
      return UsageError("associate: give either <SOURCE> <TARGET> <TYPE> or --file, not both");
    }
    if (confidence || weight) {
      return UsageError("associate: --confidence/--weight: per line in --file mode");
    }
    bulk.retry.max_attempts = static_cast<int>(retries) + 1;
    const std::string ns = inv.options().ns;
    ASSIGN_OR_RETURN(const ImportSummary summary,
                     ImportFrom(inv, file,
                                [&](const RpcClient& client, Progress* progress, std::istream& in,
                                    absl::string_view name, uint64_t size) {
                                  return ImportAssociationLines(client, in, name, size, ns, bulk,
                                                                progress, inv.io().sleep,
                                                                inv.io().now);
                                }));
    const double seconds = absl::ToDoubleSeconds(summary.elapsed);
    if (inv.json()) {
      *inv.io().out << absl::StrFormat("{\"associations\":\"%d\",\"seconds\":%.3f}\n",
                                       summary.associations, seconds);
    } else {
      *inv.io().out << absl::StrFormat(
          "associated %d in %.1f s (%.0f associations/s)\n", summary.associations, seconds,
          seconds > 0 ? static_cast<double>(summary.associations) / seconds : 0.0);
    }
    return absl::OkStatus();
  }
  engram::v1::AssociateRequest request;
  RETURN_IF_ERROR(ParseEdge(inv, "associate", positionals, &request));
  if (confidence) request.mutable_confidence()->set_value(*confidence);
  if (weight) request.mutable_weight()->set_value(*weight);
  engram::v1::Association response;
  RETURN_IF_ERROR(inv.Call(&Stub::Associate, request, &response));
  inv.Print(response, RenderAssociation(response));
  return absl::OkStatus();
}

absl::Status Unlink(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("unlink");
  if (inv.help) {
    return PrintHelp(inv, "unlink <SOURCE> <TARGET> <TYPE>",
                     "Deletes the association SOURCE -TYPE-> TARGET (NOT_FOUND when there is "
                     "none); the concepts stay.",
                     &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  engram::v1::DeleteAssociationRequest request;
  RETURN_IF_ERROR(ParseEdge(inv, "unlink", positionals, &request));
  engram::v1::DeleteAssociationResponse response;
  RETURN_IF_ERROR(inv.Call(&Stub::DeleteAssociation, request, &response));
  inv.Print(response, absl::StrCat("deleted ", request.source(), " -",
                                   engram::v1::AssociationType_Name(request.type()), "-> ",
                                   request.target(), "\n"));
  return absl::OkStatus();
}

absl::Status Neighbors(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("neighbors");
  std::string type, direction;
  uint32_t limit = 0;
  parser.AddString("type", &type, "TYPE", "only associations of this type");
  parser.AddString("direction", &direction, "OUT|IN|BOTH", "edges to follow (default BOTH)");
  parser.AddUint("limit", &limit, 1, 1000, "N", "most neighbors (default 50)");
  if (inv.help) {
    return PrintHelp(inv, "neighbors <ID> [--type T] [--direction OUT|IN|BOTH] [--limit N]",
                     "Lists a concept's associations, highest confidence first.", &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  RETURN_IF_ERROR(ExpectPositionals("neighbors", positionals, {"<ID>"}));
  engram::v1::NeighborsRequest request;
  request.set_namespace_(inv.options().ns);
  request.set_id(positionals[0]);
  if (!type.empty()) {
    ASSIGN_OR_RETURN(AssociationType t, ParseType(type, "--type"));
    request.set_type(t);
  }
  if (!direction.empty()) {
    std::optional<engram::v1::Direction> d = ParseEnumName<engram::v1::Direction>(direction);
    if (!d) {
      return UsageError(absl::StrCat("--direction: '", direction, "' is not OUT, IN or BOTH"));
    }
    request.set_direction(*d);
  }
  request.set_limit(limit);
  engram::v1::NeighborsResponse response;
  RETURN_IF_ERROR(inv.Call(&Stub::Neighbors, request, &response));
  inv.Print(response, RenderNeighbors(request.id(), response));
  return absl::OkStatus();
}

absl::Status Paths(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("paths");
  uint32_t max_depth = 0, max_paths = 0;
  std::string types;
  parser.AddUint("max_depth", &max_depth, 1, 20, "D", "most hops (default 6)");
  parser.AddUint("max_paths", &max_paths, 1, 100, "P", "most paths (default 3)");
  parser.AddString("types", &types, "T,...", "only these association types");
  if (inv.help) {
    return PrintHelp(inv, "paths <SOURCE> <TARGET> [--max_depth D] [--max_paths P] [--types T,...]",
                     "Finds the best chains of associations between two concepts.", &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  RETURN_IF_ERROR(ExpectPositionals("paths", positionals, {"<SOURCE>", "<TARGET>"}));
  engram::v1::FindPathsRequest request;
  request.set_namespace_(inv.options().ns);
  request.set_source(positionals[0]);
  request.set_target(positionals[1]);
  request.set_max_depth(max_depth);
  request.set_max_paths(max_paths);
  if (!types.empty()) RETURN_IF_ERROR(ParseTypes(types, "--types", request.mutable_types()));
  engram::v1::FindPathsResponse response;
  RETURN_IF_ERROR(inv.Call(&Stub::FindPaths, request, &response));
  inv.Print(response, RenderPaths(response));
  return absl::OkStatus();
}

}  // namespace engram::cli::commands
