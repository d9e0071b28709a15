// Engine's single writer: the bounded write queue, group commit (apply every queued batch, append
// it to the write-ahead log, make the group durable with one fsync), publication to readers, and
// the log-size checkpoint trigger. Everything here except Submit() runs on the writer thread.
#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status/error_detail.h"
#include "google/protobuf/io/coded_stream.h"
#include "spdlog/spdlog.h"
#include "storage-server/engine/engine.h"
#include "storage-server/engine/engine_internal.h"
#include "storage-server/io/out_of_space.h"

namespace engram::storage {

namespace {

// The log can no longer vouch for what the writer applied in memory (fsyncgate): crash loudly so
// recovery rebuilds the acknowledged state.
[[noreturn]] void LogFailed(const char* what, const absl::Status& s) {
  spdlog::critical("write-ahead log {} failed: {}; stopping so recovery can run", what,
                   s.ToString());
  std::abort();
}

// What ApplyOp may add to an entry before it is logged (time_micros, a namespace id, the length
// prefixes growing): far more than it does.
constexpr uint64_t kEntryGrowthBytes = 64;

}  // namespace

absl::Status Engine::Submit(Op* op) {
  if (absl::Status s = Enqueue(op); !s.ok()) return s;
  op->done.wait();
  return op->status;
}

absl::Status Engine::Enqueue(Op* op) {
  {
    sync::MutexLock lock(&queue_mu_);
    if (closed_) return absl::UnavailableError("storage engine is shutting down");
    if (!op->control) {
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
  return absl::OkStatus();
}

absl::Status Engine::RunOnWriter(std::function<absl::Status()> fn) {
  Op op;
  op.control = std::move(fn);
  return Submit(&op);
}

void Engine::WriterLoop() {
  std::vector<Op*> group;
  while (NextGroup(&group)) {
    if (group.empty()) {
      // Relaxed mode: the periodic fdatasync.
      if (log_dirty_) {
        const WriterClock::time_point start = WriterClock::now();
        if (absl::Status s = SyncLog(); !s.ok()) LogFailed("sync", s);
        CountWriterTime(kSync, WriterClock::now() - start);
      }
      continue;
    }
    if (group[0]->control) {
      group[0]->status = group[0]->control();
      group[0]->done.count_down();
      continue;
    }
    CommitGroup(group);
  }
}

bool Engine::NextGroup(std::vector<Op*>* group) {
  group->clear();
  sync::MutexLock lock(&queue_mu_);
  if (options_.sync_mode == wal::SyncMode::kRelaxed && log_dirty_) {
    const auto deadline = std::chrono::steady_clock::now() +
                          absl::ToChronoMicroseconds(options_.relaxed_sync_interval);
    while (queue_.empty() && !closing_ &&
           queue_cv_.WaitUntil(&queue_mu_, deadline) == std::cv_status::no_timeout) {
    }
  } else {
    while (queue_.empty() && !closing_) queue_cv_.Wait(&queue_mu_);
  }
  if (queue_.empty() && closing_) return false;
  // A control op runs alone, after the data ops queued before it.
  size_t take = 0;
  if (!queue_.empty() && queue_.front()->control) {
    take = 1;
  } else {
    while (take < queue_.size() && take < options_.max_group_requests && !queue_[take]->control) {
      ++take;
    }
  }
  group->assign(queue_.begin(), queue_.begin() + take);
  queue_.erase(queue_.begin(), queue_.begin() + take);
  if (take > 0 && !(*group)[0]->control) {
    queued_data_ops_ -= take;
    queue_depth_.store(queued_data_ops_, std::memory_order_relaxed);
  }
  return true;
}

void Engine::CountWriterTime(WriterPhase phase, WriterClock::duration time) {
  if (writer_seconds_[phase] != nullptr) {
    writer_seconds_[phase]->Increment(std::chrono::duration<double>(time).count());
  }
}

void Engine::CommitGroup(const std::vector<Op*>& group) {
  // The writer's time by phase: each lap counts the time since the previous one.
  WriterClock::time_point phase_start = WriterClock::now();
  auto lap = [&](WriterPhase phase, WriterClock::duration other = {}) {
    const WriterClock::time_point now = WriterClock::now();
    CountWriterTime(phase, now - phase_start - other);
    phase_start = now;
  };
  // Room in the log first: out of space is found before anything is applied or written, so the
  // group can be refused and the next one tries again.
  uint64_t log_bytes = 0;
  for (const Op* op : group) {
    log_bytes += wal::kHeaderBytes + wal::kTrailerBytes + kEntryGrowthBytes +
                 (op->write_bytes != 0 ? op->write_bytes : op->entry.ByteSizeLong());
  }
  if (absl::Status room = log_->Reserve(log_bytes); !room.ok()) {
    if (!log_->status().ok()) LogFailed("reserve", room);  // a failed fsync while rolling
    if (IsOutOfSpace(room)) {
      const absl::Status refused = DirectoryFull(DiskDir::kData, room);
      NoteDiskFull(DiskDir::kData, refused, group.size());
      RefuseGroup(group, refused);
    } else {
      RefuseGroup(group, absl::UnavailableError(absl::StrCat("write-ahead log: ", room.message(),
                                                             "; nothing was applied")));
    }
    return;
  }

  std::vector<NamespaceStore*> touched;
  bool registry_changed = false;
  group_log_time_ = {};
  uint64_t bytes_before = log_->bytes();
  size_t out_of_space = 0;
  absl::Status first_out_of_space;
  for (Op* op : group) {
    ApplyOp(op, &touched, &registry_changed);
    // The mapped files had no room for this write (Reserve allocates before anything is stored).
    if (IsOutOfSpace(op->status)) {
      op->status = DirectoryFull(DiskDir::kData, op->status);
      if (out_of_space++ == 0) first_out_of_space = op->status;
    }
  }
  if (out_of_space > 0) {
    NoteDiskFull(DiskDir::kData, first_out_of_space, out_of_space);
  } else {
    NoteDiskRoom(DiskDir::kData);
  }
  lap(kApply, /*other=*/group_log_time_);  // the loop's log appends count as log
  CountWriterTime(kLog, group_log_time_);

  absl::Status durable;
  absl::Duration sync_time;
  const bool always = options_.sync_mode == wal::SyncMode::kAlways;
  if (always) {
    // The group's records go to the kernel and the fdatasync runs on the sync worker while this
    // thread copies the group's vectors into their slots and indexes its contents: work no later
    // group depends on before it is published, so the group is published (and acknowledged)
    // exactly as before, only after both are done.
    sync_worker_->Post([this, &sync_time, &durable] {
      const absl::Time start = absl::Now();
      durable = log_->Sync();
      sync_time = absl::Now() - start;
    });
  }
  for (NamespaceStore* ns : touched) ns->FinishApply();
  lap(kFinish);
  if (always) {
    sync_worker_->Drain();
    if (durable.ok() && fsync_seconds_ != nullptr) {
      fsync_seconds_->Observe(absl::ToDoubleSeconds(sync_time));
    }
  } else {
    durable = log_->Flush();
    log_dirty_ = true;
    if (durable.ok() && absl::Now() - last_sync_ >= options_.relaxed_sync_interval) {
      durable = SyncLog();
    }
  }
  lap(kSync);
  // The batches are applied in memory but not durable.
  if (!durable.ok()) LogFailed("write", durable);
  if (group_size_ != nullptr) group_size_->Observe(static_cast<double>(group.size()));
  uint64_t bytes_after = log_->bytes();
  if (log_bytes_written_ != nullptr && bytes_after > bytes_before) {
    log_bytes_written_->Increment(static_cast<double>(bytes_after - bytes_before));
  }
  stat_log_bytes_.store(bytes_after, std::memory_order_relaxed);

  for (NamespaceStore* ns : touched) {
    ns->PublishApplied();
    ns->WriteBehind(write_behind_.get());
  }
  if (registry_changed) PublishRegistry();
  visible_seq_.store(last_seq_, std::memory_order_release);
  bool new_vectors = !touched.empty();
  for (Op* op : group) op->done.count_down();
  if (new_vectors) WakeIndexer();
  lap(kPublish);
  if (log_->bytes() >= options_.checkpoint_log_bytes) {
    if (absl::Status s = CheckpointLocked(); !s.ok()) {
      spdlog::error("checkpoint failed: {}", s.ToString());
    }
  }
}

void Engine::RefuseGroup(const std::vector<Op*>& group, const absl::Status& status) {
  for (Op* op : group) {
    op->status = status;
    op->done.count_down();
  }
}

absl::Status Engine::DirectoryFull(DiskDir dir, const absl::Status& cause) const {
  const bool data = dir == DiskDir::kData;
  return OutOfSpaceError(absl::StrCat(
      data ? "data directory " : "snapshot directory ",
      (data ? options_.data_dir : snapshot_dir_).string(), " is full: ", cause.message(),
      data ? "; the write was not applied (nothing acknowledged is lost, reads still work); "
             "writes resume by themselves once space is freed"
           : "; no snapshot was written; free space and try again"));
}

void Engine::NoteDiskFull(DiskDir dir, const absl::Status& status, size_t refused) {
  metrics::Counter* counter = dir == DiskDir::kData ? data_full_refusals_ : snapshot_full_refusals_;
  if (counter != nullptr) counter->Increment(static_cast<double>(refused));
  sync::MutexLock lock(&disk_mu_);
  bool& full = dir == DiskDir::kData ? disk_.data_full : disk_.snapshots_full;
  std::string& reason = dir == DiskDir::kData ? disk_.data_reason : disk_.snapshots_reason;
  if (!full)
    spdlog::error("{}", std::string(status.message()));  // once per episode, not per refusal
  full = true;
  reason = std::string(status.message());
}

void Engine::NoteDiskRoom(DiskDir dir) {
  sync::MutexLock lock(&disk_mu_);
  bool& full = dir == DiskDir::kData ? disk_.data_full : disk_.snapshots_full;
  if (!full) return;
  full = false;
  (dir == DiskDir::kData ? disk_.data_reason : disk_.snapshots_reason).clear();
  spdlog::info("{} directory has room again; {} resume",
               dir == DiskDir::kData ? "data" : "snapshot",
               dir == DiskDir::kData ? "writes" : "snapshots");
}

DiskSpaceReport Engine::disk_space() const {
  sync::MutexLock lock(&disk_mu_);
  return disk_;
}

absl::Status Engine::SyncLog() {
  absl::Status s = log_->Sync();
  log_dirty_ = false;
  last_sync_ = absl::Now();
  return s;
}

void Engine::ApplyOp(Op* op, std::vector<NamespaceStore*>* touched, bool* registry_changed) {
  v1::LogEntry& entry = op->entry;
  const int64_t now = Now();
  entry.set_time_micros(now);
  switch (entry.op_case()) {
    case v1::LogEntry::kCreateNamespace: {
      const std::string& name = entry.create_namespace().config().name();
      if (writer_registry_.contains(name)) {
        op->status =
            absl::AlreadyExistsError(absl::StrCat("namespace '", name, "' already exists"));
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
      if (absl::Status s = ns->AdmitVectors(*plan, options_.max_unindexed_vectors); !s.ok()) {
        if (index_backlog_refusals_ != nullptr) index_backlog_refusals_->Increment();
        op->status = s;
        return;
      }
      if (absl::Status s = ns->Reserve(*plan); !s.ok()) {
        op->status = s;
        return;
      }
      op->response = ns->Apply(entry.write(), last_seq_ + 1, now, /*defer_index=*/true,
                               keyword_worker_.get());
      if (std::find(touched->begin(), touched->end(), ns) == touched->end()) touched->push_back(ns);
      break;
    }
    case v1::LogEntry::OP_NOT_SET:
      op->status = absl::InternalError("empty log entry");
      return;
  }
  ++last_seq_;
  // Serialized straight into the log's buffer. For a write the caller's thread already sized the
  // request (op->write_bytes, and the nested sizes cached in the message), so only the entry's
  // own two fields are sized here.
  size_t size;
  if (op->write_bytes != 0) {
    using google::protobuf::io::CodedOutputStream;
    size = (now != 0 ? 1 + CodedOutputStream::VarintSize64(static_cast<uint64_t>(now)) : 0) + 1 +
           CodedOutputStream::VarintSize64(op->write_bytes) + op->write_bytes;
  } else {
    size = entry.ByteSizeLong();
  }
  const WriterClock::time_point log_start = WriterClock::now();
  absl::Status appended = log_->AppendWith(last_seq_, size, [&](char* p) {
    // _InternalSerialize rather than SerializeWithCachedSizesToArray: the latter checks the
    // entry's own cached size, which only the nested messages have here.
    auto* begin = reinterpret_cast<uint8_t*>(p);
    google::protobuf::io::EpsCopyOutputStream stream(begin, static_cast<int>(size),
                                                     /*deterministic=*/false);
    if (entry._InternalSerialize(begin, &stream) != begin + size) {
      // The sizes cached by the caller disagree with the message: a broken invariant that would
      // write a record the log cannot replay.
      spdlog::critical("log entry {} serialized to a size other than {}", last_seq_, size);
      std::abort();
    }
  });
  group_log_time_ += WriterClock::now() - log_start;
  if (!appended.ok()) LogFailed("append", appended);
}

}  // namespace engram::storage
