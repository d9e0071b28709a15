// engramctl namespaces: list, get, create (role admin) and delete (role admin).
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/engramctl/commands.h"
#include "cli/engramctl/render.h"

namespace engram::cli::commands {

absl::Status Namespaces(Invocation& inv, const std::vector<std::string>& args) {
  std::string action = "list";
  std::vector<std::string> rest = args;
  if (!args.empty() && !absl::StartsWith(args[0], "-")) {
    action = args[0];
    rest.erase(rest.begin());
  }
  FlagParser parser(absl::StrCat("namespaces ", action));
  uint32_t dimension = 0, m = 0, ef_construction = 0;
  std::string metric, embedder, keyword_fields, quantization;
  if (action == "create") {
    parser.AddUint("dimension", &dimension, 1, 4096, "D",
                   "vector dimension (default: the embedder's, 384 for hashing)");
    parser.AddString("metric", &metric, "COSINE|L2|INNER_PRODUCT", "default COSINE");
    parser.AddString("embedder", &embedder, "E", "hashing (default), word-vectors/<model> or none");
    parser.AddUint("m", &m, 2, 128, "M", "HNSW links per node (default 16)");
    parser.AddUint("ef_construction", &ef_construction, 2, 4096, "EF",
                   "HNSW insertion candidate list (default 200)");
    parser.AddString("quantization", &quantization, "none|int8",
                     "int8: an 8-bit code per dimension walks the HNSW graph, candidates re-scored "
                     "with the float vectors (default none)");
    parser.AddString("keyword_fields", &keyword_fields, "ATTR[^W[:B]],...",
                     "attributes keyword search scores beside the content, each weighing W "
                     "content words (default 1) with length normalisation B (default 0.75)");
  }
  if (inv.help) {
    return PrintHelp(inv,
                     "namespaces [list | get [NAME] | create NAME [--dimension D] [--metric M] "
                     "[--embedder E] [--m M] [--ef_construction EF] [--quantization none|int8] "
                     "[--keyword_fields ATTR^W:B,...] | delete NAME]",
                     "Lists, shows, creates (role admin) or deletes (role admin; removes every "
                     "concept in it) namespaces.",
                     &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, rest));
  if (action == "list") {
    RETURN_IF_ERROR(ExpectPositionals("namespaces list", positionals, {}));
    engram::v1::ListNamespacesResponse response;
    RETURN_IF_ERROR(
        inv.Call(&Stub::ListNamespaces, engram::v1::ListNamespacesRequest(), &response));
    inv.Print(response, RenderNamespaces(response));
    return absl::OkStatus();
  }
  if (action == "get") {
    RETURN_IF_ERROR(ExpectPositionals("namespaces get", positionals, {"[NAME]"}, /*optional=*/1));
    engram::v1::GetNamespaceRequest request;
    request.set_namespace_(positionals.empty() ? inv.options().ns : positionals[0]);
    engram::v1::Namespace response;
    RETURN_IF_ERROR(inv.Call(&Stub::GetNamespace, request, &response));
    inv.Print(response, RenderNamespace(response));
    return absl::OkStatus();
  }
  if (action == "create") {
    RETURN_IF_ERROR(ExpectPositionals("namespaces create", positionals, {"<NAME>"}));
    engram::v1::CreateNamespaceRequest request;
    request.set_name(positionals[0]);
    request.set_dimension(dimension);
    if (!metric.empty()) {
      std::optional<engram::v1::Metric> parsed = ParseEnumName<engram::v1::Metric>(metric);
      if (!parsed) {
        return UsageError(
            absl::StrCat("--metric: '", metric, "' is not COSINE, L2 or INNER_PRODUCT"));
      }
      request.set_metric(*parsed);
    }
    request.set_embedder(embedder);
    if (!keyword_fields.empty()) {
      RETURN_IF_ERROR(ParseKeywordFields(keyword_fields, request.mutable_keyword_fields()));
    }
    if (m != 0 || ef_construction != 0) {
      request.mutable_index_params()->set_m(m);
      request.mutable_index_params()->set_ef_construction(ef_construction);
    }
    if (!quantization.empty()) {
      const std::string q = absl::AsciiStrToLower(quantization);
      if (q != "none" && q != "int8") {
        return UsageError(absl::StrCat("--quantization: '", quantization, "' is not none or int8"));
      }
      request.mutable_index_params()->set_quantization(
          q == "int8" ? engram::v1::QUANTIZATION_INT8 : engram::v1::QUANTIZATION_NONE);
    }
    engram::v1::Namespace response;
    RETURN_IF_ERROR(inv.Call(&Stub::CreateNamespace, request, &response));
    inv.Print(response,
              absl::StrCat("created namespace ", response.name(), "\n", RenderNamespace(response)));
    return absl::OkStatus();
  }
  if (action == "delete") {
    RETURN_IF_ERROR(ExpectPositionals("namespaces delete", positionals, {"<NAME>"}));
    engram::v1::DeleteNamespaceRequest request;
    request.set_namespace_(positionals[0]);
    engram::v1::DeleteNamespaceResponse response;
    RETURN_IF_ERROR(inv.Call(&Stub::DeleteNamespace, request, &response));
    inv.Print(response, absl::StrCat("deleted namespace ", positionals[0], "\n"));
    return absl::OkStatus();
  }
  return UsageError(absl::StrCat("namespaces: '", action, "' is not list, get, create or delete"));
}

}  // namespace engram::cli::commands
