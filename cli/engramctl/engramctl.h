// engramctl: the command-line client of Engram's public gRPC API (engram.v1.Engram).
//
//   int main(int argc, char** argv) {
//     return engram::cli::RunEngramctl(ArgsOf(argc, argv), engram::cli::ProcessIo(),
//                                      engram::cli::GrpcStubFactory());
//   }
//
// The library does not own a transport: RunEngramctl asks `StubFactory` for a stub once the
// command line has been parsed (so usage errors never touch the network), and tests pass a
// factory that returns a gMock stub. Standard streams, environment, clock and backoff sleep come
// from CliIo, so every command is testable without a process or a server.
//
// Commands, flags and exit codes: docs/engramctl.md and UsageText(). Exit codes: exit_codes.h.
// The commands themselves are in commands_*.cc, one file per group (commands.h).
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engram/storage/v1/storage.grpc.pb.h"
#include "engram/v1/engram.grpc.pb.h"

namespace engram::cli {

enum class OutputFormat { kText, kJson };

// Global options: flags of every command, with defaults from the environment.
struct GlobalOptions {
  std::string addr = "127.0.0.1:50051";       // --addr, $ENGRAM_ADDR
  std::string api_key;                        // --api_key, $ENGRAM_API_KEY
  std::string ns = "default";                 // --namespace / -n, $ENGRAM_NAMESPACE
  bool ns_from_flag = false;                  // --namespace/-n was on the command line
  OutputFormat output = OutputFormat::kText;  // --output text|json
  double timeout_seconds = 30;                // --timeout, per call
  std::string correlation_id;                 // --correlation_id; generated when empty
  bool tls = false;                           // --tls: TLS with the system's (or --tls_ca) roots
  std::string ca_file;                        // --ca_file: the older name of --tls_ca
  std::string tls_ca;           // --tls_ca: PEM CA that signed the server (implies TLS)
  std::string tls_cert;         // --tls_cert: client certificate (mutual TLS)
  std::string tls_key;          // --tls_key: its private key
  std::string tls_server_name;  // --tls_server_name: name the server cert must have
  std::string storage_addr = "127.0.0.1:50053";  // --storage_addr, $ENGRAM_STORAGE_ADDR (snapshot)
};

struct CliIo {
  std::istream* in = nullptr;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  bool err_is_tty = false;  // progress bars only on a terminal
  std::function<std::optional<std::string>(const std::string& name)> getenv;
  std::function<absl::Time()> now;
  std::function<void(absl::Duration)> sleep;  // backoff between retries
};

// The real process: std::cin/cout/cerr, isatty(2), ::getenv, absl::Now, absl::SleepFor.
CliIo ProcessIo();

using StubFactory =
    std::function<absl::StatusOr<std::shared_ptr<engram::v1::Engram::StubInterface>>(
        const GlobalOptions& options)>;

// A gRPC channel to options.addr (insecure, or TLS with --tls or any --tls_* file) and its
// generated stub.
StubFactory GrpcStubFactory();

// engram-storage's own service, for `snapshot` (operators; inside the cluster).
using StorageStubFactory =
    std::function<absl::StatusOr<std::shared_ptr<storage::v1::Storage::StubInterface>>(
        const GlobalOptions& options)>;
// An insecure gRPC channel to options.storage_addr.
StorageStubFactory GrpcStorageStubFactory();

// Runs one command line (`args` excludes the program name) and returns the exit code.
// `storage_factory` may be empty: `snapshot` then fails with FAILED_PRECONDITION.
int RunEngramctl(const std::vector<std::string>& args, const CliIo& io,
                 const StubFactory& stub_factory,
                 const StorageStubFactory& storage_factory = StorageStubFactory());

// The overview printed by `engramctl help`.
std::string UsageText();

}  // namespace engram::cli
