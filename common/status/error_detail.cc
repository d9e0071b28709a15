#include "common/status/error_detail.h"

#include <algorithm>
#include <string>

#include "absl/strings/cord.h"
#include "absl/types/optional.h"
#include "absl/strings/str_cat.h"

namespace engram::status {
namespace {

constexpr int kMaxRetryAfterSeconds = 3600;

absl::string_view Url() { return {kErrorDetailUrl.data(), kErrorDetailUrl.size()}; }

}  // namespace

absl::Status WithDetail(absl::Status status, const ErrorDetail& detail) {
  if (status.ok()) return status;
  status.SetPayload(Url(), absl::Cord(detail.SerializeAsString()));
  return status;
}

std::optional<ErrorDetail> GetDetail(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(Url());
  if (!payload.has_value()) return std::nullopt;
  ErrorDetail detail;
  if (!detail.ParseFromString(std::string(*payload))) return std::nullopt;
  return detail;
}

bool HasReason(const absl::Status& status, ErrorReason reason) {
  std::optional<ErrorDetail> detail = GetDetail(status);
  return detail.has_value() && detail->reason() == reason;
}

ErrorDetail DependencyDetail(std::string_view dependency) {
  ErrorDetail detail;
  detail.set_reason(ErrorDetail::DEPENDENCY_UNAVAILABLE);
  detail.set_dependency(std::string(dependency));
  return detail;
}

ErrorDetail RateLimitedDetail(std::string_view scope, int retry_after_seconds) {
  ErrorDetail detail;
  detail.set_reason(ErrorDetail::RATE_LIMITED);
  detail.set_scope(std::string(scope));
  detail.set_retry_after_seconds(std::clamp(retry_after_seconds, 1, kMaxRetryAfterSeconds));
  return detail;
}

ErrorDetail FieldDetail(std::string_view field) {
  ErrorDetail detail;
  detail.set_reason(ErrorDetail::INVALID_FIELD);
  detail.set_field(std::string(field));
  return detail;
}

ErrorDetail WriteTooLargeDetail(std::string_view field) {
  ErrorDetail detail = FieldDetail(field);
  detail.set_reason(ErrorDetail::WRITE_TOO_LARGE);
  return detail;
}

absl::Status NamespaceNotFound(std::string_view name) {
  ErrorDetail detail;
  detail.set_reason(ErrorDetail::NAMESPACE_NOT_FOUND);
  detail.set_namespace_(std::string(name));
  return WithDetail(absl::NotFoundError(absl::StrCat(
                        "namespace '", absl::string_view(name.data(), name.size()), "' not found")),
                    detail);
}

std::string DependencyOf(const absl::Status& status) {
  std::optional<ErrorDetail> detail = GetDetail(status);
  if (!detail.has_value() || detail->reason() != ErrorDetail::DEPENDENCY_UNAVAILABLE) return "";
  return detail->dependency();
}

std::string FieldOf(const absl::Status& status) {
  std::optional<ErrorDetail> detail = GetDetail(status);
  if (!detail.has_value() || (detail->reason() != ErrorDetail::INVALID_FIELD &&
                              detail->reason() != ErrorDetail::WRITE_TOO_LARGE)) {
    return "";
  }
  return detail->field();
}

int RetryAfterSeconds(const absl::Status& status) {
  std::optional<ErrorDetail> detail = GetDetail(status);
  if (!detail.has_value() || detail->reason() != ErrorDetail::RATE_LIMITED) return 1;
  return std::clamp(static_cast<int>(detail->retry_after_seconds()), 1, kMaxRetryAfterSeconds);
}

}  // namespace engram::status
