// Engine internals shared by its units (engine.cc, engine_writer.cc, engine_recovery.cc,
// engine_snapshot.cc): the writer queue's request and the namespace directory layout. Not for
// code outside the engine.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <latch>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engram/storage/v1/storage.pb.h"
#include "engram/storage/v1/storage_log.pb.h"
#include "storage-server/engine/engine.h"
#include "storage-server/engine/job_queue.h"

namespace engram::storage {

// How the writer says an op is finished (status/response final): it wakes the submitter blocked
// in wait(), or, when a callback is set (WriteAsync), runs it instead: the callback owns the op
// from then on. Either way the writer must not touch the op after count_down().
class OpDone {
 public:
  // Before the op is queued.
  void SetCallback(absl::AnyInvocable<void() &&> callback) { callback_ = std::move(callback); }
  void count_down() {
    if (callback_) {
      // Moved out first: the callback deletes the op, and with it *this.
      absl::AnyInvocable<void() &&> callback = std::move(callback_);
      std::move(callback)();
      return;
    }
    latch_.count_down();
  }
  void wait() { latch_.wait(); }

 private:
  absl::AnyInvocable<void() &&> callback_;
  std::latch latch_{1};
};

// A queued request for the writer thread.
struct Engine::Op {
  v1::LogEntry entry;                     // data ops: what to apply and log
  // Writes: entry.write().ByteSizeLong(), computed by the caller's thread (it also caches the
  // nested sizes the writer's serialization uses). 0: the writer sizes the entry itself.
  size_t write_bytes = 0;
  uint64_t expected_namespace_id = 0;     // writes: the namespace incarnation validated against
  std::function<absl::Status()> control;  // control ops: run on the writer thread between groups
  OpDone done;  // counted down by the writer when status/response are final
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

// ns/<id>: the directory of one namespace incarnation; ns/<id>.<generation> once compacted.
inline std::filesystem::path NamespaceDir(const std::filesystem::path& data_dir, uint64_t id,
                                          uint32_t generation = 0) {
  std::string name = std::to_string(id);
  if (generation != 0) name += "." + std::to_string(generation);
  return data_dir / "ns" / name;
}

}  // namespace engram::storage
