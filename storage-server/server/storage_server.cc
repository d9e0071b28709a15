#include "storage-server/server/storage_server.h"

#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"
#include "spdlog/spdlog.h"
#include "storage-server/io/out_of_space.h"

namespace engram::storage {

namespace {
service::HostConfig Named(service::HostConfig host) {
  host.service = "engram-storage";
  host.grpc_service = "engram.storage.v1.Storage";
  // The hot methods run on the async thread; an idle sync poller would only take the epoll
  // poller role from it (a hand-off per call). Sync calls still get threads as they come.
  host.grpc_min_pollers = 1;
  return host;
}
}  // namespace

StorageServer::StorageServer(StorageServerConfig config)
    : config_(std::move(config)), host_(Named(config_.host)) {
  config_.engine.metrics = &host_.metrics();
  // A file past RLIMIT_FSIZE must be an EFBIG error (refused like a full disk), not a kill.
  IgnoreFileSizeLimitSignal();
  host_.SetReadiness([this] {
    http::ReadinessReport report;
    if (!ready_.load()) {
      report.unavailable.push_back({"recovery", "replaying the write-ahead log"});
      return report;
    }
    // A full disk keeps storage READY: it still serves every read, and as the single replica
    // behind its Service a not-ready pod would take reads down too. /readyz says "degraded" with
    // the reason (engram-control shows it; engram_storage_disk_full alerts).
    const Engine* engine = engine_ready_.load();
    if (engine == nullptr) return report;
    const DiskSpaceReport disk = engine->disk_space();
    if (disk.data_full) report.degraded.push_back({"disk", disk.data_reason});
    if (disk.snapshots_full) report.degraded.push_back({"snapshot-disk", disk.snapshots_reason});
    return report;
  });
  host_.grpc()->AddAsyncService(&service_, service_.async_driver());
}

StorageServer::~StorageServer() { Shutdown(); }

absl::Status StorageServer::Start() {
  RETURN_IF_ERROR(host_.Start());
  spdlog::info("engram-storage listening: grpc {} http {}; recovering {}", grpc_port(), http_port(),
               config_.engine.data_dir.string());
  std::error_code checkpoint_ec, wal_ec;
  const bool fresh = !std::filesystem::exists(config_.engine.data_dir / "CHECKPOINT", checkpoint_ec) &&
                     !std::filesystem::exists(config_.engine.data_dir / "wal", wal_ec);
  if (checkpoint_ec || wal_ec) {
    return absl::InternalError(absl::StrCat("stat ", config_.engine.data_dir.string(), ": ",
                                            (checkpoint_ec ? checkpoint_ec : wal_ec).message()));
  }
  EngineOptions options = config_.engine;
  if (!config_.restore_from.empty() && fresh) options.create_default_namespace = false;
  ASSIGN_OR_RETURN(engine_, Engine::Open(options));
  if (!config_.restore_from.empty()) {
    if (fresh) {
      ASSIGN_OR_RETURN(v1::SnapshotInfo info, engine_->RestoreSnapshot(config_.restore_from));
      spdlog::info("restored {} at startup", info.name());
    } else {
      spdlog::warn("--restore_from={} ignored: {} already holds a store", config_.restore_from,
                   config_.engine.data_dir.string());
    }
  }
  service_.AttachEngine(engine_.get());
  engine_ready_.store(engine_.get());
  ready_.store(true);
  host_.SetServing(true);
  return absl::OkStatus();
}

void StorageServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  ready_.store(false);
  host_.DrainGrpc();
  engine_ready_.store(nullptr);
  if (engine_ != nullptr) {
    absl::Status s = engine_->Close();
    if (!s.ok()) spdlog::error("final checkpoint failed: {}", s.ToString());
  }
  host_.Shutdown();
}

}  // namespace engram::storage
