// RunMain: the start / wait / shutdown sequence of every Engram server binary, so a main.cc is its
// own flags and one call (as envoy's main).
//
// Sequence: block SIGTERM/SIGINT (before any thread), parse flags (--version prints Version()),
// logging, HostConfigFromFlags, the service's factory, Start(), wait for SIGTERM/SIGINT,
// Shutdown(). Exit status: 0 after a clean shutdown, 2 for bad flags (the factory's or the host's
// INVALID_ARGUMENT, printed with the flag's name), 1 when the service failed to start.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/service/host_flags.h"
#include "common/service/service_host.h"

namespace engram::service {

struct MainSpec {
  std::string service;       // "engram-api"
  std::string grpc_service;  // "engram.v1.Engram"; empty: no gRPC port
  std::string usage;         // one line for --help
  int http_threads = 2;
  size_t max_body_bytes = 4 << 20;
};

// Builds the service from the host config (the factory reads the service's own flags, which are
// parsed by then). INVALID_ARGUMENT: a bad flag, exit 2.
using ServiceFactory = std::function<absl::StatusOr<std::unique_ptr<Service>>(HostConfig)>;

int RunMain(int argc, char** argv, const MainSpec& spec, HostFlags (*read_host_flags)(),
            const ServiceFactory& factory);

}  // namespace engram::service
