// Engine snapshots: cutting a consistent archive of every namespace while writes continue,
// listing and deleting archives, and restoring one into an empty store (see snapshot.h for the
// archive format).
#include <algorithm>
#include <cctype>
#include <fstream>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "spdlog/spdlog.h"
#include "storage-server/engine/engine.h"
#include "storage-server/engine/engine_internal.h"
#include "storage-server/engine/snapshot.h"
#include "storage-server/io/out_of_space.h"
#include "storage-server/vector/record_array.h"

namespace engram::storage {

namespace {

absl::Status ValidateSnapshotName(const std::string& name) {
  if (name.empty()) return InvalidField("name", "required");
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return InvalidField("name", "must match [A-Za-z0-9_.-]+");
    }
  }
  if (name.find("..") != std::string::npos) return InvalidField("name", "must not contain '..'");
  return absl::OkStatus();
}

v1::SnapshotInfo InfoOf(const SnapshotManifest& manifest, uint64_t size_bytes, std::string sha256) {
  v1::SnapshotInfo info;
  info.set_name(manifest.name);
  info.set_sequence(manifest.sequence);
  *info.mutable_create_time() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(manifest.create_micros);
  info.set_size_bytes(size_bytes);
  for (const auto& s : manifest.namespaces) info.add_namespaces(s.config.name());
  info.set_sha256(std::move(sha256));
  return info;
}

bool HoldsData(const NamespaceStore& ns) {
  return ns.concept_count() > 0 || ns.association_count() > 0;
}

// The archive path of every namespace file: ns/<id>/<file name>.
std::string ArchiveName(const NamespaceStore& ns, const std::filesystem::path& file) {
  return absl::StrCat("ns/", ns.id(), "/", file.filename().string());
}

}  // namespace

absl::StatusOr<v1::SnapshotInfo> Engine::CreateSnapshot() {
  sync::MutexLock one_at_a_time(&snapshot_mu_);
  std::vector<std::filesystem::path> created;
  DiskDir where = DiskDir::kSnapshots;
  absl::StatusOr<v1::SnapshotInfo> info = WriteSnapshot(&created, &where);
  if (info.ok()) {
    NoteDiskRoom(DiskDir::kSnapshots);
    return info;
  }
  for (const auto& path : created) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    if (ec) {
      spdlog::error("snapshot failed and {} could not be removed: {}", path.string(), ec.message());
    }
  }
  if (!IsOutOfSpace(info.status())) return info.status();
  absl::Status refused = DirectoryFull(where, info.status());
  if (where == DiskDir::kSnapshots) {
    NoteDiskFull(where, refused, 1);
  } else {
    spdlog::error("snapshot refused: {}", std::string(refused.message()));
  }
  return refused;
}

absl::StatusOr<v1::SnapshotInfo> Engine::WriteSnapshot(std::vector<std::filesystem::path>* created,
                                                       DiskDir* where) {
  // Before the cut: a namespace deleted or compacted after it keeps its directory until this
  // snapshot has copied it.
  snapshots_copying_.fetch_add(1);
  absl::Cleanup copied = [this] { snapshots_copying_.fetch_sub(1); };
  const int64_t now = Now();
  SnapshotManifest manifest;
  std::vector<std::shared_ptr<NamespaceStore>> stores;
  std::filesystem::path partial;
  std::unique_ptr<ArchiveWriter> writer;
  {
    // Pause the indexer so each graph is at rest and covers only slots inside the cut.
    IndexerPause step_aside(this);
    sync::MutexLock pause(&indexer_mu_);
    RETURN_IF_ERROR(RunOnWriter([&] {
      manifest.sequence = last_seq_;
      for (const auto& [name, ns] : writer_registry_) {
        ASSIGN_OR_RETURN(NamespaceState state, ns->CutState());
        state.generation = 0;  // the archive holds every namespace as ns/<id>/ (ArchiveName)
        manifest.namespaces.push_back(std::move(state));
        stores.push_back(ns);
      }
      return absl::OkStatus();
    }));
    manifest.name = absl::StrFormat(
        "snap-%s-%012d",
        absl::FormatTime("%Y%m%dT%H%M%SZ", absl::FromUnixMicros(now), absl::UTCTimeZone()),
        manifest.sequence);
    manifest.create_micros = now;
    partial = snapshot_dir_ / (manifest.name + ".tar.partial");
    created->push_back(partial);
    ASSIGN_OR_RETURN(writer, ArchiveWriter::Create(partial));
    for (const auto& ns : stores) {
      sync::MutexLock index_lock(&ns->index_mutex());
      *where = DiskDir::kData;  // the graph's files are written in the data directory
      RETURN_IF_ERROR(ns->CheckpointIndexLocked());
      *where = DiskDir::kSnapshots;
      for (const auto& file : ns->IndexFiles()) {
        RETURN_IF_ERROR(writer->AddFile(ArchiveName(*ns, file), file));
      }
    }
  }
  // Arena bytes below the cut and vector slots below the cut never change: copy them while
  // writes continue.
  for (const auto& ns : stores) {
    for (const auto& file : ns->DataFiles()) {
      RETURN_IF_ERROR(writer->AddFile(ArchiveName(*ns, file), file));
    }
  }
  std::sort(manifest.namespaces.begin(), manifest.namespaces.end(),
            [](auto& a, auto& b) { return a.id < b.id; });
  ASSIGN_OR_RETURN(std::string sha, writer->Finish(manifest));
  uint64_t size = writer->bytes_written();
  writer.reset();
  // The checksum file first: once the archive has its final name, nothing can fail any more.
  const std::filesystem::path sha_path = snapshot_dir_ / (manifest.name + ".tar.sha256");
  if (!std::filesystem::exists(sha_path)) created->push_back(sha_path);
  created->push_back(std::filesystem::path(sha_path.string() + ".tmp"));
  const std::string sha_line = absl::StrCat(sha, "  ", manifest.name, ".tar\n");
  RETURN_IF_ERROR(vector::WriteFileAtomically(sha_path, sha_line.data(), sha_line.size()));
  std::filesystem::path final_path = snapshot_dir_ / (manifest.name + ".tar");
  std::error_code ec;
  std::filesystem::rename(partial, final_path, ec);
  if (ec) return absl::InternalError(absl::StrCat("rename ", partial.string(), ": ", ec.message()));
  stat_last_snapshot_micros_.store(now);
  spdlog::info("snapshot {} written: sequence {}, {} bytes", manifest.name, manifest.sequence,
               size);
  return InfoOf(manifest, size, std::move(sha));
}

absl::StatusOr<std::vector<v1::SnapshotInfo>> Engine::ListSnapshots() const {
  std::vector<v1::SnapshotInfo> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(snapshot_dir_, ec), end; it != end; it.increment(ec)) {
    const std::filesystem::directory_entry& entry = *it;
    if (entry.path().extension() != ".tar") continue;
    auto manifest = ReadManifest(entry.path());
    if (!manifest.ok()) {
      spdlog::warn("snapshot {}: {}", entry.path().string(), manifest.status().ToString());
      continue;
    }
    std::ifstream sha(entry.path().string() + ".sha256");
    std::string hex;
    sha >> hex;  // empty when the checksum file is missing
    std::error_code size_ec;
    const uint64_t size = std::filesystem::file_size(entry.path(), size_ec);
    out.push_back(InfoOf(*manifest, size_ec ? 0 : size, std::move(hex)));
  }
  if (ec) {
    return absl::InternalError(absl::StrCat("list ", snapshot_dir_.string(), ": ", ec.message()));
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name() < b.name(); });
  return out;
}

absl::StatusOr<std::filesystem::path> Engine::SnapshotPath(const std::string& name) const {
  RETURN_IF_ERROR(ValidateSnapshotName(name));
  std::filesystem::path p = snapshot_dir_ / (name + ".tar");
  std::error_code ec;
  const bool present = std::filesystem::exists(p, ec);
  if (ec) return absl::InternalError(absl::StrCat("stat ", p.string(), ": ", ec.message()));
  if (!present) {
    return absl::NotFoundError(absl::StrCat("snapshot '", name, "' not found"));
  }
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
    if (HoldsData(*ns)) {
      return absl::FailedPreconditionError(
          absl::StrCat("restore needs an empty server; namespace '", name,
                       "' holds data (delete it or use a fresh data_dir)"));
    }
  }
  std::filesystem::path staging = options_.data_dir / "restore.staging";
  std::error_code ec;
  std::filesystem::remove_all(staging, ec);
  absl::Cleanup remove_staging = [&] { std::filesystem::remove_all(staging, ec); };
  ASSIGN_OR_RETURN(SnapshotManifest manifest, ExtractVerified(archive, staging, options_.limits.max_snapshot_bytes));
  ASSIGN_OR_RETURN(std::string sha, Sha256File(archive));

  {
    IndexerPause step_aside(this);
    sync::MutexLock pause(&indexer_mu_);
    RETURN_IF_ERROR(RunOnWriter([&]() -> absl::Status {
      for (const auto& [name, ns] : writer_registry_) {
        if (HoldsData(*ns)) {
          return absl::FailedPreconditionError(
              "restore needs an empty server; data arrived meanwhile");
        }
      }
      // Install under fresh directory ids, open everything, then switch with one checkpoint.
      last_seq_ = std::max(last_seq_, manifest.sequence);
      Registry restored;
      for (NamespaceState state : manifest.namespaces) {
        uint64_t old_id = state.id;
        state.id = ++last_seq_;
        state.generation = 0;
        std::filesystem::path dst = NamespaceDir(options_.data_dir, state.id);
        std::error_code rename_ec;
        std::filesystem::rename(NamespaceDir(staging, old_id), dst, rename_ec);
        if (rename_ec) {
          return absl::InternalError(
              absl::StrCat("install ", dst.string(), ": ", rename_ec.message()));
        }
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
      RETURN_IF_ERROR(OpenLog(wal::RecoveredTail{}));
      PublishRegistry();
      visible_seq_.store(last_seq_, std::memory_order_release);
      return absl::OkStatus();
    }));
  }
  WakeIndexer();
  spdlog::info("restored snapshot {} (sequence {}), {} namespaces", manifest.name,
               manifest.sequence, manifest.namespaces.size());
  return InfoOf(manifest, std::filesystem::file_size(archive, ec), std::move(sha));
}

}  // namespace engram::storage
