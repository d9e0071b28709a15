// ApiServer: engram-api as one object: API keys, rate limiter, response cache, one circuit breaker
// and one channel per dependency, EngramCore, the gRPC service (engram.v1.Engram on a
// grpcutil::ServerRunner) and the HTTP port (REST gateway, /openapi.json, /healthz, /readyz,
// /metrics).
//
//   ApiServer server(config);
//   RETURN_IF_ERROR(server.Start());   // loads the keys file, listens, reports SERVING
//   ...wait for SIGTERM...
//   server.Shutdown();                 // drains gRPC and HTTP
//
// Channels: storage_address as given; hybrid_address is a gRPC target balanced with round_robin
// ("dns:///" is prepended when it names no resolver), so calls spread over every address the name
// resolves to (a headless Service's pods). Reconnect backoff is capped by max_reconnect_backoff so
// a restarted dependency is used again within seconds.
//
// Readiness (/readyz): 503 {"status":"unavailable","unavailable":[{"name":"storage","reason":...}]}
// naming each dependency whose channel is not READY (each probe also kicks a reconnect) or whose
// circuit breaker is not closed. While a breaker is not closed, a background prober sends the
// dependency a grpc.health.v1 Check through the breaker every probe_interval, so the breaker (and
// readiness) recover by themselves when the dependency returns, even with no traffic (an unready
// pod gets none). The gRPC health service reports SERVING from Start() until Shutdown(); the
// dependencies are reported by /readyz only.
//
// Thread-safety: Start() and Shutdown() from one thread; accessors are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/http/standard_routes.h"
#include "common/service/service_host.h"
#include "common/sync/mutex.h"
#include "common/tls/tls_config.h"
#include "engram/hybrid/v1/hybrid.grpc.pb.h"
#include "engram/storage/v1/storage.grpc.pb.h"
#include "grpcpp/channel.h"
#include "services/api/core/engram_core.h"
#include "services/api/grpc/engram_service.h"
#include "services/api/policy/api_keys.h"
#include "services/api/policy/rate_limiter.h"
#include "services/api/policy/resilience.h"
#include "services/api/policy/response_cache.h"

namespace engram::api {

struct ApiServerConfig {
  // Ports (0 picks one: grpc_port(), http_port()), HTTP threads (REST handlers block on
  // downstream calls), REST body limit (413 above), drain, connection age; service names are
  // filled in by the server.
  service::HostConfig host{.grpc_port = 50051,
                           .http_port = 8080,
                           .http_threads = 16,
                           .max_body_bytes = 16 << 20,
                           .max_connection_age = absl::Minutes(5)};
  std::string storage_address = "127.0.0.1:50053";
  std::string hybrid_address = "127.0.0.1:50052";  // gRPC target, e.g. "dns:///engram-hybrid:50052"
  // TLS of the channels to storage and hybrid (plaintext by default; common/tls/tls_config.h).
  tls::ClientTlsConfig downstream_tls;
  // JSON keys file (policy/api_keys.h). Required when auth_enabled. Re-read every
  // keys_reload_interval (InfiniteDuration: never); a changed file replaces the keys, a bad one is
  // logged and counted and the keys in force stay.
  std::string api_keys_file;
  absl::Duration keys_reload_interval = absl::Seconds(10);
  bool auth_enabled = true;
  RateLimits rate_limits{.key_rate = 1000, .key_burst = 2000};
  size_t cache_bytes = 64 << 20;  // 0 disables the response cache
  absl::Duration cache_ttl = absl::Seconds(30);
  CircuitBreakerOptions breaker;
  absl::Duration probe_interval = absl::Seconds(1);
  absl::Duration max_reconnect_backoff = absl::Seconds(2);
  // Deadlines, limits, retries. auth_enabled is taken from above.
  EngramCoreOptions core;

  // INVALID_ARGUMENT naming the flag: auth enabled without a keys file, a negative rate, a
  // deadline cap below the default deadline.
  absl::Status Validate() const;
};

class ApiServer : public service::Service {
 public:
  explicit ApiServer(ApiServerConfig config);
  ~ApiServer() override;  // calls Shutdown()
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Loads the keys file (INVALID_ARGUMENT naming the file and entry, or NOT_FOUND), binds both
  // ports (UNAVAILABLE when in use) and reports SERVING. Dependencies need not be up.
  absl::Status Start() override;
  // NOT_SERVING, drains in-flight gRPC and HTTP calls (drain_timeout), stops. Idempotent.
  void Shutdown() override;
  service::ServiceHost& host() override { return host_; }

  int grpc_port() const { return host_.grpc_port(); }
  int http_port() const { return host_.http_port(); }
  metrics::Registry& metrics() { return host_.metrics(); }
  ApiCore& core() { return *core_; }

  // The readiness report /readyz serves (also for tests).
  http::ReadinessReport Readiness();

 private:
  struct Dependency {
    std::string name;
    std::string target;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<CircuitBreaker> breaker;
  };
  void ProbeLoop();
  void Probe(Dependency& dependency);
  // Re-reads the keys file; logs and counts the outcome.
  void ReloadKeys();

  ApiServerConfig config_;
  service::ServiceHost host_;
  ApiKeyRing keys_;
  metrics::Counter* keys_reloaded_ = nullptr;
  metrics::Counter* keys_reload_failed_ = nullptr;
  absl::Time keys_checked_ = absl::InfinitePast();
  RateLimiter limiter_;
  ResponseCache cache_;
  Dependency storage_;
  Dependency hybrid_;
  std::unique_ptr<storage::v1::Storage::Stub> storage_stub_;
  std::unique_ptr<hybrid::v1::Hybrid::Stub> hybrid_stub_;
  std::unique_ptr<EngramCore> core_;
  std::unique_ptr<EngramService> service_;

  sync::Mutex probe_mu_;
  sync::CondVar probe_cv_;  // stopping_ set
  bool stopping_ ABSL_GUARDED_BY(probe_mu_) = false;
  std::thread prober_;
  bool started_ = false;
  bool shut_down_ = false;
};

// "dns:///" + target unless the target already names a resolver ("dns:", "ipv4:", "ipv6:",
// "unix:", "unix-abstract:", "xds:").
std::string WithResolver(const std::string& target);

}  // namespace engram::api
