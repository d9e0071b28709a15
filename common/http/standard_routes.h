// The endpoints every Engram HTTP port serves:
//   GET /healthz  200 {"status":"ok"} while the process runs (liveness).
//   GET /readyz   200 {"status":"ok"} when ready, else 503
//                 {"status":"unavailable","unavailable":[{"name":"storage","reason":"..."}]}.
//   GET /metrics  The registry in Prometheus text format 0.0.4.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/http/http_server.h"
#include "common/metrics/metrics.h"

namespace engram::http {

struct UnavailableDependency {
  std::string name;    // e.g. "storage", "recovery".
  std::string reason;  // Human-readable, e.g. "replaying write-ahead log".
};

struct ReadinessReport {
  std::vector<UnavailableDependency> unavailable;
  bool ready() const { return unavailable.empty(); }
};

// Installs the three routes on `server` (before Start()). `registry` may be null (no /metrics);
// it is not owned and must outlive the server. `readiness` may be empty (always ready); it runs
// on an I/O thread for every probe, so it must be cheap, thread-safe and non-blocking.
void AddStandardRoutes(HttpServer& server, metrics::Registry* registry,
                       std::function<ReadinessReport()> readiness);

}  // namespace engram::http
