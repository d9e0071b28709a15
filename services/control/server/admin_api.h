// AdminApi: the operations behind engram-control's admin API (docs/control.md), over
// engram-storage and engram-hybrid. Transport-agnostic: JSON values in and out, absl::Status
// errors (INVALID_ARGUMENT names the field); the HTTP adapter (control_server.cc) maps them.
// Downstream errors keep the downstream message; every call carries the calling thread's
// correlation id and a deadline.
//
// Thread-safety: thread-safe; the stubs are not owned and must outlive the object.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engram/hybrid/v1/hybrid.grpc.pb.h"
#include "engram/storage/v1/storage.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace engram::control {

using nlohmann::json;

struct AdminApiOptions {
  absl::Duration timeout = absl::Seconds(30);           // data calls
  absl::Duration snapshot_timeout = absl::Hours(1);     // create, download, restore
  std::string audit_namespace = "_engram_audit";        // may not be deleted from the UI
};

class AdminApi {
 public:
  AdminApi(storage::v1::Storage::StubInterface* storage, hybrid::v1::Hybrid::StubInterface* hybrid,
           AdminApiOptions options);

  // Each namespace as storage sees it: config, counts, data and reclaimable bytes, generation and
  // compaction state ({"state":"IDLE"|"QUEUED"|"RUNNING","last":null|{...}}).
  absl::StatusOr<json> ListNamespaces();
  absl::StatusOr<json> CreateNamespace(const json& body);
  // `body` must be {"confirm": "<ns>"}.
  absl::Status DeleteNamespace(const std::string& ns, const json& body);
  // Queues an online compaction of `ns` (storage's CompactNamespace) and returns the namespace as
  // ListNamespaces shows it (compaction QUEUED or RUNNING). `body` must be empty or {}.
  absl::StatusOr<json> CompactNamespace(const std::string& ns, const json& body);

  // query: pageSize, pageToken, filter ("k=v,k2=v2").
  absl::StatusOr<json> ListConcepts(const std::string& ns, const std::map<std::string, std::string>& query);
  absl::StatusOr<json> GetConcept(const std::string& ns, const std::string& id);
  absl::Status DeleteConcept(const std::string& ns, const std::string& id);
  absl::StatusOr<json> Search(const std::string& ns, const json& body);
  // query: limit, types ("SEMANTIC,CAUSAL"), direction (OUT|IN|BOTH).
  absl::StatusOr<json> Neighbors(const std::string& ns, const std::string& id,
                                 const std::map<std::string, std::string>& query);
  absl::StatusOr<json> Paths(const std::string& ns, const json& body);
  absl::StatusOr<json> Reason(const std::string& ns, const json& body);
  // Raw stats for the overview (GetStats).
  absl::StatusOr<json> Stats();

  absl::StatusOr<json> ListSnapshots();
  absl::StatusOr<json> CreateSnapshot();
  absl::Status DeleteSnapshot(const std::string& name);
  // The listing entry of one snapshot (size and SHA-256 for the download headers); NOT_FOUND.
  absl::StatusOr<storage::v1::SnapshotInfo> FindSnapshot(const std::string& name);
  // Streams the archive to `sink` piece by piece while hashing it; DATA_LOSS when the bytes do
  // not match the listed size and SHA-256 (the caller must then abort what it sent). A sink error
  // cancels the download and is returned.
  absl::Status DownloadSnapshot(const storage::v1::SnapshotInfo& info,
                                const std::function<absl::Status(std::string_view)>& sink);
  // Streams an archive from `source` (returns "" at the end) into storage's RestoreSnapshot.
  absl::StatusOr<json> RestoreSnapshot(const std::function<absl::StatusOr<std::string>()>& source);

 private:
  json NamespaceJson(const storage::v1::NamespaceInfo& info) const;

  storage::v1::Storage::StubInterface* const storage_;
  hybrid::v1::Hybrid::StubInterface* const hybrid_;
  const AdminApiOptions options_;
};

// Proto -> JSON value (lowerCamelCase names, enums by name, default values printed), with
// storage's "node" fields renamed "concept" as the admin API documents.
json ToJson(const google::protobuf::Message& message);
// JSON value -> proto; INVALID_ARGUMENT with the parser's message (it names the field).
absl::Status FromJson(const json& value, google::protobuf::Message* message);

}  // namespace engram::control
