// What engramctl's command units share (commands.h): Invocation, argument parsing, help, bulk
// import input and summary.
#include "cli/engramctl/commands.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cli/engramctl/render.h"
#include "common/logging/correlation.h"

namespace engram::cli::commands {
namespace {

std::string SummaryJson(const ImportSummary& s) {
  return absl::StrFormat(
      "{\"concepts\":\"%d\",\"created\":\"%d\",\"associations\":\"%d\","
      "\"associationFailures\":\"%d\",\"seconds\":%.3f}",
      s.concepts, s.created, s.associations, s.association_failures,
      absl::ToDoubleSeconds(s.elapsed));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Invocation
// ---------------------------------------------------------------------------------------------

Invocation::Invocation(const CliIo& io, const StubFactory& factory,
                       const StorageStubFactory& storage_factory)
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

void Invocation::AddGlobalFlags(FlagParser* parser) {
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
  parser->AddString("tls_ca", &options_.tls_ca, "PEM",
                    "CA that signed the server's certificate (implies --tls)");
  parser->AddString("ca_file", &options_.ca_file, "PEM", "the older name of --tls_ca");
  parser->AddString("tls_cert", &options_.tls_cert, "PEM",
                    "client certificate, for servers that require one (mutual TLS)");
  parser->AddString("tls_key", &options_.tls_key, "PEM", "private key of --tls_cert");
  parser->AddString("tls_server_name", &options_.tls_server_name, "NAME",
                    "name expected in the server's certificate instead of --addr's host");
  parser->AddString("storage_addr", &options_.storage_addr, "HOST:PORT",
                    "engram-storage gRPC address, for snapshot and storage ($ENGRAM_STORAGE_ADDR, default "
                    "127.0.0.1:50053)");
}

absl::StatusOr<std::vector<std::string>> Invocation::Parse(FlagParser* parser,
                                                           const std::vector<std::string>& args,
                                                           bool stop_at_positional) {
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
  if (!options_.correlation_id.empty() && !logging::IsValidCorrelationId(options_.correlation_id)) {
    return UsageError("--correlation_id: must be 1-128 characters from A-Z a-z 0-9 . _ : -");
  }
  return positionals;
}

absl::StatusOr<const RpcClient*> Invocation::Client() {
  if (client_) return client_.get();
  ASSIGN_OR_RETURN(stub_, factory_(options_));
  CallSettings settings;
  settings.timeout = absl::Seconds(options_.timeout_seconds);
  settings.api_key = options_.api_key;
  settings.correlation_id = CorrelationId();
  client_ = std::make_unique<RpcClient>(stub_.get(), settings);
  return client_.get();
}

absl::StatusOr<storage::v1::Storage::StubInterface*> Invocation::StorageStub(
    absl::string_view command) {
  if (!storage_stub_) {
    if (!storage_factory_) {
      return absl::FailedPreconditionError(
          absl::StrCat(command, ": no engram-storage transport in this build"));
    }
    if (options_.storage_addr.empty()) return UsageError("--storage_addr: empty");
    ASSIGN_OR_RETURN(storage_stub_, storage_factory_(options_));
  }
  return storage_stub_.get();
}

absl::StatusOr<SnapshotCalls> Invocation::Snapshots(double timeout_seconds) {
  ASSIGN_OR_RETURN(storage::v1::Storage::StubInterface * stub, StorageStub("snapshot"));
  return SnapshotCalls(stub, {.timeout = absl::Seconds(timeout_seconds),
                              .correlation_id = CorrelationId()});
}

absl::StatusOr<CompactionCalls> Invocation::Compactions() {
  ASSIGN_OR_RETURN(storage::v1::Storage::StubInterface * stub, StorageStub("storage"));
  return CompactionCalls(stub, {.timeout = absl::Seconds(options_.timeout_seconds),
                                .correlation_id = CorrelationId()});
}

void Invocation::Print(const google::protobuf::Message& message, const std::string& text) {
  if (json()) {
    *io_.out << ToJson(message) << '\n';
  } else {
    *io_.out << text;
  }
}

std::string Invocation::CorrelationId() const {
  return options_.correlation_id.empty() ? logging::NewCorrelationId() : options_.correlation_id;
}

// ---------------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------------

absl::Status ExpectPositionals(absl::string_view command, const std::vector<std::string>& got,
                               const std::vector<absl::string_view>& names, size_t optional) {
  if (got.size() + optional < names.size()) {
    return UsageError(absl::StrCat(command, ": missing argument ", names[got.size()]));
  }
  if (got.size() > names.size()) {
    return UsageError(absl::StrCat(command, ": unexpected argument '", got[names.size()], "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<engram::v1::AssociationType> ParseType(absl::string_view text,
                                                      absl::string_view what) {
  std::optional<engram::v1::AssociationType> type =
      ParseEnumName<engram::v1::AssociationType>(text);
  if (!type) {
    return UsageError(absl::StrCat(what, ": '", text,
                                   "' is not one of SEMANTIC, CAUSAL, TEMPORAL, HIERARCHICAL, "
                                   "COMPOSITIONAL"));
  }
  return *type;
}

absl::Status ParseTypes(absl::string_view list, absl::string_view what,
                        google::protobuf::RepeatedField<int>* out) {
  for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    ASSIGN_OR_RETURN(engram::v1::AssociationType type,
                     ParseType(absl::StripAsciiWhitespace(item), what));
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

absl::Status ParseKeywordFields(absl::string_view list,
                                google::protobuf::RepeatedPtrField<engram::v1::KeywordField>* out) {
  int index = 0;
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    item = absl::StripAsciiWhitespace(item);
    const auto bad = [&](absl::string_view why) {
      return UsageError(absl::StrCat("--keyword_fields: element ", index, " ('", item, "') ", why));
    };
    engram::v1::KeywordField* field = out->Add();
    const size_t caret = item.find('^');
    field->set_attribute(std::string(item.substr(0, caret)));
    if (field->attribute().empty()) return bad("has no attribute name");
    if (caret != absl::string_view::npos) {
      absl::string_view numbers = item.substr(caret + 1);
      const size_t colon = numbers.find(':');
      std::optional<float> weight = ParseFiniteFloat(numbers.substr(0, colon));
      if (!weight) return bad("has no number after '^' (ATTR^WEIGHT[:B])");
      field->set_weight(*weight);
      if (colon != absl::string_view::npos) {
        std::optional<float> b = ParseFiniteFloat(numbers.substr(colon + 1));
        if (!b) return bad("has no number after ':' (ATTR^WEIGHT:B)");
        field->set_b(*b);
      }
    }
    ++index;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(const std::string& item,
                                                                  absl::string_view flag) {
  const size_t eq = item.find('=');
  if (eq == std::string::npos || eq == 0) {
    return UsageError(absl::StrCat(flag, ": '", item, "' is not key=value"));
  }
  return std::make_pair(item.substr(0, eq), item.substr(eq + 1));
}

absl::Status ParseKeyValues(const std::vector<std::string>& items, absl::string_view flag,
                            google::protobuf::Map<std::string, std::string>* out) {
  for (const std::string& item : items) {
    ASSIGN_OR_RETURN(auto key_value, ParseKeyValue(item, flag));
    (*out)[key_value.first] = std::move(key_value.second);
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Output and input
// ---------------------------------------------------------------------------------------------

absl::Status PrintHelp(Invocation& inv, absl::string_view synopsis, absl::string_view about,
                       FlagParser* parser) {
  inv.AddGlobalFlags(parser);
  *inv.io().out << "usage: engramctl " << synopsis << "\n\n"
                << about << "\n\nflags:\n"
                << parser->Help();
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadAll(std::istream& in, absl::string_view name) {
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(name, ": read error"));
  return buffer.str();
}

Progress MakeProgress(const CliIo& io) { return Progress(io.err, io.err_is_tty, io.now); }

// ---------------------------------------------------------------------------------------------
// Bulk imports
// ---------------------------------------------------------------------------------------------

absl::StatusOr<ImportSummary> ImportFrom(Invocation& inv, const std::string& file,
                                         const ImportFn& import) {
  ASSIGN_OR_RETURN(const RpcClient* client, inv.Client());
  Progress progress = MakeProgress(inv.io());
  if (file == "-") return import(*client, &progress, *inv.io().in, "stdin", 0);
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat(file, ": cannot open"));
  const auto size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  return import(*client, &progress, in, file, size);
}

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

}  // namespace engram::cli::commands
