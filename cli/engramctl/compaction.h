// engramctl storage: engram-storage's namespaces as the storage server sees them (generation,
// reclaimable bytes, compaction state) and online compaction, for operators. Like snapshot.h, this
// talks to engram-storage's own gRPC service; the public API has no operator fields.
//
//   auto stub = engram::storage::v1::Storage::NewStub(channel);
//   CompactionCalls calls(stub.get(), {.timeout = absl::Seconds(30), .correlation_id = id});
//   ASSIGN_OR_RETURN(NamespaceInfo queued, calls.Compact("wordnet"));     // returns at once
//   CompactionWait wait{.timeout = absl::Hours(1), .now = now_fn, .sleep = sleep_fn};
//   ASSIGN_OR_RETURN(NamespaceInfo done, calls.Wait("wordnet", queued, wait));
//   RETURN_IF_ERROR(CompactionResult(done));  // the compactor's error, if it failed
//
// Which compaction Wait waits for: CompactNamespace answers while the namespace's compaction is
// QUEUED or RUNNING (a compaction already running is not queued again: the request is answered by
// it). The first IDLE seen after that answer belongs to a compaction that ended after the request;
// Wait also requires its last_end_time to differ from the one in the answer, so the decision does
// not depend on the clocks of engramctl and the server agreeing. An IDLE answer means the
// compactor finished the request before the answer was assembled.
//
// Thread-compatible.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/engramctl/snapshot.h"
#include "engram/storage/v1/storage.grpc.pb.h"

namespace engram::cli {

struct CompactionWait {
  absl::Duration poll = absl::Milliseconds(500);  // between GetNamespace calls
  absl::Duration timeout = absl::Hours(1);        // DEADLINE_EXCEEDED after this long
  std::function<absl::Time()> now;
  std::function<void(absl::Duration)> sleep;
};

class CompactionCalls {
 public:
  // Each call is bounded by options.timeout.
  CompactionCalls(storage::v1::Storage::StubInterface* stub, SnapshotCallOptions options);

  absl::StatusOr<std::vector<storage::v1::NamespaceInfo>> ListNamespaces() const;
  absl::StatusOr<storage::v1::NamespaceInfo> GetNamespace(const std::string& name) const;
  // Queues a compaction (CompactNamespace) and returns the namespace as it is then.
  absl::StatusOr<storage::v1::NamespaceInfo> Compact(const std::string& name) const;
  // Polls GetNamespace until the compaction that answered `queued` has finished (see above) and
  // returns the namespace then (its compaction status holds the result: CompactionResult).
  // DEADLINE_EXCEEDED after wait.timeout (the compaction goes on in the server); GetNamespace's
  // errors (NOT_FOUND when the namespace was deleted meanwhile) end the wait.
  absl::StatusOr<storage::v1::NamespaceInfo> Wait(const std::string& name,
                                                  const storage::v1::NamespaceInfo& queued,
                                                  const CompactionWait& wait) const;

 private:
  void Prepare(grpc::ClientContext* context) const;

  storage::v1::Storage::StubInterface* const stub_;
  const SnapshotCallOptions options_;
};

// OK when the namespace's last compaction succeeded; ABORTED with the compactor's error when it
// failed.
absl::Status CompactionResult(const storage::v1::NamespaceInfo& info);

// "812 B", "12.3 KiB", "4.0 MiB", "1.2 GiB" (binary units, one decimal).
std::string HumanBytes(uint64_t bytes);

// "idle", "queued", "running", then for the last compaction since the server started
// ", last 2026-12-04T22:10:05Z: 1.2 MiB -> 310.0 KiB, writes waited 2 ms" or
// ", last 2026-12-04T22:10:05Z: failed: <error>" (", automatic" when the trigger started it).
std::string RenderCompactionState(const storage::v1::CompactionStatus& status);

// A table: NAME CONCEPTS DATA RECLAIMABLE GEN COMPACTION, one line per namespace.
std::string RenderStorageNamespaces(const std::vector<storage::v1::NamespaceInfo>& namespaces);

// "compacted wordnet: generation 1, 12.3 MiB -> 4.1 MiB on disk, writes waited 3 ms, took 1.2 s\n"
std::string RenderCompacted(const storage::v1::NamespaceInfo& info);

}  // namespace engram::cli
