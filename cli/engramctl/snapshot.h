// engramctl snapshot: snapshots of engram-storage, for operators (the public API has no snapshot
// methods; this talks to engram-storage's own gRPC service, reachable inside the cluster only).
//
//   auto stub = engram::storage::v1::Storage::NewStub(channel);
//   SnapshotCalls calls(stub.get(), {.timeout = absl::Minutes(30), .correlation_id = id});
//   ASSIGN_OR_RETURN(SnapshotInfo info, calls.Create());
//   ASSIGN_OR_RETURN(SnapshotInfo saved, calls.Download(info.name(), "/backups/x.tar"));
//   ASSIGN_OR_RETURN(RestoreSnapshotResponse r, calls.Restore("/backups/x.tar"));  // empty server
//
// Download writes `<path>.part`, checks the bytes' SHA-256 against the server's listing of the
// snapshot, fsyncs and renames to `path`: a file at `path` is always a whole, verified archive
// (and `<path>.sha256` holds its digest in sha256sum format). A mismatch is DATA_LOSS and removes
// the partial file. Restore streams the file in 1 MiB chunks; the server verifies the archive
// before installing anything and refuses a non-empty store (FAILED_PRECONDITION).
//
// Thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engram/storage/v1/storage.grpc.pb.h"

namespace engram::cli {

struct SnapshotCallOptions {
  absl::Duration timeout = absl::Minutes(30);  // per call (a download is one call)
  std::string correlation_id;                  // x-correlation-id; none when empty
};

class SnapshotCalls {
 public:
  SnapshotCalls(storage::v1::Storage::StubInterface* stub, SnapshotCallOptions options);

  absl::StatusOr<storage::v1::SnapshotInfo> Create() const;
  absl::StatusOr<std::vector<storage::v1::SnapshotInfo>> List() const;
  absl::Status Delete(const std::string& name) const;
  // NOT_FOUND when no snapshot has that name. Returns the snapshot's listing entry.
  absl::StatusOr<storage::v1::SnapshotInfo> Download(const std::string& name,
                                                     const std::string& path) const;
  absl::StatusOr<storage::v1::RestoreSnapshotResponse> Restore(const std::string& path) const;

 private:
  void Prepare(grpc::ClientContext* context) const;

  storage::v1::Storage::StubInterface* const stub_;
  const SnapshotCallOptions options_;
};

// "snap-…  42 MiB  seq 1234  2026-11-23T10:15:00Z  sha256 ab12…  namespaces default, wordnet"
std::string RenderSnapshot(const storage::v1::SnapshotInfo& info);

}  // namespace engram::cli
