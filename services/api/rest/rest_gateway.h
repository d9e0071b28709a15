// The REST/JSON gateway of engram-api: every route of docs/api.md (../shared/design/api.md) over
// an http::HttpServer, each one a thin adapter onto one ApiCore method, plus GET /openapi.json.
//
//   http::HttpServer server({.port = 8080, .threads = 16});
//   api::RegisterRestRoutes(server, core);   // before server.Start()
//
// One table (RestRoutes()) drives both the handlers and the OpenAPI document (openapi.h), so a
// route cannot exist in one and not the other. For each route:
//   * The request message is built from the URL and the body. Fields named by the pattern's
//     {param}s come from the path. On GET and DELETE routes every other field comes from the
//     query string (by its JSON name, e.g. ?includeVector=true; a repeated string field is a
//     repeatable parameter, ?attribute=a:1&attribute=b:2); POST and PATCH routes take the rest from
//     the JSON body (the protobuf JSON mapping; unknown fields are rejected; an empty body is
//     `{}`) and accept no query parameters. A body that sets a path-bound field to another value
//     than the URL is rejected.
//   * RequestContext: api_key is the bearer token of the Authorization header ("" when absent),
//     correlation_id is the server's (X-Correlation-ID, or generated), and deadline is now + the
//     `grpc-timeout` header (gRPC syntax: 1-8 digits and a unit H, M, S, m, u or n) when present,
//     else InfiniteFuture (the core applies its default and cap).
//   * Success: the response message as JSON (lowerCamelCase names, enums by name, 64-bit integers
//     as strings, primitive fields printed even when zero, unset messages omitted) with the route's
//     status; Learn answers 201 when response.created, else 200.
//   * Errors: http::JsonErrorResponse (docs/api.md's body and status mapping; INTERNAL details
//     hidden), with Retry-After = status::RetryAfterSeconds(status) on RESOURCE_EXHAUSTED. Gateway-side
//     errors are INVALID_ARGUMENT naming what was wrong: "invalid JSON body: concepts[0].nope:
//     unknown field", "limit: not a non-negative integer", "type: unknown association type 'FOO'
//     (...)", "unknown query parameter 'x' (...)", "namespace: the body says 'a' but the URL says
//     'b'", "grpc-timeout: ...".
//
// Streams (v1.1): POST /v1/namespaces/{namespace}/reason:stream answers Server-Sent Events
// (text/event-stream): for each ReasonEvent "event: seeds|path|answer" and "data: " the JSON of
// that event's message (ReasonSeeds, ReasonPath, ReasonResponse). GET
// /v1/namespaces/{namespace}:export answers NDJSON (application/x-ndjson): one line per concept
// {"concept": Concept} (vector included), then one per association {"association": Association}.
// An error before the first message is an ordinary JSON error response with its status; after it
// the status line (200) has gone, so the error is in-band: SSE "event: error" with the error body
// as data, then the end of the stream; NDJSON a last line {"error": {...}} and a truncated body
// (no final chunk), so a client reading to the end cannot take a partial export for a whole one.
// A client that goes away stops the call (ApiCore's StreamSink::ClientGone).
//
// Handlers run on the HTTP server's I/O threads and block on the core call, so the server needs
// enough threads for the expected concurrency; the core bounds every call by its deadline.
//
// Thread-safety: RegisterRestRoutes must run before server.Start(); the handlers it installs are
// thread-safe if `core` is (ApiCore's contract). `core` is not owned and must outlive the server.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/http/http_server.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "services/api/core/api_core.h"

namespace engram::api {

// Calls one ApiCore method with `request` (whose type is the route's request descriptor).
using RestInvoker = std::function<absl::StatusOr<std::unique_ptr<google::protobuf::Message>>(
    ApiCore& core, const RequestContext& ctx, const google::protobuf::Message& request)>;

// Calls one streaming ApiCore method with `request`, writing its messages to `stream` (the route's
// framing: Server-Sent Events or NDJSON). A non-OK result means nothing was streamed: the caller
// answers it as a unary route's error.
using RestStreamInvoker = std::function<absl::Status(
    ApiCore& core, const RequestContext& ctx, const google::protobuf::Message& request,
    http::StreamContext& stream)>;

// One REST route of engram.v1.Engram.
struct RestRoute {
  std::string method;   // "GET", "POST", "PATCH" or "DELETE"
  std::string pattern;  // http::Router syntax, e.g. "/v1/namespaces/{namespace}/concepts:batch"
  std::string rpc;      // the engram.v1.Engram method, e.g. "LearnBatch" (also the operationId)
  std::string summary;  // one line for the OpenAPI document
  const google::protobuf::Descriptor* request = nullptr;
  const google::protobuf::Descriptor* response = nullptr;
  int success_status = 200;
  // When set, a bool field of the response: true answers 201 instead of success_status.
  std::string created_field;
  // Whether the request message (minus path fields) is the JSON body (POST, PATCH) rather than the
  // query string (GET, DELETE).
  bool has_body = false;
  // Request fields bound to the pattern's {param}s, in pattern order (the param is the field's
  // proto name), and the fields read from the query string (by JSON name).
  std::vector<const google::protobuf::FieldDescriptor*> path_params;
  std::vector<const google::protobuf::FieldDescriptor*> query_params;
  RestInvoker invoke;
  // Streaming routes (ReasonStream, ExportNamespace) set these instead of `invoke`: the response
  // is `stream_content_type` ("text/event-stream" or "application/x-ndjson"), made of `response`
  // messages (see "Streams" above).
  std::string stream_content_type;
  RestStreamInvoker stream;
};

// Every route of docs/api.md, in the document's order. Built once; never empty.
const std::vector<RestRoute>& RestRoutes();

struct RestGatewayOptions {
  // The clock that turns grpc-timeout into a deadline (tests inject a fixed one).
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

// Installs every route of RestRoutes() and GET /openapi.json on `server`. Must be called before
// server.Start(). Aborts if the route table is inconsistent with the proto (a programming error).
void RegisterRestRoutes(http::HttpServer& server, ApiCore& core, RestGatewayOptions options = {});

// What every handler does with a request before it calls the core: builds `ctx` from the headers
// and `request` (of type route.request) from the path params, query and body, with the rules and
// errors described above. Exposed for the fuzz target (rest_request_fuzz) and tests; never throws.
absl::Status BindRestRequest(const RestRoute& route, const http::Request& http_request,
                             const RestGatewayOptions& options,
                             google::protobuf::Message* request, RequestContext* ctx);

// Parses a grpc-timeout value ("500m", "2S", "1H"): 1-8 digits and a unit H, M, S, m (millis),
// u (micros) or n (nanos). INVALID_ARGUMENT naming the header otherwise.
absl::StatusOr<absl::Duration> ParseGrpcTimeout(std::string_view value);

}  // namespace engram::api
