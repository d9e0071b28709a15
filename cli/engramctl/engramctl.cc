#include "cli/engramctl/engramctl.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cli/engramctl/atomic_file.h"
#include "cli/engramctl/bulk_import.h"
#include "cli/engramctl/exit_codes.h"
#include "cli/engramctl/export.h"
#include "cli/engramctl/flag_parser.h"
#include "cli/engramctl/progress.h"
#include "cli/engramctl/render.h"
#include "cli/engramctl/snapshot.h"
#include "cli/engramctl/rpc_client.h"
#include "cli/engramctl/wordnet.h"
#include "common/logging/correlation.h"
#include "common/status/status_macros.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

#ifndef ENGRAM_VERSION
#define ENGRAM_VERSION "unknown"
#endif

namespace engram::cli {
namespace {

using engram::v1::AssociationType;
using Stub = engram::v1::Engram::StubInterface;

// ---------------------------------------------------------------------------------------------
// One run of a command: global options, I/O and the (lazily created) client.
// ---------------------------------------------------------------------------------------------

class Invocation {
 public:
  Invocation(const CliIo& io, const StubFactory& factory, const StorageStubFactory& storage_factory)
      : io_(io), factory_(factory), storage_factory_(storage_factory) {
    auto env = [&io](const char* name) -> std::string {
      if (!io.getenv) return "";
      return io.getenv(name).value_or("");
    };
    if (std::string v = env("ENGRAM_ADDR"); !v.empty()) options_.addr = v;
    if (std::string v = env("ENGRAM_API_KEY"); !v.empty()) options_.api_key = v;
    if (std::string v = env("ENGRAM_NAMESPACE"); !v.empty()) options_.ns = v;
    if (std::string v = env("ENGRAM_STORAGE_ADDR"); !v.empty()) options_.storage_addr = v;
  }

  const CliIo& io() const { return io_; }
  const GlobalOptions& options() const { return options_; }
  bool help = false;

  void AddGlobalFlags(FlagParser* parser) {
    parser->AddString("addr", &options_.addr, "HOST:PORT",
                      "engram-api gRPC address ($ENGRAM_ADDR, default 127.0.0.1:50051)");
    parser->AddString("api_key", &options_.api_key, "KEY", "API key ($ENGRAM_API_KEY)");
    parser->AddOptionalString("namespace", &ns_flag_, "NAME",
                              "namespace ($ENGRAM_NAMESPACE, default \"default\")", "n");
    parser->AddString("output", &output_, "text|json", "output format (default text)");
    parser->AddDouble("timeout", &options_.timeout_seconds, 0.001, 86400, "SECONDS",
                      "deadline of each call (default 30)");
    parser->AddString("correlation_id", &options_.correlation_id, "ID",
                      "x-correlation-id sent with every call (default: a new id)");
    parser->AddBool("tls", &options_.tls, "connect with TLS");
    parser->AddString("ca_file", &options_.ca_file, "PEM", "root certificates for --tls");
    parser->AddString("storage_addr", &options_.storage_addr, "HOST:PORT",
                      "engram-storage gRPC address, for snapshot ($ENGRAM_STORAGE_ADDR, default "
                      "127.0.0.1:50053)");
  }

  // Parses a command's arguments (its own flags and the global ones) and checks the globals.
  absl::StatusOr<std::vector<std::string>> Parse(FlagParser* parser,
                                                 const std::vector<std::string>& args,
                                                 bool stop_at_positional = false) {
    AddGlobalFlags(parser);
    ASSIGN_OR_RETURN(std::vector<std::string> positionals, parser->Parse(args, stop_at_positional));
    if (ns_flag_) {
      options_.ns = *ns_flag_;
      options_.ns_from_flag = true;
    }
    if (output_ == "text") {
      options_.output = OutputFormat::kText;
    } else if (output_ == "json") {
      options_.output = OutputFormat::kJson;
    } else {
      return UsageError(absl::StrCat("--output: '", output_, "' is not text or json"));
    }
    if (options_.addr.empty()) return UsageError("--addr: empty");
    if (options_.ns.empty()) return UsageError("--namespace: empty");
    if (!options_.correlation_id.empty() &&
        !logging::IsValidCorrelationId(options_.correlation_id)) {
      return UsageError("--correlation_id: must be 1-128 characters from A-Z a-z 0-9 . _ : -");
    }
    return positionals;
  }

  absl::StatusOr<const RpcClient*> Client() {
    if (client_) return client_.get();
    ASSIGN_OR_RETURN(stub_, factory_(options_));
    CallSettings settings;
    settings.timeout = absl::Seconds(options_.timeout_seconds);
    settings.api_key = options_.api_key;
    settings.correlation_id =
        options_.correlation_id.empty() ? logging::NewCorrelationId() : options_.correlation_id;
    client_ = std::make_unique<RpcClient>(stub_.get(), settings);
    return client_.get();
  }

  // Prints a response: its JSON mapping, or `text`.
  void Print(const google::protobuf::Message& message, const std::string& text) {
    if (options_.output == OutputFormat::kJson) {
      *io_.out << ToJson(message) << '\n';
    } else {
      *io_.out << text;
    }
  }

  bool json() const { return options_.output == OutputFormat::kJson; }

  // Snapshot calls on engram-storage (its stub is made on first use).
  // `timeout_seconds`: per call (a whole download or restore is one call).
  absl::StatusOr<SnapshotCalls> Snapshots(double timeout_seconds) {
    if (!storage_stub_) {
      if (!storage_factory_) {
        return absl::FailedPreconditionError("snapshot: no engram-storage transport in this build");
      }
      if (options_.storage_addr.empty()) return UsageError("--storage_addr: empty");
      ASSIGN_OR_RETURN(storage_stub_, storage_factory_(options_));
    }
    return SnapshotCalls(storage_stub_.get(),
                         {.timeout = absl::Seconds(timeout_seconds),
                          .correlation_id = options_.correlation_id.empty()
                                                ? logging::NewCorrelationId()
                                                : options_.correlation_id});
  }

  template <typename Request, typename Response>
  absl::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response) {
    ASSIGN_OR_RETURN(const RpcClient* client, Client());
    return client->Call(method, request, response);
  }

 private:
  const CliIo& io_;
  const StubFactory& factory_;
  const StorageStubFactory& storage_factory_;
  std::shared_ptr<storage::v1::Storage::StubInterface> storage_stub_;
  GlobalOptions options_;
  std::optional<std::string> ns_flag_;
  std::string output_ = "text";
  std::shared_ptr<Stub> stub_;
  std::unique_ptr<RpcClient> client_;
};

// ---------------------------------------------------------------------------------------------
// Argument helpers
// ---------------------------------------------------------------------------------------------

absl::Status ExpectPositionals(absl::string_view command, const std::vector<std::string>& got,
                               const std::vector<absl::string_view>& names) {
  if (got.size() < names.size()) {
    return UsageError(absl::StrCat(command, ": missing argument ", names[got.size()]));
  }
  if (got.size() > names.size()) {
    return UsageError(absl::StrCat(command, ": unexpected argument '", got[names.size()], "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<AssociationType> ParseType(absl::string_view text, absl::string_view what) {
  AssociationType type;
  if (!engram::v1::AssociationType_Parse(absl::AsciiStrToUpper(text), &type) ||
      type == engram::v1::ASSOCIATION_TYPE_UNSPECIFIED) {
    return UsageError(absl::StrCat(what, ": '", text,
                                   "' is not one of SEMANTIC, CAUSAL, TEMPORAL, HIERARCHICAL, "
                                   "COMPOSITIONAL"));
  }
  return type;
}

absl::Status ParseTypes(absl::string_view list, absl::string_view what,
                        google::protobuf::RepeatedField<int>* out) {
  for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    ASSIGN_OR_RETURN(AssociationType type, ParseType(absl::StripAsciiWhitespace(item), what));
    out->Add(type);
  }
  if (out->empty()) return UsageError(absl::StrCat(what, ": empty list"));
  return absl::OkStatus();
}

absl::Status ParseVector(absl::string_view list, google::protobuf::RepeatedField<float>* out) {
  int index = 0;
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    std::optional<float> value = ParseFiniteFloat(absl::StripAsciiWhitespace(item));
    if (!value) {
      return UsageError(
          absl::StrCat("--vector: element ", index, " ('", item, "') is not a finite number"));
    }
    out->Add(*value);
    ++index;
  }
  return absl::OkStatus();
}

absl::Status ParseKeyValues(const std::vector<std::string>& items, absl::string_view flag,
                            google::protobuf::Map<std::string, std::string>* out) {
  for (const std::string& item : items) {
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return UsageError(absl::StrCat(flag, ": '", item, "' is not key=value"));
    }
    (*out)[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return absl::OkStatus();
}

absl::Status PrintHelp(Invocation& inv, absl::string_view synopsis, absl::string_view about,
                       FlagParser* parser) {
  inv.AddGlobalFlags(parser);
  *inv.io().out << "usage: engramctl " << synopsis << "\n\n"
                << about << "\n\nflags:\n"
                << parser->Help();
  return absl::OkStatus();
}

std::string SummaryJson(const ImportSummary& s) {
  return absl::StrFormat(
      "{\"concepts\":\"%d\",\"created\":\"%d\",\"associations\":\"%d\","
      "\"associationFailures\":\"%d\",\"seconds\":%.3f}",
      s.concepts, s.created, s.associations, s.association_failures,
      absl::ToDoubleSeconds(s.elapsed));
}

// Prints an import summary; a partial association failure makes the command fail.
absl::Status FinishImport(Invocation& inv, const ImportSummary& summary) {
  if (inv.json()) {
    *inv.io().out << SummaryJson(summary) << '\n';
  } else {
    *inv.io().out << ThroughputLine(summary) << '\n';
  }
  if (summary.association_failures > 0) {
    *inv.io().err << "engramctl: " << summary.association_failures
                  << " associations failed; the first:\n";
    return summary.first_association_error;
  }
  return absl::OkStatus();
}

using ImportFn = std::function<absl::StatusOr<ImportSummary>(std::istream& in, absl::string_view name,
                                                               uint64_t total_bytes)>;

// Runs `import` over FILE, or over stdin for "-", with the input's name (for errors) and size (for
// the progress bar; 0 for stdin).
absl::StatusOr<ImportSummary> ImportFrom(const Invocation& inv, const std::string& file,
                                         const ImportFn& import) {
  if (file == "-") return import(*inv.io().in, "stdin", 0);
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat(file, ": cannot open"));
  const auto size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  return import(in, file, size);
}

absl::StatusOr<std::string> ReadAll(std::istream& in, absl::string_view name) {
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(name, ": read error"));
  return buffer.str();
}

Progress MakeProgress(const CliIo& io) { return Progress(io.err, io.err_is_tty, io.now); }

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

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
  ASSIGN_OR_RETURN(const RpcClient* client, inv.Client());
  Progress progress = MakeProgress(inv.io());
  ASSIGN_OR_RETURN(ImportSummary summary,
                   ImportFrom(inv, file, [&](std::istream& in, absl::string_view name, uint64_t size) {
                     return ImportLines(*client, in, name, size, parse, inv.options().ns, bulk,
                                        &progress, inv.io().sleep, inv.io().now);
                   }));
  return FinishImport(inv, summary);
}

absl::Status ImportJsonl(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("import jsonl");
  BulkOptions bulk;
  uint32_t retries = 5;
  parser.AddUint("batch", &bulk.batch, 1, kMaxBatch, "N", "concepts per LearnBatch (default 500)");
  parser.AddUint("parallel", &bulk.parallel, 1, 64, "N", "batches in flight (default 4)");
  parser.AddUint("retries", &retries, 0, 100, "N",
                 "retries of a batch refused with RESOURCE_EXHAUSTED/UNAVAILABLE (default 5)");
  if (inv.help) {
    return PrintHelp(inv, "import jsonl <FILE|->",
                     "Bulk import: one JSON Learn body per line, "
                     "{\"content\", \"id\"?, \"vector\"?, \"attributes\"?, "
                     "\"extractAssociations\"?}, sent as LearnBatch; or a file written by "
                     "'engramctl export' (or GET /v1/namespaces/{namespace}:export): its "
                     "namespace line creates --namespace like the exported one when it is "
                     "missing, its concepts are learned with their ids, vectors and attributes "
                     "(no association extraction), then its associations are written with "
                     "AssociateBatch. A bad line, or an export's error line, stops the import "
                     "with an error naming the line, before its batch is sent.",
                     &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  RETURN_IF_ERROR(ExpectPositionals("import jsonl", positionals, {"<FILE|->"}));
  bulk.retry.max_attempts = static_cast<int>(retries) + 1;
  const std::string ns = inv.options().ns;
  LineParser parse = [ns](absl::string_view line, size_t) { return ParseJsonlRecord(line, ns); };
  ASSIGN_OR_RETURN(const RpcClient* client, inv.Client());
  Progress progress = MakeProgress(inv.io());
  ASSIGN_OR_RETURN(
      ImportSummary summary,
      ImportFrom(inv, positionals[0], [&](std::istream& in, absl::string_view name, uint64_t size) {
        return ImportLines(*client, in, name, size, parse, ns, bulk, &progress, inv.io().sleep,
                           inv.io().now, inv.io().err);
      }));
  return FinishImport(inv, summary);
}

absl::Status ImportWordNetCommand(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("import wordnet");
  WordNetImportOptions options;
  uint64_t limit = 0;
  uint32_t retries = 5;
  parser.AddUint64("limit", &limit, 0, UINT64_MAX, "N",
                   "import only the first N synsets (and the associations among them)");
  parser.AddUint("batch", &options.bulk.batch, 1, kMaxBatch, "N",
                 "concepts per LearnBatch and associations per AssociateBatch (default 500)");
  parser.AddUint("parallel", &options.bulk.parallel, 1, 64, "N", "batches in flight (default 4)");
  parser.AddUint("associate_parallel", &options.bulk.associate_parallel, 1, 256, "N",
                 "AssociateBatch calls in flight (default 4; --batch associations each)");
  parser.AddUint("retries", &retries, 0, 100, "N",
                 "retries of a call refused with RESOURCE_EXHAUSTED/UNAVAILABLE (default 5)");
  if (inv.help) {
    return PrintHelp(inv, "import wordnet [DIR] [--limit N]",
                     "Imports WordNet's noun synsets from DIR (default /usr/share/wordnet, "
                     "Debian package wordnet-base) into --namespace (default \"wordnet\", created "
                     "with the hashing embedder when missing): concepts \"wn-n-<offset>\", "
                     "hypernyms as HIERARCHICAL, holonyms as COMPOSITIONAL, domains as SEMANTIC "
                     "associations. Re-running is idempotent.",
                     &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  if (positionals.size() > 1) {
    return UsageError(absl::StrCat("import wordnet: unexpected argument '", positionals[1], "'"));
  }
  options.dir = positionals.empty() ? kDefaultWordNetDir : positionals[0];
  options.ns = inv.options().ns_from_flag ? inv.options().ns : "wordnet";
  options.limit = static_cast<size_t>(limit);
  options.bulk.retry.max_attempts = static_cast<int>(retries) + 1;
  ASSIGN_OR_RETURN(const RpcClient* client, inv.Client());
  Progress progress = MakeProgress(inv.io());
  ASSIGN_OR_RETURN(ImportSummary summary, ImportWordNet(*client, options, &progress, inv.io().err,
                                                        inv.io().sleep, inv.io().now));
  return FinishImport(inv, summary);
}

absl::Status Import(Invocation& inv, const std::vector<std::string>& args) {
  std::vector<std::string> rest(args.begin() + (args.empty() ? 0 : 1), args.end());
  std::string kind = args.empty() ? "" : args[0];
  if (kind == "jsonl") return ImportJsonl(inv, rest);
  if (kind == "wordnet") return ImportWordNetCommand(inv, rest);
  if (inv.help) {
    *inv.io().out << "usage: engramctl import jsonl <FILE|-> | engramctl import wordnet [DIR]\n"
                  << "Run 'engramctl import jsonl --help' or 'engramctl import wordnet --help'.\n";
    return absl::OkStatus();
  }
  if (kind.empty()) return UsageError("import: missing argument jsonl|wordnet");
  return UsageError(absl::StrCat("import: '", kind, "' is not jsonl or wordnet"));
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
    ASSIGN_OR_RETURN(const RpcClient* client, inv.Client());
    Progress progress = MakeProgress(inv.io());
    ASSIGN_OR_RETURN(
        const ImportSummary summary,
        ImportFrom(inv, file, [&](std::istream& in, absl::string_view name, uint64_t size) {
          return ImportAssociationLines(*client, in, name, size, ns, bulk, &progress,
                                        inv.io().sleep, inv.io().now);
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
  RETURN_IF_ERROR(ExpectPositionals("associate", positionals, {"<SOURCE>", "<TARGET>", "<TYPE>"}));
  engram::v1::AssociateRequest request;
  request.set_namespace_(inv.options().ns);
  request.set_source(positionals[0]);
  request.set_target(positionals[1]);
  ASSIGN_OR_RETURN(AssociationType type, ParseType(positionals[2], "associate: <TYPE>"));
  request.set_type(type);
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
  RETURN_IF_ERROR(ExpectPositionals("unlink", positionals, {"<SOURCE>", "<TARGET>", "<TYPE>"}));
  engram::v1::DeleteAssociationRequest request;
  request.set_namespace_(inv.options().ns);
  request.set_source(positionals[0]);
  request.set_target(positionals[1]);
  ASSIGN_OR_RETURN(AssociationType type, ParseType(positionals[2], "unlink: <TYPE>"));
  request.set_type(type);
  engram::v1::DeleteAssociationResponse response;
  RETURN_IF_ERROR(inv.Call(&Stub::DeleteAssociation, request, &response));
  inv.Print(response, absl::StrCat("deleted ", request.source(), " -",
                                   engram::v1::AssociationType_Name(type), "-> ",
                                   request.target(), "\n"));
  return absl::OkStatus();
}

absl::Status List(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("list");
  uint32_t page_size = 0;
  uint64_t limit = 0;
  std::string page_token;
  std::vector<std::string> attrs;
  bool with_vector = false, one_page = false;
  parser.AddUint("page_size", &page_size, 1, 1000, "N", "concepts per ListConcepts call (default 100)");
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
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return UsageError(absl::StrCat("--attr: '", item, "' is not key=value"));
    }
    request.add_attribute(absl::StrCat(item.substr(0, eq), ":", item.substr(eq + 1)));
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
            << (inv.json() ? absl::StrCat("{\"nextPageToken\":\"", response.next_page_token(),
                                          "\"}\n")
                           : absl::StrCat("next page: --page_token=", response.next_page_token(),
                                          "\n"));
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
  parser.AddOptionalString("content", &content, "TEXT", "new content (re-embedded unless --vector)");
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
    engram::v1::Direction d;
    if (!engram::v1::Direction_Parse(absl::AsciiStrToUpper(direction), &d) ||
        d == engram::v1::DIRECTION_UNSPECIFIED) {
      return UsageError(absl::StrCat("--direction: '", direction, "' is not OUT, IN or BOTH"));
    }
    request.set_direction(d);
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

absl::Status Search(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("search");
  std::string vector;
  uint32_t k = 0, ef = 0;
  std::vector<std::string> filters;
  parser.AddString("vector", &vector, "V1,V2,...", "search by this vector instead of text");
  parser.AddUint("k", &k, 1, 1000, "N", "results (default 10)");
  parser.AddUint("ef", &ef, 1, 100000, "N", "HNSW candidate list (default: the namespace's)");
  parser.AddRepeated("filter", &filters, "KEY=VALUE", "attribute equality (repeatable)");
  if (inv.help) {
    return PrintHelp(inv, "search <TEXT> | search --vector V1,V2,... [--k N] [--filter K=V ...]",
                     "Finds the concepts nearest to a text or a vector.", &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> words, inv.Parse(&parser, args));
  if (words.empty() && vector.empty()) {
    return UsageError("search: missing argument <TEXT> (or --vector)");
  }
  if (!words.empty() && !vector.empty()) {
    return UsageError("search: give either <TEXT> or --vector, not both");
  }
  engram::v1::SearchRequest request;
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

absl::Status Namespaces(Invocation& inv, const std::vector<std::string>& args) {
  std::string action = "list";
  std::vector<std::string> rest = args;
  if (!args.empty() && !absl::StartsWith(args[0], "-")) {
    action = args[0];
    rest.erase(rest.begin());
  }
  FlagParser parser(absl::StrCat("namespaces ", action));
  uint32_t dimension = 0, m = 0, ef_construction = 0;
  std::string metric, embedder;
  if (action == "create") {
    parser.AddUint("dimension", &dimension, 1, 4096, "D",
                   "vector dimension (default: the embedder's, 384 for hashing)");
    parser.AddString("metric", &metric, "COSINE|L2|INNER_PRODUCT", "default COSINE");
    parser.AddString("embedder", &embedder, "E", "hashing (default), word-vectors/<model> or none");
    parser.AddUint("m", &m, 2, 128, "M", "HNSW links per node (default 16)");
    parser.AddUint("ef_construction", &ef_construction, 2, 4096, "EF",
                   "HNSW insertion candidate list (default 200)");
  }
  if (inv.help) {
    return PrintHelp(inv,
                     "namespaces [list | get [NAME] | create NAME [--dimension D] [--metric M] "
                     "[--embedder E] | delete NAME]",
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
    if (positionals.size() > 1) {
      return UsageError(absl::StrCat("namespaces get: unexpected argument '", positionals[1], "'"));
    }
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
      engram::v1::Metric parsed;
      if (!engram::v1::Metric_Parse(absl::AsciiStrToUpper(metric), &parsed) ||
          parsed == engram::v1::METRIC_UNSPECIFIED) {
        return UsageError(
            absl::StrCat("--metric: '", metric, "' is not COSINE, L2 or INNER_PRODUCT"));
      }
      request.set_metric(parsed);
    }
    request.set_embedder(embedder);
    if (m != 0 || ef_construction != 0) {
      request.mutable_index_params()->set_m(m);
      request.mutable_index_params()->set_ef_construction(ef_construction);
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

absl::Status Stats(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("stats");
  if (inv.help) return PrintHelp(inv, "stats", "Prints the store's statistics.", &parser);
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  RETURN_IF_ERROR(ExpectPositionals("stats", positionals, {}));
  engram::v1::Stats response;
  RETURN_IF_ERROR(inv.Call(&Stub::GetStats, engram::v1::GetStatsRequest(), &response));
  inv.Print(response, RenderStats(response));
  return absl::OkStatus();
}

absl::Status Snapshot(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("snapshot");
  double transfer_timeout = 3600;
  parser.AddDouble("transfer_timeout", &transfer_timeout, 1, 7 * 86400, "SECONDS",
                   "deadline of create, download and restore (default 3600; list and delete use "
                   "--timeout)");
  if (inv.help) {
    return PrintHelp(inv, "snapshot create | list | download NAME [FILE] | delete NAME | restore FILE",
                     "Snapshots of engram-storage (--storage_addr): create one while writes continue, "
                     "list them, download one to FILE (default ./NAME.tar; verified against the "
                     "server's SHA-256, written with a .sha256 file beside it), delete one, or restore "
                     "an archive into an empty engram-storage.",
                     &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  if (positionals.empty()) return UsageError("snapshot: expected create, list, download, delete or restore");
  const std::string action = positionals[0];
  positionals.erase(positionals.begin());
  if (action == "create") {
    RETURN_IF_ERROR(ExpectPositionals("snapshot create", positionals, {}));
    ASSIGN_OR_RETURN(SnapshotCalls calls, inv.Snapshots(transfer_timeout));
    ASSIGN_OR_RETURN(storage::v1::SnapshotInfo info, calls.Create());
    inv.Print(info, absl::StrCat("created ", RenderSnapshot(info)));
    return absl::OkStatus();
  }
  if (action == "list") {
    RETURN_IF_ERROR(ExpectPositionals("snapshot list", positionals, {}));
    ASSIGN_OR_RETURN(SnapshotCalls calls, inv.Snapshots(inv.options().timeout_seconds));
    ASSIGN_OR_RETURN(std::vector<storage::v1::SnapshotInfo> all, calls.List());
    if (inv.json()) {
      for (const auto& info : all) inv.Print(info, "");
    } else if (all.empty()) {
      *inv.io().out << "no snapshots\n";
    } else {
      for (const auto& info : all) *inv.io().out << RenderSnapshot(info);
    }
    return absl::OkStatus();
  }
  if (action == "download") {
    if (positionals.empty() || positionals.size() > 2) {
      return UsageError("snapshot download: expected NAME [FILE]");
    }
    const std::string file = positionals.size() == 2 ? positionals[1] : positionals[0] + ".tar";
    ASSIGN_OR_RETURN(SnapshotCalls calls, inv.Snapshots(transfer_timeout));
    ASSIGN_OR_RETURN(storage::v1::SnapshotInfo info, calls.Download(positionals[0], file));
    inv.Print(info, absl::StrCat("downloaded ", info.name(), " to ", file, " (", info.size_bytes(),
                                 " bytes, SHA-256 verified)\n"));
    return absl::OkStatus();
  }
  if (action == "delete") {
    RETURN_IF_ERROR(ExpectPositionals("snapshot delete", positionals, {"<NAME>"}));
    ASSIGN_OR_RETURN(SnapshotCalls calls, inv.Snapshots(inv.options().timeout_seconds));
    RETURN_IF_ERROR(calls.Delete(positionals[0]));
    inv.Print(storage::v1::DeleteSnapshotResponse(), absl::StrCat("deleted snapshot ", positionals[0], "\n"));
    return absl::OkStatus();
  }
  if (action == "restore") {
    RETURN_IF_ERROR(ExpectPositionals("snapshot restore", positionals, {"<FILE>"}));
    ASSIGN_OR_RETURN(SnapshotCalls calls, inv.Snapshots(transfer_timeout));
    ASSIGN_OR_RETURN(storage::v1::RestoreSnapshotResponse restored, calls.Restore(positionals[0]));
    inv.Print(restored, absl::StrCat("restored ", restored.snapshot().name(), ": ",
                                     restored.stats().concepts(), " concepts, ",
                                     restored.stats().associations(), " associations\n"));
    return absl::OkStatus();
  }
  return UsageError(absl::StrCat("snapshot: '", action, "' is not create, list, download, delete or restore"));
}

absl::Status Export(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("export");
  double deadline = 0;
  parser.AddDouble("deadline", &deadline, 0, 7 * 86400, "SECONDS",
                   "bound on the whole export (default none: each server page has its own "
                   "deadline; --timeout does not apply)");
  if (inv.help) {
    return PrintHelp(inv, "export [FILE|-] [--deadline SECONDS]",
                     "Writes --namespace as NDJSON to FILE (default stdout): a namespace line, "
                     "every concept with its vector and attributes, then every association, from "
                     "one point-in-time view. A FILE appears only when the export is complete "
                     "(written to FILE.part, fsynced, renamed). 'engramctl import jsonl' takes it "
                     "back, into the same or a new namespace.",
                     &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  if (positionals.size() > 1) {
    return UsageError(absl::StrCat("export: unexpected argument '", positionals[1], "'"));
  }
  const std::string file = positionals.empty() ? "-" : positionals[0];
  ASSIGN_OR_RETURN(const RpcClient* client, inv.Client());
  Progress progress = MakeProgress(inv.io());
  const absl::Duration timeout =
      deadline > 0 ? absl::Seconds(deadline) : absl::InfiniteDuration();
  const absl::Time start = inv.io().now();
  ExportSummary summary;
  if (file == "-") {
    RETURN_IF_ERROR(ExportNamespace(
        *client, inv.options().ns, timeout,
        [&](absl::string_view lines) {
          inv.io().out->write(lines.data(), static_cast<std::streamsize>(lines.size()));
          if (!*inv.io().out) return absl::DataLossError("export: cannot write to stdout");
          return absl::OkStatus();
        },
        &progress, &summary));
    inv.io().out->flush();
  } else {
    ASSIGN_OR_RETURN(AtomicFile out, AtomicFile::Create(file));
    RETURN_IF_ERROR(ExportNamespace(
        *client, inv.options().ns, timeout,
        [&out](absl::string_view lines) { return out.Append(lines); }, &progress, &summary));
    RETURN_IF_ERROR(out.Commit());
  }
  const double seconds = absl::ToDoubleSeconds(inv.io().now() - start);
  // stdout may hold the export itself: the summary goes to stderr.
  *inv.io().err << absl::StrFormat(
      "exported namespace %s: %d concepts, %d associations, %d bytes to %s in %.1f s (%.1f MB/s)\n",
      inv.options().ns, summary.concepts, summary.associations, summary.bytes,
      file == "-" ? "stdout" : file, seconds,
      seconds > 0 ? static_cast<double>(summary.bytes) / 1e6 / seconds : 0.0);
  return absl::OkStatus();
}

absl::Status Version(Invocation& inv, const std::vector<std::string>& args) {
  if (!args.empty())
    return UsageError(absl::StrCat("version: unexpected argument '", args[0], "'"));
  *inv.io().out << "engramctl " << ENGRAM_VERSION << "\n";
  return absl::OkStatus();
}

struct Command {
  const char* name;
  absl::Status (*run)(Invocation&, const std::vector<std::string>&);
};

constexpr Command kCommands[] = {
    {"learn", Learn},         {"import", Import},         {"get", Get},       {"list", List},
    {"update", Update},       {"delete", Delete},         {"associate", Associate},
    {"unlink", Unlink},       {"neighbors", Neighbors},   {"paths", Paths},   {"search", Search},
    {"reason", Reason},       {"namespaces", Namespaces}, {"stats", Stats},   {"version", Version},
    {"export", Export},       {"snapshot", Snapshot},
};

const Command* FindCommand(absl::string_view name) {
  for (const Command& command : kCommands) {
    if (name == command.name) return &command;
  }
  return nullptr;
}

bool WantsHelp(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg == "--") return false;
    if (arg == "--help" || arg == "-h") return true;
  }
  return false;
}

std::vector<std::string> WithoutHelp(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const std::string& arg : args) {
    if (arg != "--help" && arg != "-h") out.push_back(arg);
  }
  return out;
}

absl::Status Dispatch(Invocation& inv, const std::vector<std::string>& args) {
  // Global flags may come before the command name, and after it.
  FlagParser globals("global flags");
  ASSIGN_OR_RETURN(std::vector<std::string> rest,
                   inv.Parse(&globals, WithoutHelp(args), /*stop_at_positional=*/true));
  inv.help = WantsHelp(args);
  if (rest.empty() || rest[0] == "help") {
    if (rest.size() > 1 && FindCommand(rest[1]) != nullptr) {
      inv.help = true;
      std::vector<std::string> sub(rest.begin() + 2, rest.end());
      return FindCommand(rest[1])->run(inv, sub);
    }
    if (rest.empty() && !inv.help) return UsageError("missing command");
    *inv.io().out << UsageText();
    return absl::OkStatus();
  }
  const Command* command = FindCommand(rest[0]);
  if (command == nullptr) return UsageError(absl::StrCat("unknown command '", rest[0], "'"));
  std::vector<std::string> sub(rest.begin() + 1, rest.end());
  return command->run(inv, inv.help ? WithoutHelp(sub) : sub);
}

}  // namespace

std::string UsageText() {
  return R"(usage: engramctl [global flags] <command> [args] [flags]

commands:
  learn <text> | --file FILE [--whole] | - [--whole]   teach concepts
  import jsonl <FILE|->                                 bulk import of JSON Learn bodies or an export
  import wordnet [DIR] [--limit N]                      import WordNet nouns (wordnet-base)
  get <ID> [--vector]                                   show a concept
  list [--attr K=V] [--page_size N] [--limit N]         page through the concepts
  update <ID> [--content T] [--attr K=V] [--strength S] change a concept in place
  delete <ID>                                           delete a concept
  associate <SOURCE> <TARGET> <TYPE>                    create or replace an association
  associate --file FILE|-                               bulk associations (JSONL, batched)
  unlink <SOURCE> <TARGET> <TYPE>                       delete an association
  neighbors <ID> [--type T] [--direction D] [--limit N] a concept's associations
  paths <SOURCE> <TARGET> [--max_depth D] [--types ..]  chains of associations
  search <TEXT> | --vector V,... [--k N] [--filter K=V] nearest concepts
  reason <QUESTION> [--k N] [--min_confidence C]        explainable answer
  reason <QUESTION> --stream                            seeds and paths as found, then the answer
  export [FILE|-]                                       the namespace as NDJSON (point-in-time)
  namespaces [list | get NAME | create NAME | delete NAME]
  stats                                                 store statistics
  snapshot create | list | download NAME [FILE] | delete NAME | restore FILE
                                                        engram-storage snapshots (--storage_addr)
  version                                               engramctl's version
  help [COMMAND]                                        this text, or a command's flags

global flags (anywhere on the line):
  --addr HOST:PORT      engram-api gRPC address ($ENGRAM_ADDR, default 127.0.0.1:50051)
  --api_key KEY         API key, sent as "authorization: Bearer KEY" ($ENGRAM_API_KEY)
  -n, --namespace NAME  namespace ($ENGRAM_NAMESPACE, default "default")
  --output text|json    json prints the response's protobuf JSON mapping, one object per line
  --timeout SECONDS     deadline of each call (default 30)
  --correlation_id ID   x-correlation-id of every call (default: a new id per run)
  --tls, --ca_file PEM  connect with TLS
  --storage_addr H:P    engram-storage gRPC address, for snapshot ($ENGRAM_STORAGE_ADDR,
                        default 127.0.0.1:50053)

exit codes: 0 ok, 1 other error, 2 usage error, 3 NOT_FOUND, 4 UNAUTHENTICATED or
PERMISSION_DENIED, 5 UNAVAILABLE or DEADLINE_EXCEEDED, 6 INVALID_ARGUMENT, FAILED_PRECONDITION or
ALREADY_EXISTS, 7 RESOURCE_EXHAUSTED.
)";
}

int RunEngramctl(const std::vector<std::string>& args, const CliIo& io,
                 const StubFactory& stub_factory, const StorageStubFactory& storage_factory) {
  Invocation inv(io, stub_factory, storage_factory);
  absl::Status status = Dispatch(inv, args);
  io.out->flush();
  if (!status.ok()) *io.err << FormatError(status) << std::endl;
  return ExitCodeFor(status);
}

CliIo ProcessIo() {
  CliIo io;
  io.in = &std::cin;
  io.out = &std::cout;
  io.err = &std::cerr;
  io.err_is_tty = isatty(STDERR_FILENO) == 1;
  io.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  io.now = [] { return absl::Now(); };
  io.sleep = [](absl::Duration d) { absl::SleepFor(d); };
  return io;
}

StubFactory GrpcStubFactory() {
  return [](const GlobalOptions& options)
             -> absl::StatusOr<std::shared_ptr<engram::v1::Engram::StubInterface>> {
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    if (options.tls) {
      grpc::SslCredentialsOptions ssl;
      if (!options.ca_file.empty()) {
        std::ifstream in(options.ca_file);
        if (!in)
          return absl::NotFoundError(absl::StrCat("--ca_file: cannot open ", options.ca_file));
        ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadAll(in, options.ca_file));
      }
      credentials = grpc::SslCredentials(ssl);
    } else {
      if (!options.ca_file.empty()) return UsageError("--ca_file: needs --tls");
      credentials = grpc::InsecureChannelCredentials();
    }
    grpc::ChannelArguments arguments;
    arguments.SetMaxReceiveMessageSize(64 << 20);
    auto channel = grpc::CreateCustomChannel(options.addr, credentials, arguments);
    return std::shared_ptr<engram::v1::Engram::StubInterface>(engram::v1::Engram::NewStub(channel));
  };
}

StorageStubFactory GrpcStorageStubFactory() {
  return [](const GlobalOptions& options)
             -> absl::StatusOr<std::shared_ptr<storage::v1::Storage::StubInterface>> {
    grpc::ChannelArguments arguments;
    arguments.SetMaxReceiveMessageSize(64 << 20);
    auto channel = grpc::CreateCustomChannel(options.storage_addr, grpc::InsecureChannelCredentials(),
                                             arguments);
    return std::shared_ptr<storage::v1::Storage::StubInterface>(storage::v1::Storage::NewStub(channel));
  };
}

}  // namespace engram::cli
