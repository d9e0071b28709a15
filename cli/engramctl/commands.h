// Internal to engramctl: what its command units share.
//
//   absl::Status Get(Invocation& inv, const std::vector<std::string>& args) {
//     FlagParser parser("get");
//     if (inv.help) return PrintHelp(inv, "get <ID>", "Prints one concept.", &parser);
//     ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
//     RETURN_IF_ERROR(ExpectPositionals("get", positionals, {"<ID>"}));
//     ...
//     RETURN_IF_ERROR(inv.Call(&Stub::GetConcept, request, &response));
//     inv.Print(response, RenderConcept(response));
//   }
//
// An Invocation is one run of a command line: the global flags (with their environment
// defaults), the I/O and the clients, made on first use. The helpers below check and convert
// arguments; their errors are usage errors (exit code 2). Each command is one entry point taking
// the words after its name; engramctl.cc's command table dispatches to them. The commands live
// in one file per group:
//
//   commands_concept.cc    learn, get, list, update, delete
//   commands_graph.cc      associate (also --file), unlink, neighbors, paths
//   commands_query.cc      search, reason (also --stream)
//   commands_transfer.cc   import jsonl | wordnet, export
//   commands_namespace.cc  namespaces list | get | create | delete
//   commands_admin.cc      stats, snapshot, storage
//   engramctl.cc           the command table, help, version
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "cli/engramctl/bulk_import.h"
#include "cli/engramctl/compaction.h"
#include "cli/engramctl/engramctl.h"
#include "cli/engramctl/flag_parser.h"
#include "cli/engramctl/progress.h"
#include "cli/engramctl/rpc_client.h"
#include "cli/engramctl/snapshot.h"
#include "common/status/status_macros.h"
#include "engram/v1/engram.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/generated_enum_reflection.h"

namespace engram::cli::commands {

using Stub = engram::v1::Engram::StubInterface;

// One run of a command: global options, I/O and the (lazily created) clients.
class Invocation {
 public:
  // Takes the global options' defaults from the environment ($ENGRAM_ADDR, ...).
  Invocation(const CliIo& io, const StubFactory& factory,
             const StorageStubFactory& storage_factory);

  const CliIo& io() const { return io_; }
  const GlobalOptions& options() const { return options_; }
  bool json() const { return options_.output == OutputFormat::kJson; }
  bool help = false;  // --help / -h / `help COMMAND`: print the command's help, run nothing

  void AddGlobalFlags(FlagParser* parser);

  // Parses a command's arguments (its own flags and the global ones) and checks the globals.
  absl::StatusOr<std::vector<std::string>> Parse(FlagParser* parser,
                                                 const std::vector<std::string>& args,
                                                 bool stop_at_positional = false);

  // The engram-api client (its stub is made on first use).
  absl::StatusOr<const RpcClient*> Client();

  template <typename Request, typename Response>
  absl::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response) {
    ASSIGN_OR_RETURN(const RpcClient* client, Client());
    return client->Call(method, request, response);
  }

  // Snapshot calls on engram-storage (its stub is made on first use).
  // `timeout_seconds`: per call (a whole download or restore is one call).
  absl::StatusOr<SnapshotCalls> Snapshots(double timeout_seconds);
  // Namespace and compaction calls on engram-storage (the same stub), each bounded by --timeout.
  absl::StatusOr<CompactionCalls> Compactions();

  // Prints a response: its JSON mapping, or `text`.
  void Print(const google::protobuf::Message& message, const std::string& text);

 private:
  // --correlation_id, or a new id when it is not given.
  std::string CorrelationId() const;
  // engram-storage's stub, made on first use (`command` names the command in errors).
  absl::StatusOr<storage::v1::Storage::StubInterface*> StorageStub(absl::string_view command);

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
// Arguments
// ---------------------------------------------------------------------------------------------

// Checks that `got` holds one argument per name in `names`; the last `optional` of them may be
// missing. "COMMAND: missing argument NAME" / "COMMAND: unexpected argument 'X'".
absl::Status ExpectPositionals(absl::string_view command, const std::vector<std::string>& got,
                               const std::vector<absl::string_view>& names, size_t optional = 0);

// A value of a protobuf enum by its name, in any case; std::nullopt for an unknown name and for
// the enum's zero (*_UNSPECIFIED) value.
template <typename Enum>
std::optional<Enum> ParseEnumName(absl::string_view text) {
  const google::protobuf::EnumValueDescriptor* value =
      google::protobuf::GetEnumDescriptor<Enum>()->FindValueByName(absl::AsciiStrToUpper(text));
  if (value == nullptr || value->number() == 0) return std::nullopt;
  return static_cast<Enum>(value->number());
}

// An association type (SEMANTIC, ...); `what` names the argument in the error.
absl::StatusOr<engram::v1::AssociationType> ParseType(absl::string_view text,
                                                      absl::string_view what);
// A comma-separated, non-empty list of association types.
absl::Status ParseTypes(absl::string_view list, absl::string_view what,
                        google::protobuf::RepeatedField<int>* out);
// --vector V1,V2,...: finite numbers.
absl::Status ParseVector(absl::string_view list, google::protobuf::RepeatedField<float>* out);
// --keyword_fields ATTR[^WEIGHT[:B]],...: attributes keyword search scores beside the content
// (weight and b left unset for the server's defaults, 1 and 0.75). Ranges are the server's to check.
absl::Status ParseKeywordFields(absl::string_view list,
                                google::protobuf::RepeatedPtrField<engram::v1::KeywordField>* out);
// KEY=VALUE with a non-empty key; `flag` names the flag in the error.
absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(const std::string& item,
                                                                  absl::string_view flag);
absl::Status ParseKeyValues(const std::vector<std::string>& items, absl::string_view flag,
                            google::protobuf::Map<std::string, std::string>* out);

// ---------------------------------------------------------------------------------------------
// Output and input
// ---------------------------------------------------------------------------------------------

// `engramctl COMMAND --help`: the synopsis, what the command does and its flags (with the
// global ones).
absl::Status PrintHelp(Invocation& inv, absl::string_view synopsis, absl::string_view about,
                       FlagParser* parser);

// All of `in`; `name` names it in a read error.
absl::StatusOr<std::string> ReadAll(std::istream& in, absl::string_view name);

// The progress display of a bulk command, on stderr.
Progress MakeProgress(const CliIo& io);

// ---------------------------------------------------------------------------------------------
// Bulk imports (learn --file, import jsonl | wordnet, associate --file)
// ---------------------------------------------------------------------------------------------

using ImportFn = std::function<absl::StatusOr<ImportSummary>(
    const RpcClient& client, Progress* progress, std::istream& in, absl::string_view name,
    uint64_t total_bytes)>;

// Runs `import` with the client and a progress display over FILE, or over stdin for "-", with
// the input's name (for errors) and size (for the progress bar; 0 for stdin).
absl::StatusOr<ImportSummary> ImportFrom(Invocation& inv, const std::string& file,
                                         const ImportFn& import);

// Prints an import summary; a partial association failure makes the command fail.
absl::Status FinishImport(Invocation& inv, const ImportSummary& summary);

// ---------------------------------------------------------------------------------------------
// The commands: `args` are the words after the command's name.
// ---------------------------------------------------------------------------------------------

using CommandFn = absl::Status (*)(Invocation& inv, const std::vector<std::string>& args);

// commands_concept.cc
absl::Status Learn(Invocation& inv, const std::vector<std::string>& args);
absl::Status Get(Invocation& inv, const std::vector<std::string>& args);
absl::Status List(Invocation& inv, const std::vector<std::string>& args);
absl::Status Update(Invocation& inv, const std::vector<std::string>& args);
absl::Status Delete(Invocation& inv, const std::vector<std::string>& args);

// commands_graph.cc
absl::Status Associate(Invocation& inv, const std::vector<std::string>& args);
absl::Status Unlink(Invocation& inv, const std::vector<std::string>& args);
absl::Status Neighbors(Invocation& inv, const std::vector<std::string>& args);
absl::Status Paths(Invocation& inv, const std::vector<std::string>& args);

// commands_query.cc
absl::Status Search(Invocation& inv, const std::vector<std::string>& args);
absl::Status Reason(Invocation& inv, const std::vector<std::string>& args);

// commands_transfer.cc
absl::Status Import(Invocation& inv, const std::vector<std::string>& args);
absl::Status Export(Invocation& inv, const std::vector<std::string>& args);

// commands_namespace.cc
absl::Status Namespaces(Invocation& inv, const std::vector<std::string>& args);

// commands_admin.cc
absl::Status Stats(Invocation& inv, const std::vector<std::string>& args);
absl::Status Snapshot(Invocation& inv, const std::vector<std::string>& args);
absl::Status Storage(Invocation& inv, const std::vector<std::string>& args);

}  // namespace engram::cli::commands
