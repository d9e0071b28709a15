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
#include <string>
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
absl::StatusOr<SnapshotManifest> ManifestFromJson(const std::string& json);

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

// Extracts every part into `staging_dir` (files extended to their full size), verifying each
// part's SHA-256 against the manifest. DataLoss names the part on any mismatch.
absl::StatusOr<SnapshotManifest> ExtractVerified(const std::filesystem::path& archive,
                                                 const std::filesystem::path& staging_dir);

// SHA-256 (hex) of a whole file.
absl::StatusOr<std::string> Sha256File(const std::filesystem::path& path);

}  // namespace engram::storage
