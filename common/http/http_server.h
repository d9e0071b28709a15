// A small HTTP/1.1 server (Boost.Beast) for REST gateways, admin APIs and the standard
// /healthz, /readyz and /metrics endpoints.
//
//   engram::http::HttpServer server({.port = 8080, .threads = 4, .metrics = &registry});
//   server.Handle("GET", "/v1/namespaces/{namespace}", [&](const engram::http::Request& req) {
//     return engram::http::Response{.body = Lookup(req.path_params.at("namespace"))};
//   });
//   engram::http::AddStandardRoutes(server, &registry, readiness);   // standard_routes.h
//   if (absl::Status s = server.Start(); !s.ok()) return s;
//   ...
//   server.Shutdown();
//
// Behaviour:
//   * Routing: see router.h ({param} segments, "...:batch" custom methods, most specific wins).
//     Unknown path: 404; known path, other method: 405 with an Allow header; bad percent-encoding
//     in a path parameter or the query: 400; malformed HTTP: 400 and the connection is closed;
//     headers over max_header_bytes: 431; a body over max_body_bytes: 413, decided from
//     Content-Length before the body is read, or while reading a chunked body. Error bodies are
//     JSON: {"error":{"code":"NOT_FOUND","message":"...","correlationId":"..."}}.
//   * Correlation ids: taken from X-Correlation-ID when valid, generated otherwise; installed as
//     the handler thread's ScopedCorrelationId (so log lines carry it), available as
//     Request::correlation_id, and echoed as the X-Correlation-ID response header.
//   * Keep-alive (HTTP/1.1 default) with an idle timeout; "Expect: 100-continue" is honoured.
//   * Metrics, when Options::metrics is set: http_requests_total{route,method,code} and
//     http_request_duration_seconds{route,method} (route is the matched pattern, "unmatched"
//     otherwise, so label cardinality stays bounded).
//
// Handlers run on the server's I/O threads (Options::threads of them): they must not block for
// long (no waiting on slow downstream calls without a deadline), or they stall other connections.
// A handler that throws gets a 500; exceptions never escape the server.
//
// Thread-safety: Handle() must be called before Start(). Start(), port() and Shutdown() are
// thread-safe. Handlers may be called concurrently from several I/O threads.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace engram::metrics {
class Registry;
}  // namespace engram::metrics

namespace engram::http {

// Orders header names case-insensitively (ASCII).
struct CaseInsensitiveLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const;
};

// Header name -> value; repeated headers are joined with ", ".
using HeaderMap = std::map<std::string, std::string, CaseInsensitiveLess>;

struct Request {
  std::string method;                        // "GET", "POST", ...
  std::string path;                          // Raw path, without the query string.
  std::map<std::string, std::string> query;  // Percent-decoded; the last repeated key wins.
  HeaderMap headers;                         // Case-insensitive lookup.
  std::string body;
  std::map<std::string, std::string> path_params;  // Percent-decoded {param} values.
  std::string route;           // The matched pattern, e.g. "/v1/namespaces/{namespace}".
  std::string correlation_id;  // Never empty inside a handler.

  // The header's value, or "" when absent.
  std::string_view Header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Extra headers (e.g. Retry-After, Location). Content-Type, Content-Length, Connection and
  // X-Correlation-ID are set by the server.
  std::vector<std::pair<std::string, std::string>> headers;
};

using Handler = std::function<Response(const Request&)>;

class HttpServer {
 public:
  struct Options {
    std::string address = "0.0.0.0";
    int port = 0;  // 0: an ephemeral port, see port().
    int threads = 2;
    size_t max_body_bytes = 4 << 20;
    size_t max_header_bytes = 16 << 10;
    // A keep-alive connection with no request for this long is closed; also bounds how long a
    // client may take to send one request.
    absl::Duration idle_timeout = absl::Seconds(60);
    // Shutdown() waits this long for in-flight requests before abandoning them.
    absl::Duration drain_timeout = absl::Seconds(10);
    // Optional; not owned, must outlive the server.
    metrics::Registry* metrics = nullptr;
  };

  explicit HttpServer(Options options);
  // Calls Shutdown().
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Registers `handler` for `method` (exact, e.g. "GET") on `pattern` (see router.h). Must be
  // called before Start(); aborts on a malformed or duplicate route (a programming error).
  void Handle(std::string method, std::string pattern, Handler handler);

  // Binds, listens and starts the I/O threads. Errors: INVALID_ARGUMENT (bad address/options),
  // UNAVAILABLE (bind/listen failed, e.g. port in use), FAILED_PRECONDITION (already started).
  absl::Status Start();

  // The bound port (useful with Options::port = 0); 0 before Start().
  int port() const;

  // Stops accepting, closes idle keep-alive connections, lets in-flight requests finish and be
  // answered (with "Connection: close") for up to drain_timeout, then stops the I/O threads.
  // Idempotent; a server that was never started is just marked stopped.
  void Shutdown();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace engram::http
