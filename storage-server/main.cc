// engram-storage: the durable, memory-mapped store of Engram.
#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/grpc/server_runner.h"
#include "common/logging/logging.h"
#include "spdlog/spdlog.h"
#include "storage-server/server/storage_server.h"

ABSL_FLAG(std::string, data_dir, "./engram-data/storage", "Directory of the store (mapped files, log).");
ABSL_FLAG(std::string, snapshot_dir, "", "Directory for snapshot archives (default <data_dir>/snapshots).");
ABSL_FLAG(std::string, listen_address, "0.0.0.0", "Address to bind the gRPC and HTTP ports to.");
ABSL_FLAG(int, grpc_port, 50053, "gRPC port (engram.storage.v1.Storage, health, reflection).");
ABSL_FLAG(int, http_port, 9103, "HTTP port (/healthz, /readyz, /metrics).");
ABSL_FLAG(std::string, sync, "always", "always: fsync before acknowledging; relaxed: bulk loads only.");
ABSL_FLAG(int, relaxed_sync_ms, 100, "With --sync=relaxed, the longest time between fsyncs.");
ABSL_FLAG(uint64_t, max_content_bytes, 1 << 20, "Largest concept content accepted.");
ABSL_FLAG(uint32_t, write_queue, 4096, "Queued write requests before RESOURCE_EXHAUSTED.");
ABSL_FLAG(uint64_t, checkpoint_log_mb, 256, "Checkpoint when the write-ahead log exceeds this size.");
ABSL_FLAG(std::string, restore_from, "", "Snapshot archive to restore when data_dir holds no store yet.");
ABSL_FLAG(int, drain_seconds, 20, "On SIGTERM, how long in-flight calls may take to finish.");
ABSL_FLAG(std::string, log_format, "text", "text or json.");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error.");

int main(int argc, char** argv) {
  engram::grpcutil::ServerRunner::BlockTerminationSignals();
  absl::SetProgramUsageMessage("engram-storage --data_dir=DIR [--grpc_port=50053] [--http_port=9103]");
  absl::ParseCommandLine(argc, argv);
  auto format = engram::logging::ParseFormat(absl::GetFlag(FLAGS_log_format));
  if (!format.ok() || !engram::logging::Init({.service = "engram-storage", .format = *format,
                                               .level = absl::GetFlag(FLAGS_log_level)}).ok()) {
    fprintf(stderr, "--log_format / --log_level: invalid\n");
    return 2;
  }
  auto sync = engram::storage::wal::ParseSyncMode(absl::GetFlag(FLAGS_sync));
  if (!sync.ok()) {
    spdlog::critical("--sync: {}", sync.status().ToString());
    return 2;
  }
  engram::storage::StorageServerConfig config;
  config.engine.data_dir = absl::GetFlag(FLAGS_data_dir);
  config.engine.snapshot_dir = absl::GetFlag(FLAGS_snapshot_dir);
  config.engine.sync_mode = *sync;
  config.engine.relaxed_sync_interval = absl::Milliseconds(absl::GetFlag(FLAGS_relaxed_sync_ms));
  config.engine.limits.max_content_bytes = absl::GetFlag(FLAGS_max_content_bytes);
  config.engine.write_queue_capacity = absl::GetFlag(FLAGS_write_queue);
  config.engine.checkpoint_log_bytes = absl::GetFlag(FLAGS_checkpoint_log_mb) << 20;
  config.grpc_address = absl::StrCat(absl::GetFlag(FLAGS_listen_address), ":", absl::GetFlag(FLAGS_grpc_port));
  config.http_address = absl::GetFlag(FLAGS_listen_address);
  config.http_port = absl::GetFlag(FLAGS_http_port);
  config.drain_timeout = absl::Seconds(absl::GetFlag(FLAGS_drain_seconds));
  config.restore_from = absl::GetFlag(FLAGS_restore_from);
  if (*sync == engram::storage::wal::SyncMode::kRelaxed) {
    spdlog::warn("--sync=relaxed: acknowledged writes of the last {} ms can be lost if the machine crashes",
                 absl::GetFlag(FLAGS_relaxed_sync_ms));
  }

  engram::storage::StorageServer server(config);
  if (absl::Status s = server.Start(); !s.ok()) {
    spdlog::critical("engram-storage failed to start: {}", s.ToString());
    return 1;
  }
  spdlog::info("engram-storage serving on grpc {} http {}", server.grpc_port(), server.http_port());
  int sig = engram::grpcutil::ServerRunner::WaitForTermination();
  spdlog::info("signal {}: draining", sig);
  server.Shutdown();
  spdlog::info("engram-storage stopped cleanly");
  return 0;
}
