#include "storage-server/engine/engine.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include <latch>
#include "common/status/error_detail.h"
#include "common/status/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"
#include "storage-server/engine/snapshot.h"
#include "storage-server/wal/crc32c.h"

namespace engram::storage {

namespace {

using google::protobuf::util::TimeUtil;

constexpr char kVersion[] = "0.1.0";
constexpr size_t kIndexBatch = 256;

std::filesystem::path NamespaceDir(const std::filesystem::path& data_dir, uint64_t id) {
  return data_dir / "ns" / std::to_string(id);
}

absl::Status FsyncPath(const std::filesystem::path& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path.string(), ": ", std::strerror(errno)));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("fsync ", path.string(), ": ", std::strerror(errno)));
  return absl::OkStatus();
}

// Atomically replaces `path` with `contents` (write temp, fsync, rename, fsync dir).
absl::Status WriteFileAtomically(const std::filesystem::path& path, const std::string& contents) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << contents;
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("write ", tmp.string()));
  }
  RETURN_IF_ERROR(FsyncPath(tmp, false));
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::InternalError(absl::StrCat("rename ", tmp.string(), ": ", ec.message()));
  return FsyncPath(path.parent_path(), true);
}

std::string CheckpointPath(const std::filesystem::path& data_dir) { return (data_dir / "CHECKPOINT").string(); }

struct CheckpointFile {
  uint64_t seq = 0;
  int64_t time_micros = 0;
  std::vector<NamespaceState> namespaces;
};

// CHECKPOINT is JSON with a CRC32C of the body on its last line, so bit rot is detected.
absl::StatusOr<std::optional<CheckpointFile>> ReadCheckpoint(const std::filesystem::path& data_dir) {
  std::string path = CheckpointPath(data_dir);
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::optional<CheckpointFile>();
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t nl = text.rfind("\ncrc32c ");
  uint32_t crc = 0;
  if (nl == std::string::npos || !absl::SimpleAtoi(absl::string_view(text).substr(nl + 8), &crc) ||
      wal::Crc32c(text.data(), nl) != crc) {
    return absl::DataLossError(absl::StrCat(path, ": checksum mismatch; refusing to start"));
  }
  // Reuse the snapshot manifest parser for the namespace list: same shape.
  nlohmann::json j = nlohmann::json::parse(text.substr(0, nl), nullptr, false);
  if (j.is_discarded()) return absl::DataLossError(absl::StrCat(path, ": not valid JSON"));
  SnapshotManifest as_manifest;
  as_manifest.name = "checkpoint";
  j["format_version"] = kSnapshotFormatVersion;
  j["name"] = "checkpoint";
  j["parts"] = nlohmann::json::array();
  j["create_micros"] = j.value("time_micros", int64_t{0});
  ASSIGN_OR_RETURN(SnapshotManifest m, ManifestFromJson(j.dump()));
  CheckpointFile cp;
  cp.seq = m.sequence;
  cp.time_micros = m.create_micros;
  cp.namespaces = std::move(m.namespaces);
  return std::optional<CheckpointFile>(std::move(cp));
}

}  // namespace

// A queued request for the writer thread.
struct Engine::Op {
  v1::LogEntry entry;                     // data ops: what to apply and log
  uint64_t expected_namespace_id = 0;     // writes: the namespace incarnation validated against
  std::function<absl::Status()> control;  // control ops: run on the writer thread between groups
  std::latch done{1};  // counted down by the writer when status/response are final
  absl::Status status;
  v1::WriteResponse response;
  v1::NamespaceInfo info;
};

Engine::Engine(EngineOptions options)
    : options_(std::move(options)),
      snapshot_dir_(options_.snapshot_dir.empty() ? options_.data_dir / "snapshots" : options_.snapshot_dir),
      registry_(std::make_shared<Registry>()) {}

int64_t Engine::Now() const {
  if (options_.clock_micros) return options_.clock_micros();
  return absl::ToUnixMicros(absl::Now());
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(EngineOptions options) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("data_dir: required");
  std::unique_ptr<Engine> engine(new Engine(std::move(options)));
  absl::Time start = absl::Now();
  RETURN_IF_ERROR(engine->Recover());
  engine->recovery_seconds_ = absl::ToDoubleSeconds(absl::Now() - start);
  engine->RegisterMetrics();
  engine->writer_ = std::thread([e = engine.get()] { e->WriterLoop(); });
  engine->indexer_ = std::thread([e = engine.get()] { e->IndexerLoop(); });
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
  absl::Status status;
  if (writer_.joinable()) {
    // The final checkpoint runs on the writer thread after every queued write.
    Op op;
    op.control = [this] { return CheckpointLocked(); };
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
  }
  stop_indexer_.store(true);
  WakeIndexer();
  if (indexer_.joinable()) indexer_.join();
  if (options_.metrics != nullptr) {
    for (const char* name : {"engram_storage_write_queue_depth", "engram_storage_log_bytes",
                             "engram_storage_mapped_bytes", "engram_storage_concepts",
                             "engram_storage_associations", "engram_storage_vectors",
                             "engram_storage_indexed_vectors", "engram_storage_last_checkpoint_timestamp_seconds",
                             "engram_storage_last_snapshot_timestamp_seconds", "engram_storage_recovery_seconds",
                             "engram_storage_sync_relaxed", "engram_storage_last_sequence"}) {
      options_.metrics->RemoveCallbackGauge(name);
    }
  }
  return status;
}

// ------------------------------------------------------------------------------------------
// Recovery
// ------------------------------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<NamespaceStore>> Engine::OpenNamespace(const NamespaceState& state, bool fresh) {
  std::filesystem::path dir = NamespaceDir(options_.data_dir, state.id);
  if (fresh) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);  // debris of a create that never reached a checkpoint
  } else if (!std::filesystem::exists(dir)) {
    return absl::DataLossError(absl::StrCat("namespace ", state.config.name(), ": directory ", dir.string(),
                                            " listed in the checkpoint is missing; refusing to start"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<NamespaceStore> ns, NamespaceStore::Open(dir, state, &options_.limits));
  return std::shared_ptr<NamespaceStore>(std::move(ns));
}

absl::Status Engine::Recover() {
  std::error_code ec;
  std::filesystem::create_directories(options_.data_dir / "ns", ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", options_.data_dir.string(), ": ", ec.message()));
  std::filesystem::create_directories(snapshot_dir_, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", snapshot_dir_.string(), ": ", ec.message()));

  ASSIGN_OR_RETURN(std::optional<CheckpointFile> cp, ReadCheckpoint(options_.data_dir));
  if (cp) {
    checkpoint_seq_ = cp->seq;
    last_seq_ = cp->seq;
    stat_last_checkpoint_micros_ = cp->time_micros;
    for (const NamespaceState& state : cp->namespaces) {
      ASSIGN_OR_RETURN(auto ns, OpenNamespace(state, /*fresh=*/false));
      writer_registry_[state.config.name()] = std::move(ns);
    }
  }
  ASSIGN_OR_RETURN(wal::RecoveryResult rec,
                   wal::ReadLog(options_.data_dir / "wal", checkpoint_seq_,
                                [this](uint64_t seq, std::string_view payload) {
                                  return ReplayEntry(seq, payload);
                                }));
  if (rec.tail_truncated) spdlog::warn("write-ahead log: {}", rec.warning);
  last_seq_ = std::max(last_seq_, rec.last_seq);
  wal::LogWriter::Options lopts;
  lopts.dir = options_.data_dir / "wal";
  lopts.segment_bytes = options_.wal_segment_bytes;
  ASSIGN_OR_RETURN(log_, wal::LogWriter::Open(lopts, last_seq_ + 1, rec.tail));
  log_bytes_at_checkpoint_ = 0;
  stat_log_bytes_ = log_->bytes();
  stat_checkpoint_seq_ = checkpoint_seq_;

  // Directories of namespaces that no longer exist (deleted before a checkpoint).
  absl::flat_hash_map<std::string, bool> live;
  for (const auto& [name, ns] : writer_registry_) live[ns->dir().filename().string()] = true;
  for (const auto& entry : std::filesystem::directory_iterator(options_.data_dir / "ns")) {
    if (!live.contains(entry.path().filename().string())) {
      // Only after a checkpoint that no longer lists them; until then they are replay input.
      pending_removal_.push_back(entry.path());
    }
  }
  for (auto& [name, ns] : writer_registry_) ns->PublishApplied();
  PublishRegistry();
  visible_seq_.store(last_seq_, std::memory_order_release);
  if (rec.records_applied > 0) {
    spdlog::info("recovery replayed {} log records after checkpoint {}", rec.records_applied, checkpoint_seq_);
    RETURN_IF_ERROR(CheckpointLocked());  // bound the next recovery
  } else if (!pending_removal_.empty()) {
    RETURN_IF_ERROR(CheckpointLocked());
  }
  return absl::OkStatus();
}

absl::Status Engine::ReplayEntry(uint64_t seq, std::string_view payload) {
  v1::LogEntry entry;
  if (!entry.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError(absl::StrCat("write-ahead log record ", seq, " does not parse; refusing to start"));
  }
  auto fail = [&](const absl::Status& s) {
    return absl::DataLossError(absl::StrCat("write-ahead log record ", seq, " does not apply (", s.ToString(),
                                            "); refusing to start"));
  };
  switch (entry.op_case()) {
    case v1::LogEntry::kCreateNamespace: {
      NamespaceState state;
      state.id = entry.create_namespace().namespace_id();
      state.config = entry.create_namespace().config();
      state.create_micros = entry.time_micros();
      auto ns = OpenNamespace(state, /*fresh=*/true);
      if (!ns.ok()) return fail(ns.status());
      writer_registry_[state.config.name()] = *ns;
      break;
    }
    case v1::LogEntry::kDeleteNamespace: {
      auto it = writer_registry_.find(entry.delete_namespace().name());
      if (it == writer_registry_.end()) {
        return fail(status::NamespaceNotFound(entry.delete_namespace().name()));
      }
      writer_registry_.erase(it);
      break;
    }
    case v1::LogEntry::kWrite: {
      auto it = writer_registry_.find(entry.write().namespace_());
      if (it == writer_registry_.end()) return fail(status::NamespaceNotFound(entry.write().namespace_()));
      NamespaceStore& ns = *it->second;
      auto plan = ns.Plan(entry.write());
      if (!plan.ok()) return fail(plan.status());
      if (auto s = ns.Reserve(*plan); !s.ok()) return fail(s);
      ns.Apply(entry.write(), seq, entry.time_micros());
      break;
    }
    case v1::LogEntry::OP_NOT_SET:
      return fail(absl::DataLossError("empty entry"));
  }
  last_seq_ = seq;
  return absl::OkStatus();
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

void Engine::RegisterMetrics() {
  metrics::Registry* m = options_.metrics;
  if (m == nullptr) return;
  group_size_ = &m->AddHistogram("engram_storage_group_commit_requests",
                                 "Write requests made durable by one group commit (one fsync).", {},
                                 metrics::ExponentialBuckets(1, 2, 13))
                     .Add({});
  fsync_seconds_ = &m->AddHistogram("engram_storage_fsync_seconds", "Latency of write-ahead log fsyncs.", {},
                                    metrics::DefaultLatencyBuckets())
                        .Add({});
  log_bytes_written_ =
      &m->AddCounter("engram_storage_log_written_bytes", "Bytes appended to the write-ahead log.").Add({});
  writes_rejected_full_ = &m->AddCounter("engram_storage_writes_rejected",
                                         "Writes refused with RESOURCE_EXHAUSTED because the queue was full.")
                               .Add({});
  checkpoints_ = &m->AddCounter("engram_storage_checkpoints", "Checkpoints written.").Add({});
  m->AddCallbackGauge("engram_storage_write_queue_depth", "Write requests waiting for the writer.",
                      [this] { return static_cast<double>(queue_depth_.load()); });
  m->AddCallbackGauge("engram_storage_log_bytes", "Bytes in live write-ahead log segments.",
                      [this] { return static_cast<double>(stat_log_bytes_.load()); });
  m->AddCallbackGauge("engram_storage_last_sequence", "Highest published log sequence.",
                      [this] { return static_cast<double>(visible_seq()); });
  m->AddCallbackGauge("engram_storage_mapped_bytes", "Bytes of memory-mapped namespace files.", [this] {
    double total = 0;
    auto reg = registry();  // keeps this snapshot of the registry alive for the loop
    for (const auto& [name, ns] : *reg) total += ns->mapped_bytes();
    return total;
  });
  auto per_ns = [this](uint64_t (NamespaceStore::*getter)() const) {
    return [this, getter] {
      metrics::Registry::LabelledValues out;
      auto reg = registry();  // keeps this snapshot of the registry alive for the loop
      for (const auto& [name, ns] : *reg) out.push_back({{name}, static_cast<double>(((*ns).*getter)())});
      return out;
    };
  };
  m->AddCallbackGauge("engram_storage_concepts", "Live concepts per namespace.", {"namespace"},
                      per_ns(&NamespaceStore::concept_count));
  m->AddCallbackGauge("engram_storage_associations", "Live associations per namespace.", {"namespace"},
                      per_ns(&NamespaceStore::association_count));
  m->AddCallbackGauge("engram_storage_vectors", "Live vectors per namespace.", {"namespace"},
                      per_ns(&NamespaceStore::vector_count));
  m->AddCallbackGauge("engram_storage_indexed_vectors", "Vectors in the HNSW graph per namespace.",
                      {"namespace"}, per_ns(&NamespaceStore::indexed_count));
  m->AddCallbackGauge("engram_storage_last_checkpoint_timestamp_seconds", "Unix time of the last checkpoint.",
                      [this] { return stat_last_checkpoint_micros_.load() / 1e6; });
  m->AddCallbackGauge("engram_storage_last_snapshot_timestamp_seconds", "Unix time of the last snapshot.",
                      [this] { return stat_last_snapshot_micros_.load() / 1e6; });
  m->AddCallbackGauge("engram_storage_recovery_seconds", "Duration of the last startup recovery.",
                      [this] { return recovery_seconds_; });
  m->AddCallbackGauge("engram_storage_sync_relaxed",
                      "1 when --sync=relaxed (acknowledged writes may be lost on a machine crash).",
                      [this] { return options_.sync_mode == wal::SyncMode::kRelaxed ? 1.0 : 0.0; });
}

// ------------------------------------------------------------------------------------------
// Writer
// ------------------------------------------------------------------------------------------

absl::Status Engine::Submit(Op* op, bool control) {
  {
    sync::MutexLock lock(&queue_mu_);
    if (closed_) return absl::UnavailableError("storage engine is shutting down");
    if (!control) {
      if (queued_data_ops_ >= options_.write_queue_capacity) {
        if (writes_rejected_full_ != nullptr) writes_rejected_full_->Increment();
        return absl::ResourceExhaustedError(absl::StrFormat(
            "write queue full (%d requests waiting); retry with backoff", queued_data_ops_));
      }
      ++queued_data_ops_;
      queue_depth_.store(queued_data_ops_, std::memory_order_relaxed);
    }
    queue_.push_back(op);
  }
  queue_cv_.Signal();
  op->done.wait();
  return op->status;
}

void Engine::WriterLoop() {
  std::vector<Op*> group;
  std::vector<NamespaceStore*> touched;
  while (true) {
    group.clear();
    {
      sync::MutexLock lock(&queue_mu_);
      if (options_.sync_mode == wal::SyncMode::kRelaxed && log_dirty_) {
        const auto deadline =
            std::chrono::steady_clock::now() + absl::ToChronoMicroseconds(options_.relaxed_sync_interval);
        while (queue_.empty() && !closing_ &&
               queue_cv_.WaitUntil(&queue_mu_, deadline) == std::cv_status::no_timeout) {
        }
      } else {
        while (queue_.empty() && !closing_) queue_cv_.Wait(&queue_mu_);
      }
      if (queue_.empty() && closing_) break;
      // A control op runs alone, after the data ops queued before it.
      size_t take = 0;
      if (!queue_.empty() && queue_.front()->control) {
        take = 1;
      } else {
        while (take < queue_.size() && take < options_.max_group_requests && !queue_[take]->control) ++take;
      }
      group.assign(queue_.begin(), queue_.begin() + take);
      queue_.erase(queue_.begin(), queue_.begin() + take);
      if (take > 0 && !group[0]->control) {
        queued_data_ops_ -= take;
        queue_depth_.store(queued_data_ops_, std::memory_order_relaxed);
      }
    }
    if (group.empty()) {
      // Relaxed mode: the periodic fdatasync.
      if (log_dirty_) {
        if (absl::Status s = log_->Sync(); !s.ok()) {
          spdlog::critical("write-ahead log sync failed: {}; stopping so recovery can run", s.ToString());
          std::abort();
        }
        log_dirty_ = false;
        last_sync_ = absl::Now();
      }
      continue;
    }
    if (group[0]->control) {
      group[0]->status = group[0]->control();
      group[0]->done.count_down();
      continue;
    }

    touched.clear();
    bool registry_changed = false;
    uint64_t bytes_before = log_->bytes();
    for (Op* op : group) ApplyOp(op, &touched, &registry_changed);

    absl::Time sync_start = absl::Now();
    absl::Status durable;
    if (options_.sync_mode == wal::SyncMode::kAlways) {
      durable = log_->Sync();
    } else {
      durable = log_->Flush();
      log_dirty_ = true;
      if (durable.ok() && absl::Now() - last_sync_ >= options_.relaxed_sync_interval) {
        durable = log_->Sync();
        log_dirty_ = false;
        last_sync_ = absl::Now();
      }
    }
    if (!durable.ok()) {
      // The batches are applied in memory but not durable, and the log cannot vouch for itself
      // any more (fsyncgate): crash loudly; recovery rebuilds the acknowledged state.
      spdlog::critical("write-ahead log write failed: {}; stopping so recovery can run", durable.ToString());
      std::abort();
    }
    if (fsync_seconds_ != nullptr && options_.sync_mode == wal::SyncMode::kAlways) {
      fsync_seconds_->Observe(absl::ToDoubleSeconds(absl::Now() - sync_start));
    }
    if (group_size_ != nullptr) group_size_->Observe(static_cast<double>(group.size()));
    uint64_t bytes_after = log_->bytes();
    if (log_bytes_written_ != nullptr && bytes_after > bytes_before) {
      log_bytes_written_->Increment(static_cast<double>(bytes_after - bytes_before));
    }
    stat_log_bytes_.store(bytes_after, std::memory_order_relaxed);

    for (NamespaceStore* ns : touched) ns->PublishApplied();
    if (registry_changed) PublishRegistry();
    visible_seq_.store(last_seq_, std::memory_order_release);
    bool new_vectors = !touched.empty();
    for (Op* op : group) op->done.count_down();
    if (new_vectors) WakeIndexer();
    if (log_->bytes() >= options_.checkpoint_log_bytes) {
      if (absl::Status s = CheckpointLocked(); !s.ok()) spdlog::error("checkpoint failed: {}", s.ToString());
    }
  }
}

void Engine::ApplyOp(Op* op, std::vector<NamespaceStore*>* touched, bool* registry_changed) {
  v1::LogEntry& entry = op->entry;
  const int64_t now = Now();
  entry.set_time_micros(now);
  switch (entry.op_case()) {
    case v1::LogEntry::kCreateNamespace: {
      const std::string& name = entry.create_namespace().config().name();
      if (writer_registry_.contains(name)) {
        op->status = absl::AlreadyExistsError(absl::StrCat("namespace '", name, "' already exists"));
        return;
      }
      NamespaceState state;
      state.id = last_seq_ + 1;
      state.config = entry.create_namespace().config();
      state.create_micros = now;
      auto ns = OpenNamespace(state, /*fresh=*/true);
      if (!ns.ok()) {
        op->status = ns.status();
        return;
      }
      entry.mutable_create_namespace()->set_namespace_id(state.id);
      writer_registry_[name] = *ns;
      op->info = (*ns)->Info();
      *registry_changed = true;
      break;
    }
    case v1::LogEntry::kDeleteNamespace: {
      auto it = writer_registry_.find(entry.delete_namespace().name());
      if (it == writer_registry_.end()) {
        op->status = status::NamespaceNotFound(entry.delete_namespace().name());
        return;
      }
      pending_removal_.push_back(it->second->dir());
      writer_registry_.erase(it);
      *registry_changed = true;
      break;
    }
    case v1::LogEntry::kWrite: {
      auto it = writer_registry_.find(entry.write().namespace_());
      if (it == writer_registry_.end() || it->second->id() != op->expected_namespace_id) {
        op->status = status::NamespaceNotFound(entry.write().namespace_());
        return;
      }
      NamespaceStore* ns = it->second.get();
      auto plan = ns->Plan(entry.write());
      if (!plan.ok()) {
        op->status = plan.status();
        return;
      }
      if (absl::Status s = ns->Reserve(*plan); !s.ok()) {
        op->status = s;
        return;
      }
      op->response = ns->Apply(entry.write(), last_seq_ + 1, now);
      if (std::find(touched->begin(), touched->end(), ns) == touched->end()) touched->push_back(ns);
      break;
    }
    case v1::LogEntry::OP_NOT_SET:
      op->status = absl::InternalError("empty log entry");
      return;
  }
  ++last_seq_;
  std::string payload = entry.SerializeAsString();
  if (absl::Status s = log_->Append(last_seq_, payload); !s.ok()) {
    spdlog::critical("write-ahead log append failed: {}; stopping so recovery can run", s.ToString());
    std::abort();
  }
}

absl::Status Engine::WriteCheckpointFile(uint64_t seq, const std::vector<NamespaceState>& states) {
  SnapshotManifest m;
  m.name = "checkpoint";
  m.sequence = seq;
  m.create_micros = Now();
  m.namespaces = states;
  nlohmann::json j = nlohmann::json::parse(ManifestToJson(m));
  j.erase("parts");
  j.erase("format_version");
  j.erase("name");
  j["time_micros"] = m.create_micros;
  std::string body = j.dump(2);
  std::string text = absl::StrCat(body, "\ncrc32c ", wal::Crc32c(body.data(), body.size()));
  RETURN_IF_ERROR(WriteFileAtomically(CheckpointPath(options_.data_dir), text));
  stat_last_checkpoint_micros_.store(m.create_micros);
  return absl::OkStatus();
}

absl::Status Engine::CheckpointLocked() {
  RETURN_IF_ERROR(log_->Sync());
  log_dirty_ = false;
  std::vector<NamespaceState> states;
  for (auto& [name, ns] : writer_registry_) {
    ASSIGN_OR_RETURN(NamespaceState s, ns->FlushData());
    states.push_back(std::move(s));
  }
  std::sort(states.begin(), states.end(), [](auto& a, auto& b) { return a.id < b.id; });
  RETURN_IF_ERROR(WriteCheckpointFile(last_seq_, states));
  for (auto& [name, ns] : writer_registry_) RETURN_IF_ERROR(ns->CheckpointIndex());
  checkpoint_seq_ = last_seq_;
  stat_checkpoint_seq_.store(last_seq_);
  RETURN_IF_ERROR(log_->RemoveSegmentsBefore(last_seq_ + 1));
  stat_log_bytes_.store(log_->bytes());
  for (const auto& dir : pending_removal_) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);  // mappings held by readers stay valid after unlink
    if (ec) spdlog::warn("could not remove {}: {}", dir.string(), ec.message());
  }
  pending_removal_.clear();
  if (checkpoints_ != nullptr) checkpoints_->Increment();
  return absl::OkStatus();
}

// ------------------------------------------------------------------------------------------
// Public API
// ------------------------------------------------------------------------------------------

absl::StatusOr<v1::NamespaceInfo> Engine::CreateNamespace(v1::NamespaceConfig config) {
  RETURN_IF_ERROR(NormalizeNamespaceConfig(options_.limits, &config));
  Op op;
  *op.entry.mutable_create_namespace()->mutable_config() = std::move(config);
  RETURN_IF_ERROR(Submit(&op, false));
  return op.info;
}

absl::StatusOr<v1::NamespaceInfo> Engine::GetNamespace(const std::string& name) const {
  RETURN_IF_ERROR(ValidateName("name", name));
  ASSIGN_OR_RETURN(auto ns, Find(name));
  return ns->Info();
}

std::vector<v1::NamespaceInfo> Engine::ListNamespaces() const {
  std::vector<v1::NamespaceInfo> out;
  auto reg = registry();  // keeps this snapshot of the registry alive for the loop
  for (const auto& [name, ns] : *reg) out.push_back(ns->Info());
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.config().name() < b.config().name(); });
  return out;
}

absl::Status Engine::DeleteNamespace(const std::string& name) {
  RETURN_IF_ERROR(ValidateName("name", name));
  Op op;
  op.entry.mutable_delete_namespace()->set_name(name);
  return Submit(&op, false);
}

absl::StatusOr<v1::WriteResponse> Engine::Write(v1::WriteRequest request) {
  RETURN_IF_ERROR(ValidateName("namespace", request.namespace_()));
  ASSIGN_OR_RETURN(auto ns, Find(request.namespace_()));
  RETURN_IF_ERROR(NormalizeWriteRequest(options_.limits, ns->config().dimension(), &request));
  Op op;
  op.expected_namespace_id = ns->id();
  *op.entry.mutable_write() = std::move(request);
  RETURN_IF_ERROR(Submit(&op, false));
  return std::move(op.response);
}

absl::StatusOr<v1::GetConceptsResponse> Engine::GetConcepts(const v1::GetConceptsRequest& request) const {
  RETURN_IF_ERROR(ValidateName("namespace", request.namespace_()));
  if (request.ids().empty()) return InvalidField("ids", "at least one id is required");
  if (static_cast<uint32_t>(request.ids_size()) > options_.limits.max_batch) {
    return InvalidField("ids", absl::StrFormat("%d ids, at most %d", request.ids_size(), options_.limits.max_batch));
  }
  for (int i = 0; i < request.ids_size(); ++i) {
    RETURN_IF_ERROR(ValidateId(IndexedField("ids", i), request.ids(i), options_.limits));
  }
  uint64_t seq = visible_seq();
  ASSIGN_OR_RETURN(auto ns, Find(request.namespace_()));
  return ns->Get(request, seq);
}

absl::StatusOr<v1::NeighborsResponse> Engine::Neighbors(const v1::NeighborsRequest& request) const {
  RETURN_IF_ERROR(ValidateName("namespace", request.namespace_()));
  uint64_t seq = visible_seq();
  ASSIGN_OR_RETURN(auto ns, Find(request.namespace_()));
  return ns->Neighbors(request, seq);
}

absl::StatusOr<v1::FindPathsResponse> Engine::FindPaths(const v1::FindPathsRequest& request) const {
  RETURN_IF_ERROR(ValidateName("namespace", request.namespace_()));
  uint64_t seq = visible_seq();
  ASSIGN_OR_RETURN(auto ns, Find(request.namespace_()));
  return ns->FindPaths(request, seq);
}

absl::StatusOr<v1::SearchResponse> Engine::Search(const v1::SearchRequest& request) const {
  RETURN_IF_ERROR(ValidateName("namespace", request.namespace_()));
  uint64_t seq = visible_seq();
  ASSIGN_OR_RETURN(auto ns, Find(request.namespace_()));
  return ns->Search(request, seq);
}

absl::StatusOr<v1::ScanResponse> Engine::Scan(const v1::ScanRequest& request) const {
  RETURN_IF_ERROR(ValidateName("namespace", request.namespace_()));
  uint64_t seq = visible_seq();
  ASSIGN_OR_RETURN(auto ns, Find(request.namespace_()));
  return ns->Scan(request, seq);
}

v1::ServerStats Engine::GetStats() const {
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
  Op op;
  uint64_t seq = 0;
  op.control = [&] {
    RETURN_IF_ERROR(CheckpointLocked());
    seq = checkpoint_seq_;
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(Submit(&op, true));
  return seq;
}

// ------------------------------------------------------------------------------------------
// Indexer
// ------------------------------------------------------------------------------------------

void Engine::IndexerLoop() {
  // Indexing may trail the log (searches scan the unindexed tail), so on a busy machine the
  // writer and the readers come first: lower this thread's scheduling priority.
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10) != 0) {
    spdlog::debug("indexer: setpriority failed: {}", std::strerror(errno));
  }
  while (!stop_indexer_.load()) {
    size_t done = 0;
    {
      sync::MutexLock pause(&indexer_mu_);
      auto reg = registry();  // keeps this snapshot of the registry alive for the loop
      for (const auto& [name, ns] : *reg) {
        auto n = ns->IndexPending(kIndexBatch);
        if (!n.ok()) {
          spdlog::error("namespace {}: indexing failed: {}", name, n.status().ToString());
          continue;
        }
        done += *n;
      }
    }
    if (done == 0) {
      sync::MutexLock lock(&index_wake_mu_);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (!index_work_ && index_wake_cv_.WaitUntil(&index_wake_mu_, deadline) == std::cv_status::no_timeout) {
      }
      index_work_ = false;
    }
  }
}

void Engine::WakeIndexer() {
  {
    sync::MutexLock lock(&index_wake_mu_);
    index_work_ = true;
  }
  index_wake_cv_.Signal();
}

void Engine::WaitForIndexing() const {
  while (true) {
    bool behind = false;
    auto reg = registry();  // keeps this snapshot of the registry alive for the loop
    for (const auto& [name, ns] : *reg) behind |= ns->indexed_count() < ns->published_slots();
    if (!behind) return;
    absl::SleepFor(absl::Milliseconds(2));
  }
}

// ------------------------------------------------------------------------------------------
// Snapshots
// ------------------------------------------------------------------------------------------

absl::StatusOr<v1::SnapshotInfo> Engine::CreateSnapshot() {
  sync::MutexLock one_at_a_time(&snapshot_mu_);
  const int64_t now = Now();
  SnapshotManifest manifest;
  std::vector<std::shared_ptr<NamespaceStore>> stores;
  std::filesystem::path partial;
  std::unique_ptr<ArchiveWriter> writer;
  {
    // Pause the indexer so each graph is at rest and covers only slots inside the cut.
    sync::MutexLock pause(&indexer_mu_);
    Op op;
    op.control = [&] {
      manifest.sequence = last_seq_;
      for (const auto& [name, ns] : writer_registry_) {
        ASSIGN_OR_RETURN(NamespaceState state, ns->CutState());
        manifest.namespaces.push_back(std::move(state));
        stores.push_back(ns);
      }
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(Submit(&op, true));
    manifest.name = absl::StrFormat("snap-%s-%012d", absl::FormatTime("%Y%m%dT%H%M%SZ", absl::FromUnixMicros(now),
                                                                      absl::UTCTimeZone()),
                                    manifest.sequence);
    manifest.create_micros = now;
    partial = snapshot_dir_ / (manifest.name + ".tar.partial");
    ASSIGN_OR_RETURN(writer, ArchiveWriter::Create(partial));
    for (const auto& ns : stores) {
      sync::MutexLock index_lock(&ns->index_mutex());
      RETURN_IF_ERROR(ns->CheckpointIndexLocked());
      for (const auto& file : ns->IndexFiles()) {
        RETURN_IF_ERROR(writer->AddFile(absl::StrCat("ns/", ns->id(), "/", file.filename().string()), file));
      }
    }
  }
  // Arena bytes below the cut and vector slots below the cut never change: copy them while
  // writes continue.
  for (const auto& ns : stores) {
    for (const auto& file : ns->DataFiles()) {
      RETURN_IF_ERROR(writer->AddFile(absl::StrCat("ns/", ns->id(), "/", file.filename().string()), file));
    }
  }
  std::sort(manifest.namespaces.begin(), manifest.namespaces.end(), [](auto& a, auto& b) { return a.id < b.id; });
  ASSIGN_OR_RETURN(std::string sha, writer->Finish(manifest));
  uint64_t size = writer->bytes_written();
  std::filesystem::path final_path = snapshot_dir_ / (manifest.name + ".tar");
  std::error_code ec;
  std::filesystem::rename(partial, final_path, ec);
  if (ec) return absl::InternalError(absl::StrCat("rename ", partial.string(), ": ", ec.message()));
  RETURN_IF_ERROR(WriteFileAtomically(snapshot_dir_ / (manifest.name + ".tar.sha256"),
                                      absl::StrCat(sha, "  ", manifest.name, ".tar\n")));
  stat_last_snapshot_micros_.store(now);
  v1::SnapshotInfo info;
  info.set_name(manifest.name);
  info.set_sequence(manifest.sequence);
  *info.mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(now);
  info.set_size_bytes(size);
  for (const auto& s : manifest.namespaces) info.add_namespaces(s.config.name());
  info.set_sha256(sha);
  spdlog::info("snapshot {} written: sequence {}, {} bytes", manifest.name, manifest.sequence, size);
  return info;
}

absl::StatusOr<std::vector<v1::SnapshotInfo>> Engine::ListSnapshots() const {
  std::vector<v1::SnapshotInfo> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(snapshot_dir_, ec)) {
    if (entry.path().extension() != ".tar") continue;
    auto manifest = ReadManifest(entry.path());
    if (!manifest.ok()) {
      spdlog::warn("snapshot {}: {}", entry.path().string(), manifest.status().ToString());
      continue;
    }
    v1::SnapshotInfo info;
    info.set_name(manifest->name);
    info.set_sequence(manifest->sequence);
    *info.mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(manifest->create_micros);
    info.set_size_bytes(std::filesystem::file_size(entry.path(), ec));
    for (const auto& s : manifest->namespaces) info.add_namespaces(s.config.name());
    std::ifstream sha(entry.path().string() + ".sha256");
    std::string hex;
    if (sha >> hex) info.set_sha256(hex);
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name() < b.name(); });
  return out;
}

static absl::Status ValidateSnapshotName(const std::string& name) {
  if (name.empty()) return InvalidField("name", "required");
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return InvalidField("name", "must match [A-Za-z0-9_.-]+");
    }
  }
  if (name.find("..") != std::string::npos) return InvalidField("name", "must not contain '..'");
  return absl::OkStatus();
}

absl::StatusOr<std::filesystem::path> Engine::SnapshotPath(const std::string& name) const {
  RETURN_IF_ERROR(ValidateSnapshotName(name));
  std::filesystem::path p = snapshot_dir_ / (name + ".tar");
  if (!std::filesystem::exists(p)) return absl::NotFoundError(absl::StrCat("snapshot '", name, "' not found"));
  return p;
}

absl::Status Engine::DeleteSnapshot(const std::string& name) {
  ASSIGN_OR_RETURN(std::filesystem::path p, SnapshotPath(name));
  std::error_code ec;
  std::filesystem::remove(p, ec);
  if (ec) return absl::InternalError(absl::StrCat("remove ", p.string(), ": ", ec.message()));
  std::filesystem::remove(p.string() + ".sha256", ec);
  return absl::OkStatus();
}

absl::StatusOr<v1::SnapshotInfo> Engine::RestoreSnapshot(const std::filesystem::path& archive) {
  sync::MutexLock one_at_a_time(&snapshot_mu_);
  auto reg = registry();  // keeps this snapshot of the registry alive for the loop
  for (const auto& [name, ns] : *reg) {
    if (ns->concept_count() > 0 || ns->association_count() > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "restore needs an empty server; namespace '", name, "' holds data (delete it or use a fresh data_dir)"));
    }
  }
  std::filesystem::path staging = options_.data_dir / "restore.staging";
  std::error_code ec;
  std::filesystem::remove_all(staging, ec);
  absl::Cleanup remove_staging = [&] { std::filesystem::remove_all(staging, ec); };
  ASSIGN_OR_RETURN(SnapshotManifest manifest, ExtractVerified(archive, staging));
  ASSIGN_OR_RETURN(std::string sha, Sha256File(archive));

  Op op;
  {
    sync::MutexLock pause(&indexer_mu_);
    op.control = [&]() -> absl::Status {
      for (const auto& [name, ns] : writer_registry_) {
        if (ns->concept_count() > 0 || ns->association_count() > 0) {
          return absl::FailedPreconditionError("restore needs an empty server; data arrived meanwhile");
        }
      }
      // Install under fresh directory ids, open everything, then switch with one checkpoint.
      last_seq_ = std::max(last_seq_, manifest.sequence);
      Registry restored;
      for (NamespaceState state : manifest.namespaces) {
        uint64_t old_id = state.id;
        state.id = ++last_seq_;
        std::filesystem::path dst = NamespaceDir(options_.data_dir, state.id);
        std::error_code rename_ec;
        std::filesystem::rename(staging / "ns" / std::to_string(old_id), dst, rename_ec);
        if (rename_ec) return absl::InternalError(absl::StrCat("install ", dst.string(), ": ", rename_ec.message()));
        ASSIGN_OR_RETURN(auto ns, OpenNamespace(state, /*fresh=*/false));
        restored[state.config.name()] = std::move(ns);
      }
      for (const auto& [name, ns] : writer_registry_) pending_removal_.push_back(ns->dir());
      writer_registry_ = std::move(restored);
      for (auto& [name, ns] : writer_registry_) ns->PublishApplied();
      // The checkpoint covers everything up to last_seq_; the log restarts right after it (the
      // sequence jumped, and a log never has gaps).
      RETURN_IF_ERROR(CheckpointLocked());
      log_.reset();
      std::error_code wal_ec;
      std::filesystem::remove_all(options_.data_dir / "wal", wal_ec);
      wal::LogWriter::Options lopts;
      lopts.dir = options_.data_dir / "wal";
      lopts.segment_bytes = options_.wal_segment_bytes;
      ASSIGN_OR_RETURN(log_, wal::LogWriter::Open(lopts, last_seq_ + 1, wal::RecoveredTail{}));
      PublishRegistry();
      visible_seq_.store(last_seq_, std::memory_order_release);
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(Submit(&op, true));
  }
  WakeIndexer();
  v1::SnapshotInfo info;
  info.set_name(manifest.name);
  info.set_sequence(manifest.sequence);
  *info.mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(manifest.create_micros);
  info.set_size_bytes(std::filesystem::file_size(archive, ec));
  for (const auto& s : manifest.namespaces) info.add_namespaces(s.config.name());
  info.set_sha256(sha);
  spdlog::info("restored snapshot {} (sequence {}), {} namespaces", manifest.name, manifest.sequence,
               manifest.namespaces.size());
  return info;
}

}  // namespace engram::storage
