// engramctl's exit codes and error line.
//
//   0 ok
//   1 anything else (INTERNAL, UNKNOWN, CANCELLED, DATA_LOSS, ... and local I/O errors)
//   2 usage error (bad command line; see flag_parser.h)
//   3 NOT_FOUND
//   4 UNAUTHENTICATED, PERMISSION_DENIED
//   5 UNAVAILABLE, DEADLINE_EXCEEDED
//   6 INVALID_ARGUMENT, FAILED_PRECONDITION, ALREADY_EXISTS, OUT_OF_RANGE (the request was refused)
//   7 RESOURCE_EXHAUSTED (rate limit or full queue: retry later)
//
// Errors are printed to stderr as one line:
//   engramctl: NOT_FOUND: concept "x" not found (correlation id 3f2a...)
// Usage errors print "engramctl: <message>" followed by a hint to run `engramctl help`.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace engram::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitOther = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotFound = 3;
inline constexpr int kExitAuth = 4;
inline constexpr int kExitUnavailable = 5;
inline constexpr int kExitRejected = 6;
inline constexpr int kExitResourceExhausted = 7;

int ExitCodeFor(const absl::Status& status);

// Attaches the correlation id of the call that failed, for FormatError.
void SetCorrelationId(absl::Status* status, absl::string_view correlation_id);
std::string CorrelationIdOf(const absl::Status& status);

// The stderr line for a failed command (without the trailing newline).
std::string FormatError(const absl::Status& status);

}  // namespace engram::cli
