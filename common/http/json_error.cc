#include "common/http/json_error.h"

#include <string>

#include "nlohmann/json.hpp"
#include "absl/strings/str_cat.h"
#include "common/status/error_detail.h"

namespace engram::http {

int HttpStatusFromCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

Response JsonErrorResponse(int http_status, std::string_view code, std::string_view message,
                           std::string_view correlation_id) {
  nlohmann::json error = {{"code", std::string(code)}, {"message", std::string(message)}};
  if (!correlation_id.empty()) error["correlationId"] = std::string(correlation_id);
  Response response;
  response.status = http_status;
  // Replace invalid UTF-8 rather than throwing: messages may quote client input.
  response.body = nlohmann::json{{"error", std::move(error)}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

Response JsonErrorResponse(const absl::Status& status, std::string_view correlation_id) {
  const absl::StatusCode code = status.code();
  std::string message(status.message());
  if (code == absl::StatusCode::kInternal || code == absl::StatusCode::kUnknown) {
    message = "internal error";
  }
  Response response = JsonErrorResponse(HttpStatusFromCode(code), absl::StatusCodeToString(code),
                                        message, correlation_id);
  if (code == absl::StatusCode::kResourceExhausted) {
    response.headers.emplace_back("Retry-After", absl::StrCat(status::RetryAfterSeconds(status)));
  }
  return response;
}

}  // namespace engram::http
