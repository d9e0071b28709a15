#include "storage-server/server/storage_server.h"

#include "absl/strings/str_cat.h"
#include "common/http/standard_routes.h"
#include "common/status/status_macros.h"
#include "spdlog/spdlog.h"

namespace engram::storage {

StorageServer::StorageServer(StorageServerConfig config) : config_(std::move(config)) {
  config_.engine.metrics = &metrics_;
  http::HttpServer::Options hopts;
  hopts.address = config_.http_address;
  hopts.port = config_.http_port;
  hopts.metrics = &metrics_;
  http_ = std::make_unique<http::HttpServer>(hopts);
  http::AddStandardRoutes(*http_, &metrics_, [this] {
    http::ReadinessReport report;
    if (!ready_.load()) report.unavailable.push_back({"recovery", "replaying the write-ahead log"});
    return report;
  });
  grpcutil::ServerRunner::Options gopts;
  gopts.service_name = "engram.storage.v1.Storage";
  gopts.grpc_address = config_.grpc_address;
  gopts.drain_timeout = config_.drain_timeout;
  gopts.metrics = &metrics_;
  grpc_ = std::make_unique<grpcutil::ServerRunner>(gopts);
  grpc_->AddService(&service_);
}

StorageServer::~StorageServer() { Shutdown(); }

absl::Status StorageServer::Start() {
  RETURN_IF_ERROR(http_->Start());
  RETURN_IF_ERROR(grpc_->Start());
  spdlog::info("engram-storage listening: grpc {} http {}; recovering {}", grpc_->port(), http_->port(),
               config_.engine.data_dir.string());
  const bool fresh = !std::filesystem::exists(config_.engine.data_dir / "CHECKPOINT") &&
                     !std::filesystem::exists(config_.engine.data_dir / "wal");
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
  ready_.store(true);
  grpc_->SetServing(true);
  return absl::OkStatus();
}

void StorageServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  ready_.store(false);
  grpc_->Shutdown();
  if (engine_ != nullptr) {
    absl::Status s = engine_->Close();
    if (!s.ok()) spdlog::error("final checkpoint failed: {}", s.ToString());
  }
  http_->Shutdown();
}

}  // namespace engram::storage
