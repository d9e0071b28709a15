// Engine: construction and shutdown, the registry readers see, metrics, and the public API. The
// jobs behind the API live in their own units: engine_writer.cc (the single writer),
// engine_recovery.cc (recovery and checkpoints), engine_indexer.cc, engine_snapshot.cc.
#include "storage-server/engine/engine.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status/error_detail.h"
#include "common/status/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "spdlog/spdlog.h"
#include "storage-server/engine/engine_internal.h"

namespace engram::storage {

namespace {

constexpr char kVersion[] = "0.1.0";

}  // namespace

Engine::Engine(EngineOptions options)
    : options_(std::move(options)),
      snapshot_dir_(options_.snapshot_dir.empty() ? options_.data_dir / "snapshots"
                                                  : options_.snapshot_dir),
      registry_(std::make_shared<Registry>()),
      keyword_worker_(std::make_unique<JobQueue>("eng-keywords")),
      derived_writer_(std::make_unique<JobQueue>("eng-derived")),
      write_behind_(std::make_unique<JobQueue>("eng-writeback")) {}

int64_t Engine::Now() const {
  if (options_.clock_micros) return options_.clock_micros();
  return absl::ToUnixMicros(absl::Now());
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(EngineOptions options) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("data_dir: required");
  if (options.indexer_nice < 0 || options.indexer_nice > 19) {
    return absl::InvalidArgumentError(
        absl::StrCat("indexer_nice: must be in [0, 19], got ", options.indexer_nice));
  }
  std::unique_ptr<Engine> engine(new Engine(std::move(options)));
  absl::Time start = absl::Now();
  RETURN_IF_ERROR(engine->Recover());
  engine->recovery_seconds_ = absl::ToDoubleSeconds(absl::Now() - start);
  engine->RegisterMetrics();
  if (engine->options_.sync_mode == wal::SyncMode::kAlways) {
    engine->sync_worker_ = std::make_unique<JobQueue>("eng-sync");
  }
  // Named threads: `top -H`, perf and gdb show which engine job a thread runs.
  Engine* e = engine.get();
  engine->writer_ = NamedThread("eng-writer", [e] { e->WriterLoop(); });
  if (engine->options_.run_indexer) {
    engine->indexer_ = NamedThread("eng-indexer", [e] { e->IndexerLoop(); });
  }
  engine->compactor_ = NamedThread("eng-compact", [e] { e->CompactorLoop(); });
  if (engine->options_.create_default_namespace && engine->last_seq_ == 0 &&
      engine->writer_registry_.empty()) {
    v1::NamespaceConfig config;
    config.set_name("default");
    auto created = engine->CreateNamespace(config);
    if (!created.ok() && created.status().code() != absl::StatusCode::kAlreadyExists) {
      return created.status();
    }
  }
  spdlog::info("storage engine ready: {} namespaces, sequence {}, recovery {:.3f}s, sync={}",
               engine->writer_registry_.size(), engine->visible_seq(), engine->recovery_seconds_,
               wal::SyncModeName(engine->options_.sync_mode));
  return engine;
}

Engine::~Engine() {
  absl::Status s = Close();
  if (!s.ok()) spdlog::error("storage engine close: {}", s.ToString());
}

absl::Status Engine::Close() {
  {
    sync::MutexLock lock(&queue_mu_);
    if (closed_) return absl::OkStatus();
    closed_ = true;
  }
  // A compaction in progress stops at its next check (its new files are removed); one about to
  // switch finds the writer closed.
  {
    sync::MutexLock lock(&compaction_state_mu_);
    stop_compaction_.store(true);
  }
  compaction_cv_.SignalAll();
  if (compactor_.joinable()) compactor_.join();
  { sync::MutexLock wait(&compaction_mu_); }  // a CompactNamespace() on another thread
  absl::Status status;
  if (writer_.joinable()) {
    // The final checkpoint runs on the writer thread after every queued write (queued directly:
    // Submit refuses once closed_ is set).
    Op op;
    op.control = [this] { return CheckpointLocked(/*persist_derived=*/true); };
    {
      sync::MutexLock lock(&queue_mu_);
      queue_.push_back(&op);
    }
    queue_cv_.Signal();
    op.done.wait();
    status = op.status;
    {
      sync::MutexLock lock(&queue_mu_);
      closing_ = true;
    }
    queue_cv_.Signal();
    writer_.join();
    sync_worker_.reset();
  }
  derived_writer_->Drain();  // the final checkpoint's derived-state files
  stop_indexer_.store(true);
  WakeIndexer();
  if (indexer_.joinable()) indexer_.join();
  for (const std::string& name : callback_gauges_) options_.metrics->RemoveCallbackGauge(name);
  callback_gauges_.clear();
  return status;
}

// ------------------------------------------------------------------------------------------
// Registry and metrics
// ------------------------------------------------------------------------------------------

std::shared_ptr<const Engine::Registry> Engine::registry() const {
  sync::MutexLock lock(&registry_mu_);
  return registry_;
}

void Engine::PublishRegistry() {
  auto copy = std::make_shared<Registry>(writer_registry_);
  sync::MutexLock lock(&registry_mu_);
  registry_ = std::move(copy);
}

absl::StatusOr<std::shared_ptr<NamespaceStore>> Engine::Find(const std::string& name) const {
  auto reg = registry();
  auto it = reg->find(name);
  if (it == reg->end()) return status::NamespaceNotFound(name);
  return it->second;
}

absl::StatusOr<Engine::ReadView> Engine::View(const std::string& name) const {
  ReadView view;
  view.seq = visible_seq();
  ASSIGN_OR_RETURN(view.ns, Find(name));
  // A store that replaced its namespace (a compaction) after the sequence was taken may not hold
  // the versions visible at it; the sequence published since covers the switch.
  if (view.seq < view.ns->min_read_seq()) view.seq = visible_seq();
  return view;
}

void Engine::RegisterMetrics() {
  metrics::Registry* m = options_.metrics;
  if (m == nullptr) return;
  group_size_ = &m->AddHistogram("engram_storage_group_commit_requests",
                                 "Write requests made durable by one group commit (one fsync).", {},
                                 metrics::ExponentialBuckets(1, 2, 13))
                     .Add({});
  fsync_seconds_ =
      &m->AddHistogram("engram_storage_fsync_seconds", "Latency of write-ahead log fsyncs.", {},
                       metrics::DefaultLatencyBuckets())
           .Add({});
  log_bytes_written_ =
      &m->AddCounter("engram_storage_log_written_bytes", "Bytes appended to the write-ahead log.")
           .Add({});
  writes_rejected_full_ =
      &m->AddCounter("engram_storage_writes_rejected",
                     "Writes refused with RESOURCE_EXHAUSTED because the queue was full.")
           .Add({});
  index_backlog_refusals_ =
      &m->AddCounter("engram_storage_index_backlog_refusals",
                     "Writes with vectors refused with RESOURCE_EXHAUSTED because their namespace "
                     "had --max_unindexed_vectors waiting for the HNSW index.")
           .Add({});
  checkpoints_ = &m->AddCounter("engram_storage_checkpoints", "Checkpoints written.").Add({});
  checkpoint_seconds_ =
      &m->AddHistogram("engram_storage_checkpoint_seconds",
                       "How long each checkpoint held the writer (log fsync, data flush, "
                       "CHECKPOINT file, graphs); writes wait meanwhile.",
                       {}, metrics::DefaultLatencyBuckets())
           .Add({});
  auto& writer_seconds = m->AddCounter(
      "engram_storage_writer_seconds_total",
      "Time the single writer thread spent, by phase: apply (records and indexes in memory), log "
      "(encoding entries into the write-ahead log), finish (storing vectors, waiting for keyword "
      "indexing), sync (waiting for the log's fsync), publish, checkpoint. The sum's rate is the "
      "writer's busy share.",
      {"phase"});
  for (auto [phase, label] : {std::pair{kApply, "apply"}, {kLog, "log"}, {kFinish, "finish"},
                              {kSync, "sync"}, {kPublish, "publish"}, {kCheckpoint, "checkpoint"}}) {
    writer_seconds_[phase] = &writer_seconds.Add({label});
  }
  auto& refusals = m->AddCounter(
      "engram_storage_disk_full_refusals_total",
      "Writes (dir=\"data\") or snapshots (dir=\"snapshots\") refused with RESOURCE_EXHAUSTED "
      "because their directory had no room.",
      {"dir"});
  data_full_refusals_ = &refusals.Add({"data"});
  snapshot_full_refusals_ = &refusals.Add({"snapshots"});
  auto& compactions = m->AddCounter("engram_storage_compactions_total",
                                    "Namespace compactions finished, by result (ok, failed).",
                                    {"result"});
  compactions_ok_ = &compactions.Add({"ok"});
  compactions_failed_ = &compactions.Add({"failed"});
  compaction_seconds_ =
      &m->AddHistogram("engram_storage_compaction_seconds", "Duration of namespace compactions.",
                       {}, metrics::ExponentialBuckets(0.01, 2, 16))
           .Add({});
  compaction_switch_seconds_ =
      &m->AddHistogram("engram_storage_compaction_switch_seconds",
                       "How long writes waited while a compacted namespace was switched in.", {},
                       metrics::DefaultLatencyBuckets())
           .Add({});

  // Callback gauges read this engine, so Close() removes every one registered here.
  auto add_gauge = [&](const char* name, const char* help, auto&&... callback) {
    m->AddCallbackGauge(name, help, std::forward<decltype(callback)>(callback)...);
    callback_gauges_.push_back(name);
  };
  add_gauge("engram_storage_write_queue_depth", "Write requests waiting for the writer.",
        [this] { return static_cast<double>(queue_depth_.load()); });
  add_gauge("engram_storage_log_bytes", "Bytes in live write-ahead log segments.",
        [this] { return static_cast<double>(stat_log_bytes_.load()); });
  add_gauge("engram_storage_last_sequence", "Highest published log sequence.",
        [this] { return static_cast<double>(visible_seq()); });
  add_gauge("engram_storage_mapped_bytes", "Bytes of memory-mapped namespace files.", [this] {
    double total = 0;
    auto reg = registry();  // keeps this snapshot of the registry alive for the loop
    for (const auto& [name, ns] : *reg) total += ns->mapped_bytes();
    return total;
  });
  auto per_ns = [this](uint64_t (NamespaceStore::*getter)() const) {
    return [this, getter] {
      metrics::Registry::LabelledValues out;
      auto reg = registry();  // keeps this snapshot of the registry alive for the loop
      for (const auto& [name, ns] : *reg) {
        out.push_back({{name}, static_cast<double>(((*ns).*getter)())});
      }
      return out;
    };
  };
  const std::vector<std::string> by_namespace = {"namespace"};
  add_gauge("engram_storage_concepts", "Live concepts per namespace.", by_namespace,
        per_ns(&NamespaceStore::concept_count));
  add_gauge("engram_storage_associations", "Live associations per namespace.", by_namespace,
        per_ns(&NamespaceStore::association_count));
  add_gauge("engram_storage_vectors", "Live vectors per namespace.", by_namespace,
        per_ns(&NamespaceStore::vector_count));
  add_gauge("engram_storage_indexed_vectors", "Vectors in the HNSW graph per namespace.", by_namespace,
        per_ns(&NamespaceStore::indexed_count));
  add_gauge("engram_storage_unindexed_vectors",
            "Vectors readers see that the HNSW graph does not hold yet, per namespace: every vector "
            "search scans them exactly (the indexer trails a burst of writes).",
            by_namespace, per_ns(&NamespaceStore::unindexed_count));
  add_gauge("engram_storage_reclaimable_bytes",
            "Bytes a compaction of the namespace would reclaim now (superseded versions, "
            "tombstones, deleted associations, dead vector slots).",
            by_namespace, per_ns(&NamespaceStore::reclaimable_bytes));
  add_gauge("engram_storage_last_checkpoint_timestamp_seconds", "Unix time of the last checkpoint.",
        [this] { return stat_last_checkpoint_micros_.load() / 1e6; });
  add_gauge("engram_storage_last_snapshot_timestamp_seconds", "Unix time of the last snapshot.",
        [this] { return stat_last_snapshot_micros_.load() / 1e6; });
  add_gauge("engram_storage_recovery_seconds", "Duration of the last startup recovery.",
        [this] { return recovery_seconds_; });
  add_gauge("engram_storage_disk_full",
            "1 while the directory is full: the last write (dir=\"data\") or snapshot "
            "(dir=\"snapshots\") found no room; 0 once one succeeds again.",
            std::vector<std::string>{"dir"}, [this] {
              const DiskSpaceReport disk = disk_space();
              return metrics::Registry::LabelledValues{
                  {{"data"}, disk.data_full ? 1.0 : 0.0},
                  {{"snapshots"}, disk.snapshots_full ? 1.0 : 0.0}};
            });
  add_gauge("engram_storage_sync_relaxed",
        "1 when --sync=relaxed (acknowledged writes may be lost on a machine crash).",
        [this] { return options_.sync_mode == wal::SyncMode::kRelaxed ? 1.0 : 0.0; });
}

// ------------------------------------------------------------------------------------------
// Public API
// ------------------------------------------------------------------------------------------

absl::StatusOr<v1::NamespaceInfo> Engine::CreateNamespace(v1::NamespaceConfig config) {
  RETURN_IF_ERROR(NormalizeNamespaceConfig(options_.limits, &config));
  Op op;
  *op.entry.mutable_create_namespace()->mutable_config() = std::move(config);
  RETURN_IF_ERROR(Submit(&op));
  return op.info;
}

absl::StatusOr<v1::NamespaceInfo> Engine::GetNamespace(const std::string& name) const {
  RETURN_IF_ERROR(ValidateName("name", name));
  ASSIGN_OR_RETURN(auto ns, Find(name));
  return NamespaceInfoOf(*ns);
}

std::vector<v1::NamespaceInfo> Engine::ListNamespaces() const {
  std::vector<v1::NamespaceInfo> out;
  auto reg = registry();  // keeps this snapshot of the registry alive for the loop
  for (const auto& [name, ns] : *reg) out.push_back(NamespaceInfoOf(*ns));
  std::sort(out.begin(), out.end(),
            [](auto& a, auto& b) { return a.config().name() < b.config().name(); });
  return out;
}

absl::Status Engine::DeleteNamespace(const std::string& name) {
  RETURN_IF_ERROR(ValidateName("name", name));
  Op op;
  op.entry.mutable_delete_namespace()->set_name(name);
  return Submit(&op);
}

absl::StatusOr<v1::WriteResponse> Engine::Write(v1::WriteRequest request) {
  RETURN_IF_ERROR(ValidateName("namespace", request.namespace_()));
  ASSIGN_OR_RETURN(auto ns, Find(request.namespace_()));
  RETURN_IF_ERROR(NormalizeWriteRequest(options_.limits, ns->config().dimension(), &request));
  Op op;
  op.expected_namespace_id = ns->id();
  *op.entry.mutable_write() = std::move(request);
  // Sized here, on the caller's thread, rather than on the single writer (see ApplyOp).
  op.write_bytes = op.entry.write().ByteSizeLong();
  RETURN_IF_ERROR(Submit(&op));
  return std::move(op.response);
}

void Engine::WriteAsync(v1::WriteRequest request, WriteCallback done) {
  absl::Status valid = ValidateName("namespace", request.namespace_());
  absl::StatusOr<std::shared_ptr<NamespaceStore>> ns =
      valid.ok() ? Find(request.namespace_()) : absl::StatusOr<std::shared_ptr<NamespaceStore>>(valid);
  if (ns.ok()) valid = NormalizeWriteRequest(options_.limits, (*ns)->config().dimension(), &request);
  if (!ns.ok() || !valid.ok()) {
    std::move(done)(ns.ok() ? valid : ns.status());
    return;
  }
  auto* op = new Op;  // owned by its callback from here on
  op->expected_namespace_id = (*ns)->id();
  *op->entry.mutable_write() = std::move(request);
  op->done.SetCallback([op, done = std::move(done)]() mutable {
    std::unique_ptr<Op> owned(op);
    if (owned->status.ok()) {
      std::move(done)(std::move(owned->response));
    } else {
      std::move(done)(owned->status);
    }
  });
  if (absl::Status s = Enqueue(op); !s.ok()) {
    op->status = std::move(s);
    op->done.count_down();
  }
}

absl::StatusOr<v1::GetConceptsResponse> Engine::GetConcepts(
    const v1::GetConceptsRequest& request) const {
  RETURN_IF_ERROR(ValidateName("namespace", request.namespace_()));
  if (request.ids().empty()) return InvalidField("ids", "at least one id is required");
  RETURN_IF_ERROR(ValidateAtMost("ids", request.ids_size(), options_.limits.max_batch, "ids"));
  for (int i = 0; i < request.ids_size(); ++i) {
    RETURN_IF_ERROR(ValidateId(IndexedField("ids", i), request.ids(i), options_.limits));
  }
  ASSIGN_OR_RETURN(ReadView view, View(request.namespace_()));
  return view.ns->Get(request, view.seq);
}

absl::StatusOr<v1::NeighborsResponse> Engine::Neighbors(const v1::NeighborsRequest& request) const {
  RETURN_IF_ERROR(ValidateName("namespace", request.namespace_()));
  ASSIGN_OR_RETURN(ReadView view, View(request.namespace_()));
  return view.ns->Neighbors(request, view.seq);
}

absl::StatusOr<v1::FindPathsResponse> Engine::FindPaths(const v1::FindPathsRequest& request) const {
  RETURN_IF_ERROR(ValidateName("namespace", request.namespace_()));
  ASSIGN_OR_RETURN(ReadView view, View(request.namespace_()));
  return view.ns->FindPaths(request, view.seq);
}

absl::StatusOr<v1::SearchResponse> Engine::Search(const v1::SearchRequest& request) const {
  RETURN_IF_ERROR(ValidateName("namespace", request.namespace_()));
  ASSIGN_OR_RETURN(ReadView view, View(request.namespace_()));
  return view.ns->Search(request, view.seq);
}

absl::StatusOr<v1::ScanResponse> Engine::Scan(const v1::ScanRequest& request) const {
  RETURN_IF_ERROR(ValidateName("namespace", request.namespace_()));
  ASSIGN_OR_RETURN(ReadView view, View(request.namespace_()));
  return view.ns->Scan(request, view.seq);
}

v1::ServerStats Engine::GetStats() const {
  using google::protobuf::util::TimeUtil;
  v1::ServerStats stats;
  auto reg = registry();
  stats.set_namespaces(reg->size());
  for (const auto& [name, ns] : *reg) {
    stats.set_concepts(stats.concepts() + ns->concept_count());
    stats.set_associations(stats.associations() + ns->association_count());
    stats.set_vectors(stats.vectors() + ns->vector_count());
    stats.set_mapped_bytes(stats.mapped_bytes() + ns->mapped_bytes());
  }
  stats.set_last_sequence(visible_seq());
  stats.set_checkpoint_sequence(stat_checkpoint_seq_.load());
  stats.set_log_bytes(stat_log_bytes_.load());
  stats.set_sync_mode(std::string(wal::SyncModeName(options_.sync_mode)));
  if (int64_t t = stat_last_checkpoint_micros_.load()) {
    *stats.mutable_last_checkpoint_time() = TimeUtil::MicrosecondsToTimestamp(t);
  }
  if (int64_t t = stat_last_snapshot_micros_.load()) {
    *stats.mutable_last_snapshot_time() = TimeUtil::MicrosecondsToTimestamp(t);
  }
  stats.set_recovery_seconds(recovery_seconds_);
  stats.set_write_queue_depth(queue_depth_.load());
  stats.set_version(kVersion);
  return stats;
}

absl::StatusOr<uint64_t> Engine::Checkpoint() {
  uint64_t seq = 0;
  RETURN_IF_ERROR(RunOnWriter([&] {
    RETURN_IF_ERROR(CheckpointLocked(/*persist_derived=*/true));
    seq = checkpoint_seq_;
    return absl::OkStatus();
  }));
  // The derived-state files it queued, written while writes went on: done when this returns.
  derived_writer_->Drain();
  return seq;
}

}  // namespace engram::storage
