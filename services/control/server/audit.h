// AuditLog: every destructive or privileged action taken through engram-control, kept durably in
// engram-storage itself (namespace "_engram_audit", one concept per entry, written with the same
// fsync-before-acknowledge as any write), so it survives a restart of every control replica and is
// part of every snapshot.
//
//   AuditLog audit(storage_stub, {.ns = "_engram_audit"});
//   audit.Record({.key_name = "ops", .action = "namespace_delete", .target = "products",
//                 .result = "ok", .correlation_id = cid, .client = "10.0.0.7"});
//   ASSIGN_OR_RETURN(std::vector<AuditEntry> newest, audit.List({.limit = 100}));
//
// Record() never throws the action away silently: a failure to write is returned (and the caller
// logs it with the entry). The key itself is never part of an entry.
// Thread-safety: thread-safe (the stub is).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engram/storage/v1/storage.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace engram::control {

struct AuditEntry {
  // Set by List(); Record() of an entry with an id writes that id again (idempotent), so entries
  // put back after a restore never duplicate the restored log's copies.
  std::string id;
  absl::Time time;
  std::string key_name;
  std::string action;  // login, login_failed, logout, namespace_create, ...
  std::string target;
  std::string result;  // "ok" or the error
  std::string correlation_id;
  std::string client;
  nlohmann::json ToJson() const;
};

struct AuditQuery {
  size_t limit = 100;  // at most 1000
  std::string action;  // exact; empty: any
  std::string text;    // substring of key, target or result; empty: any
};

class AuditLog {
 public:
  struct Options {
    std::string ns = "_engram_audit";
    absl::Duration timeout = absl::Seconds(5);
  };
  AuditLog(storage::v1::Storage::StubInterface* storage, Options options);

  // Creates the namespace when missing, then writes the entry durably.
  absl::Status Record(AuditEntry entry);
  // Newest first.
  absl::StatusOr<std::vector<AuditEntry>> List(const AuditQuery& query) const;
  // Before a restore into this server: FAILED_PRECONDITION when a namespace other than the audit
  // log holds data (the restore would be refused; nothing is touched); otherwise reads every entry
  // of the log (oldest first), deletes the log's namespace so the server is empty, and returns
  // the entries for the caller to Record() again after the restore.
  absl::StatusOr<std::vector<AuditEntry>> SetAsideForRestore();
  const std::string& ns() const { return options_.ns; }

 private:
  absl::Status EnsureNamespace();

  storage::v1::Storage::StubInterface* const storage_;
  const Options options_;
};

}  // namespace engram::control
