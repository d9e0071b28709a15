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
    if (report.ready()) return Response{.body = R"({"status":"ok"})"};
    nlohmann::json unavailable = nlohmann::json::array();
    for (const UnavailableDependency& dependency : report.unavailable) {
      unavailable.push_back({{"name", dependency.name}, {"reason", dependency.reason}});
    }
    const nlohmann::json body = {{"status", "unavailable"}, {"unavailable", unavailable}};
    return Response{.status = 503,
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
