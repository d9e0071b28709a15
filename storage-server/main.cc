// engram-storage: the durable, memory-mapped store of Engram.
#include <memory>
#include <string>
#include <string_view>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/service/run_main.h"
#include "spdlog/spdlog.h"
#include "storage-server/server/storage_server.h"

ENGRAM_HOST_FLAGS(/*grpc_port=*/50053, /*http_port=*/9103, /*max_connection_age_s=*/0);
ABSL_FLAG(std::string, data_dir, "./engram-data/storage", "Directory of the store (mapped files, log).");
ABSL_FLAG(std::string, snapshot_dir, "", "Directory for snapshot archives (default <data_dir>/snapshots).");
ABSL_FLAG(std::string, sync, "always", "always: fsync before acknowledging; relaxed: bulk loads only.");
ABSL_FLAG(int, relaxed_sync_ms, 100, "With --sync=relaxed, the longest time between fsyncs.");
ABSL_FLAG(uint64_t, max_content_bytes, 1 << 20, "Largest concept content accepted.");
ABSL_FLAG(uint64_t, max_snapshot_bytes, uint64_t{64} << 30,
          "Largest snapshot archive accepted for restore, and largest total its files may restore to.");
ABSL_FLAG(uint32_t, write_queue, 4096, "Queued write requests before RESOURCE_EXHAUSTED.");
ABSL_FLAG(uint64_t, checkpoint_log_mb, 256, "Checkpoint when the write-ahead log exceeds this size.");
ABSL_FLAG(std::string, restore_from, "", "Snapshot archive to restore when data_dir holds no store yet.");
ABSL_FLAG(double, compaction_garbage_ratio, 0.5,
          "Compact a namespace in the background once this share of its bytes is garbage (0: only "
          "when asked, e.g. engramctl storage compact).");
ABSL_FLAG(uint64_t, compaction_min_mb, 64, "...and at least this many MiB are reclaimable.");
ABSL_FLAG(int, compaction_interval_s, 30, "How often the compactor looks for garbage.");
ABSL_FLAG(int, indexer_nice, 10,
          "Nice value (0..19) of the HNSW indexer thread: higher lets the index trail a burst of "
          "writes further (searches scan the unindexed tail exactly meanwhile).");
ABSL_FLAG(uint64_t, max_unindexed_vectors, 0,
          "Refuse writes that add vectors to a namespace in which this many vectors wait for the "
          "HNSW index (RESOURCE_EXHAUSTED, retried by clients), bounding what every vector search "
          "scans exactly; 0: no bound.");
ABSL_FLAG(std::string, testing_compaction_pause, "",
          "Tests only: a compaction that reaches this phase (built, caught_up, switched) logs "
          "'compaction paused at <phase>' and never goes on (crash tests kill the process there).");

int main(int argc, char** argv) {
  using engram::storage::StorageServerConfig;
  return engram::service::RunMain(
      argc, argv,
      {.service = "engram-storage",
       .grpc_service = "engram.storage.v1.Storage",
       .usage = "engram-storage --data_dir=DIR [--grpc_port=50053] [--http_port=9103]"},
      ReadHostFlags,
      [](engram::service::HostConfig host)
          -> absl::StatusOr<std::unique_ptr<engram::service::Service>> {
        StorageServerConfig config;
        config.host = std::move(host);
        absl::StatusOr<engram::storage::wal::SyncMode> sync =
            engram::storage::wal::ParseSyncMode(absl::GetFlag(FLAGS_sync));
        if (!sync.ok()) return absl::InvalidArgumentError(absl::StrCat("--sync: ", sync.status().message()));
        config.engine.data_dir = absl::GetFlag(FLAGS_data_dir);
        config.engine.snapshot_dir = absl::GetFlag(FLAGS_snapshot_dir);
        config.engine.sync_mode = *sync;
        config.engine.relaxed_sync_interval = absl::Milliseconds(absl::GetFlag(FLAGS_relaxed_sync_ms));
        config.engine.limits.max_content_bytes = absl::GetFlag(FLAGS_max_content_bytes);
        config.engine.limits.max_snapshot_bytes = absl::GetFlag(FLAGS_max_snapshot_bytes);
        config.engine.write_queue_capacity = absl::GetFlag(FLAGS_write_queue);
        config.engine.checkpoint_log_bytes = absl::GetFlag(FLAGS_checkpoint_log_mb) << 20;
        config.engine.indexer_nice = absl::GetFlag(FLAGS_indexer_nice);
        config.engine.max_unindexed_vectors = absl::GetFlag(FLAGS_max_unindexed_vectors);
        config.restore_from = absl::GetFlag(FLAGS_restore_from);
        const double ratio = absl::GetFlag(FLAGS_compaction_garbage_ratio);
        if (!(ratio >= 0 && ratio < 1)) {
          return absl::InvalidArgumentError("--compaction_garbage_ratio: must be in [0, 1)");
        }
        if (absl::GetFlag(FLAGS_compaction_interval_s) <= 0) {
          return absl::InvalidArgumentError("--compaction_interval_s: must be > 0");
        }
        config.engine.compaction_garbage_ratio = ratio;
        config.engine.compaction_min_bytes = absl::GetFlag(FLAGS_compaction_min_mb) << 20;
        config.engine.compaction_check_interval =
            absl::Seconds(absl::GetFlag(FLAGS_compaction_interval_s));
        if (std::string pause = absl::GetFlag(FLAGS_testing_compaction_pause); !pause.empty()) {
          config.engine.compaction_hook = [pause](std::string_view phase) {
            if (phase != pause) return;
            spdlog::warn("compaction paused at {}", pause);
            while (true) absl::SleepFor(absl::Hours(1));
          };
        }
        if (*sync == engram::storage::wal::SyncMode::kRelaxed) {
          spdlog::warn("--sync=relaxed: acknowledged writes of the last {} ms can be lost if the machine "
                       "crashes", absl::GetFlag(FLAGS_relaxed_sync_ms));
        }
        return std::make_unique<engram::storage::StorageServer>(std::move(config));
      });
}
