#include "services/api/rest/openapi.h"

#include <cctype>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace engram::api {
namespace {

namespace pb = google::protobuf;
using FieldDescriptor = pb::FieldDescriptor;
using Json = nlohmann::ordered_json;

constexpr char kSchemaRef[] = "#/components/schemas/";

// The error responses of docs/api.md, by HTTP status.
struct ErrorStatus {
  int http_status;
  const char* name;  // components/responses key
  const char* description;
};
constexpr ErrorStatus kErrorStatuses[] = {
    {400, "InvalidArgument",
     "INVALID_ARGUMENT: a malformed body, parameter or header, or an invalid field (the message "
     "names it)"},
    {401, "Unauthenticated", "UNAUTHENTICATED: no valid API key"},
    {403, "PermissionDenied", "PERMISSION_DENIED: outside the key's role or namespaces"},
    {404, "NotFound", "NOT_FOUND: unknown namespace or concept (or no such route)"},
    {409, "AlreadyExists", "ALREADY_EXISTS: the namespace exists"},
    {413, "PayloadTooLarge", "PAYLOAD_TOO_LARGE: the body exceeds the server's limit"},
    {429, "ResourceExhausted",
     "RESOURCE_EXHAUSTED: a rate limit or a queue is full; retry after Retry-After seconds"},
    {500, "Internal", "INTERNAL: a server error (details only in the server's logs)"},
    {503, "Unavailable", "UNAVAILABLE: a dependency is down; retry with backoff"},
    {504, "DeadlineExceeded", "DEADLINE_EXCEEDED: the deadline ran out"},
};

// "engram.v1.LearnRequest" -> "LearnRequest"; other packages keep their full name.
std::string SchemaName(const std::string& full_name) {
  constexpr absl::string_view kPackage = "engram.v1.";
  if (absl::StartsWith(full_name, kPackage)) return full_name.substr(kPackage.size());
  return full_name;
}

Json Ref(const std::string& name) { return Json{{"$ref", absl::StrCat(kSchemaRef, name)}}; }

// Collects the component schemas reachable from the routes' bodies and responses.
class SchemaCollector {
 public:
  // The schema of `field` as it appears in JSON (arrays, maps, scalars, references).
  Json FieldSchema(const FieldDescriptor* field) {
    if (field->is_map()) {
      return Json{{"type", "object"},
                  {"additionalProperties", SingularSchema(field->message_type()->map_value())}};
    }
    Json item = SingularSchema(field);
    if (field->is_repeated()) return Json{{"type", "array"}, {"items", std::move(item)}};
    return item;
  }

  // A $ref to the schema of `message`, adding it (and what it references) to the components.
  Json MessageRef(const pb::Descriptor* message) {
    const std::string name = SchemaName(message->full_name());
    if (schemas_.count(name) == 0) {
      schemas_[name] = Json::object();  // placeholder: stops recursion
      Json properties = Json::object();
      for (int i = 0; i < message->field_count(); ++i) {
        const FieldDescriptor* field = message->field(i);
        properties[field->json_name()] = FieldSchema(field);
      }
      Json schema{{"type", "object"}, {"description", absl::StrCat(message->full_name())}};
      if (!properties.empty()) schema["properties"] = std::move(properties);
      schemas_[name] = std::move(schema);
    }
    return Ref(name);
  }

  const absl::Status& status() const { return status_; }
  const std::map<std::string, Json>& schemas() const { return schemas_; }

 private:
  Json SingularSchema(const FieldDescriptor* field) {
    switch (field->type()) {
      case FieldDescriptor::TYPE_DOUBLE:
        return Json{{"type", "number"}, {"format", "double"}};
      case FieldDescriptor::TYPE_FLOAT:
        return Json{{"type", "number"}, {"format", "float"}};
      case FieldDescriptor::TYPE_INT64:
      case FieldDescriptor::TYPE_SINT64:
      case FieldDescriptor::TYPE_SFIXED64:
        return Json{{"type", "string"}, {"format", "int64"}, {"pattern", "^-?[0-9]+$"}};
      case FieldDescriptor::TYPE_UINT64:
      case FieldDescriptor::TYPE_FIXED64:
        return Json{{"type", "string"}, {"format", "uint64"}, {"pattern", "^[0-9]+$"}};
      case FieldDescriptor::TYPE_INT32:
      case FieldDescriptor::TYPE_SINT32:
      case FieldDescriptor::TYPE_SFIXED32:
        return Json{{"type", "integer"}, {"format", "int32"}};
      case FieldDescriptor::TYPE_UINT32:
      case FieldDescriptor::TYPE_FIXED32:
        return Json{{"type", "integer"},
                    {"format", "int64"},
                    {"minimum", 0},
                    {"maximum", std::numeric_limits<uint32_t>::max()}};
      case FieldDescriptor::TYPE_BOOL:
        return Json{{"type", "boolean"}};
      case FieldDescriptor::TYPE_STRING:
        return Json{{"type", "string"}};
      case FieldDescriptor::TYPE_BYTES:
        return Json{{"type", "string"}, {"format", "byte"}};
      case FieldDescriptor::TYPE_ENUM:
        return EnumRef(field->enum_type());
      case FieldDescriptor::TYPE_MESSAGE:
      case FieldDescriptor::TYPE_GROUP:
        return MessageSchema(field->message_type());
    }
    return Json::object();
  }

  Json EnumRef(const pb::EnumDescriptor* enum_type) {
    const std::string name = SchemaName(enum_type->full_name());
    if (schemas_.count(name) == 0) {
      Json values = Json::array();
      for (int i = 0; i < enum_type->value_count(); ++i)
        values.push_back(enum_type->value(i)->name());
      schemas_[name] = Json{{"type", "string"}, {"enum", std::move(values)}};
    }
    return Ref(name);
  }

  // Well-known types have their own JSON forms; everything else is a referenced object.
  Json MessageSchema(const pb::Descriptor* message) {
    const std::string& full = message->full_name();
    if (full == "google.protobuf.Timestamp") {
      return Json{{"type", "string"}, {"format", "date-time"}};
    }
    if (full == "google.protobuf.Duration") {
      return Json{{"type", "string"}, {"pattern", "^-?[0-9]+(\\.[0-9]{1,9})?s$"}};
    }
    if (absl::StartsWith(full, "google.protobuf.") && absl::EndsWith(full, "Value") &&
        message->field_count() == 1 && message->field(0)->name() == "value" &&
        !message->field(0)->is_repeated()) {
      // Wrappers (BoolValue, FloatValue, UInt32Value, ...): the bare scalar, or null for unset.
      Json schema = SingularSchema(message->field(0));
      schema["nullable"] = true;
      return schema;
    }
    if (absl::StartsWith(full, "google.protobuf.")) {
      if (status_.ok()) {
        status_ = absl::UnimplementedError(
            absl::StrCat(full, " has no OpenAPI mapping in services/api/rest/openapi.cc"));
      }
      return Json::object();
    }
    return MessageRef(message);
  }

  std::map<std::string, Json> schemas_;
  absl::Status status_;
};

Json ErrorSchema() {
  return Json{{"type", "object"},
              {"description", "The error body of every failed request (docs/api.md, \"Errors\")."},
              {"required", Json::array({"error"})},
              {"properties",
               {{"error",
                 {{"type", "object"},
                  {"required", Json::array({"code", "message"})},
                  {"properties",
                   {{"code",
                     {{"type", "string"},
                      {"description",
                       "The canonical gRPC code name (INVALID_ARGUMENT, NOT_FOUND, ...), or "
                       "PAYLOAD_TOO_LARGE / METHOD_NOT_ALLOWED for HTTP-only errors"},
                      {"example", "INVALID_ARGUMENT"}}},
                    {"message",
                     {{"type", "string"},
                      {"description", "What went wrong, naming the offending field or parameter"}}},
                    {"correlationId",
                     {{"type", "string"},
                      {"description",
                       "The request's correlation id (also the X-Correlation-ID header)"}}}}}}}}}};
}

Json JsonContent(Json schema) {
  return Json{{"application/json", {{"schema", std::move(schema)}}}};
}

Json CorrelationHeader() {
  return Json{{"X-Correlation-ID", {{"$ref", "#/components/headers/CorrelationId"}}}};
}

// "GET" -> "get".
std::string LowerMethod(const std::string& method) {
  std::string lower(method);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

Json Operation(const RestRoute& route, SchemaCollector& schemas) {
  Json operation{{"operationId", route.rpc}, {"summary", route.summary}};
  std::vector<std::string> bound;
  Json parameters = Json::array();
  for (const FieldDescriptor* field : route.path_params) {
    bound.push_back(absl::StrCat("`", field->json_name(), "`"));
    parameters.push_back(
        {{"name", field->name()},
         {"in", "path"},
         {"required", true},
         {"description", absl::StrCat("Sets ", route.request->name(), ".", field->json_name())},
         {"schema", {{"type", "string"}}}});
  }
  for (const FieldDescriptor* field : route.query_params) {
    parameters.push_back(
        {{"name", field->json_name()},
         {"in", "query"},
         {"required", false},
         {"description", absl::StrCat("Sets ", route.request->name(), ".", field->json_name())},
         {"schema", schemas.FieldSchema(field)}});
  }
  parameters.push_back({{"$ref", "#/components/parameters/CorrelationId"}});
  parameters.push_back({{"$ref", "#/components/parameters/GrpcTimeout"}});
  operation["parameters"] = std::move(parameters);

  if (route.has_body) {
    std::string description =
        absl::StrCat(route.request->full_name(), " in the protobuf JSON mapping");
    if (!bound.empty()) {
      absl::StrAppend(&description, "; ", absl::StrJoin(bound, ", "),
                      " comes from the URL (a body value must equal it)");
    }
    operation["requestBody"] = {{"required", true},
                                {"description", description},
                                {"content", JsonContent(schemas.MessageRef(route.request))}};
  }

  Json responses = Json::object();
  Json success_content = JsonContent(schemas.MessageRef(route.response));
  std::string success_description = route.response->full_name();
  if (route.stream) {
    // A stream of messages: the schema is one message (an SSE event's data, an NDJSON record).
    success_content = {{route.stream_content_type, {{"schema", schemas.MessageRef(route.response)}}}};
    success_description =
        route.stream_content_type == "text/event-stream"
            ? absl::StrCat("Server-Sent Events, one per ", route.response->full_name(),
                           ": `event:` names the field that is set, `data:` is its JSON; an "
                           "error after the start is an `error` event with the error body")
            : absl::StrCat("NDJSON, one record per line from the ", route.response->full_name(),
                           " messages: one {\"namespace\": Namespace} line, then {\"concept\": Concept} "
                           "lines, then {\"association\": Association} lines; an error after the start is a last "
                           "{\"error\": ...} line and a truncated body");
  }
  responses[std::to_string(route.success_status)] = {{"description", success_description},
                                                     {"headers", CorrelationHeader()},
                                                     {"content", success_content}};
  if (!route.created_field.empty()) {
    responses["201"] = {{"description", absl::StrCat(route.response->full_name(), " with ",
                                                     route.created_field, " = true")},
                        {"headers", CorrelationHeader()},
                        {"content", success_content}};
  }
  for (const ErrorStatus& error : kErrorStatuses) {
    responses[std::to_string(error.http_status)] = {
        {"$ref", absl::StrCat("#/components/responses/", error.name)}};
  }
  operation["responses"] = std::move(responses);
  return operation;
}

}  // namespace

absl::StatusOr<std::string> OpenApiDocument(const std::vector<RestRoute>& routes) {
  SchemaCollector schemas;
  Json paths = Json::object();
  for (const RestRoute& route : routes) {
    const std::string method = LowerMethod(route.method);
    Json& path = paths[route.pattern];
    if (path.contains(method)) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate route ", route.method, " ", route.pattern));
    }
    path[method] = Operation(route, schemas);
  }
  if (!schemas.status().ok()) return schemas.status();

  std::map<std::string, Json> sorted_schemas = schemas.schemas();
  if (!sorted_schemas.emplace("Error", ErrorSchema()).second) {
    return absl::InvalidArgumentError("a proto message named Error clashes with the error schema");
  }
  Json component_schemas = Json::object();
  for (auto& [name, schema] : sorted_schemas) component_schemas[name] = std::move(schema);

  Json error_responses = Json::object();
  for (const ErrorStatus& error : kErrorStatuses) {
    Json response{{"description", error.description}, {"headers", CorrelationHeader()}};
    if (error.http_status == 429) {
      response["headers"]["Retry-After"] = {
          {"description", "Seconds to wait before retrying"},
          {"schema", {{"type", "integer"}, {"minimum", 1}, {"maximum", 3600}}}};
    }
    response["content"] = JsonContent(Ref("Error"));
    error_responses[std::string(error.name)] = std::move(response);
  }

  Json document{
      {"openapi", "3.0.3"},
      {"info",
       {{"title", "Engram API"},
        {"version", "v1"},
        {"description",
         "Engram's public API (engram.v1.Engram) over REST/JSON. Bodies use the protobuf JSON "
         "mapping: lowerCamelCase names, enums by name, 64-bit integers as strings, timestamps "
         "as RFC 3339; unknown fields are rejected. Generated from the route table and "
         "proto/engram/v1/engram.proto by engram-openapi; do not edit by hand."}}},
      {"security", Json::array({{{"bearerAuth", Json::array()}}})},
      {"paths", std::move(paths)},
      {"components",
       {{"schemas", std::move(component_schemas)},
        {"responses", std::move(error_responses)},
        {"parameters",
         {{"CorrelationId",
           {{"name", "X-Correlation-ID"},
            {"in", "header"},
            {"required", false},
            {"description",
             "Correlates the request across services' logs; echoed back, generated when absent"},
            {"schema", {{"type", "string"}}}}},
          {"GrpcTimeout",
           {{"name", "grpc-timeout"},
            {"in", "header"},
            {"required", false},
            {"description",
             "The client's deadline in gRPC syntax (1-8 digits and a unit H, M, S, m, u or n, "
             "e.g. 500m); capped by the server's maximum"},
            {"schema", {{"type", "string"}, {"pattern", "^[0-9]{1,8}[HMSmun]$"}}}}}}},
        {"headers",
         {{"CorrelationId",
           {{"description", "The request's correlation id"}, {"schema", {{"type", "string"}}}}}}},
        {"securitySchemes",
         {{"bearerAuth",
           {{"type", "http"},
            {"scheme", "bearer"},
            {"description", "An API key: Authorization: Bearer <key>"}}}}}}}};
  return document.dump(2) + "\n";
}

absl::StatusOr<std::string> OpenApiDocument() { return OpenApiDocument(RestRoutes()); }

}  // namespace engram::api
