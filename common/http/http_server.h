// A small HTTP/1.1 server (Boost.Beast) for REST gateways, admin APIs and the standard
// /healthz, /readyz and /metrics endpoints, with streamed routes for large bodies and WebSockets.
//
//   engram::http::HttpServer server({.port = 8080, .threads = 4, .metrics = &registry});
//   server.Handle("GET", "/v1/namespaces/{namespace}", [&](const engram::http::Request& req) {
//     return engram::http::Response{.body = Lookup(req.path_params.at("namespace"))};
//   });
//   server.HandleStream("GET", "/v1/snapshots/{id}:download", [&](StreamContext& stream) {
//     if (absl::Status s = stream.StartResponse(200, "application/octet-stream", {}); !s.ok()) {
//       return Response{};  // Ignored once started; the connection is closed.
//     }
//     while (...) if (!stream.Write(NextPiece()).ok()) return Response{};
//     stream.Finish();
//     return Response{};
//   }, /*max_body_bytes=*/0);
//   server.HandleWebSocket("/v1/metrics:watch", {.on_open = [&](auto connection) {
//     subscribers.Add(std::move(connection));   // Another thread calls connection->Send(json).
//   }});
//   engram::http::AddStandardRoutes(server, &registry, readiness);   // standard_routes.h
//   if (absl::Status s = server.Start(); !s.ok()) return s;
//   ...
//   server.Shutdown();
//
// Behaviour:
//   * Routing: see router.h ({param} segments, "...:batch" custom methods, most specific wins).
//     Plain, stream and WebSocket routes share one table. Unknown path: 404; known path, other
//     method: 405 with an Allow header; bad percent-encoding in a path parameter or the query:
//     400; malformed HTTP: 400 and the connection is closed; headers over max_header_bytes: 431;
//     a body over the limit (Options::max_body_bytes, or a stream route's own limit): 413, decided
//     from Content-Length before the body is read, or while reading a chunked body. Error bodies
//     are JSON: {"error":{"code":"NOT_FOUND","message":"...","correlationId":"..."}}.
//   * Correlation ids: taken from X-Correlation-ID when valid, generated otherwise; installed as
//     the handler thread's ScopedCorrelationId (so log lines carry it), available as
//     Request::correlation_id, and echoed as the X-Correlation-ID response header (also on a
//     WebSocket's 101 response).
//   * Keep-alive (HTTP/1.1 default) with an idle timeout; "Expect: 100-continue" is honoured (for
//     a stream route, when the handler first reads the body).
//   * Metrics, when Options::metrics is set: http_requests_total{route,method,code} and
//     http_request_duration_seconds{route,method} (route is the matched pattern, "unmatched"
//     otherwise, so label cardinality stays bounded). A stream counts with the status it sent,
//     over its whole duration; a WebSocket counts once, as 101, when it is accepted.
//   * Stream routes (HandleStream): the body is never buffered; the handler reads it and writes a
//     chunked response through a StreamContext. The connection is kept alive afterwards only if
//     the body was read to its end before the response started and the response was finished.
//   * TLS (Options::tls): every connection is TLS (plaintext clients fail the handshake and are
//     closed), with client certificates required when a client CA is set. Everything above
//     works the same over TLS. Rotated certificate files are picked up by new connections.
//   * WebSocket routes (HandleWebSocket): a GET with "Upgrade: websocket" is authorized, then
//     upgraded; a GET without it gets 426. The server pings an idle peer and closes it when no
//     answer comes within Options::idle_timeout.
//
// Plain handlers run on the server's I/O threads (Options::threads of them): they must not block
// for long (no waiting on slow downstream calls without a deadline), or they stall other
// connections. A stream handler occupies an I/O thread for the whole transfer, so give the server
// enough threads for the concurrent streams it should carry. A handler that throws gets a 500 (a
// stream that already started is aborted); exceptions never escape the server.
//
// Shutdown: stops accepting, closes idle keep-alive connections and WebSockets (close code 1001
// "going away"), and lets in-flight requests and streams run for up to drain_timeout; after that,
// every stream read or write fails with UNAVAILABLE so stream handlers return.
//
// Thread-safety: Handle*() must be called before Start(). Start(), port() and Shutdown() are
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
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tls/tls_config.h"

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
  std::string raw_query;  // The query string as sent (no '?', not decoded): repeated keys.
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

// One request on a stream route: its body is read and its response written incrementally, for
// bodies too large to hold in memory. Valid only during the StreamHandler call; used from the
// handler's thread only. The handler runs on an I/O thread and may block on the socket (each read
// or write is bounded by Options::idle_timeout) and on its own bounded downstream calls.
class StreamContext {
 public:
  virtual ~StreamContext() = default;

  // Headers, path and query parameters, route and correlation id; `body` is empty.
  virtual const Request& request() const = 0;

  // Reads up to `size` more body bytes into `buffer`; returns 0 at the end of the body (at once
  // for a request without one). Sends "100 Continue" first when the client asked for it.
  // Errors (the connection is closed after the handler returns): DEADLINE_EXCEEDED (no byte for
  // idle_timeout: client too slow), UNAVAILABLE (client disconnected, or the server's drain
  // timeout passed), RESOURCE_EXHAUSTED (body over the route's limit), INVALID_ARGUMENT
  // (malformed chunked encoding).
  virtual absl::StatusOr<size_t> ReadBody(char* buffer, size_t size) = 0;

  // Sends the status line and headers; the body follows as chunks (Transfer-Encoding: chunked).
  // Content-Type, Transfer-Encoding, Connection and X-Correlation-ID are set by the server.
  // Errors: FAILED_PRECONDITION (called twice, or after Abort), INVALID_ARGUMENT (status outside
  // 200..599), and the write errors of Write().
  virtual absl::Status StartResponse(
      int status, std::string_view content_type,
      const std::vector<std::pair<std::string, std::string>>& headers) = 0;

  // Sends `data` as one chunk (nothing for empty data); after StartResponse. Errors:
  // FAILED_PRECONDITION (not started, finished or aborted), DEADLINE_EXCEEDED (the client read
  // nothing for idle_timeout), UNAVAILABLE (client disconnected, or the drain timeout passed).
  virtual absl::Status Write(std::string_view data) = 0;

  // Sends the last chunk, completing the response. Errors as for Write().
  virtual absl::Status Finish() = 0;

  // Whether the client has closed the connection (or the server is aborting streams at the end
  // of its drain), without reading or waiting: a handler waiting for slow work polls it to stop
  // that work early. A client that only half-closes its sending side counts as gone.
  virtual bool ClientGone() = 0;

  // Abandons the response: the connection is closed without the last chunk, so the client sees a
  // truncated body (e.g. a checksum mismatch detected mid-download). Later calls fail.
  virtual void Abort() = 0;
};

// Returns the response to send when the handler did not call StartResponse (e.g. an error before
// any byte was streamed); ignored otherwise. A handler that returns without Finish() after
// StartResponse is treated as Abort().
using StreamHandler = std::function<Response(StreamContext&)>;

// One open WebSocket (text messages). Thread-safe: every method may be called from any thread,
// also after the connection closed or the server was destroyed (Send then returns false).
class WebSocketConnection {
 public:
  virtual ~WebSocketConnection() = default;

  // Queues a text message; messages go out in the order of the Send calls. Returns false when
  // the connection is closed, or closes it and returns false when more than max_queued messages
  // are waiting (a client too slow to keep up).
  virtual bool Send(std::string text) = 0;

  // Starts the close handshake (code 1000) after the message being written; messages still
  // queued are dropped. on_close follows once the peer answers. Idempotent.
  virtual void Close() = 0;

  virtual bool open() const = 0;

  // The upgrade request (headers, path and query parameters, correlation id).
  virtual const Request& request() const = 0;
};

struct WebSocketHandler {
  // Runs for the upgrade request before accepting it (on an I/O thread, with the request's
  // correlation id): a non-OK status answers it with the matching JSON error (401, 403, ...) and
  // no upgrade happens. May be empty.
  std::function<absl::Status(const Request&)> authorize;
  // Called once the connection is open (on an I/O thread; must not block).
  std::function<void(std::shared_ptr<WebSocketConnection>)> on_open;
  // Called once when an opened connection closes (either side, shutdown, or error), on an I/O
  // thread; the connection's open() is already false. May be empty.
  std::function<void(WebSocketConnection*)> on_close;
  size_t max_queued = 64;
  size_t max_message_bytes = 64 << 10;  // Incoming messages (the server ignores their content).
};

class HttpServer {
 public:
  struct Options {
    std::string address = "0.0.0.0";
    int port = 0;  // 0: an ephemeral port, see port().
    int threads = 2;
    size_t max_body_bytes = 4 << 20;
    size_t max_header_bytes = 16 << 10;
    // A keep-alive connection with no request for this long is closed; also bounds how long a
    // client may take to send one request, each read and write of a stream route, and how long
    // a WebSocket peer may stay silent (it is pinged halfway).
    absl::Duration idle_timeout = absl::Seconds(60);
    // Shutdown() waits this long for in-flight requests before abandoning them.
    absl::Duration drain_timeout = absl::Seconds(10);
    // Optional; not owned, must outlive the server.
    metrics::Registry* metrics = nullptr;
    // Set on every response, errors and streams included, unless the handler set the same header
    // (e.g. security headers: X-Content-Type-Options, X-Frame-Options, Content-Security-Policy).
    std::vector<std::pair<std::string, std::string>> default_headers;
    // HTTPS when tls.cert_file is set (mutual TLS with tls.client_ca_file); the files are re-read
    // when they change (tls_context.h). Plaintext by default.
    tls::ServerTlsConfig tls;
  };

  explicit HttpServer(Options options);
  // Calls Shutdown().
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Registers `handler` for `method` (exact, e.g. "GET") on `pattern` (see router.h). Must be
  // called before Start(); aborts on a malformed or duplicate route (a programming error).
  void Handle(std::string method, std::string pattern, Handler handler);

  // Registers a stream route (see StreamContext): its body is never buffered and its limit is
  // `max_body_bytes` instead of Options::max_body_bytes. Same rules as Handle().
  void HandleStream(std::string method, std::string pattern, StreamHandler handler,
                    size_t max_body_bytes);

  // Registers a WebSocket route for "GET `pattern`" with an upgrade. Same rules as Handle();
  // `handler.on_open` must be set.
  void HandleWebSocket(std::string pattern, WebSocketHandler handler);

  // Binds, listens and starts the I/O threads. Errors: INVALID_ARGUMENT (bad address/options),
  // UNAVAILABLE (bind/listen failed, e.g. port in use), FAILED_PRECONDITION (already started).
  absl::Status Start();

  // The bound port (useful with Options::port = 0); 0 before Start().
  int port() const;

  // Stops accepting, closes idle keep-alive connections and WebSockets, lets in-flight requests
  // and streams finish and be answered (with "Connection: close") for up to drain_timeout, then
  // fails the streams' reads and writes and stops the I/O threads (waiting for the stream
  // handlers to return).
  // Idempotent; a server that was never started is just marked stopped.
  void Shutdown();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace engram::http
