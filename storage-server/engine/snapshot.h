// Snapshot archives: one file holding a point-in-time image of the store.
//
// Format: a POSIX ustar archive (inspect it with `tar tvf`) whose entries are
//   ns/<id>/<file>   the namespace files, in order; trailing zero bytes are not stored
//   MANIFEST.json    last: {"format_version": 1, "name", "sequence" (log position), "create_micros",
//                     "namespaces": [{id, name, config, arena_end, slot_count, create_micros}],
//                     "parts": [{"path", "size" (file size to restore), "stored" (bytes in the
//                     archive), "sha256"}]}
// Restoring verifies every part's SHA-256 and the manifest before anything is installed.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage-server/engine/namespace_store.h"

namespace engram::storage {

inline constexpr int kSnapshotFormatVersion = 1;

struct SnapshotPart {
  std::string path;  // relative, e.g. "ns/7/records.000000"
  uint64_t size = 0;
  uint64_t stored = 0;
  std::string sha256;
};

struct SnapshotManifest {
  int format_version = kSnapshotFormatVersion;
  std::string name;
  uint64_t sequence = 0;
  int64_t create_micros = 0;
  std::vector<NamespaceState> namespaces;
  std::vector<SnapshotPart> parts;
};

std::string ManifestToJson(const SnapshotManifest& m);
// Errors: DATA_LOSS naming the field ("snapshot manifest: parts[2].size: not an unsigned
// integer") for anything but the expected members with their types and ranges;
// FAILED_PRECONDITION for another format_version. Never throws.
absl::StatusOr<SnapshotManifest> ManifestFromJson(std::string_view json);

// Writes an archive. Not thread-safe.
class ArchiveWriter {
 public:
  static absl::StatusOr<std::unique_ptr<ArchiveWriter>> Create(const std::filesystem::path& path);
  ~ArchiveWriter();
  // Adds `source` under `archive_path`, storing its bytes up to the last non-zero byte.
  absl::Status AddFile(const std::string& archive_path, const std::filesystem::path& source);
  // Appends the manifest (parts filled in from the files added), fsyncs, and returns the SHA-256
  // of the whole archive.
  absl::StatusOr<std::string> Finish(SnapshotManifest manifest);
  uint64_t bytes_written() const { return offset_; }

 private:
  ArchiveWriter() = default;
  absl::Status WriteEntry(const std::string& name, uint64_t size);
  absl::Status Write(const void* data, size_t n);

  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  uint64_t offset_ = 0;
  std::vector<SnapshotPart> parts_;
  void* archive_sha_ = nullptr;  // crypto::Sha256
};

// Reads only the manifest (walking the entry headers).
absl::StatusOr<SnapshotManifest> ReadManifest(const std::filesystem::path& archive);

// The restored size the manifest may claim when the caller names no cap (Limits::
// max_snapshot_bytes in the engine).
inline constexpr uint64_t kDefaultMaxSnapshotBytes = uint64_t{64} << 30;

// Extracts every part into `staging_dir` (files extended to their full size, then fsynced, and
// the directories created fsynced), verifying each part's SHA-256 against the manifest. The
// archive is untrusted (uploaded by a client): DataLoss names the part on any mismatch, a part
// stored twice or missing, or a manifest listing a path twice; RESOURCE_EXHAUSTED names the part
// ("parts[3].size") when the parts' sizes total more than `max_restored_bytes`, before anything
// is written.
absl::StatusOr<SnapshotManifest> ExtractVerified(const std::filesystem::path& archive,
                                                 const std::filesystem::path& staging_dir,
                                                 uint64_t max_restored_bytes = kDefaultMaxSnapshotBytes);

// Writes an archive uploaded by a client to a staging file, refusing it once it grows past a cap.
// Not thread-safe. Usage:
//   ASSIGN_OR_RETURN(auto staged, StagedUpload::Create(path, limits.max_snapshot_bytes));
//   while (reader->Read(&chunk)) RETURN_IF_ERROR(staged->Append(chunk.data()));
//   RETURN_IF_ERROR(staged->Finish());   // fsynced: now it may be used
// The file itself is the caller's to remove; the destructor only closes it.
class StagedUpload {
 public:
  static absl::StatusOr<std::unique_ptr<StagedUpload>> Create(const std::filesystem::path& path,
                                                              uint64_t max_bytes);
  ~StagedUpload();
  StagedUpload(const StagedUpload&) = delete;
  StagedUpload& operator=(const StagedUpload&) = delete;

  // RESOURCE_EXHAUSTED "snapshot upload: more than <max> bytes (max_snapshot_bytes)" once the
  // total passes the cap (nothing more is written); write errors with the path (ENOSPC as
  // RESOURCE_EXHAUSTED).
  absl::Status Append(std::string_view data);
  // fsyncs and closes the file: what is used after this is on disk.
  absl::Status Finish();
  uint64_t bytes() const { return bytes_; }

 private:
  StagedUpload(std::filesystem::path path, uint64_t max_bytes, int fd)
      : path_(std::move(path)), max_bytes_(max_bytes), fd_(fd) {}

  const std::filesystem::path path_;
  const uint64_t max_bytes_;
  int fd_;
  uint64_t bytes_ = 0;
};

// SHA-256 (hex) of a whole file.
absl::StatusOr<std::string> Sha256File(const std::filesystem::path& path);

}  // namespace engram::storage
