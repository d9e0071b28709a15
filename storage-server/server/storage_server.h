// StorageServer: engram-storage as one object: engine + gRPC service + HTTP endpoints.
//
//   StorageServer server(config);
//   RETURN_IF_ERROR(server.Start());   // listens at once, recovers, then reports SERVING
//   ...wait for SIGTERM...
//   server.Shutdown();                 // NOT_SERVING, drain, final checkpoint
//
// Liveness (/healthz) answers from the first moment; readiness (/readyz, gRPC health SERVING)
// only once recovery is complete. Thread-safety: Start/Shutdown from one thread.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/grpc/server_runner.h"
#include "common/http/http_server.h"
#include "common/metrics/metrics.h"
#include "storage-server/engine/engine.h"
#include "storage-server/server/storage_service.h"

namespace engram::storage {

struct StorageServerConfig {
  EngineOptions engine;
  std::string grpc_address = "0.0.0.0:50053";
  std::string http_address = "0.0.0.0";
  int http_port = 9103;
  absl::Duration drain_timeout = absl::Seconds(20);
  // A snapshot archive to restore when the data directory holds no store yet.
  std::string restore_from;
};

class StorageServer {
 public:
  explicit StorageServer(StorageServerConfig config);
  ~StorageServer();

  absl::Status Start();
  void Shutdown();

  int grpc_port() const { return grpc_->port(); }
  int http_port() const { return http_->port(); }
  Engine* engine() { return engine_.get(); }
  metrics::Registry& metrics() { return metrics_; }

 private:
  StorageServerConfig config_;
  metrics::Registry metrics_;
  StorageService service_;
  std::unique_ptr<http::HttpServer> http_;
  std::unique_ptr<grpcutil::ServerRunner> grpc_;
  std::unique_ptr<Engine> engine_;
  std::atomic<bool> ready_{false};
  bool shut_down_ = false;
};

}  // namespace engram::storage
