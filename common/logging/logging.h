// Process-wide structured logging on top of spdlog.
//
// Every Engram binary calls Init() once in main(), before starting threads:
//
//   absl::StatusOr<engram::logging::LogOptions::Format> format =
//       engram::logging::ParseFormat(absl::GetFlag(FLAGS_log_format));
//   ...
//   if (absl::Status s = engram::logging::Init({.service = "engram-api", .format = *format});
//       !s.ok()) { ... }
//
// After that, code logs with the plain spdlog API (spdlog::info("loaded {} concepts", n)); every
// line carries the service name and the calling thread's correlation id (see correlation.h).
//
// Output goes to stderr, one line per record:
//   kText: 2024-05-01T12:00:00.123Z info [engram-api] [cid=4f1c...] loaded 12 concepts
//   kJson: {"ts":"2024-05-01T12:00:00.123Z","level":"info","service":"engram-api",
//           "msg":"loaded 12 concepts","correlation_id":"4f1c..."}
// JSON lines are always valid JSON (messages are escaped, invalid UTF-8 is replaced);
// "correlation_id" is present only when one is set. Timestamps are UTC, RFC 3339, milliseconds.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/logging/correlation.h"  // IWYU pragma: export
#include "spdlog/common.h"
#include "spdlog/formatter.h"

namespace engram::logging {

struct LogOptions {
  enum class Format { kText, kJson };

  // Written on every line ("service" in JSON). Empty is allowed but unhelpful.
  std::string service;
  Format format = Format::kText;
  // Minimum level: trace, debug, info, warn (or warning), error, critical, off.
  std::string level = "info";
};

// "text" or "json" (case-insensitive); INVALID_ARGUMENT otherwise.
absl::StatusOr<LogOptions::Format> ParseFormat(std::string_view text);

// A level name as accepted by LogOptions::level; INVALID_ARGUMENT otherwise.
absl::StatusOr<spdlog::level::level_enum> ParseLevel(std::string_view text);

// Configures spdlog's default logger: a synchronous stderr logger with the formatter for
// `options`. Returns INVALID_ARGUMENT for a bad level and leaves the current logger untouched.
// Not thread-safe against concurrent logging: call it at startup (tests may call it repeatedly).
absl::Status Init(const LogOptions& options);

// The formatter Init() installs, for callers that attach their own sinks (tests, files).
// `options.level` is ignored.
std::unique_ptr<spdlog::formatter> MakeFormatter(const LogOptions& options);

}  // namespace engram::logging
