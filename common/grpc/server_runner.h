// Runs one Engram gRPC server: listening port, services, grpc.health.v1, server reflection,
// correlation ids and RPC metrics (server_interceptor.h), graceful drain.
//
// A service main:
//
//   int main(int argc, char** argv) {
//     engram::grpcutil::ServerRunner::BlockTerminationSignals();   // before any thread starts
//     ... parse flags, engram::logging::Init(...), build the service ...
//     engram::grpcutil::ServerRunner runner({.service_name = "engram.v1.Engram",
//                                            .grpc_address = "0.0.0.0:50051",
//                                            .metrics = &registry});
//     runner.AddService(&service);
//     if (absl::Status s = runner.Start(); !s.ok()) { spdlog::critical(...); return 1; }
//     runner.SetServing(true);                  // once dependencies are ready
//     engram::grpcutil::ServerRunner::WaitForTermination();     // SIGTERM / SIGINT
//     runner.Shutdown();                        // NOT_SERVING, drain, stop
//     return 0;
//   }
//
// Health: the server reports NOT_SERVING for "" and for Options::service_name from the first
// moment it listens until SetServing(true); Shutdown() turns both NOT_SERVING again. Any other
// service name answers NOT_FOUND (Check) / SERVICE_UNKNOWN (Watch).
//
// Threads: the sync pool (min_pollers..max_pollers, more while handlers block) serves sync
// methods and health; async methods (AddAsyncService) are served by async_threads threads, one
// completion queue each, with no hand-off per call.
//
// Thread-safety: AddService before Start; everything else is thread-safe.
// Ownership: services passed to AddService are not owned and must outlive the runner (or at
// least its Shutdown()). The metrics registry, if any, must outlive the runner.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/grpc/async_unary.h"
#include "common/grpc/health_service.h"
#include "common/sync/mutex.h"
#include "common/tls/tls_config.h"
#include "grpcpp/server.h"

namespace engram::metrics {
class Registry;
}  // namespace engram::metrics

namespace engram::grpcutil {

class ServerRunner {
 public:
  struct Options {
    // Reported by the health service next to "" (e.g. "engram.v1.Engram"). May be empty.
    std::string service_name;
    // host:port; port 0 picks an ephemeral port (see port()).
    std::string grpc_address = "0.0.0.0:0";
    // How long Shutdown() lets in-flight calls finish before cancelling them.
    absl::Duration drain_timeout = absl::Seconds(20);
    // Largest request and response message.
    int max_message_bytes = 64 << 20;
    // When finite, connections are closed (GOAWAY) after this age, so that clients re-resolve
    // and spread over new replicas (useful behind a headless Service with an HPA).
    absl::Duration max_connection_age = absl::InfiniteDuration();
    // Sync-server thread pool: threads kept polling for calls. A thread finishing a call exits
    // when more than max_pollers are already polling; higher values avoid thread churn under load.
    int min_pollers = 2;
    int max_pollers = 32;
    // Most threads the sync server may use (pollers included); 0: no limit. A call that arrives
    // when every thread is busy is refused at once with RESOURCE_EXHAUSTED ("Server Threadpool
    // Exhausted") instead of queueing: load shedding for a service whose handlers block on
    // downstream calls, so overload costs a fast refusal, not a growing queue, thread count and
    // latency. Must exceed max_pollers to leave threads for calls.
    int max_threads = 0;
    // Most async calls (AddAsyncService) handled at once; one arriving while that many are in
    // progress is answered RESOURCE_EXHAUSTED at once ("server busy: ..."). The async methods'
    // counterpart of max_threads: an async call holds no thread while it waits downstream, so
    // without a bound an overloaded service would queue calls to their deadlines. 0: no limit.
    int max_async_calls = 0;
    // TLS when tls.cert_file is set, mutual TLS with tls.client_ca_file; the files are watched
    // and re-read every tls.reload_interval (common/tls/grpc_credentials.h). Check them with
    // tls::CheckServerTls first: gRPC only logs a bad file. Plaintext by default.
    tls::ServerTlsConfig tls;
    // Optional, for grpc_server_handled_total / grpc_server_handling_seconds. Not owned.
    metrics::Registry* metrics = nullptr;
    // Threads serving the async methods of AddAsyncService, each draining its own completion
    // queue and running the calls' work inline (async_unary.h). Unused without such a service.
    // One by default: gRPC 1.51's epoll1 poller lets one thread at a time wait in epoll and hands
    // that role to another waiting thread after each wake-up, so every extra thread waiting on a
    // queue (sync pollers too) adds context switches per call (docs/benchmarks.md, 2026-12-04).
    int async_threads = 1;
  };

  explicit ServerRunner(Options options);
  // Calls Shutdown().
  ~ServerRunner();
  ServerRunner(const ServerRunner&) = delete;
  ServerRunner& operator=(const ServerRunner&) = delete;

  // Registers a sync service (not owned). Must precede Start(). No callback services: in gRPC
  // 1.51 they start the "nexting" threads that stalled every call ~100 ms once a second
  // (async_unary.h); use AddAsyncService.
  void AddService(grpc::Service* service);
  // Registers a service whose async methods `driver` serves on this runner's completion queues
  // (Options::async_threads); its other methods are served by the sync pool. Neither is owned;
  // both must outlive Shutdown(). Must precede Start().
  void AddAsyncService(grpc::Service* service, AsyncServiceDriver* driver);

  // Binds and starts serving. UNAVAILABLE if the address cannot be bound (the port is in use:
  // SO_REUSEPORT is disabled); FAILED_PRECONDITION if called twice or after Shutdown().
  absl::Status Start();

  // The bound port; 0 before Start().
  int port() const;

  // Health of "" and service_name: SERVING or NOT_SERVING. Ignored after Shutdown().
  void SetServing(bool serving);

  // NOT_SERVING, ends health Watch streams, stops accepting calls, lets in-flight calls finish
  // for up to drain_timeout, then cancels the rest and waits for the handlers to return.
  // Idempotent; concurrent callers all return once shutdown is complete.
  void Shutdown();

  // The running server (for InProcessChannel in tests); null before Start() / after Shutdown().
  grpc::Server* server();
  HealthService& health() { return *health_; }

  // Blocks SIGTERM and SIGINT in the calling thread. Call at the top of main(), before any
  // thread is created, so every thread inherits the mask and the signals wait for
  // WaitForTermination() instead of killing the process.
  static void BlockTerminationSignals();
  // Blocks until SIGTERM or SIGINT arrives (with sigwait) and returns its number. Requires
  // BlockTerminationSignals() to have run first in main().
  static int WaitForTermination();

 private:
  const Options options_;
  // Declared before server_: the server must be destroyed first.
  std::unique_ptr<HealthService> health_;

  // Calls received and not yet finished (counted by the interceptor), for Shutdown.
  const std::shared_ptr<std::atomic<int64_t>> active_calls_ =
      std::make_shared<std::atomic<int64_t>>(0);

  mutable sync::Mutex mu_;
  std::vector<grpc::Service*> services_ ABSL_GUARDED_BY(mu_);
  std::vector<AsyncServiceDriver*> drivers_ ABSL_GUARDED_BY(mu_);
  // The async threads' queues (destroyed after server_) and the threads.
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> async_threads_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Server> server_ ABSL_GUARDED_BY(mu_);
  int port_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace engram::grpcutil
