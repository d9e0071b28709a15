#include "services/hybrid/service/hybrid_server.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/grpc/channel.h"
#include "common/status/status_macros.h"
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
service::HostConfig Named(service::HostConfig host) {
  host.service = "engram-hybrid";
  host.grpc_service = "engram.hybrid.v1.Hybrid";
  return host;
}
// Each pair is one Storage.FindPaths call of a Reason request.
constexpr uint32_t kMaxBridgePairs = 1000;
}  // namespace

absl::Status HybridServerConfig::Validate() const {
  if (absl::Status s = tls::CheckClientTls(storage_tls); !s.ok()) return s;
  if (threads < 0) return absl::InvalidArgumentError(absl::StrCat("--threads: ", threads, ", must be >= 0"));
  if (core.max_concurrent_storage_calls == 0) {
    return absl::InvalidArgumentError("--storage_concurrency: 0, must be >= 1");
  }
  if (core.storage_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--storage_timeout_ms: must be > 0");
  }
  if (core.namespace_cache.ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--namespace_cache_ttl_ms: must be >= 0");
  }
  const float w = core.reasoner.consensus_weight;
  if (!(w >= 0 && w <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--reason_consensus_weight: ", w, ", must be in [0, 1]"));
  }
  const float margin = core.reasoner.min_margin;
  if (!(margin >= 0 && margin <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--reason_min_margin: ", margin, ", must be in [0, 1]"));
  }
  if (core.reasoner.max_bridge_pairs > kMaxBridgePairs) {
    return absl::InvalidArgumentError(absl::StrCat("--reason_bridge_pairs: ",
                                                   core.reasoner.max_bridge_pairs,
                                                   ", must be at most ", kMaxBridgePairs));
  }
  return absl::OkStatus();
}

HybridServer::HybridServer(HybridServerConfig config)
    : config_(std::move(config)),
      host_(Named(config_.host)),
      registry_(EmbedderRegistryOptions{.model_dir = config_.model_dir}),
      cache_(config_.cache_bytes) {
  int threads = config_.threads > 0
                    ? config_.threads
                    : 2 * std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  pool_ = std::make_unique<ComputePool>(threads, config_.compute_queue);
  config_.core.pool = pool_.get();
  host_.metrics().AddCallbackGauge("engram_hybrid_compute_queue_depth", "Compute tasks waiting for a thread.",
                            [this] { return static_cast<double>(pool_->queued()); });
  host_.metrics().AddCallbackGauge("engram_hybrid_compute_busy_threads", "Compute threads running a task.",
                            [this] { return static_cast<double>(pool_->busy()); });
  host_.metrics().AddCallbackGauge("engram_hybrid_compute_threads", "Compute threads.",
                            [this] { return static_cast<double>(pool_->threads()); });
  channel_ = grpc_util::MakeDownstreamChannel(
      config_.storage_address,
      {.max_reconnect_backoff = config_.max_reconnect_backoff, .tls = config_.storage_tls});
  stub_ = storage::v1::Storage::NewStub(channel_);
  core_ = std::make_unique<HybridCore>(stub_.get(), &registry_, &cache_, &host_.metrics(), config_.core);
  service_ = std::make_unique<HybridService>(core_.get());
  host_.metrics().AddCallbackGauge("engram_hybrid_storage_connected", "1 when the storage channel is connected.",
                            [this] { return channel_->GetState(false) == GRPC_CHANNEL_READY ? 1.0 : 0.0; });
  host_.SetReadiness([this] {
    http::ReadinessReport report;
    if (!models_loaded_.load()) report.unavailable.push_back({"embedders", "loading models"});
    grpc_connectivity_state state = channel_->GetState(/*try_to_connect=*/true);
    if (state != GRPC_CHANNEL_READY) {
      report.unavailable.push_back(
          {"storage", absl::StrCat(config_.storage_address, ": ", StateName(state))});
    }
    return report;
  });
  host_.grpc()->AddAsyncService(service_.get(), service_->async_driver());
}

HybridServer::~HybridServer() { Shutdown(); }

absl::Status HybridServer::Start() {
  RETURN_IF_ERROR(host_.StartHttp());
  for (const std::string& name : config_.preload) {
    absl::Time start = absl::Now();
    RETURN_IF_ERROR(registry_.Preload(name));
    spdlog::info("embedder {} ready in {:.3f}s", name, absl::ToDoubleSeconds(absl::Now() - start));
  }
  models_loaded_.store(true);
  RETURN_IF_ERROR(host_.StartGrpc());
  channel_->GetState(/*try_to_connect=*/true);
  host_.SetServing(true);
  return absl::OkStatus();
}

void HybridServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  host_.Shutdown();
  host_.metrics().RemoveCallbackGauge("engram_hybrid_compute_queue_depth");
  host_.metrics().RemoveCallbackGauge("engram_hybrid_compute_threads");
  host_.metrics().RemoveCallbackGauge("engram_hybrid_compute_busy_threads");
}

}  // namespace engram::hybrid
