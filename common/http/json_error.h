// The one mapping from absl::Status to HTTP for Engram's REST surfaces, and the JSON error body
// of docs/api.md: {"error": {"code": "INVALID_ARGUMENT", "message": "...", "correlationId":
// "..."}}.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "common/http/http_server.h"

namespace engram::http {

// INVALID_ARGUMENT/FAILED_PRECONDITION/OUT_OF_RANGE 400, UNAUTHENTICATED 401,
// PERMISSION_DENIED 403, NOT_FOUND 404, ALREADY_EXISTS/ABORTED 409, RESOURCE_EXHAUSTED 429,
// CANCELLED 499, UNIMPLEMENTED 501, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, OK 200, else 500.
int HttpStatusFromCode(absl::StatusCode code);

// A JSON error response for `status` (which must not be OK). INTERNAL and UNKNOWN messages are
// replaced by a generic one (details belong in the server log). RESOURCE_EXHAUSTED carries
// Retry-After: the seconds of its RATE_LIMITED ErrorDetail, or 1.
Response JsonErrorResponse(const absl::Status& status, std::string_view correlation_id);

// A JSON error response with an explicit HTTP status and code name (e.g. 413,
// "PAYLOAD_TOO_LARGE") for errors that have no absl::StatusCode of their own.
Response JsonErrorResponse(int http_status, std::string_view code, std::string_view message,
                           std::string_view correlation_id);

}  // namespace engram::http
