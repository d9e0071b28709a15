// Engine compaction: rewriting a namespace's files with only its live data while it keeps
// serving, then switching to the new files with one checkpoint. The copy is NamespaceCompaction's
// (namespace_compaction.h); here are the phases around it, the switch on the writer thread, and
// the compactor thread that runs requested and garbage-triggered compactions.
//
// Crash safety: the checkpoint that names the new generation is the switch. Until it is durable,
// a restart opens the old generation and replays the log into it; the new directory, listed
// nowhere, is removed by the first checkpoint after recovery. Once it is durable, a restart opens
// the new generation -- made durable before the switch -- and replays the log after the
// checkpoint into it; the old directory is removed the same way.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "common/status/error_detail.h"
#include "common/status/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "spdlog/spdlog.h"
#include "storage-server/engine/engine.h"
#include "storage-server/engine/engine_internal.h"
#include "storage-server/engine/namespace_compaction.h"

namespace engram::storage {

namespace {

// The writer copies the last of the catch-up itself, holding writes back meanwhile: the
// background thread catches up until at most this much is left (or gives up chasing after
// kCatchUpRounds and lets the writer copy the rest).
constexpr uint64_t kSwitchBytes = uint64_t{4} << 20;
constexpr int kCatchUpRounds = 8;

// Bytes the files under `dir` occupy on disk (allocated blocks; the mapped files are sparse).
uint64_t DiskBytes(const std::filesystem::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; it != end;
       it.increment(ec)) {
    struct stat st;
    if (::stat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total += static_cast<uint64_t>(st.st_blocks) * 512;
    }
  }
  return total;
}

google::protobuf::Timestamp Timestamp(absl::Time t) {
  return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

}  // namespace

void Engine::CompactionHook(std::string_view phase) const {
  if (options_.compaction_hook) options_.compaction_hook(phase);
}

absl::StatusOr<CompactionReport> Engine::CompactNamespace(const std::string& name) {
  RETURN_IF_ERROR(ValidateName("name", name));
  return Compact(name, /*automatic=*/false);
}

absl::StatusOr<CompactionReport> Engine::Compact(const std::string& name, bool automatic) {
  const absl::Time start = absl::Now();
  {
    sync::MutexLock lock(&compaction_state_mu_);
    compaction_status_[name].set_state(v1::CompactionStatus::RUNNING);
  }
  absl::StatusOr<CompactionReport> report = CompactOnce(name);
  if (!report.ok()) {
    spdlog::warn("namespace {}: compaction failed: {}", name, report.status().ToString());
  }
  if (metrics::Counter* c = report.ok() ? compactions_ok_ : compactions_failed_; c != nullptr) {
    c->Increment();
  }
  if (report.ok() && compaction_seconds_ != nullptr) {
    compaction_seconds_->Observe(report->seconds);
    compaction_switch_seconds_->Observe(report->switch_seconds);
  }
  sync::MutexLock lock(&compaction_state_mu_);
  v1::CompactionStatus& status = compaction_status_[name];
  status.set_state(v1::CompactionStatus::IDLE);
  *status.mutable_last_start_time() = Timestamp(start);
  *status.mutable_last_end_time() = Timestamp(absl::Now());
  status.set_last_automatic(automatic);
  status.set_last_error(report.ok() ? "" : report.status().ToString());
  status.set_last_bytes_before(report.ok() ? report->disk_bytes_before : 0);
  status.set_last_bytes_after(report.ok() ? report->disk_bytes_after : 0);
  status.set_last_switch_seconds(report.ok() ? report->switch_seconds : 0);
  status.set_last_cut_sequence(report.ok() ? report->cut_seq : 0);
  return report;
}

absl::StatusOr<CompactionReport> Engine::CompactOnce(const std::string& name) {
  sync::MutexLock one_at_a_time(&compaction_mu_);
  if (stop_compaction_.load()) return absl::UnavailableError("storage engine is shutting down");
  ASSIGN_OR_RETURN(ReadView view, View(name));
  const std::shared_ptr<NamespaceStore> old = view.ns;
  const absl::Time start = absl::Now();

  CompactionReport report;
  report.name = name;
  report.disk_bytes_before = DiskBytes(old->dir());
  report.mapped_bytes_before = old->mapped_bytes();
  NamespaceState state;
  state.id = old->id();
  state.config = old->config();
  state.create_micros = old->create_micros();
  state.generation = old->generation() + 1;
  state.compacted_seq = std::max<uint64_t>(view.seq, 1);
  const std::filesystem::path dir = NamespaceDir(options_.data_dir, state.id, state.generation);
  ASSIGN_OR_RETURN(std::unique_ptr<NamespaceCompaction> job,
                   NamespaceCompaction::Start(old, dir, state, &options_.limits));
  bool switched = false;
  absl::Cleanup discard = [&] {
    if (switched) return;
    job.reset();  // unmaps the new files
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (ec) spdlog::warn("compaction: could not remove {}: {}", dir.string(), ec.message());
  };
  RETURN_IF_ERROR(job->Build([this] { return stop_compaction_.load(); }));
  CompactionHook("built");
  for (int round = 0; round < kCatchUpRounds; ++round) {
    if (stop_compaction_.load()) return absl::CancelledError("compaction cancelled");
    ASSIGN_OR_RETURN(const uint64_t copied, job->CatchUp());
    if (copied <= kSwitchBytes) break;
  }
  CompactionHook("caught_up");

  // The switch, between two write groups: the rest of the catch-up, then the checkpoint naming
  // the new generation. Readers move over when the registry is published after it.
  absl::Duration stall;
  RETURN_IF_ERROR(RunOnWriter([&]() -> absl::Status {
    const absl::Time switch_start = absl::Now();
    auto it = writer_registry_.find(name);
    if (it == writer_registry_.end() || it->second != old) {
      return absl::AbortedError(
          absl::StrCat("namespace '", name,
                       "' was deleted or replaced while it was being compacted; "
                       "nothing was changed"));
    }
    ASSIGN_OR_RETURN(std::shared_ptr<NamespaceStore> fresh, job->Finish());
    it->second = fresh;
    bool written = false;
    absl::Status checkpoint = CheckpointLocked(/*persist_derived=*/false, &written);
    if (!written) {
      it->second = old;  // CHECKPOINT still names the old generation: nothing happened
      return checkpoint;
    }
    switched = true;
    PublishRegistry();
    if (!checkpoint.ok()) {
      // The switch is durable; what failed after it (the graph header, the log cut, old
      // directories) is redone by the next checkpoint.
      spdlog::warn("namespace {}: checkpoint after the compaction switch: {}", name,
                   checkpoint.ToString());
    }
    stall = absl::Now() - switch_start;
    CompactionHook("switched");
    return absl::OkStatus();
  }));
  WakeIndexer();
  // The old generation's files, off the writer thread (unlinking a large file takes a while):
  // now, unless a snapshot that cut before the switch may still be copying them -- then by the
  // next checkpoint after it. Readers still holding the old store keep their mappings. A crash
  // before this leaves a directory no checkpoint lists, which recovery removes.
  if (snapshots_copying_.load() == 0) {
    std::error_code ec;
    std::filesystem::remove_all(old->dir(), ec);
    if (ec) spdlog::warn("compaction: could not remove {}: {}", old->dir().string(), ec.message());
  } else if (absl::Status queued = RunOnWriter([&] {
               pending_removal_.push_back(old->dir());
               return absl::OkStatus();
             });
             !queued.ok()) {
    // Shutting down: the next start finds the directory listed nowhere and removes it.
    spdlog::warn("compaction: {} left for the next start: {}", old->dir().string(),
                 queued.ToString());
  }

  // The compaction is done from here on; the report only reads what it did.
  report.generation = state.generation;
  report.cut_seq = state.compacted_seq;
  report.records_copied = job->records_copied();
  report.disk_bytes_after = DiskBytes(dir);
  if (absl::StatusOr<std::shared_ptr<NamespaceStore>> now = Find(name); now.ok()) {
    report.mapped_bytes_after = (*now)->mapped_bytes();
  }
  report.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  report.switch_seconds = absl::ToDoubleSeconds(stall);
  spdlog::info(
      "namespace {}: compacted to generation {} at sequence {} in {:.2f}s (writes waited "
      "{:.1f} ms): {} records copied, disk {} -> {} bytes, mapped {} -> {} bytes",
      name, report.generation, report.cut_seq, report.seconds, report.switch_seconds * 1e3,
      report.records_copied, report.disk_bytes_before, report.disk_bytes_after,
      report.mapped_bytes_before, report.mapped_bytes_after);
  return report;
}

absl::StatusOr<v1::NamespaceInfo> Engine::RequestCompaction(const std::string& name) {
  RETURN_IF_ERROR(ValidateName("name", name));
  ASSIGN_OR_RETURN(std::shared_ptr<NamespaceStore> ns, Find(name));
  {
    sync::MutexLock lock(&compaction_state_mu_);
    if (stop_compaction_.load()) return absl::UnavailableError("storage engine is shutting down");
    v1::CompactionStatus& status = compaction_status_[name];
    if (status.state() != v1::CompactionStatus::QUEUED &&
        status.state() != v1::CompactionStatus::RUNNING) {
      status.set_state(v1::CompactionStatus::QUEUED);
      compaction_queue_.push_back(name);
    }
  }
  compaction_cv_.SignalAll();
  return NamespaceInfoOf(*ns);
}

std::optional<std::string> Engine::CompactionCandidate() const {
  if (options_.compaction_garbage_ratio <= 0) return std::nullopt;
  std::optional<std::string> best;
  uint64_t best_bytes = 0;
  auto reg = registry();  // keeps this snapshot of the registry alive for the loop
  for (const auto& [name, ns] : *reg) {
    const SpaceUsage space = ns->Space();
    if (space.reclaimable_bytes() >= options_.compaction_min_bytes &&
        space.garbage_ratio() >= options_.compaction_garbage_ratio &&
        space.reclaimable_bytes() > best_bytes) {
      best = name;
      best_bytes = space.reclaimable_bytes();
    }
  }
  return best;
}

void Engine::CompactorLoop() {
  // Compaction may take a while and is never urgent: the writer, the readers and the indexer come
  // first on a busy machine.
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 15) != 0) {
    spdlog::debug("compactor: setpriority failed: {}", std::strerror(errno));
  }
  while (!stop_compaction_.load()) {
    std::string name;
    bool automatic = false;
    {
      sync::MutexLock lock(&compaction_state_mu_);
      const auto deadline = std::chrono::steady_clock::now() +
                            absl::ToChronoMicroseconds(options_.compaction_check_interval);
      while (compaction_queue_.empty() && !stop_compaction_.load() &&
             compaction_cv_.WaitUntil(&compaction_state_mu_, deadline) ==
                 std::cv_status::no_timeout) {
      }
      if (stop_compaction_.load()) return;
      if (!compaction_queue_.empty()) {
        name = compaction_queue_.front();
        compaction_queue_.erase(compaction_queue_.begin());
      }
    }
    if (name.empty()) {
      std::optional<std::string> candidate = CompactionCandidate();
      if (!candidate) continue;
      name = *std::move(candidate);
      automatic = true;
    }
    (void)Compact(name, automatic);  // logged and recorded in the namespace's status
  }
}

v1::NamespaceInfo Engine::NamespaceInfoOf(const NamespaceStore& ns) const {
  v1::NamespaceInfo info = ns.Info();
  sync::MutexLock lock(&compaction_state_mu_);
  auto it = compaction_status_.find(ns.name());
  if (it != compaction_status_.end()) {
    *info.mutable_compaction() = it->second;
  } else {
    info.mutable_compaction()->set_state(v1::CompactionStatus::IDLE);
  }
  return info;
}

}  // namespace engram::storage
