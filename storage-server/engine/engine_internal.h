// Engine internals shared by its units (engine.cc, engine_writer.cc, engine_recovery.cc,
// engine_snapshot.cc): the writer queue's request and the namespace directory layout. Not for
// code outside the engine.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <latch>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engram/storage/v1/storage.pb.h"
#include "engram/storage/v1/storage_log.pb.h"
#include "storage-server/engine/engine.h"

namespace engram::storage {

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

// The CHECKPOINT file: the log position it covers, when, and the namespaces then.
struct CheckpointFile {
  uint64_t seq = 0;
  int64_t time_micros = 0;
  std::vector<NamespaceState> namespaces;
};

// Parses the text of a CHECKPOINT file (`path` names it in errors): DATA_LOSS for a checksum
// mismatch or anything malformed (the server must not start on it). Never throws.
absl::StatusOr<CheckpointFile> ParseCheckpoint(std::string_view text, std::string_view path);

// ns/<id>: the directory of one namespace incarnation.
inline std::filesystem::path NamespaceDir(const std::filesystem::path& data_dir, uint64_t id) {
  return data_dir / "ns" / std::to_string(id);
}

}  // namespace engram::storage
