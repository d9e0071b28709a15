// What an error means, as a typed detail that travels with the status.
//
// Code that needs to tell errors apart (is this NOT_FOUND about the namespace or a concept? which
// rate limit refused? is hybrid down, or is storage down behind it?) asks the detail, never the
// message text. The detail is an engram.common.v1.ErrorDetail stored as an absl::Status payload;
// common/status/grpc_status.h carries it across gRPC in grpc-status-details-bin, so it survives
// storage -> hybrid -> api.
//
//   return status::NamespaceNotFound(name);                      // NOT_FOUND + detail
//   if (status::HasReason(s, ErrorReason::NAMESPACE_NOT_FOUND)) ...
//   return status::WithDetail(absl::UnavailableError("..."), status::DependencyDetail("storage"));
//
// Thread-safety: free functions over values; safe from any thread.
#pragma once

#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "engram/common/v1/error.pb.h"

namespace engram::status {

using ErrorDetail = common::v1::ErrorDetail;
using ErrorReason = common::v1::ErrorDetail::Reason;

// The payload URL the detail is stored under (a protobuf type URL, as absl recommends).
inline constexpr std::string_view kErrorDetailUrl =
    "type.googleapis.com/engram.common.v1.ErrorDetail";

// `status` with `detail` attached (replacing any detail it had). OK statuses are returned as is.
absl::Status WithDetail(absl::Status status, const ErrorDetail& detail);
// The detail attached to `status`, if any (nullopt for OK, no detail, or an unparsable one).
std::optional<ErrorDetail> GetDetail(const absl::Status& status);
// True when `status` carries a detail with `reason`.
bool HasReason(const absl::Status& status, ErrorReason reason);

// Details and errors for the reasons Engram distinguishes.
ErrorDetail DependencyDetail(std::string_view dependency);
// `retry_after_seconds` is clamped to 1..3600.
ErrorDetail RateLimitedDetail(std::string_view scope, int retry_after_seconds);
ErrorDetail FieldDetail(std::string_view field);
// A request that needs more storage mutations than one atomic write holds; `field` names the
// part to send in smaller pieces (e.g. "items").
ErrorDetail WriteTooLargeDetail(std::string_view field);
absl::Status NamespaceNotFound(std::string_view name);

// The dependency named by a DEPENDENCY_UNAVAILABLE detail, or "" when there is none.
std::string DependencyOf(const absl::Status& status);
// The field path of an INVALID_FIELD or WRITE_TOO_LARGE detail, or "" when there is none.
std::string FieldOf(const absl::Status& status);
// The seconds a RESOURCE_EXHAUSTED `status` asks the caller to wait: its RATE_LIMITED detail's
// retry_after_seconds, or 1 when it has none. Transports turn it into Retry-After / metadata.
int RetryAfterSeconds(const absl::Status& status);

}  // namespace engram::status
