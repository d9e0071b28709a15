// Correlation ids: one id per request, carried on every log line the request produces.
//
// The id lives in a thread-local "current id". A request handler installs it for its own scope:
//
//   void Handle(const Request& req) {
//     engram::logging::ScopedCorrelationId cid(req.correlation_id);
//     spdlog::info("handling");   // this line carries cid=<id>
//   }
//
// The formatters installed by engram::logging::Init() read CurrentCorrelationId() at format time,
// which requires a synchronous logger (formatting happens on the logging thread). Engram uses
// spdlog's default synchronous logger; do not switch to spdlog's async logger.
#pragma once

#include <string>
#include <string_view>

namespace engram::logging {

// Longest id accepted from a caller; longer ones are replaced (see IsValidCorrelationId).
inline constexpr size_t kMaxCorrelationIdLength = 128;

// A fresh random id: 32 lowercase hex characters (128 random bits). Thread-safe.
std::string NewCorrelationId();

// Whether an id supplied by a caller (HTTP header, gRPC metadata) may be used as is: 1 to
// kMaxCorrelationIdLength characters from [A-Za-z0-9._:-]. Anything else could forge log lines or
// blow up label/log sizes; callers replace such ids with NewCorrelationId().
bool IsValidCorrelationId(std::string_view id);

// Returns `supplied` if it is valid, otherwise a new id.
std::string CorrelationIdOrNew(std::string_view supplied);

// The calling thread's current correlation id, or "" when none is installed. The view is valid
// until the innermost ScopedCorrelationId on this thread is destroyed.
std::string_view CurrentCorrelationId();

// RAII: installs `id` as the calling thread's current correlation id and restores the previous one
// on destruction. Scopes nest. Must be destroyed on the thread that created it (it is neither
// copyable nor movable).
class ScopedCorrelationId {
 public:
  explicit ScopedCorrelationId(std::string id);
  ~ScopedCorrelationId();

  ScopedCorrelationId(const ScopedCorrelationId&) = delete;
  ScopedCorrelationId& operator=(const ScopedCorrelationId&) = delete;

  const std::string& id() const { return id_; }

 private:
  std::string id_;
  const std::string* previous_;
};

}  // namespace engram::logging
