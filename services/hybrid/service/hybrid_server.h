// HybridServer: engram-hybrid as one object: embedder registry + cache + storage channel +
// HybridCore + gRPC (HybridService) + HTTP (/healthz, /readyz, /metrics).
//
//   HybridServer server(config);
//   RETURN_IF_ERROR(server.Start());   // preloads embedders, listens, reports SERVING
//   ...wait for SIGTERM...
//   server.Shutdown();
//
// CPU work (embedding, extraction, reasoning) runs on a ComputePool (config.threads,
// config.compute_queue); see hybrid_core.h for what runs there and why it cannot deadlock.
// Readiness (/readyz): the embedders of config.preload are loaded and the storage channel is
// connected (it is reported as {"name":"storage"} otherwise; each probe also kicks a reconnect).
// Storage trouble is in addition reported per request as UNAVAILABLE.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/service/service_host.h"
#include "common/tls/tls_config.h"
#include "grpcpp/channel.h"
#include "services/hybrid/service/hybrid_core.h"
#include "services/hybrid/service/hybrid_service.h"

namespace engram::hybrid {

struct HybridServerConfig {
  // Ports, drain, connection age; service names are filled in by the server.
  service::HostConfig host{.grpc_port = 50052, .http_port = 9102,
                           .max_connection_age = absl::Minutes(5)};
  std::string storage_address = "127.0.0.1:50053";
  // Cap of the storage channel's reconnect backoff: hybrid serves again within about this long
  // of storage's return (common/grpc/channel.h).
  absl::Duration max_reconnect_backoff = absl::Seconds(2);
  // TLS of the storage channel (plaintext by default; common/tls/tls_config.h).
  tls::ClientTlsConfig storage_tls;
  std::string model_dir;
  std::vector<std::string> preload = {"hashing"};  // embedder names loaded before readiness
  size_t cache_bytes = 256 << 20;
  // Compute threads; 0: twice the number of CPUs (a Reason task also waits for storage on its
  // thread, so CPU-count threads would leave CPUs idle under reasoning load).
  int threads = 0;
  size_t compute_queue = 256;   // tasks waiting for a thread before RESOURCE_EXHAUSTED (0 allowed)
  HybridCoreOptions core;

  // INVALID_ARGUMENT naming the flag behind a value out of range.
  absl::Status Validate() const;
};

class HybridServer : public service::Service {
 public:
  explicit HybridServer(HybridServerConfig config);
  ~HybridServer() override;

  absl::Status Start() override;
  void Shutdown() override;
  service::ServiceHost& host() override { return host_; }

  int grpc_port() const { return host_.grpc_port(); }
  int http_port() const { return host_.http_port(); }
  metrics::Registry& metrics() { return host_.metrics(); }

 private:
  HybridServerConfig config_;
  service::ServiceHost host_;
  EmbedderRegistry registry_;
  EmbeddingCache cache_;
  std::unique_ptr<ComputePool> pool_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<storage::v1::Storage::Stub> stub_;
  std::unique_ptr<HybridCore> core_;
  std::unique_ptr<HybridService> service_;
  std::atomic<bool> models_loaded_{false};
  bool shut_down_ = false;
};

}  // namespace engram::hybrid
