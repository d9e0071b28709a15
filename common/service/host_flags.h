// The flags every Engram server shares, defined in the service's own main.cc (flags live only in
// mains) with that service's default ports, and one tested way to turn them into a HostConfig.
//
//   // main.cc of engram-hybrid
//   ENGRAM_HOST_FLAGS(/*grpc_port=*/50052, /*http_port=*/9102, /*max_connection_age_s=*/300);
//   ABSL_FLAG(std::string, storage_addr, ...);            // the service's own flags
//   int main(int argc, char** argv) {
//     return engram::service::RunMain(argc, argv, {...}, ReadHostFlags, [](HostConfig host) {...});
//   }
//
// ENGRAM_HTTP_HOST_FLAGS(http_port) is the same for a service without a gRPC port.
#pragma once

#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "common/service/service_host.h"

namespace engram::service {

// The values of the shared flags, as parsed.
struct HostFlags {
  std::string listen_address;
  std::optional<int> grpc_port;  // absent for services without gRPC
  int http_port = 0;
  int drain_seconds = 20;
  int max_connection_age_s = 0;  // 0: never
  std::string log_format = "text";
  std::string log_level = "info";
};

// Fills `base` (service names, thread counts, body limits) from the flags. INVALID_ARGUMENT names
// the flag: a port out of range, both ports equal, a negative duration, an unknown log format or
// level.
absl::StatusOr<HostConfig> HostConfigFromFlags(const HostFlags& flags, HostConfig base);

}  // namespace engram::service

#define ENGRAM_HTTP_HOST_FLAGS_(http_default)                                                      \
  ABSL_FLAG(std::string, listen_address, "0.0.0.0", "Address to bind the ports to.");              \
  ABSL_FLAG(int, http_port, http_default, "HTTP port (/healthz, /readyz, /metrics, and more).");   \
  ABSL_FLAG(int, drain_seconds, 20, "On SIGTERM, how long in-flight calls may take to finish.");   \
  ABSL_FLAG(std::string, log_format, "text", "text or json.");                                     \
  ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error.")

#define ENGRAM_HOST_FLAGS(grpc_default, http_default, connection_age_default)                      \
  ENGRAM_HTTP_HOST_FLAGS_(http_default);                                                           \
  ABSL_FLAG(int, grpc_port, grpc_default, "gRPC port (the service's API, health, reflection).");   \
  ABSL_FLAG(int, max_connection_age_s, connection_age_default,                                     \
            "Close gRPC connections after this many seconds so clients spread over new replicas "  \
            "(0: never).");                                                                        \
  static ::engram::service::HostFlags ReadHostFlags() {                                            \
    return {.listen_address = absl::GetFlag(FLAGS_listen_address),                                 \
            .grpc_port = absl::GetFlag(FLAGS_grpc_port),                                           \
            .http_port = absl::GetFlag(FLAGS_http_port),                                           \
            .drain_seconds = absl::GetFlag(FLAGS_drain_seconds),                                   \
            .max_connection_age_s = absl::GetFlag(FLAGS_max_connection_age_s),                     \
            .log_format = absl::GetFlag(FLAGS_log_format),                                         \
            .log_level = absl::GetFlag(FLAGS_log_level)};                                          \
  }                                                                                                \
  static_assert(true, "")

#define ENGRAM_HTTP_HOST_FLAGS(http_default)                                                       \
  ENGRAM_HTTP_HOST_FLAGS_(http_default);                                                           \
  static ::engram::service::HostFlags ReadHostFlags() {                                            \
    return {.listen_address = absl::GetFlag(FLAGS_listen_address),                                 \
            .http_port = absl::GetFlag(FLAGS_http_port),                                           \
            .drain_seconds = absl::GetFlag(FLAGS_drain_seconds),                                   \
            .log_format = absl::GetFlag(FLAGS_log_format),                                         \
            .log_level = absl::GetFlag(FLAGS_log_level)};                                          \
  }                                                                                                \
  static_assert(true, "")
