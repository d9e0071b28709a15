#include "services/hybrid/service/hybrid_server.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/http/standard_routes.h"
#include "common/status/status_macros.h"
#include "grpcpp/create_channel.h"
#include "spdlog/spdlog.h"

namespace engram::hybrid {

namespace {
const char* StateName(grpc_connectivity_state s) {
  switch (s) {
    case GRPC_CHANNEL_IDLE: return "idle";
    case GRPC_CHANNEL_CONNECTING: return "connecting";
    case GRPC_CHANNEL_READY: return "ready";
    case GRPC_CHANNEL_TRANSIENT_FAILURE: return "transient failure";
    case GRPC_CHANNEL_SHUTDOWN: return "shut down";
  }
  return "unknown";
}
}  // namespace

HybridServer::HybridServer(HybridServerConfig config)
    : config_(std::move(config)),
      registry_(EmbedderRegistryOptions{.model_dir = config_.model_dir}),
      cache_(config_.cache_bytes) {
  int threads = config_.threads > 0
                    ? config_.threads
                    : 2 * std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  pool_ = std::make_unique<ComputePool>(threads, config_.compute_queue);
  config_.core.pool = pool_.get();
  metrics_.AddCallbackGauge("engram_hybrid_compute_queue_depth", "Compute tasks waiting for a thread.",
                            [this] { return static_cast<double>(pool_->queued()); });
  metrics_.AddCallbackGauge("engram_hybrid_compute_busy_threads", "Compute threads running a task.",
                            [this] { return static_cast<double>(pool_->busy()); });
  metrics_.AddCallbackGauge("engram_hybrid_compute_threads", "Compute threads.",
                            [this] { return static_cast<double>(pool_->threads()); });
  channel_ = grpc::CreateChannel(config_.storage_address, grpc::InsecureChannelCredentials());
  stub_ = storage::v1::Storage::NewStub(channel_);
  core_ = std::make_unique<HybridCore>(stub_.get(), &registry_, &cache_, &metrics_, config_.core);
  service_ = std::make_unique<HybridService>(core_.get());
  metrics_.AddCallbackGauge("engram_hybrid_storage_connected", "1 when the storage channel is connected.",
                            [this] { return channel_->GetState(false) == GRPC_CHANNEL_READY ? 1.0 : 0.0; });
  http::HttpServer::Options hopts;
  hopts.address = config_.http_address;
  hopts.port = config_.http_port;
  hopts.metrics = &metrics_;
  http_ = std::make_unique<http::HttpServer>(hopts);
  http::AddStandardRoutes(*http_, &metrics_, [this] {
    http::ReadinessReport report;
    if (!models_loaded_.load()) report.unavailable.push_back({"embedders", "loading models"});
    grpc_connectivity_state state = channel_->GetState(/*try_to_connect=*/true);
    if (state != GRPC_CHANNEL_READY) {
      report.unavailable.push_back(
          {"storage", absl::StrCat(config_.storage_address, ": ", StateName(state))});
    }
    return report;
  });
  grpcutil::ServerRunner::Options gopts;
  gopts.service_name = "engram.hybrid.v1.Hybrid";
  gopts.grpc_address = config_.grpc_address;
  gopts.drain_timeout = config_.drain_timeout;
  gopts.max_connection_age = config_.max_connection_age;
  gopts.metrics = &metrics_;
  grpc_ = std::make_unique<grpcutil::ServerRunner>(gopts);
  grpc_->AddService(service_.get());
}

HybridServer::~HybridServer() { Shutdown(); }

absl::Status HybridServer::Start() {
  RETURN_IF_ERROR(http_->Start());
  for (const std::string& name : config_.preload) {
    absl::Time start = absl::Now();
    RETURN_IF_ERROR(registry_.Preload(name));
    spdlog::info("embedder {} ready in {:.3f}s", name, absl::ToDoubleSeconds(absl::Now() - start));
  }
  models_loaded_.store(true);
  RETURN_IF_ERROR(grpc_->Start());
  channel_->GetState(/*try_to_connect=*/true);
  grpc_->SetServing(true);
  return absl::OkStatus();
}

void HybridServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  grpc_->Shutdown();
  http_->Shutdown();
  metrics_.RemoveCallbackGauge("engram_hybrid_compute_queue_depth");
  metrics_.RemoveCallbackGauge("engram_hybrid_compute_threads");
  metrics_.RemoveCallbackGauge("engram_hybrid_compute_busy_threads");
}

}  // namespace engram::hybrid
