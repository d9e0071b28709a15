// The endpoints every Engram HTTP port serves:
//   GET /healthz  200 {"status":"ok"} while the process runs (liveness).
//   GET /readyz   200 {"status":"ok"} when ready, else 503
//                 {"status":"unavailable","unavailable":[{"name":"storage","reason":"..."}]}.
//                 Ready but degraded (serving, with something an operator must fix, e.g. a
//                 full disk refusing writes while reads go on): 200
//                 {"status":"degraded","degraded":[{"name":"disk","reason":"..."}]}.
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
  // Still ready (the probe passes, so traffic keeps coming), but not fully working: each entry
  // says what is wrong. Only reported when nothing is unavailable.
  std::vector<UnavailableDependency> degraded;
  bool ready() const { return unavailable.empty(); }
};

// Installs the three routes on `server` (before Start()). `registry` may be null (no /metrics);
// it is not owned and must outlive the server. `readiness` may be empty (always ready); it runs
// on an I/O thread for every probe, so it must be cheap, thread-safe and non-blocking.
void AddStandardRoutes(HttpServer& server, metrics::Registry* registry,
                       std::function<ReadinessReport()> readiness);

}  // namespace engram::http
