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
//
// Both define the server TLS flags (--tls_cert, --tls_key, --tls_client_ca, --http_tls_client_ca,
// --tls_reload_s; all empty: plaintext). A service that calls others adds
// ENGRAM_DOWNSTREAM_TLS_FLAGS() and reads them with ReadDownstreamTlsFlags() (--downstream_tls,
// --downstream_tls_ca, --downstream_tls_cert, --downstream_tls_key,
// --downstream_tls_server_name). docs/operations.md#tls explains them.
#pragma once

#include <algorithm>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "common/service/service_host.h"
#include "common/tls/tls_config.h"

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
  // Server TLS: gRPC and HTTP share the certificate; client certificates are required on the
  // gRPC port when tls_client_ca is set, on the HTTP port when http_tls_client_ca is set.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  std::string http_tls_client_ca;
  int tls_reload_s = 60;
};

// Fills `base` (service names, thread counts, body limits) from the flags. INVALID_ARGUMENT names
// the flag: a port out of range, both ports equal, a negative duration, an unknown log format or
// level, a TLS file that is missing, unreadable or not PEM, a key that does not match.
absl::StatusOr<HostConfig> HostConfigFromFlags(const HostFlags& flags, HostConfig base);

}  // namespace engram::service

#define ENGRAM_HTTP_HOST_FLAGS_(http_default)                                                      \
  ABSL_FLAG(std::string, listen_address, "0.0.0.0", "Address to bind the ports to.");              \
  ABSL_FLAG(std::string, tls_cert, "",                                                             \
            "PEM certificate chain: serve gRPC and HTTP over TLS (empty: plaintext).");            \
  ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");                           \
  ABSL_FLAG(std::string, tls_client_ca, "",                                                        \
            "PEM CA bundle: gRPC clients must present a certificate it signed (mutual TLS).");     \
  ABSL_FLAG(std::string, http_tls_client_ca, "",                                                   \
            "PEM CA bundle: HTTP clients must present a certificate it signed (mutual TLS).");     \
  ABSL_FLAG(int, tls_reload_s, 60,                                                                 \
            "How often TLS certificate, key and CA files are checked for rotation (seconds).");    \
  ABSL_FLAG(int, http_port, http_default, "HTTP port (/healthz, /readyz, /metrics, and more).");   \
  ABSL_FLAG(int, drain_seconds, 20, "On SIGTERM, how long in-flight calls may take to finish.");   \
  ABSL_FLAG(std::string, log_format, "text", "text or json.");                                     \
  ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error.");                  \
  /* The flags every server has; ReadHostFlags adds the gRPC ones where there are any. */          \
  static ::engram::service::HostFlags ReadHttpHostFlags_() {                                       \
    return {.listen_address = absl::GetFlag(FLAGS_listen_address),                                 \
            .http_port = absl::GetFlag(FLAGS_http_port),                                           \
            .drain_seconds = absl::GetFlag(FLAGS_drain_seconds),                                   \
            .log_format = absl::GetFlag(FLAGS_log_format),                                         \
            .log_level = absl::GetFlag(FLAGS_log_level),                                           \
            .tls_cert = absl::GetFlag(FLAGS_tls_cert),                                             \
            .tls_key = absl::GetFlag(FLAGS_tls_key),                                               \
            .tls_client_ca = absl::GetFlag(FLAGS_tls_client_ca),                                   \
            .http_tls_client_ca = absl::GetFlag(FLAGS_http_tls_client_ca),                         \
            .tls_reload_s = absl::GetFlag(FLAGS_tls_reload_s)};                                    \
  }                                                                                                \
  static_assert(true, "")

#define ENGRAM_HOST_FLAGS(grpc_default, http_default, connection_age_default)                      \
  ENGRAM_HTTP_HOST_FLAGS_(http_default);                                                           \
  ABSL_FLAG(int, grpc_port, grpc_default, "gRPC port (the service's API, health, reflection).");   \
  ABSL_FLAG(int, max_connection_age_s, connection_age_default,                                     \
            "Close gRPC connections after this many seconds so clients spread over new replicas "  \
            "(0: never).");                                                                        \
  static ::engram::service::HostFlags ReadHostFlags() {                                            \
    ::engram::service::HostFlags flags = ReadHttpHostFlags_();                                     \
    flags.grpc_port = absl::GetFlag(FLAGS_grpc_port);                                              \
    flags.max_connection_age_s = absl::GetFlag(FLAGS_max_connection_age_s);                        \
    return flags;                                                                                  \
  }                                                                                                \
  static_assert(true, "")

#define ENGRAM_HTTP_HOST_FLAGS(http_default)                                                       \
  ENGRAM_HTTP_HOST_FLAGS_(http_default);                                                           \
  static ::engram::service::HostFlags ReadHostFlags() { return ReadHttpHostFlags_(); }             \
  static_assert(true, "")

// Client TLS for every channel (and HTTP scrape) the service opens to another Engram service.
// Needs the host flags (for --tls_reload_s).
#define ENGRAM_DOWNSTREAM_TLS_FLAGS()                                                              \
  ABSL_FLAG(bool, downstream_tls, false,                                                           \
            "Call other Engram services over TLS (implied by the other --downstream_tls_* "        \
            "flags; without --downstream_tls_ca the system's CAs verify them).");                  \
  ABSL_FLAG(std::string, downstream_tls_ca, "",                                                    \
            "PEM CA bundle that verifies the certificates of the services this one calls.");       \
  ABSL_FLAG(std::string, downstream_tls_cert, "",                                                  \
            "PEM client certificate presented to the services this one calls (mutual TLS).");      \
  ABSL_FLAG(std::string, downstream_tls_key, "", "PEM private key of --downstream_tls_cert.");     \
  ABSL_FLAG(std::string, downstream_tls_server_name, "",                                           \
            "Name expected in every downstream certificate instead of the dialled host.");         \
  static ::engram::tls::ClientTlsConfig ReadDownstreamTlsFlags() {                                 \
    return {.tls = absl::GetFlag(FLAGS_downstream_tls),                                            \
            .ca_file = absl::GetFlag(FLAGS_downstream_tls_ca),                                     \
            .cert_file = absl::GetFlag(FLAGS_downstream_tls_cert),                                 \
            .key_file = absl::GetFlag(FLAGS_downstream_tls_key),                                   \
            .server_name = absl::GetFlag(FLAGS_downstream_tls_server_name),                        \
            .reload_interval = absl::Seconds(std::max(1, absl::GetFlag(FLAGS_tls_reload_s)))};     \
  }                                                                                                \
  static_assert(true, "")
