#include "cli/engramctl/compaction.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status/grpc_status.h"
#include "common/status/status_macros.h"
#include "grpcpp/client_context.h"

namespace engram::cli {
namespace {

namespace sv1 = storage::v1;

absl::Status Grpc(const char* method, const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status s = status::FromGrpcStatus(status);
  return absl::Status(s.code(), absl::StrCat("engram-storage ", method, ": ", s.message()));
}

bool IsSet(const google::protobuf::Timestamp& ts) { return ts.seconds() != 0 || ts.nanos() != 0; }

bool SameTime(const google::protobuf::Timestamp& a, const google::protobuf::Timestamp& b) {
  return a.seconds() == b.seconds() && a.nanos() == b.nanos();
}

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

std::string Utc(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", ToTime(ts), absl::UTCTimeZone());
}

std::string StateName(sv1::CompactionStatus::State state) {
  switch (state) {
    case sv1::CompactionStatus::QUEUED:
      return "queued";
    case sv1::CompactionStatus::RUNNING:
      return "running";
    default:
      return "idle";
  }
}

std::string Millis(double seconds) { return absl::StrFormat("%.0f ms", seconds * 1000); }

}  // namespace

CompactionCalls::CompactionCalls(sv1::Storage::StubInterface* stub, SnapshotCallOptions options)
    : stub_(stub), options_(std::move(options)) {}

void CompactionCalls::Prepare(grpc::ClientContext* context) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  if (!options_.correlation_id.empty()) {
    context->AddMetadata("x-correlation-id", options_.correlation_id);
  }
}

absl::StatusOr<std::vector<sv1::NamespaceInfo>> CompactionCalls::ListNamespaces() const {
  grpc::ClientContext context;
  Prepare(&context);
  sv1::ListNamespacesResponse response;
  RETURN_IF_ERROR(Grpc("ListNamespaces", stub_->ListNamespaces(&context, {}, &response)));
  return std::vector<sv1::NamespaceInfo>(response.namespaces().begin(),
                                         response.namespaces().end());
}

absl::StatusOr<sv1::NamespaceInfo> CompactionCalls::GetNamespace(const std::string& name) const {
  grpc::ClientContext context;
  Prepare(&context);
  sv1::GetNamespaceRequest request;
  request.set_name(name);
  sv1::NamespaceInfo info;
  RETURN_IF_ERROR(Grpc("GetNamespace", stub_->GetNamespace(&context, request, &info)));
  return info;
}

absl::StatusOr<sv1::NamespaceInfo> CompactionCalls::Compact(const std::string& name) const {
  grpc::ClientContext context;
  Prepare(&context);
  sv1::CompactNamespaceRequest request;
  request.set_name(name);
  sv1::NamespaceInfo info;
  RETURN_IF_ERROR(Grpc("CompactNamespace", stub_->CompactNamespace(&context, request, &info)));
  return info;
}

absl::StatusOr<sv1::NamespaceInfo> CompactionCalls::Wait(const std::string& name,
                                                         const sv1::NamespaceInfo& queued,
                                                         const CompactionWait& wait) const {
  if (queued.compaction().state() == sv1::CompactionStatus::IDLE ||
      queued.compaction().state() == sv1::CompactionStatus::STATE_UNSPECIFIED) {
    return queued;  // the compactor finished it before CompactNamespace answered
  }
  const google::protobuf::Timestamp& before = queued.compaction().last_end_time();
  const absl::Time deadline = wait.now() + wait.timeout;
  sv1::NamespaceInfo info = queued;
  while (true) {
    if (wait.now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "namespace '%s': compaction still %s after %s (--wait_timeout); it goes on in "
          "engram-storage: `engramctl storage namespaces` shows when it ends",
          name, StateName(info.compaction().state()), absl::FormatDuration(wait.timeout)));
    }
    wait.sleep(wait.poll);
    ASSIGN_OR_RETURN(info, GetNamespace(name));
    const sv1::CompactionStatus& c = info.compaction();
    if (c.state() == sv1::CompactionStatus::IDLE && IsSet(c.last_end_time()) &&
        !SameTime(c.last_end_time(), before)) {
      return info;
    }
  }
}

absl::Status CompactionResult(const sv1::NamespaceInfo& info) {
  if (info.compaction().last_error().empty()) return absl::OkStatus();
  return absl::AbortedError(absl::StrCat("compaction of namespace '", info.config().name(),
                                         "' failed: ", info.compaction().last_error()));
}

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  const char* const units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, units[unit]);
}

std::string RenderCompactionState(const sv1::CompactionStatus& status) {
  std::string out = StateName(status.state());
  if (!IsSet(status.last_end_time())) return out;
  absl::StrAppend(&out, ", last ", Utc(status.last_end_time()), ": ");
  if (!status.last_error().empty()) {
    absl::StrAppend(&out, "failed: ", status.last_error());
  } else {
    absl::StrAppend(&out, HumanBytes(status.last_bytes_before()), " -> ",
                    HumanBytes(status.last_bytes_after()), ", writes waited ",
                    Millis(status.last_switch_seconds()));
  }
  if (status.last_automatic()) absl::StrAppend(&out, ", automatic");
  return out;
}

std::string RenderStorageNamespaces(const std::vector<sv1::NamespaceInfo>& namespaces) {
  std::string out = absl::StrFormat("%-24s %10s %10s %9s %11s %11s %4s  %s\n", "NAME", "CONCEPTS",
                                    "VECTORS", "UNINDEXED", "DATA", "RECLAIMABLE", "GEN", "COMPACTION");
  for (const sv1::NamespaceInfo& ns : namespaces) {
    absl::StrAppendFormat(&out, "%-24s %10d %10d %9d %11s %11s %4d  %s\n", ns.config().name(),
                          ns.concept_count(), ns.vector_count(), ns.unindexed_vector_count(),
                          HumanBytes(ns.data_bytes()),
                          HumanBytes(ns.reclaimable_bytes()), ns.generation(),
                          RenderCompactionState(ns.compaction()));
  }
  return out;
}

std::string RenderCompacted(const sv1::NamespaceInfo& info) {
  const sv1::CompactionStatus& c = info.compaction();
  return absl::StrFormat(
      "compacted %s: generation %d, %s -> %s on disk, writes waited %s, took %s (%s reclaimable "
      "now)\n",
      info.config().name(), info.generation(), HumanBytes(c.last_bytes_before()),
      HumanBytes(c.last_bytes_after()), Millis(c.last_switch_seconds()),
      absl::FormatDuration(absl::Milliseconds(
          absl::ToInt64Milliseconds(ToTime(c.last_end_time()) - ToTime(c.last_start_time())))),
      HumanBytes(info.reclaimable_bytes()));
}

}  // namespace engram::cli
