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

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/grpc/server_runner.h"
#include "common/http/http_server.h"
#include "common/http/standard_routes.h"
#include "common/metrics/metrics.h"
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
  std::string grpc_address = "0.0.0.0:50051";  // host:port; port 0 picks one (grpc_port())
  std::string http_address = "0.0.0.0";
  int http_port = 8080;  // 0 picks one (http_port())
  std::string storage_address = "127.0.0.1:50053";
  std::string hybrid_address = "127.0.0.1:50052";  // gRPC target, e.g. "dns:///engram-hybrid:50052"
  // JSON keys file (policy/api_keys.h). Required when auth_enabled. Re-read every
  // keys_reload_interval (InfiniteDuration: never); a changed file replaces the keys, a bad one is
  // logged and counted and the keys in force stay.
  std::string api_keys_file;
  absl::Duration keys_reload_interval = absl::Seconds(10);
  bool auth_enabled = true;
  RateLimits rate_limits{.key_rate = 1000, .key_burst = 2000};
  size_t cache_bytes = 64 << 20;  // 0 disables the response cache
  absl::Duration cache_ttl = absl::Seconds(30);
  size_t max_body_bytes = 16 << 20;  // REST request bodies (413 above)
  int http_threads = 16;             // REST handlers block on downstream calls
  absl::Duration drain_timeout = absl::Seconds(20);
  // gRPC connections are closed (GOAWAY) after this age so clients re-resolve and spread over
  // replicas the HPA added; InfiniteDuration keeps them forever.
  absl::Duration max_connection_age = absl::Minutes(5);
  CircuitBreakerOptions breaker;
  absl::Duration probe_interval = absl::Seconds(1);
  absl::Duration max_reconnect_backoff = absl::Seconds(2);
  // Deadlines, limits, retries. auth_enabled is taken from above.
  EngramCoreOptions core;
};

class ApiServer {
 public:
  explicit ApiServer(ApiServerConfig config);
  ~ApiServer();  // calls Shutdown()
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Loads the keys file (INVALID_ARGUMENT naming the file and entry, or NOT_FOUND), binds both
  // ports (UNAVAILABLE when in use) and reports SERVING. Dependencies need not be up.
  absl::Status Start();
  // NOT_SERVING, drains in-flight gRPC and HTTP calls (drain_timeout), stops. Idempotent.
  void Shutdown();

  int grpc_port() const { return grpc_->port(); }
  int http_port() const { return http_->port(); }
  metrics::Registry& metrics() { return metrics_; }
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
  metrics::Registry metrics_;
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
  std::unique_ptr<http::HttpServer> http_;
  std::unique_ptr<grpcutil::ServerRunner> grpc_;

  std::mutex probe_mu_;
  std::condition_variable probe_cv_;
  bool stopping_ = false;  // guarded by probe_mu_
  std::thread prober_;
  bool started_ = false;
  bool shut_down_ = false;
};

// "dns:///" + target unless the target already names a resolver ("dns:", "ipv4:", "ipv6:",
// "unix:", "unix-abstract:", "xds:").
std::string WithResolver(const std::string& target);

}  // namespace engram::api
