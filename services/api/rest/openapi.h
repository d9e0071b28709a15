// The OpenAPI 3.0 document of engram-api's REST routes, generated from the route table
// (rest_gateway.h) and the proto descriptors, so the document cannot drift from the handlers.
//
//   absl::StatusOr<std::string> doc = engram::api::OpenApiDocument();
//
// Schemas follow the protobuf JSON mapping the gateway uses: properties by json_name; enums as
// string enums of their value names; 64-bit integers as strings (format int64/uint64); uint32 as
// a bounded integer; google.protobuf.Timestamp as a date-time string; wrapper types
// (BoolValue, FloatValue, UInt32Value, ...) as nullable scalars; maps as objects with
// additionalProperties; repeated fields as arrays. Every operation lists its path and query
// parameters, the X-Correlation-ID and grpc-timeout headers, its success status(es) and the error
// responses of docs/api.md (the {"error": {...}} body), and requires the bearer scheme.
//
// The output is deterministic: pretty-printed with two-space indentation, routes in table order,
// schemas sorted by name, a trailing newline. docs/api/openapi.json is this output, committed
// (regenerate with the engram-openapi tool, see docs/api/README.md).
//
// Thread-safety: a pure function of the compiled-in proto and route table.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/api/rest/rest_gateway.h"

namespace engram::api {

// The document for `routes`. UNIMPLEMENTED when a message uses a construct the generator does not
// map (google.protobuf.Struct, Any, ...).
absl::StatusOr<std::string> OpenApiDocument(const std::vector<RestRoute>& routes);

// The document for RestRoutes(); what GET /openapi.json serves.
absl::StatusOr<std::string> OpenApiDocument();

}  // namespace engram::api
