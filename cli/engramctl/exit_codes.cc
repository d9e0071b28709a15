#include "cli/engramctl/exit_codes.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "cli/engramctl/flag_parser.h"

namespace engram::cli {
namespace {
constexpr char kCorrelationPayloadUrl[] = "type.engram.dev/engramctl.CorrelationId";
}  // namespace

int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  if (IsUsageError(status)) return kExitUsage;
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return kExitAuth;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
      return kExitRejected;
    case absl::StatusCode::kResourceExhausted:
      return kExitResourceExhausted;
    default:
      return kExitOther;
  }
}

void SetCorrelationId(absl::Status* status, absl::string_view correlation_id) {
  if (status->ok() || correlation_id.empty()) return;
  status->SetPayload(kCorrelationPayloadUrl, absl::Cord(correlation_id));
}

std::string CorrelationIdOf(const absl::Status& status) {
  auto payload = status.GetPayload(kCorrelationPayloadUrl);
  return payload.has_value() ? std::string(*payload) : std::string();
}

std::string FormatError(const absl::Status& status) {
  if (IsUsageError(status)) {
    return absl::StrCat("engramctl: ", status.message(), " (run 'engramctl help' for usage)");
  }
  std::string line =
      absl::StrCat("engramctl: ", absl::StatusCodeToString(status.code()), ": ", status.message());
  if (std::string id = CorrelationIdOf(status); !id.empty()) {
    absl::StrAppend(&line, " (correlation id ", id, ")");
  }
  return line;
}

}  // namespace engram::cli
