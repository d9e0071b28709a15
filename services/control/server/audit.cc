#include "services/control/server/audit.h"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <deque>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status/grpc_status.h"
#include "common/status/status_macros.h"
#include "grpcpp/client_context.h"

namespace engram::control {

namespace sv1 = storage::v1;

namespace {

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
}

std::string Attr(const sv1::Concept& c, const std::string& key) {
  auto it = c.attributes().find(key);
  return it == c.attributes().end() ? std::string() : it->second;
}

}  // namespace

nlohmann::json AuditEntry::ToJson() const {
  return {{"time", absl::FormatTime(absl::RFC3339_full, time, absl::UTCTimeZone())},
          {"keyName", key_name},
          {"action", action},
          {"target", target},
          {"result", result},
          {"correlationId", correlation_id},
          {"client", client}};
}

AuditLog::AuditLog(sv1::Storage::StubInterface* storage, Options options)
    : storage_(storage), options_(std::move(options)) {}

absl::Status AuditLog::EnsureNamespace() {
  grpc::ClientContext context;
  SetDeadline(context, options_.timeout);
  sv1::CreateNamespaceRequest request;
  request.mutable_config()->set_name(options_.ns);
  request.mutable_config()->set_dimension(1);  // entries carry no vectors
  request.mutable_config()->set_embedder("none");
  sv1::NamespaceInfo info;
  const grpc::Status s = storage_->CreateNamespace(&context, request, &info);
  if (s.ok() || s.error_code() == grpc::StatusCode::ALREADY_EXISTS) return absl::OkStatus();
  return status::FromGrpcStatus(s);
}

absl::Status AuditLog::Record(AuditEntry entry) {
  if (entry.time == absl::InfinitePast()) entry.time = absl::Now();
  unsigned char random[6];
  RAND_bytes(random, sizeof(random));
  sv1::WriteRequest request;
  request.set_namespace_(options_.ns);
  sv1::Concept* c = request.add_mutations()->mutable_put_concept();
  // Ids sort by time; the random suffix keeps two entries of one microsecond apart.
  c->set_id(!entry.id.empty()
                ? entry.id
                : absl::StrCat(absl::FormatTime("%Y%m%dT%H%M%E6SZ", entry.time, absl::UTCTimeZone()),
                               "-",
                               absl::BytesToHexString(absl::string_view(
                                   reinterpret_cast<char*>(random), sizeof(random)))));
  c->set_content(absl::StrCat(entry.action, " ", entry.target, ": ", entry.result));
  auto& a = *c->mutable_attributes();
  a["time_us"] = absl::StrCat(absl::ToUnixMicros(entry.time));
  a["key"] = entry.key_name;
  a["action"] = entry.action;
  a["target"] = entry.target.substr(0, 4096);
  a["result"] = entry.result.substr(0, 4096);
  a["correlation_id"] = entry.correlation_id;
  a["client"] = entry.client;
  for (int attempt = 0; attempt < 2; ++attempt) {
    grpc::ClientContext context;
    SetDeadline(context, options_.timeout);
    sv1::WriteResponse response;
    const grpc::Status s = storage_->Write(&context, request, &response);
    if (s.ok()) return absl::OkStatus();
    if (s.error_code() != grpc::StatusCode::NOT_FOUND || attempt > 0) return status::FromGrpcStatus(s);
    if (absl::Status created = EnsureNamespace(); !created.ok()) return created;
  }
  return absl::InternalError("unreachable");
}

absl::StatusOr<std::vector<AuditEntry>> AuditLog::List(const AuditQuery& query) const {
  const size_t limit = std::clamp<size_t>(query.limit, 1, 1000);
  std::deque<AuditEntry> newest;  // the last `limit` matches in write order
  std::string token;
  do {
    grpc::ClientContext context;
    SetDeadline(context, options_.timeout);
    sv1::ScanRequest request;
    request.set_namespace_(options_.ns);
    request.set_page_size(1000);
    request.set_page_token(token);
    sv1::ScanResponse response;
    const grpc::Status s = storage_->Scan(&context, request, &response);
    if (s.error_code() == grpc::StatusCode::NOT_FOUND && token.empty()) return std::vector<AuditEntry>{};
    if (!s.ok()) return status::FromGrpcStatus(s);
    for (const sv1::Concept& c : response.concepts()) {
      AuditEntry e;
      e.id = c.id();
      int64_t micros = 0;
      if (!absl::SimpleAtoi(Attr(c, "time_us"), &micros)) continue;
      e.time = absl::FromUnixMicros(micros);
      e.key_name = Attr(c, "key");
      e.action = Attr(c, "action");
      e.target = Attr(c, "target");
      e.result = Attr(c, "result");
      e.correlation_id = Attr(c, "correlation_id");
      e.client = Attr(c, "client");
      if (!query.action.empty() && e.action != query.action) continue;
      if (!query.text.empty()) {
        const std::string needle = absl::AsciiStrToLower(query.text);
        const std::string haystack = absl::AsciiStrToLower(
            absl::StrCat(e.key_name, "\n", e.target, "\n", e.result, "\n", e.action, "\n", e.client));
        if (!absl::StrContains(haystack, needle)) continue;
      }
      newest.push_back(std::move(e));
      if (newest.size() > limit) newest.pop_front();
    }
    token = response.next_page_token();
  } while (!token.empty());
  std::vector<AuditEntry> out(newest.rbegin(), newest.rend());
  std::stable_sort(out.begin(), out.end(),
                   [](const AuditEntry& a, const AuditEntry& b) { return a.time > b.time; });
  return out;
}

absl::StatusOr<std::vector<AuditEntry>> AuditLog::SetAsideForRestore() {
  sv1::ListNamespacesResponse namespaces;
  {
    grpc::ClientContext context;
    SetDeadline(context, options_.timeout);
    const grpc::Status s = storage_->ListNamespaces(&context, sv1::ListNamespacesRequest(), &namespaces);
    if (!s.ok()) return status::FromGrpcStatus(s);
  }
  bool has_log = false;
  for (const sv1::NamespaceInfo& info : namespaces.namespaces()) {
    if (info.config().name() == options_.ns) {
      has_log = info.concept_count() > 0;
    } else if (info.concept_count() > 0 || info.association_count() > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("restore needs an empty server; namespace '", info.config().name(),
                       "' holds data (delete it or use a fresh engram-storage)"));
    }
  }
  if (!has_log) return std::vector<AuditEntry>{};
  ASSIGN_OR_RETURN(std::vector<AuditEntry> entries, List({.limit = 1000}));
  std::reverse(entries.begin(), entries.end());  // oldest first
  grpc::ClientContext context;
  SetDeadline(context, options_.timeout);
  sv1::DeleteNamespaceRequest request;
  request.set_name(options_.ns);
  sv1::DeleteNamespaceResponse response;
  const grpc::Status s = storage_->DeleteNamespace(&context, request, &response);
  if (!s.ok()) return status::FromGrpcStatus(s);
  return entries;
}

}  // namespace engram::control
