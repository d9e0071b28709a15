// Engine: the transport-agnostic storage engine behind engram-storage.
//
// Usage:
//   EngineOptions options;
//   options.data_dir = "/var/lib/engram";
//   ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Open(options));  // runs recovery
//   ASSIGN_OR_RETURN(v1::WriteResponse r, engine->Write(request));  // durable when it returns
//   ASSIGN_OR_RETURN(v1::SearchResponse s, engine->Search(search));
//   RETURN_IF_ERROR(engine->Close());  // final checkpoint
//
// A full disk: before the writer applies a group it reserves the group's blocks in the
// write-ahead log, and before a write it allocates the mapped files' blocks it needs. When either
// finds no room (ENOSPC, EDQUOT, or EFBIG past RLIMIT_FSIZE) the affected writes are refused with
// RESOURCE_EXHAUSTED naming the directory and the bytes needed, nothing of them is applied, reads
// go on, and the next write tries again: writes resume by themselves when space returns
// (disk_space(), engram_storage_disk_full{dir}). A failed fsync, or a write that fails inside a
// reservation, still stops the process (the log cannot vouch for its contents after it); recovery
// then restores every acknowledged write.
//
// Concurrency model: one writer thread applies every mutation. Callers of Write() enqueue their
// batch into a bounded queue (RESOURCE_EXHAUSTED when full, nothing applied) and block until the
// writer has made it durable. The writer takes every queued batch as one group: validates each
// against the current state, applies it to the mapped store (invisible to readers), appends it to
// the write-ahead log, fsyncs once for the whole group (group commit), then publishes the group's
// last sequence number and acknowledges. Readers take the published sequence as their snapshot
// and never lock: they cannot see a half-applied batch, and see every acknowledged one.
// A separate indexer thread inserts published vectors into each namespace's HNSW graph; searches
// scan the not-yet-indexed tail exactly, so every acknowledged vector is searchable at once.
//
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics/metrics.h"
#include "common/sync/mutex.h"
#include "engram/storage/v1/storage.pb.h"
#include "engram/storage/v1/storage_log.pb.h"
#include "storage-server/engine/limits.h"
#include "storage-server/engine/namespace_store.h"
#include "storage-server/wal/wal.h"

namespace engram::storage {

class JobQueue;  // job_queue.h

struct EngineOptions {
  std::filesystem::path data_dir;
  std::filesystem::path snapshot_dir;  // empty: <data_dir>/snapshots
  wal::SyncMode sync_mode = wal::SyncMode::kAlways;
  absl::Duration relaxed_sync_interval = absl::Milliseconds(100);
  Limits limits;
  size_t write_queue_capacity = 4096;  // queued write requests before RESOURCE_EXHAUSTED
  size_t max_group_requests = 4096;    // requests per group commit
  uint64_t checkpoint_log_bytes = uint64_t{256} << 20;  // checkpoint when the log exceeds this
  uint64_t wal_segment_bytes = uint64_t{64} << 20;
  bool create_default_namespace = true;   // "default" (384-d, cosine, hashing) on a fresh store
  // The HNSW indexer thread's nice value, 0..19 (its CPU share under contention: the writer and
  // the readers run at 0). Higher lets the index trail further behind a burst of writes, and
  // searches scan the unindexed tail exactly meanwhile.
  int indexer_nice = 10;
  // Backpressure from the indexer: a write that adds vectors to a namespace in which this many
  // vectors already wait for the HNSW graph is refused with RESOURCE_EXHAUSTED (nothing applied;
  // the client retries with backoff), so the exact scan every vector search makes of them stays
  // bounded. Writes without vectors, and other namespaces, go on. 0: no bound (a burst of writes
  // is acknowledged faster than one indexer thread inserts it; searches slow down meanwhile).
  uint64_t max_unindexed_vectors = 0;
  // Tests only: false starts no indexer thread, so a namespace's backlog stands still.
  bool run_indexer = true;
  std::function<int64_t()> clock_micros;  // empty: the system clock
  metrics::Registry* metrics = nullptr;   // not owned; optional
  // The write-ahead log's file operations; not owned, must outlive the engine. Null: POSIX.
  // Tests inject I/O faults (a full disk, a failed fsync) here.
  wal::FileSystem* wal_file_system = nullptr;
  // How the namespaces' record arenas are written back (null: ::msync). Tests inject write-back
  // failures here.
  SegmentedFile::MsyncFn arena_msync = nullptr;
  // Background compaction (engine_compaction.cc): every compaction_check_interval the compactor
  // compacts the namespace with the most reclaimable bytes, if they are at least
  // compaction_min_bytes and compaction_garbage_ratio of its space. A ratio of 0 compacts only on
  // request (RequestCompaction, CompactNamespace).
  double compaction_garbage_ratio = 0.5;
  uint64_t compaction_min_bytes = uint64_t{64} << 20;
  absl::Duration compaction_check_interval = absl::Seconds(30);
  // Tests: called as a compaction reaches each phase -- "built" (the new generation holds the
  // data as of the cut, durable), "caught_up" (and what was written since, but for the last
  // moment) on the thread compacting, and "switched" (the checkpoint naming the new generation is
  // durable) on the writer thread, where it must not call into the engine.
  std::function<void(std::string_view phase)> compaction_hook;
};

// What one compaction did (Engine::CompactNamespace).
struct CompactionReport {
  std::string name;
  uint32_t generation = 0;     // the namespace's generation after it
  uint64_t cut_seq = 0;        // the sequence it cut at
  uint64_t records_copied = 0;
  uint64_t disk_bytes_before = 0, disk_bytes_after = 0;      // the namespace's files on disk
  uint64_t mapped_bytes_before = 0, mapped_bytes_after = 0;  // and mapped
  double seconds = 0;          // the whole compaction
  double switch_seconds = 0;   // on the writer thread: writes waited this long
};

// Whether the engine's directories had room the last time it needed some. A write (or snapshot)
// that finds its directory full is refused with RESOURCE_EXHAUSTED and sets the flag; the next one
// that finds room clears it. Nothing is applied by a refused write, and reads are unaffected.
struct DiskSpaceReport {
  bool data_full = false;
  std::string data_reason;  // the refusal's message while data_full
  bool snapshots_full = false;
  std::string snapshots_reason;
};

class Engine {
 public:
  // Opens (or creates) the store in options.data_dir and recovers it: the last checkpoint, then
  // the log after it. Fails with DataLoss naming the file and offset on corruption.
  static absl::StatusOr<std::unique_ptr<Engine>> Open(EngineOptions options);
  ~Engine();  // Close() if not closed

  // Stops accepting writes, drains the queue, writes a final checkpoint, stops the threads.
  absl::Status Close();

  // Namespaces.
  absl::StatusOr<v1::NamespaceInfo> CreateNamespace(v1::NamespaceConfig config);
  absl::StatusOr<v1::NamespaceInfo> GetNamespace(const std::string& name) const;
  std::vector<v1::NamespaceInfo> ListNamespaces() const;
  absl::Status DeleteNamespace(const std::string& name);

  // Writes: atomic and durable (per sync mode) when they return OK.
  absl::StatusOr<v1::WriteResponse> Write(v1::WriteRequest request);
  // Write without blocking the caller: `done` runs exactly once with what Write would return —
  // on the calling thread when the request is refused before it is queued (invalid, unknown
  // namespace, queue full, closing), otherwise on the writer thread once the write is durable
  // or refused. It runs while the writer is between groups, so it must be quick (hand the result
  // to another thread) and must not call into the engine. Close() waits for every queued write,
  // so every `done` has run when Close() returns.
  using WriteCallback = absl::AnyInvocable<void(absl::StatusOr<v1::WriteResponse>) &&>;
  void WriteAsync(v1::WriteRequest request, WriteCallback done);

  // Reads, at the latest published sequence.
  absl::StatusOr<v1::GetConceptsResponse> GetConcepts(const v1::GetConceptsRequest& request) const;
  absl::StatusOr<v1::NeighborsResponse> Neighbors(const v1::NeighborsRequest& request) const;
  absl::StatusOr<v1::FindPathsResponse> FindPaths(const v1::FindPathsRequest& request) const;
  absl::StatusOr<v1::SearchResponse> Search(const v1::SearchRequest& request) const;
  absl::StatusOr<v1::ScanResponse> Scan(const v1::ScanRequest& request) const;

  // Operations.
  v1::ServerStats GetStats() const;
  DiskSpaceReport disk_space() const;
  absl::StatusOr<uint64_t> Checkpoint();
  // Blocks until every published vector is in its namespace's graph (tests, benchmarks).
  void WaitForIndexing() const;

  // Compaction (engine_compaction.cc): rewrites a namespace's files with only its live data while
  // it keeps serving, then switches to them with one checkpoint. One compaction runs at a time.
  // Compacts `name` on the calling thread and returns once the namespace serves from the new
  // files. ABORTED if the namespace was deleted or replaced meanwhile (nothing changed).
  absl::StatusOr<CompactionReport> CompactNamespace(const std::string& name);
  // Queues a compaction of `name` for the background compactor and returns at once; its state
  // and result show in GetNamespace(name).compaction.
  absl::StatusOr<v1::NamespaceInfo> RequestCompaction(const std::string& name);

  // Snapshots (see snapshot.h for the archive format).
  // A failed snapshot leaves no file behind (no partial archive). No room in the snapshot
  // directory is RESOURCE_EXHAUSTED naming it, counted and reported in disk_space() until a
  // snapshot succeeds again.
  absl::StatusOr<v1::SnapshotInfo> CreateSnapshot();
  absl::StatusOr<std::vector<v1::SnapshotInfo>> ListSnapshots() const;
  absl::Status DeleteSnapshot(const std::string& name);
  // Path of a finished snapshot archive, for streaming it out.
  absl::StatusOr<std::filesystem::path> SnapshotPath(const std::string& name) const;
  // Verifies the archive at `path` and replaces the store's contents with it. The store must hold
  // no concepts and no associations (FAILED_PRECONDITION otherwise).
  absl::StatusOr<v1::SnapshotInfo> RestoreSnapshot(const std::filesystem::path& path);
  const std::filesystem::path& snapshot_dir() const { return snapshot_dir_; }
  const Limits& limits() const { return options_.limits; }

 private:
  struct Op;  // engine_internal.h
  using Registry = absl::flat_hash_map<std::string, std::shared_ptr<NamespaceStore>>;
  // What a read runs against: the published sequence, taken before the namespace is looked up.
  struct ReadView {
    std::shared_ptr<NamespaceStore> ns;
    uint64_t seq = 0;
  };

  explicit Engine(EngineOptions options);
  void RegisterMetrics();
  int64_t Now() const;

  // Recovery and checkpoints (engine_recovery.cc).
  absl::Status Recover();
  absl::Status ReplayEntry(uint64_t seq, std::string_view payload);
  absl::StatusOr<std::shared_ptr<NamespaceStore>> OpenNamespace(const NamespaceState& state,
                                                                bool fresh);
  absl::Status OpenLog(wal::RecoveredTail tail);  // appends from last_seq_ + 1 on
  // Writer thread only. `persist_derived`: every namespace also writes its derived-state file
  // (derived_state.h) if anything is new; otherwise only when its arena grew enough since.
  // `file_written` (optional) tells whether CHECKPOINT itself was replaced, even if a later step
  // failed.
  absl::Status CheckpointLocked(bool persist_derived = false, bool* file_written = nullptr);
  absl::Status WriteCheckpointFile(uint64_t seq, const std::vector<NamespaceState>& states);

  // The registry readers see (engine.cc); the writer publishes its own copy after a change.
  std::shared_ptr<const Registry> registry() const;
  void PublishRegistry();
  absl::StatusOr<std::shared_ptr<NamespaceStore>> Find(const std::string& name) const;
  absl::StatusOr<ReadView> View(const std::string& name) const;
  uint64_t visible_seq() const { return visible_seq_.load(std::memory_order_acquire); }

  // Writer side (engine_writer.cc).
  // Queues `op` and waits until the writer is done with it. Data ops count against the queue
  // capacity; control ops (op->control set) do not.
  absl::Status Submit(Op* op);
  // Queues `op` (same refusals as Submit) without waiting for it.
  absl::Status Enqueue(Op* op);
  // Runs `fn` on the writer thread, after the writes queued before it.
  absl::Status RunOnWriter(std::function<absl::Status()> fn);
  void WriterLoop();
  // Waits for and dequeues the next group: one control op, or up to max_group_requests data ops.
  // Empty when a relaxed-mode sync is due; false once closing with nothing queued.
  bool NextGroup(std::vector<Op*>* group);
  void CommitGroup(const std::vector<Op*>& group);  // apply, log, make durable, publish, ack
  void ApplyOp(Op* op, std::vector<NamespaceStore*>* touched, bool* registry_changed);
  absl::Status SyncLog();  // relaxed mode: fdatasync now and restart the sync interval
  // Refuses every op of `group` with `status` (nothing of them was applied).
  void RefuseGroup(const std::vector<Op*>& group, const absl::Status& status);

  // Disk space (engine_writer.cc). Which directory ran out of room.
  enum class DiskDir { kData, kSnapshots };
  // The RESOURCE_EXHAUSTED a write or snapshot refused for lack of room answers: the directory,
  // the cause (which names the file and the bytes needed) and what happens next.
  absl::Status DirectoryFull(DiskDir dir, const absl::Status& cause) const;
  // Records that `refused` requests found `dir` full (`status` from DirectoryFull), or that the
  // directory had room again (logged once per change).
  void NoteDiskFull(DiskDir dir, const absl::Status& status, size_t refused);
  void NoteDiskRoom(DiskDir dir);

  // CreateSnapshot() under snapshot_mu_: adds every file it creates to `created` (removed by the
  // caller on failure) and sets `where` to the directory it was writing to.
  absl::StatusOr<v1::SnapshotInfo> WriteSnapshot(std::vector<std::filesystem::path>* created,
                                                 DiskDir* where);

  // Indexer (engine_indexer.cc).
  void IndexerLoop();
  void WakeIndexer();
  // For its scope, the indexer steps aside: it stops between two inserts, releases indexer_mu_
  // and every index_mu_, and waits. Taken before either lock by whoever needs the graphs at rest
  // (a checkpoint, a snapshot, a restore), so that they wait for one insert, not for the
  // indexer's whole backlog (neither mutex hands itself to a waiter).
  class IndexerPause {
   public:
    explicit IndexerPause(Engine* engine);
    ~IndexerPause();
    IndexerPause(const IndexerPause&) = delete;
    IndexerPause& operator=(const IndexerPause&) = delete;

   private:
    Engine* engine_;
  };

  // Compactor (engine_compaction.cc).
  void CompactorLoop();
  // CompactOnce, recorded in the namespace's compaction status and the metrics.
  absl::StatusOr<CompactionReport> Compact(const std::string& name, bool automatic);
  absl::StatusOr<CompactionReport> CompactOnce(const std::string& name);
  // The namespace the garbage-ratio trigger picks now, if any.
  std::optional<std::string> CompactionCandidate() const;
  void CompactionHook(std::string_view phase) const;
  // ns->Info() with the compactor's state for it.
  v1::NamespaceInfo NamespaceInfoOf(const NamespaceStore& ns) const;

  const EngineOptions options_;
  const std::filesystem::path snapshot_dir_;

  // Published to readers.
  // sync:: (std:: primitives with annotations) rather than absl::Mutex: ThreadSanitizer understands
  // them (Debian's Abseil is not built with TSan annotations).
  mutable sync::Mutex registry_mu_;
  std::shared_ptr<const Registry> registry_ ABSL_GUARDED_BY(registry_mu_);
  std::atomic<uint64_t> visible_seq_{0};

  // Write queue.
  mutable sync::Mutex queue_mu_;
  sync::CondVar queue_cv_;  // queue_ grew, or closing_
  std::vector<Op*> queue_ ABSL_GUARDED_BY(queue_mu_);
  size_t queued_data_ops_ ABSL_GUARDED_BY(queue_mu_) = 0;
  bool closing_ ABSL_GUARDED_BY(queue_mu_) = false;
  bool closed_ ABSL_GUARDED_BY(queue_mu_) = false;  // Close() began; no more writes
  std::atomic<size_t> queue_depth_{0};

  // Writer-thread state (confined to the writer thread, or to control ops it runs; no lock).
  Registry writer_registry_;
  std::unique_ptr<wal::LogWriter> log_;
  // --sync=always: runs each group's flush + fdatasync while the writer finishes the group's
  // index work (vector copies, keyword index). Started with the writer thread.
  std::unique_ptr<JobQueue> sync_worker_;
  // Adds each group's contents to the keyword indexes while the writer applies the rest of the
  // group (NamespaceStore::Apply's `keyword_jobs`).
  std::unique_ptr<JobQueue> keyword_worker_;
  // Writes the derived-state files that checkpoints cut (NamespaceStore::CutDerived), so that
  // writes do not wait while they are encoded and fsynced.
  std::unique_ptr<JobQueue> derived_writer_;
  // Writes back the arena and vector pages that groups published (NamespaceStore::WriteBehind),
  // so that a checkpoint does not write them all while writes wait.
  std::unique_ptr<JobQueue> write_behind_;
  uint64_t last_seq_ = 0;
  uint64_t checkpoint_seq_ = 0;
  uint64_t log_bytes_at_checkpoint_ = 0;
  std::vector<std::filesystem::path> pending_removal_;  // dirs of deleted namespaces
  absl::Time last_sync_ = absl::InfinitePast();
  bool log_dirty_ = false;

  // Stats, readable from any thread.
  std::atomic<uint64_t> stat_checkpoint_seq_{0};
  std::atomic<uint64_t> stat_log_bytes_{0};
  std::atomic<int64_t> stat_last_checkpoint_micros_{0};
  std::atomic<int64_t> stat_last_snapshot_micros_{0};
  double recovery_seconds_ = 0;

  // Indexer.
  mutable sync::Mutex indexer_mu_;  // held by the indexer while it inserts; snapshots pause it
  mutable sync::Mutex index_wake_mu_;
  sync::CondVar index_wake_cv_;  // index_work_ set
  bool index_work_ ABSL_GUARDED_BY(index_wake_mu_) = false;
  std::atomic<bool> stop_indexer_{false};
  std::atomic<int> indexer_pause_requests_{0};  // live IndexerPause scopes

  sync::Mutex snapshot_mu_;  // one snapshot or restore at a time
  // Snapshots copying namespace files: checkpoints leave removed namespaces' directories for later
  // while one is, since it may be copying them.
  std::atomic<int> snapshots_copying_{0};

  // Compaction.
  sync::Mutex compaction_mu_;  // held by the one compaction that runs
  mutable sync::Mutex compaction_state_mu_;
  sync::CondVar compaction_cv_;  // a request queued, or stopping
  std::vector<std::string> compaction_queue_ ABSL_GUARDED_BY(compaction_state_mu_);
  absl::flat_hash_map<std::string, v1::CompactionStatus> compaction_status_
      ABSL_GUARDED_BY(compaction_state_mu_);
  std::atomic<bool> stop_compaction_{false};

  mutable sync::Mutex disk_mu_;
  DiskSpaceReport disk_ ABSL_GUARDED_BY(disk_mu_);

  // Metrics (null when options.metrics is null).
  metrics::Histogram* group_size_ = nullptr;
  metrics::Histogram* fsync_seconds_ = nullptr;
  metrics::Counter* log_bytes_written_ = nullptr;
  metrics::Counter* writes_rejected_full_ = nullptr;
  metrics::Counter* index_backlog_refusals_ = nullptr;
  metrics::Counter* checkpoints_ = nullptr;
  metrics::Histogram* checkpoint_seconds_ = nullptr;
  metrics::Counter* data_full_refusals_ = nullptr;
  metrics::Counter* snapshot_full_refusals_ = nullptr;
  metrics::Counter* compactions_ok_ = nullptr;
  metrics::Counter* compactions_failed_ = nullptr;
  metrics::Histogram* compaction_seconds_ = nullptr;
  metrics::Histogram* compaction_switch_seconds_ = nullptr;
  std::vector<std::string> callback_gauges_;  // registered by RegisterMetrics, removed by Close

  // Where the writer thread's time goes, by phase of a group commit
  // (engram_storage_writer_seconds_total{phase}): their sum per second of wall time is how busy
  // the single writer is.
  enum WriterPhase : size_t { kApply, kLog, kFinish, kSync, kPublish, kCheckpoint, kWriterPhases };
  using WriterClock = std::chrono::steady_clock;
  void CountWriterTime(WriterPhase phase, WriterClock::duration time);
  std::array<metrics::Counter*, kWriterPhases> writer_seconds_{};
  WriterClock::duration group_log_time_{};  // writer: this group's log appends (ApplyOp)

  std::thread writer_;
  std::thread indexer_;
  std::thread compactor_;
};

}  // namespace engram::storage
