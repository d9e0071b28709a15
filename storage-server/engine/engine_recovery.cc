// Engine recovery and checkpoints: the CHECKPOINT file (written and read here), opening the
// namespaces it lists, replaying the write-ahead log after it, and the checkpoint that bounds the
// next recovery (flush every namespace, write CHECKPOINT, drop the log segments it covers).
#include <algorithm>
#include <fstream>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status/error_detail.h"
#include "common/text/absl_view.h"
#include "common/status/status_macros.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"
#include "storage-server/engine/engine.h"
#include "storage-server/engine/engine_internal.h"
#include "storage-server/engine/snapshot.h"
#include "storage-server/io/out_of_space.h"
#include "storage-server/vector/record_array.h"
#include "storage-server/wal/crc32c.h"

namespace engram::storage {

namespace {

std::string CheckpointPath(const std::filesystem::path& data_dir) {
  return (data_dir / "CHECKPOINT").string();
}

absl::StatusOr<std::optional<CheckpointFile>> ReadCheckpoint(
    const std::filesystem::path& data_dir) {
  std::string path = CheckpointPath(data_dir);
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::optional<CheckpointFile>();
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return absl::InternalError(absl::StrCat("read ", path, " failed"));
  ASSIGN_OR_RETURN(CheckpointFile cp, ParseCheckpoint(text, path));
  return std::optional<CheckpointFile>(std::move(cp));
}

}  // namespace

// CHECKPOINT is JSON with a CRC32C of the body on its last line, so bit rot is detected.
absl::StatusOr<CheckpointFile> ParseCheckpoint(std::string_view text, std::string_view path) {
  size_t nl = text.rfind("\ncrc32c ");
  uint32_t crc = 0;
  if (nl == std::string::npos || !absl::SimpleAtoi(AbslView(text.substr(nl + 8)), &crc) ||
      wal::Crc32c(text.data(), nl) != crc) {
    return absl::DataLossError(absl::StrCat(AbslView(path), ": checksum mismatch; refusing to start"));
  }
  const std::string_view body = text.substr(0, nl);
  nlohmann::json j = nlohmann::json::parse(body.begin(), body.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(absl::StrCat(AbslView(path), ": not a JSON object"));
  }
  // Reuse the snapshot manifest parser for the namespace list: same shape.
  int64_t time_micros = 0;
  if (auto t = j.find("time_micros"); t != j.end()) {
    if (!t->is_number_integer()) {
      return absl::DataLossError(absl::StrCat(AbslView(path), ": time_micros: not an integer"));
    }
    time_micros = t->get<int64_t>();
  }
  j["format_version"] = kSnapshotFormatVersion;
  j["name"] = "checkpoint";
  j["parts"] = nlohmann::json::array();
  j["create_micros"] = time_micros;
  absl::StatusOr<SnapshotManifest> m =
      ManifestFromJson(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (!m.ok()) {
    return absl::DataLossError(absl::StrCat(AbslView(path), ": ", m.status().message()));
  }
  CheckpointFile cp;
  cp.seq = m->sequence;
  cp.time_micros = m->create_micros;
  cp.namespaces = std::move(m->namespaces);
  return cp;
}

absl::StatusOr<std::shared_ptr<NamespaceStore>> Engine::OpenNamespace(const NamespaceState& state,
                                                                      bool fresh) {
  std::filesystem::path dir = NamespaceDir(options_.data_dir, state.id, state.generation);
  if (fresh) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);  // debris of a create that never reached a checkpoint
  } else {
    std::error_code ec;
    const bool present = std::filesystem::exists(dir, ec);
    if (ec) return absl::InternalError(absl::StrCat("stat ", dir.string(), ": ", ec.message()));
    if (!present) {
      return absl::DataLossError(
          absl::StrCat("namespace ", state.config.name(), ": directory ", dir.string(),
                       " listed in the checkpoint is missing; refusing to start"));
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<NamespaceStore> ns,
                   NamespaceStore::Open(dir, state, &options_.limits, options_.arena_msync));
  return std::shared_ptr<NamespaceStore>(std::move(ns));
}

absl::Status Engine::OpenLog(wal::RecoveredTail tail) {
  wal::LogWriter::Options lopts;
  lopts.dir = options_.data_dir / "wal";
  lopts.segment_bytes = options_.wal_segment_bytes;
  lopts.file_system = options_.wal_file_system;
  ASSIGN_OR_RETURN(log_, wal::LogWriter::Open(lopts, last_seq_ + 1, std::move(tail)));
  return absl::OkStatus();
}

absl::Status Engine::Recover() {
  std::error_code ec;
  std::filesystem::create_directories(options_.data_dir / "ns", ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("create ", options_.data_dir.string(), ": ", ec.message()));
  }
  std::filesystem::create_directories(snapshot_dir_, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("create ", snapshot_dir_.string(), ": ", ec.message()));
  }

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
  RETURN_IF_ERROR(OpenLog(rec.tail));
  log_bytes_at_checkpoint_ = 0;
  stat_log_bytes_ = log_->bytes();
  stat_checkpoint_seq_ = checkpoint_seq_;

  // Directories of namespaces that no longer exist (deleted before a checkpoint).
  absl::flat_hash_map<std::string, bool> live;
  for (const auto& [name, ns] : writer_registry_) live[ns->dir().filename().string()] = true;
  const std::filesystem::path ns_dir = options_.data_dir / "ns";
  for (std::filesystem::directory_iterator it(ns_dir, ec), end; it != end; it.increment(ec)) {
    if (!live.contains(it->path().filename().string())) {
      // Only after a checkpoint that no longer lists them; until then they are replay input.
      pending_removal_.push_back(it->path());
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("list ", ns_dir.string(), ": ", ec.message()));
  for (auto& [name, ns] : writer_registry_) ns->PublishApplied();
  PublishRegistry();
  visible_seq_.store(last_seq_, std::memory_order_release);
  if (rec.records_applied > 0) {
    spdlog::info("recovery replayed {} log records after checkpoint {}", rec.records_applied,
                 checkpoint_seq_);
    // Bounds the next recovery. On a full disk the store still starts (and serves reads); the
    // log it would have cut stays, and the next checkpoint covers it.
    if (absl::Status s = CheckpointLocked(); !s.ok()) {
      if (!IsOutOfSpace(s)) return s;
      spdlog::warn("checkpoint after recovery skipped, the data directory is full: {}",
                   std::string(s.message()));
    }
  } else if (!pending_removal_.empty()) {
    if (absl::Status s = CheckpointLocked(); !s.ok()) {
      if (!IsOutOfSpace(s)) return s;
      spdlog::warn("checkpoint after recovery skipped, the data directory is full: {}",
                   std::string(s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status Engine::ReplayEntry(uint64_t seq, std::string_view payload) {
  v1::LogEntry entry;
  if (!entry.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError(
        absl::StrCat("write-ahead log record ", seq, " does not parse; refusing to start"));
  }
  auto fail = [&](const absl::Status& s) {
    return absl::DataLossError(absl::StrCat("write-ahead log record ", seq, " does not apply (",
                                            s.ToString(), "); refusing to start"));
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
      if (it == writer_registry_.end()) {
        return fail(status::NamespaceNotFound(entry.write().namespace_()));
      }
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
  RETURN_IF_ERROR(
      vector::WriteFileAtomically(CheckpointPath(options_.data_dir), text.data(), text.size()));
  stat_last_checkpoint_micros_.store(m.create_micros);
  return absl::OkStatus();
}

absl::Status Engine::CheckpointLocked(bool persist_derived, bool* file_written) {
  if (file_written != nullptr) *file_written = false;
  const absl::Time start = absl::Now();
  RETURN_IF_ERROR(log_->Sync());
  log_dirty_ = false;
  // Pages written back behind the writer are on disk (or their failure is known) before FlushData
  // reports what is durable.
  write_behind_->Drain();
  std::vector<NamespaceState> states;
  for (auto& [name, ns] : writer_registry_) {
    ASSIGN_OR_RETURN(NamespaceState s, ns->FlushData());
    states.push_back(std::move(s));
  }
  const absl::Time data_flushed = absl::Now();
  std::sort(states.begin(), states.end(), [](auto& a, auto& b) { return a.id < b.id; });
  RETURN_IF_ERROR(WriteCheckpointFile(last_seq_, states));
  if (file_written != nullptr) *file_written = true;
  const absl::Time file_done = absl::Now();
  {
    IndexerPause step_aside(this);
    for (auto& [name, ns] : writer_registry_) RETURN_IF_ERROR(ns->CheckpointIndex());
  }
  const absl::Time graphs_done = absl::Now();
  if (checkpoint_seconds_ != nullptr) {
    checkpoint_seconds_->Observe(absl::ToDoubleSeconds(graphs_done - start));
  }
  CountWriterTime(kCheckpoint, absl::ToChronoNanoseconds(graphs_done - start));
  // What a checkpoint held the writer for, by part (the data part is what write-behind left).
  spdlog::info("checkpoint at sequence {}: data {:.1f} ms, file {:.1f} ms, graphs {:.1f} ms", last_seq_,
               absl::ToDoubleMilliseconds(data_flushed - start),
               absl::ToDoubleMilliseconds(file_done - data_flushed),
               absl::ToDoubleMilliseconds(graphs_done - file_done));
  // Cut after CHECKPOINT is durable, so the file never covers arena bytes the checkpoint does not;
  // encoded and written on derived_writer_ while writes go on. It is a cache: failing to write it
  // (a full disk) leaves the older one, which stays valid.
  for (auto& [name, ns] : writer_registry_) {
    if (std::optional<NamespaceStore::DerivedCut> cut = ns->CutDerived(persist_derived)) {
      derived_writer_->Post([ns = ns, cut = *std::move(cut)] {
        if (absl::Status s = ns->WriteDerived(cut); !s.ok()) {
          spdlog::warn("namespace {}: derived state not persisted: {}", ns->name(), s.ToString());
        }
      });
    }
  }
  checkpoint_seq_ = last_seq_;
  stat_checkpoint_seq_.store(last_seq_);
  RETURN_IF_ERROR(log_->RemoveSegmentsBefore(last_seq_ + 1));
  stat_log_bytes_.store(log_->bytes());
  // A snapshot may be copying a directory that is no longer listed: the next checkpoint after it
  // removes it.
  if (snapshots_copying_.load() == 0) {
    for (const auto& dir : pending_removal_) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);  // mappings held by readers stay valid after unlink
      if (ec) spdlog::warn("could not remove {}: {}", dir.string(), ec.message());
    }
    pending_removal_.clear();
  }
  if (checkpoints_ != nullptr) checkpoints_->Increment();
  return absl::OkStatus();
}

}  // namespace engram::storage
