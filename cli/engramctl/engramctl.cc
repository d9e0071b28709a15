// engramctl's entry point (engramctl.h): the command table, global flags before the command,
// help, version and the process's I/O and transports. The commands are in commands_*.cc
// (commands.h).
#include "cli/engramctl/engramctl.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/engramctl/commands.h"
#include "cli/engramctl/exit_codes.h"
#include "cli/engramctl/flag_parser.h"
#include "common/status/status_macros.h"
#include "common/tls/grpc_credentials.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

#ifndef ENGRAM_VERSION
#define ENGRAM_VERSION "unknown"
#endif

namespace engram::cli {
namespace {

using commands::Invocation;

absl::Status Version(Invocation& inv, const std::vector<std::string>& args) {
  RETURN_IF_ERROR(commands::ExpectPositionals("version", args, {}));
  *inv.io().out << "engramctl " << ENGRAM_VERSION << "\n";
  return absl::OkStatus();
}

struct Command {
  const char* name;
  commands::CommandFn run;
};

constexpr Command kCommands[] = {
    {"learn", commands::Learn},
    {"import", commands::Import},
    {"get", commands::Get},
    {"list", commands::List},
    {"update", commands::Update},
    {"delete", commands::Delete},
    {"associate", commands::Associate},
    {"unlink", commands::Unlink},
    {"neighbors", commands::Neighbors},
    {"paths", commands::Paths},
    {"search", commands::Search},
    {"reason", commands::Reason},
    {"namespaces", commands::Namespaces},
    {"stats", commands::Stats},
    {"version", Version},
    {"export", commands::Export},
    {"snapshot", commands::Snapshot},
    {"storage", commands::Storage},
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

// A channel that takes responses of up to 64 MiB (a page of concepts with their vectors).
std::shared_ptr<grpc::Channel> NewChannel(const std::string& addr,
                                          const tls::ClientTlsConfig& tls_config) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(64 << 20);
  return tls::CreateChannel(addr, tls_config, arguments);
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
  storage namespaces                                    namespaces as engram-storage sees them:
                                                        reclaimable bytes, generation, compaction
  storage compact NAME [--wait] [--wait_timeout S]      compact a namespace online (--storage_addr)
  version                                               engramctl's version
  help [COMMAND]                                        this text, or a command's flags

global flags (anywhere on the line):
  --addr HOST:PORT      engram-api gRPC address ($ENGRAM_ADDR, default 127.0.0.1:50051)
  --api_key KEY         API key, sent as "authorization: Bearer KEY" ($ENGRAM_API_KEY)
  -n, --namespace NAME  namespace ($ENGRAM_NAMESPACE, default "default")
  --output text|json    json prints the response's protobuf JSON mapping, one object per line
  --timeout SECONDS     deadline of each call (default 30)
  --correlation_id ID   x-correlation-id of every call (default: a new id per run)
  --tls                 connect with TLS (system CAs unless --tls_ca)
  --tls_ca PEM          CA that signed the server's certificate (implies --tls; old name --ca_file)
  --tls_cert PEM, --tls_key PEM
                        client certificate and key, for servers that require one (mutual TLS)
  --tls_server_name N   name expected in the server's certificate instead of the address's host
  --storage_addr H:P    engram-storage gRPC address, for snapshot and storage
                        ($ENGRAM_STORAGE_ADDR, default 127.0.0.1:50053)

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

namespace {

// The TLS flags, checked (a missing or unreadable file is INVALID_ARGUMENT naming the flag).
absl::StatusOr<tls::ClientTlsConfig> ClientTls(const GlobalOptions& options) {
  if (!options.tls_ca.empty() && !options.ca_file.empty()) {
    return UsageError("--ca_file is the older name of --tls_ca: give one of them");
  }
  const bool old_name = !options.ca_file.empty();
  tls::ClientTlsConfig config{.tls = options.tls,
                              .ca_file = old_name ? options.ca_file : options.tls_ca,
                              .cert_file = options.tls_cert,
                              .key_file = options.tls_key,
                              .server_name = options.tls_server_name,
                              .tls_flag = "--tls",
                              .ca_flag = old_name ? "--ca_file" : "--tls_ca",
                              .cert_flag = "--tls_cert",
                              .key_flag = "--tls_key",
                              .server_name_flag = "--tls_server_name"};
  RETURN_IF_ERROR(tls::CheckClientTls(config));
  return config;
}

}  // namespace

StubFactory GrpcStubFactory() {
  return [](const GlobalOptions& options)
             -> absl::StatusOr<std::shared_ptr<engram::v1::Engram::StubInterface>> {
    ASSIGN_OR_RETURN(tls::ClientTlsConfig config, ClientTls(options));
    return std::shared_ptr<engram::v1::Engram::StubInterface>(
        engram::v1::Engram::NewStub(NewChannel(options.addr, config)));
  };
}

// Snapshots go to engram-storage with the same TLS settings (its port may require a client
// certificate: operators use one issued by the cluster's CA).
StorageStubFactory GrpcStorageStubFactory() {
  return [](const GlobalOptions& options)
             -> absl::StatusOr<std::shared_ptr<storage::v1::Storage::StubInterface>> {
    ASSIGN_OR_RETURN(tls::ClientTlsConfig config, ClientTls(options));
    return std::shared_ptr<storage::v1::Storage::StubInterface>(
        storage::v1::Storage::NewStub(NewChannel(options.storage_addr, config)));
  };
}

}  // namespace engram::cli
