#include "common/http/standard_routes.h"

#include <utility>

#include "nlohmann/json.hpp"

namespace engram::http {

void AddStandardRoutes(HttpServer& server, metrics::Registry* registry,
                       std::function<ReadinessReport()> readiness) {
  server.Handle("GET", "/healthz",
                [](const Request&) { return Response{.body = R"({"status":"ok"})"}; });

  server.Handle("GET", "/readyz", [readiness = std::move(readiness)](const Request&) {
    const ReadinessReport report = readiness ? readiness() : ReadinessReport{};
    if (report.ready() && report.degraded.empty()) return Response{.body = R"({"status":"ok"})"};
    const bool ready = report.ready();
    nlohmann::json list = nlohmann::json::array();
    for (const UnavailableDependency& dependency : ready ? report.degraded : report.unavailable) {
      list.push_back({{"name", dependency.name}, {"reason", dependency.reason}});
    }
    const char* const status = ready ? "degraded" : "unavailable";
    const nlohmann::json body = {{"status", status}, {status, list}};
    return Response{.status = ready ? 200 : 503,
                    .body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                    .headers = {{"Cache-Control", "no-store"}}};
  });

  if (registry != nullptr) {
    server.Handle("GET", "/metrics", [registry](const Request&) {
      return Response{.content_type = "text/plain; version=0.0.4; charset=utf-8",
                      .body = registry->Serialize()};
    });
  }
}

}  // namespace engram::http
