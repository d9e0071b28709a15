// ServiceHost: what every Engram server process is made of, built one way.
//
// A host owns the metrics registry, the HTTP port (with /healthz, /readyz and /metrics) and,
// unless the service has no gRPC API, the gRPC server (health, reflection, correlation ids, RPC
// metrics, max connection age, graceful drain). It also exports the standard process metrics
// engram_build_info{service,version} and process_start_time_seconds, which engram-control reads
// for each service's version and uptime.
//
//   ServiceHost host({.service = "engram-hybrid", .grpc_service = "engram.hybrid.v1.Hybrid",
//                     .grpc_port = 50052, .http_port = 9102});
//   host.grpc()->AddService(&service);
//   host.SetReadiness([&] { return Report(); });
//   RETURN_IF_ERROR(host.StartHttp());   // liveness from the first second
//   ... recover, load models ...
//   RETURN_IF_ERROR(host.StartGrpc());   // NOT_SERVING until SetServing(true)
//   host.SetServing(true);
//   ...
//   host.DrainGrpc();                     // NOT_SERVING, in-flight calls finish
//   ... close the engine ...
//   host.Shutdown();                      // then the HTTP port
//
// Thread-safety: configure (AddService, Handle, SetReadiness) before starting; the Start*/Drain/
// Shutdown calls from one thread; metrics(), ports and SetServing are thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/grpc/server_runner.h"
#include "common/http/http_server.h"
#include "common/http/standard_routes.h"
#include "common/metrics/metrics.h"
#include "common/tls/tls_config.h"

namespace engram::service {

// The version every binary reports (engram_build_info, logs, --version).
std::string_view Version();

struct HostConfig {
  std::string service;       // "engram-api": logs and engram_build_info{service}
  std::string grpc_service;  // "engram.v1.Engram"; empty: the service has no gRPC port
  std::string listen_address = "0.0.0.0";
  int grpc_port = 0;  // 0: ephemeral (grpc_port() tells)
  int http_port = 0;  // 0: ephemeral (http_port() tells)
  int http_threads = 2;
  size_t max_body_bytes = 4 << 20;
  // An HTTP client must send a whole request header (and then its body, and take the response)
  // within this long, or it is cut off (slow clients; http::HttpServer::Options::idle_timeout).
  absl::Duration http_idle_timeout = absl::Seconds(60);
  int max_message_bytes = 64 << 20;
  // Most gRPC server threads; calls past them are refused with RESOURCE_EXHAUSTED (0: no limit;
  // grpcutil::ServerRunner::Options::max_threads). It bounds async calls in progress too.
  int grpc_max_threads = 0;
  // Most async calls (engram-api's and engram-hybrid's Search) in progress; past it (or past
  // grpc_max_threads, whichever is lower) RESOURCE_EXHAUSTED at once (0: no limit;
  // AsyncCallLimit()). An async call holds no thread, so without a bound an overloaded server
  // queues them until their deadlines. The health service is sync: this limit never fails
  // readiness.
  int grpc_max_async_calls = 0;
  // gRPC sync-pool threads kept polling when idle (grpcutil::ServerRunner::Options::min_pollers).
  int grpc_min_pollers = 2;
  absl::Duration drain_timeout = absl::Seconds(20);
  // gRPC connections are closed (GOAWAY) after this age so clients re-resolve and spread over
  // replicas an HPA added; InfiniteDuration keeps them.
  absl::Duration max_connection_age = absl::InfiniteDuration();
  // Server TLS: the gRPC port uses `tls` as is; the HTTP port uses the same certificate and key
  // with http_client_ca_file as its client CA (REST clients and probes rarely hold certificates).
  tls::ServerTlsConfig tls;
  std::string http_client_ca_file;
  // Headers on every HTTP response (http::HttpServer::Options::default_headers).
  std::vector<std::pair<std::string, std::string>> default_headers;

  // The HTTP port's TLS config (tls with http_client_ca_file).
  tls::ServerTlsConfig HttpTls() const;

  // INVALID_ARGUMENT naming the flag behind a bad value (ports, threads, durations, TLS files).
  absl::Status Validate() const;
  // The async calls the gRPC server admits at once: the lower of the two limits that are set,
  // 0 when neither is (grpcutil::ServerRunner::Options::max_async_calls).
  int AsyncCallLimit() const;
};

class ServiceHost {
 public:
  explicit ServiceHost(HostConfig config);
  ~ServiceHost();  // calls Shutdown()
  ServiceHost(const ServiceHost&) = delete;
  ServiceHost& operator=(const ServiceHost&) = delete;

  const HostConfig& config() const { return config_; }
  metrics::Registry& metrics() { return metrics_; }
  http::HttpServer& http() { return *http_; }
  // Null when the service has no gRPC port (HostConfig::grpc_service empty).
  grpcutil::ServerRunner* grpc() { return grpc_.get(); }

  // What /readyz reports; before StartHttp(). Must be cheap, thread-safe and non-blocking.
  void SetReadiness(std::function<http::ReadinessReport()> readiness);

  absl::Status StartHttp();
  absl::Status StartGrpc();  // OK and nothing to do without a gRPC port
  // StartHttp() then StartGrpc().
  absl::Status Start();
  void SetServing(bool serving);

  // NOT_SERVING, then in-flight gRPC calls finish (drain_timeout). Idempotent.
  void DrainGrpc();
  // DrainGrpc(), then the HTTP port drains and stops. Idempotent.
  void Shutdown();

  int grpc_port() const { return grpc_ != nullptr ? grpc_->port() : 0; }
  int http_port() const { return http_->port(); }

 private:
  const HostConfig config_;
  metrics::Registry metrics_;
  std::function<http::ReadinessReport()> readiness_;
  std::unique_ptr<http::HttpServer> http_;
  std::unique_ptr<grpcutil::ServerRunner> grpc_;
  bool shut_down_ = false;
};

// A server process built on a ServiceHost (ApiServer, HybridServer, StorageServer, ...).
class Service {
 public:
  virtual ~Service() = default;
  // Listens, recovers, reports SERVING. A failure leaves the process to exit with status 1.
  virtual absl::Status Start() = 0;
  // Drains and stops. Idempotent.
  virtual void Shutdown() = 0;
  virtual ServiceHost& host() = 0;
};

}  // namespace engram::service
