#include "common/grpc/server_runner.h"

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc/server_interceptor.h"
#include "common/tls/grpc_credentials.h"
#include "grpc/grpc.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "spdlog/spdlog.h"

namespace engram::grpcutil {
namespace {

using grpc::health::v1::HealthCheckResponse;

sigset_t TerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  return signals;
}

void EnableReflectionOnce() {
  static std::once_flag once;
  // Registers a ServerBuilder plugin for every builder created afterwards in this process.
  std::call_once(once, [] { grpc::reflection::InitProtoReflectionServerBuilderPlugin(); });
}

// Shuts down and empties a queue no thread serves (a failed start).
void DrainQueue(grpc::ServerCompletionQueue* queue) {
  queue->Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (queue->Next(&tag, &ok)) {
  }
}

}  // namespace

ServerRunner::ServerRunner(Options options)
    : options_(std::move(options)), health_(std::make_unique<HealthService>()) {
  // gRPC locks absl::Mutex on every call; Debian's Abseil keeps the deadlock detector's lock-order
  // graph on (GraphCycles showed up in profiles). Our own code uses sync::Mutex.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // NOT_SERVING before the server exists, so no probe can ever see a premature SERVING.
  health_->SetStatus("", HealthCheckResponse::NOT_SERVING);
  if (!options_.service_name.empty()) {
    health_->SetStatus(options_.service_name, HealthCheckResponse::NOT_SERVING);
  }
}

ServerRunner::~ServerRunner() { Shutdown(); }

void ServerRunner::AddService(grpc::Service* service) {
  sync::MutexLock lock(&mu_);
  if (started_) {
    spdlog::critical("grpc: AddService after Start() is ignored");
    return;
  }
  services_.push_back(service);
}

void ServerRunner::AddAsyncService(grpc::Service* service, AsyncServiceDriver* driver) {
  sync::MutexLock lock(&mu_);
  if (started_) {
    spdlog::critical("grpc: AddAsyncService after Start() is ignored");
    return;
  }
  services_.push_back(service);
  drivers_.push_back(driver);
}

absl::Status ServerRunner::Start() {
  sync::MutexLock lock(&mu_);
  if (started_ || shut_down_) {
    return absl::FailedPreconditionError("gRPC server already started or shut down");
  }
  if (options_.max_message_bytes <= 0) {
    return absl::InvalidArgumentError("max_message_bytes must be positive");
  }
  if (options_.max_threads < 0 ||
      (options_.max_threads > 0 && options_.max_threads <= options_.max_pollers)) {
    return absl::InvalidArgumentError(absl::StrCat("max_threads (", options_.max_threads,
                                                   ") must be 0 or more than max_pollers (",
                                                   options_.max_pollers, ")"));
  }
  if (!drivers_.empty() && options_.async_threads <= 0) {
    return absl::InvalidArgumentError("async_threads must be positive with an async service");
  }
  if (options_.max_async_calls < 0) {
    return absl::InvalidArgumentError("max_async_calls must be 0 (no limit) or positive");
  }
  for (AsyncServiceDriver* driver : drivers_) driver->SetMaxCalls(options_.max_async_calls);
  EnableReflectionOnce();

  grpc::ServerBuilder builder;
  int selected_port = 0;
  if (absl::Status tls = tls::CheckServerTls(options_.tls); !tls.ok()) return tls;
  builder.AddListeningPort(options_.grpc_address, tls::MakeServerCredentials(options_.tls),
                           &selected_port);
  // Without this, a second server could silently share a port that is already in use.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  builder.SetMaxSendMessageSize(options_.max_message_bytes);
  // The sync server's thread pool lets a thread exit whenever more than MAX_POLLERS threads are
  // polling (default 2), so under load it creates and destroys a thread per burst of calls
  // (pthread_create, TLS setup and unmapping showed up in profiles). Keep more pollers alive.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS,
                              options_.min_pollers);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              options_.max_pollers);
  if (options_.max_threads > 0) {
    grpc::ResourceQuota quota(absl::StrCat(options_.service_name, "-threads"));
    quota.SetMaxThreads(options_.max_threads);
    builder.SetResourceQuota(quota);
  }
  if (options_.max_connection_age != absl::InfiniteDuration()) {
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_MS,
        static_cast<int>(absl::ToInt64Milliseconds(options_.max_connection_age)));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               static_cast<int>(absl::ToInt64Milliseconds(options_.drain_timeout)));
  }
  for (grpc::Service* service : services_) builder.RegisterService(service);
  builder.RegisterService(health_.get());

  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<RpcInterceptorFactory>(options_.metrics, active_calls_));
  builder.experimental().SetInterceptorCreators(std::move(creators));

  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues;
  if (!drivers_.empty()) {
    for (int i = 0; i < options_.async_threads; ++i) queues.push_back(builder.AddCompletionQueue());
  }

  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || selected_port == 0) {
    if (server != nullptr) server->Shutdown();
    for (auto& queue : queues) DrainQueue(queue.get());
    return absl::UnavailableError(absl::StrCat("failed to start the gRPC server on ",
                                               options_.grpc_address,
                                               " (address in use or invalid?)"));
  }
  server_ = std::move(server);
  queues_ = std::move(queues);
  for (size_t i = 0; i < queues_.size(); ++i) {
    async_threads_.emplace_back([this, queue = queues_[i].get(), drivers = drivers_, i] {
      pthread_setname_np(pthread_self(), absl::StrCat("grpc_async_", i).c_str());
      for (AsyncServiceDriver* driver : drivers) driver->Arm(queue);
      void* tag = nullptr;
      bool ok = false;
      while (queue->Next(&tag, &ok)) static_cast<CqTag*>(tag)->Proceed(ok);
    });
  }
  port_ = selected_port;
  started_ = true;
  spdlog::info("gRPC server {} listening on {} (port {}, {})", options_.service_name,
               options_.grpc_address, port_,
               options_.tls.mutual()    ? "mutual TLS"
               : options_.tls.enabled() ? "TLS"
                                        : "plaintext");
  return absl::OkStatus();
}

int ServerRunner::port() const {
  sync::MutexLock lock(&mu_);
  return port_;
}

grpc::Server* ServerRunner::server() {
  sync::MutexLock lock(&mu_);
  return server_.get();
}

void ServerRunner::SetServing(bool serving) {
  const auto status = serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
  health_->SetStatus("", status);
  if (!options_.service_name.empty()) health_->SetStatus(options_.service_name, status);
}

void ServerRunner::Shutdown() {
  sync::MutexLock lock(&mu_);
  if (shut_down_) return;
  shut_down_ = true;
  // Probes see NOT_SERVING first; Watch streams end so they do not hold up the drain.
  health_->Shutdown();
  if (server_ == nullptr) return;
  // Open streams end once they have answered what they read (an idle one would otherwise hold
  // the drain to its deadline).
  for (AsyncServiceDriver* driver : drivers_) driver->BeginDrain();
  spdlog::info("gRPC server {}: draining for up to {}", options_.service_name,
               absl::FormatDuration(options_.drain_timeout));
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(
                            absl::ToChronoNanoseconds(options_.drain_timeout));
  // gRPC's core completes a shutdown only once every connection has closed, so a client that
  // merely holds an idle connection kept Shutdown waiting (the whole drain timeout, or about 5 s
  // until the client gave the connection up; 2.1 s of every storage SIGTERM in startup_bench with
  // --drain_seconds=2). Once no
  // call has been in flight for kQuiet, nothing is left to drain: disconnect what remains (the
  // quiet period covers a call that core matched just before the shutdown but whose interceptor
  // has not run yet).
  constexpr auto kQuiet = std::chrono::milliseconds(50);
  std::atomic<bool> shutdown_returned{false};
  grpc_server* const core = server_->c_server();  // alive until server_->Shutdown returns
  std::thread idle_closer([&] {
    auto quiet_since = std::chrono::steady_clock::now();
    while (!shutdown_returned.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      const auto now = std::chrono::steady_clock::now();
      if (active_calls_->load() != 0) {
        quiet_since = now;
      } else if (now - quiet_since >= kQuiet) {
        spdlog::info("gRPC server {}: nothing in flight; closing idle connections",
                     options_.service_name);
        grpc_server_cancel_all_calls(core);
        return;
      }
    }
  });
  // Stops accepting, waits for in-flight calls until the deadline, then cancels them and waits
  // for their handlers to return.
  server_->Shutdown(deadline);
  shutdown_returned.store(true);
  idle_closer.join();
  server_->Wait();
  // Async calls still finishing use the queues; then nothing starts an operation on them again.
  for (AsyncServiceDriver* driver : drivers_) driver->Quiesce();
  for (auto& queue : queues_) queue->Shutdown();
  for (std::thread& thread : async_threads_) thread.join();  // each drains its queue
  async_threads_.clear();
  server_.reset();
  queues_.clear();
  spdlog::info("gRPC server {} stopped", options_.service_name);
}

void ServerRunner::BlockTerminationSignals() {
  const sigset_t signals = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

int ServerRunner::WaitForTermination() {
  const sigset_t signals = TerminationSignals();
  // Harmless if already blocked; required for sigwait to be well defined in this thread.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  spdlog::info("received signal {}; shutting down", signal_number);
  return signal_number;
}

}  // namespace engram::grpcutil
