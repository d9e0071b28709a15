// StorageServer: engram-storage as one object: engine + gRPC service + HTTP endpoints.
//
//   StorageServer server(config);
//   RETURN_IF_ERROR(server.Start());   // listens at once, recovers, then reports SERVING
//   ...wait for SIGTERM...
//   server.Shutdown();                 // NOT_SERVING, drain, final checkpoint
//
// Liveness (/healthz) answers from the first moment; readiness (/readyz, gRPC health SERVING)
// only once recovery is complete. A full data or snapshot directory keeps the server ready (reads
// go on) and makes /readyz say "degraded" with the reason. Thread-safety: Start/Shutdown from one
// thread.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/service/service_host.h"
#include "storage-server/engine/engine.h"
#include "storage-server/server/storage_service.h"

namespace engram::storage {

struct StorageServerConfig {
  // Ports, drain; service names are filled in by the server.
  service::HostConfig host{.grpc_port = 50053, .http_port = 9103};
  EngineOptions engine;
  // A snapshot archive to restore when the data directory holds no store yet.
  std::string restore_from;
};

class StorageServer : public service::Service {
 public:
  explicit StorageServer(StorageServerConfig config);
  ~StorageServer() override;

  absl::Status Start() override;
  void Shutdown() override;
  service::ServiceHost& host() override { return host_; }

  int grpc_port() const { return host_.grpc_port(); }
  int http_port() const { return host_.http_port(); }
  Engine* engine() { return engine_.get(); }
  metrics::Registry& metrics() { return host_.metrics(); }

 private:
  StorageServerConfig config_;
  service::ServiceHost host_;
  StorageService service_;
  std::unique_ptr<Engine> engine_;
  std::atomic<bool> ready_{false};
  // The engine once it is open, for the readiness probe (an HTTP thread); null again before the
  // engine closes.
  std::atomic<const Engine*> engine_ready_{nullptr};
  bool shut_down_ = false;
};

}  // namespace engram::storage
