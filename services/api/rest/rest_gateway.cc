#include "services/api/rest/rest_gateway.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/http/json_error.h"
#include "common/http/url.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "services/api/policy/api_keys.h"
#include "services/api/rest/openapi.h"
#include "spdlog/spdlog.h"

namespace engram::api {
namespace {

namespace pb = google::protobuf;
using FieldDescriptor = pb::FieldDescriptor;

// Builds a route whose handler calls `call`; path and query fields are derived from the pattern
// and the method (see rest_gateway.h). Aborts on a route that does not fit its request message.
template <typename Req, typename Resp>
RestRoute MakeRoute(std::string method, std::string pattern, std::string rpc, std::string summary,
                    int success_status,
                    absl::StatusOr<Resp> (ApiCore::*call)(const RequestContext&, const Req&),
                    std::string created_field = "") {
  RestRoute route;
  route.method = std::move(method);
  route.pattern = std::move(pattern);
  route.rpc = std::move(rpc);
  route.summary = std::move(summary);
  route.request = Req::descriptor();
  route.response = Resp::descriptor();
  route.success_status = success_status;
  route.created_field = std::move(created_field);
  route.has_body = route.method == "POST" || route.method == "PATCH";
  route.invoke = [call](
                     ApiCore& core, const RequestContext& ctx,
                     const pb::Message& request) -> absl::StatusOr<std::unique_ptr<pb::Message>> {
    absl::StatusOr<Resp> response = (core.*call)(ctx, static_cast<const Req&>(request));
    if (!response.ok()) return response.status();
    return std::unique_ptr<pb::Message>(new Resp(*std::move(response)));
  };

  const auto fail = [&route](std::string_view why) {
    spdlog::critical("REST route {} {}: {}", route.method, route.pattern, why);
    std::abort();
  };
  for (absl::string_view segment : absl::StrSplit(route.pattern, '/', absl::SkipEmpty())) {
    if (!absl::StartsWith(segment, "{")) continue;
    const size_t close = segment.find('}');
    if (close == absl::string_view::npos) fail("unterminated {param}");
    const std::string name(segment.substr(1, close - 1));
    const FieldDescriptor* field = route.request->FindFieldByName(name);
    if (field == nullptr || field->is_repeated() || field->type() != FieldDescriptor::TYPE_STRING) {
      fail(absl::StrCat("{", name, "} is not a string field of ", route.request->full_name()));
    }
    route.path_params.push_back(field);
  }
  if (!route.has_body) {
    for (int i = 0; i < route.request->field_count(); ++i) {
      const FieldDescriptor* field = route.request->field(i);
      if (std::find(route.path_params.begin(), route.path_params.end(), field) !=
          route.path_params.end()) {
        continue;
      }
      // Repeated strings are repeatable parameters (?attribute=a:1&attribute=b:2).
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE ||
          (field->is_repeated() && field->cpp_type() != FieldDescriptor::CPPTYPE_STRING)) {
        fail(absl::StrCat(field->name(), " cannot be a query parameter"));
      }
      route.query_params.push_back(field);
    }
  }
  if (!route.created_field.empty()) {
    const FieldDescriptor* field = route.response->FindFieldByName(route.created_field);
    if (field == nullptr || field->is_repeated() || field->type() != FieldDescriptor::TYPE_BOOL) {
      fail(absl::StrCat(route.created_field, " is not a bool field of ",
                        route.response->full_name()));
    }
  }
  return route;
}

// The bytes of one streamed message (SSE events, NDJSON lines) and of an error after the start.
using PrintFn = std::function<absl::StatusOr<std::string>(const pb::Message&)>;

absl::StatusOr<std::string> PrintJson(const pb::Message& message) {
  pb::util::JsonPrintOptions print;
  print.always_print_primitive_fields = true;
  print.always_print_enums_as_ints = false;
  print.preserve_proto_field_names = false;
  print.add_whitespace = false;
  std::string out;
  const auto printed = pb::util::MessageToJsonString(message, &out, print);
  if (!printed.ok()) {
    return absl::InternalError(absl::StrCat("JSON encoding of ", message.GetTypeName(),
                                            " failed: ", printed.message().as_string()));
  }
  return out;
}

struct StreamFraming {
  std::string content_type;
  // The text of one message.
  std::function<absl::StatusOr<std::string>(const pb::Message&)> frame;
  // The text of an error after the start (its JSON error body given).
  std::function<std::string(const std::string& error_body)> error;
  // Whether the body is then truncated (no final chunk) instead of finished.
  bool abort_after_error = false;
};

// SSE: "event: <oneof case>\ndata: <json of that case's message>\n\n".
StreamFraming SseFraming() {
  StreamFraming f;
  f.content_type = "text/event-stream";
  f.frame = [](const pb::Message& message) -> absl::StatusOr<std::string> {
    const pb::Reflection* reflection = message.GetReflection();
    const pb::OneofDescriptor* oneof = message.GetDescriptor()->oneof_decl(0);
    const FieldDescriptor* field = reflection->GetOneofFieldDescriptor(message, oneof);
    if (field == nullptr) return absl::InternalError("empty stream event");
    absl::StatusOr<std::string> data = PrintJson(reflection->GetMessage(message, field));
    if (!data.ok()) return data.status();
    return absl::StrCat("event: ", field->name(), "\ndata: ", *data, "\n\n");
  };
  f.error = [](const std::string& body) { return absl::StrCat("event: error\ndata: ", body, "\n\n"); };
  return f;
}

// NDJSON of ExportChunks: one {"namespace": ...} line, then {"concept": ...} and
// {"association": ...} lines.
StreamFraming NdjsonExportFraming() {
  StreamFraming f;
  f.content_type = "application/x-ndjson";
  f.frame = [](const pb::Message& message) -> absl::StatusOr<std::string> {
    const auto& chunk = static_cast<const v1::ExportChunk&>(message);
    std::string out;
    if (chunk.has_namespace_()) {
      absl::StatusOr<std::string> json = PrintJson(chunk.namespace_());
      if (!json.ok()) return json.status();
      absl::StrAppend(&out, "{\"namespace\":", *json, "}\n");
    }
    for (const v1::Concept& c : chunk.concepts()) {
      absl::StatusOr<std::string> json = PrintJson(c);
      if (!json.ok()) return json.status();
      absl::StrAppend(&out, "{\"concept\":", *json, "}\n");
    }
    for (const v1::Association& a : chunk.associations()) {
      absl::StatusOr<std::string> json = PrintJson(a);
      if (!json.ok()) return json.status();
      absl::StrAppend(&out, "{\"association\":", *json, "}\n");
    }
    return out;
  };
  f.error = [](const std::string& body) { return absl::StrCat(body, "\n"); };
  f.abort_after_error = true;
  return f;
}

// A StreamSink writing framed messages to an HTTP stream; the response starts with the first.
template <typename T>
class HttpStreamSink final : public StreamSink<T> {
 public:
  HttpStreamSink(http::StreamContext& stream, const StreamFraming& framing)
      : stream_(stream), framing_(framing) {}

  bool Write(const T& message) override {
    if (failed_) return false;
    absl::StatusOr<std::string> text = framing_.frame(message);
    if (!text.ok()) {
      encode_error_ = text.status();
      failed_ = true;
      return false;
    }
    if (!Start()) return false;
    if (!stream_.Write(*text).ok()) failed_ = true;
    return !failed_;
  }
  bool ClientGone() override { return failed_ || stream_.ClientGone(); }

  // Starts the response when nothing was written yet; false when the client is gone.
  bool Start() {
    if (!started_) {
      started_ = true;
      if (!stream_.StartResponse(200, framing_.content_type, {{"Cache-Control", "no-store"}}).ok()) {
        failed_ = true;
      }
    }
    return !failed_;
  }
  bool started() const { return started_; }
  bool failed() const { return failed_; }
  const absl::Status& encode_error() const { return encode_error_; }

 private:
  http::StreamContext& stream_;
  const StreamFraming& framing_;
  bool started_ = false;
  bool failed_ = false;
  absl::Status encode_error_;
};

// Builds a streaming route (POST: the request is the JSON body; GET: the query string).
template <typename Req, typename Msg>
RestRoute MakeStreamRoute(std::string method, std::string pattern, std::string rpc,
                          std::string summary,
                          absl::Status (ApiCore::*call)(const RequestContext&, const Req&,
                                                        StreamSink<Msg>*),
                          StreamFraming framing) {
  // Reuse MakeRoute's checks and parameter binding with a placeholder unary signature.
  RestRoute route;
  route.method = std::move(method);
  route.pattern = std::move(pattern);
  route.rpc = std::move(rpc);
  route.summary = std::move(summary);
  route.request = Req::descriptor();
  route.response = Msg::descriptor();
  route.success_status = 200;
  route.has_body = route.method == "POST";
  route.stream_content_type = framing.content_type;
  for (absl::string_view segment : absl::StrSplit(route.pattern, '/', absl::SkipEmpty())) {
    if (!absl::StartsWith(segment, "{")) continue;
    const std::string name(segment.substr(1, segment.find('}') - 1));
    route.path_params.push_back(route.request->FindFieldByName(name));
  }
  if (!route.has_body) {
    for (int i = 0; i < route.request->field_count(); ++i) {
      const FieldDescriptor* field = route.request->field(i);
      if (std::find(route.path_params.begin(), route.path_params.end(), field) ==
          route.path_params.end()) {
        route.query_params.push_back(field);
      }
    }
  }
  route.stream = [call, framing = std::move(framing), rpc = route.rpc](
                     ApiCore& core, const RequestContext& ctx, const pb::Message& request,
                     http::StreamContext& stream) -> absl::Status {
    HttpStreamSink<Msg> sink(stream, framing);
    const absl::Status status = (core.*call)(ctx, static_cast<const Req&>(request), &sink);
    if (!sink.encode_error().ok()) {
      spdlog::error("{} stream: {}", rpc, sink.encode_error().ToString());
    }
    if (sink.failed()) {
      stream.Abort();
      return absl::OkStatus();
    }
    if (!sink.started()) {
      if (!status.ok()) return status;
      if (sink.Start()) (void)stream.Finish();  // an empty stream (e.g. an empty namespace)
      return absl::OkStatus();
    }
    if (status.ok()) {
      (void)stream.Finish();
      return absl::OkStatus();
    }
    const http::Response error = http::JsonErrorResponse(status, stream.request().correlation_id);
    if (!stream.Write(framing.error(error.body)).ok() || framing.abort_after_error) {
      stream.Abort();
    } else {
      (void)stream.Finish();
    }
    return absl::OkStatus();
  };
  return route;
}

std::vector<RestRoute> BuildRoutes() {
  std::vector<RestRoute> routes;
  const auto add = [&routes](RestRoute route) { routes.push_back(std::move(route)); };
  add(MakeRoute("POST", "/v1/namespaces", "CreateNamespace", "Create a namespace", 201,
                &ApiCore::CreateNamespace));
  add(MakeRoute("GET", "/v1/namespaces", "ListNamespaces", "List the namespaces the key may see",
                200, &ApiCore::ListNamespaces));
  add(MakeRoute("GET", "/v1/namespaces/{namespace}", "GetNamespace", "Get a namespace", 200,
                &ApiCore::GetNamespace));
  add(MakeRoute("DELETE", "/v1/namespaces/{namespace}", "DeleteNamespace",
                "Delete a namespace with every concept and association in it", 200,
                &ApiCore::DeleteNamespace));
  add(MakeRoute("POST", "/v1/namespaces/{namespace}/concepts", "Learn",
                "Learn a concept (201 when created, 200 when it already existed)", 200,
                &ApiCore::Learn, "created"));
  add(MakeRoute("POST", "/v1/namespaces/{namespace}/concepts:batch", "LearnBatch",
                "Learn up to 1000 concepts, all or nothing", 200, &ApiCore::LearnBatch));
  add(MakeRoute("GET", "/v1/namespaces/{namespace}/concepts", "ListConcepts",
                "Page through the concepts (point-in-time pages; ?attribute=key:value filters, "
                "repeatable)",
                200, &ApiCore::ListConcepts));
  add(MakeRoute("GET", "/v1/namespaces/{namespace}/concepts/{id}", "GetConcept", "Get a concept",
                200, &ApiCore::GetConcept));
  add(MakeRoute("PATCH", "/v1/namespaces/{namespace}/concepts/{id}", "UpdateConcept",
                "Change a concept's content, vector, attributes, strength or confidence "
                "(associations stay; changed content is re-embedded unless a vector is given)",
                200, &ApiCore::UpdateConcept));
  add(MakeRoute("DELETE", "/v1/namespaces/{namespace}/concepts/{id}", "DeleteConcept",
                "Delete a concept with its vector and associations", 200, &ApiCore::DeleteConcept));
  add(MakeRoute("POST", "/v1/namespaces/{namespace}/associations", "Associate",
                "Create or replace an association", 200, &ApiCore::Associate));
  add(MakeRoute("POST", "/v1/namespaces/{namespace}/associations:batch", "AssociateBatch",
                "Create or replace up to 1000 associations in one atomic write", 200,
                &ApiCore::AssociateBatch));
  add(MakeRoute("DELETE", "/v1/namespaces/{namespace}/associations", "DeleteAssociation",
                "Delete one association (?source=&target=&type=); the concepts stay", 200,
                &ApiCore::DeleteAssociation));
  add(MakeRoute("GET", "/v1/namespaces/{namespace}/concepts/{id}/neighbors", "Neighbors",
                "The associations of a concept, highest confidence first", 200,
                &ApiCore::Neighbors));
  add(MakeRoute("POST", "/v1/namespaces/{namespace}/paths", "FindPaths",
                "Paths between two concepts, best first", 200, &ApiCore::FindPaths));
  add(MakeRoute("POST", "/v1/namespaces/{namespace}/search", "Search",
                "Vector search by text or vector, best first", 200, &ApiCore::Search));
  add(MakeRoute("POST", "/v1/namespaces/{namespace}/reason", "Reason",
                "Answer a question from paths in the graph, with an explanation", 200,
                &ApiCore::Reason));
  add(MakeStreamRoute("POST", "/v1/namespaces/{namespace}/reason:stream", "ReasonStream",
                      "Reason, streamed as Server-Sent Events: seeds, each path as found, answer",
                      &ApiCore::ReasonStream, SseFraming()));
  add(MakeStreamRoute("GET", "/v1/namespaces/{namespace}:export", "ExportNamespace",
                      "The namespace, every concept, then every association, as NDJSON (point-in-time)",
                      &ApiCore::ExportNamespace, NdjsonExportFraming()));
  add(MakeRoute("GET", "/v1/stats", "GetStats", "Store-wide statistics", 200, &ApiCore::GetStats));
  return routes;
}

// "AssociationType" -> "association type".
std::string EnumWords(std::string_view enum_name) {
  std::string words;
  for (char c : enum_name) {
    if (absl::ascii_isupper(c) && !words.empty()) words.push_back(' ');
    words.push_back(absl::ascii_tolower(c));
  }
  return words;
}

// Sets one query parameter on `message`. Errors name the parameter by its JSON name.
absl::Status SetQueryField(const FieldDescriptor* field, const std::string& text,
                           pb::Message* message) {
  const pb::Reflection* reflection = message->GetReflection();
  const std::string& name = field->json_name();
  const auto integer_error = [&](bool negative_allowed) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, negative_allowed ? ": not an integer" : ": not a non-negative integer",
                     " ('", text, "')"));
  };
  const auto range_error = [&](auto max) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": out of range ('", text, "'; at most ", max, ")"));
  };
  // absl::SimpleAtoi tolerates surrounding whitespace and a '+'; a query value should not.
  const bool plain_digits = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isdigit(c);
  });
  const bool signed_digits =
      plain_digits ||
      (text.size() > 1 && text[0] == '-' &&
       std::all_of(text.begin() + 1, text.end(), [](char c) { return absl::ascii_isdigit(c); }));
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      if (field->is_repeated()) {
        reflection->AddString(message, field, text);
      } else {
        reflection->SetString(message, field, text);
      }
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_BOOL:
      if (text == "true" || text == "false") {
        reflection->SetBool(message, field, text == "true");
        return absl::OkStatus();
      }
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": expected true or false, got '", text, "'"));
    case FieldDescriptor::CPPTYPE_ENUM: {
      const pb::EnumValueDescriptor* value = field->enum_type()->FindValueByName(text);
      if (value != nullptr) {
        reflection->SetEnum(message, field, value);
        return absl::OkStatus();
      }
      std::vector<std::string> names;
      for (int i = 0; i < field->enum_type()->value_count(); ++i) {
        names.push_back(field->enum_type()->value(i)->name());
      }
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": unknown ", EnumWords(field->enum_type()->name()), " '", text,
                       "' (one of ", absl::StrJoin(names, ", "), ")"));
    }
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t value = 0;
      if (!plain_digits) return integer_error(false);
      const uint64_t max = field->cpp_type() == FieldDescriptor::CPPTYPE_UINT32
                               ? std::numeric_limits<uint32_t>::max()
                               : std::numeric_limits<uint64_t>::max();
      if (!absl::SimpleAtoi(text, &value) || value > max) return range_error(max);
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_UINT32) {
        reflection->SetUInt32(message, field, static_cast<uint32_t>(value));
      } else {
        reflection->SetUInt64(message, field, value);
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t value = 0;
      if (!signed_digits) return integer_error(true);
      const bool is32 = field->cpp_type() == FieldDescriptor::CPPTYPE_INT32;
      const int64_t max =
          is32 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int64_t>::max();
      const int64_t min =
          is32 ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int64_t>::min();
      if (!absl::SimpleAtoi(text, &value) || value > max || value < min) return range_error(max);
      if (is32) {
        reflection->SetInt32(message, field, static_cast<int32_t>(value));
      } else {
        reflection->SetInt64(message, field, value);
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double value = 0;
      if (text.empty() || absl::ascii_isspace(text.front()) || absl::ascii_isspace(text.back()) ||
          !absl::SimpleAtod(text, &value)) {
        return absl::InvalidArgumentError(absl::StrCat(name, ": not a number ('", text, "')"));
      }
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT) {
        reflection->SetFloat(message, field, static_cast<float>(value));
      } else {
        reflection->SetDouble(message, field, value);
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  // MakeRoute never makes a message field a query parameter.
  return absl::InternalError(absl::StrCat(name, ": unsupported query parameter type"));
}

// Rewrites protobuf's JSON parser errors into "invalid JSON body: <field path>: <problem>":
//   "(concepts[0]) nope: Cannot find field."   -> "concepts[0].nope: unknown field"
//   "(vector[0]): invalid value 1e+40 for ..." -> "vector[0]: invalid value 1e+40 for ..."
//   "Unexpected token.\n{\"a\" x\n     ^"        -> "Unexpected token. near 'x'"
std::string DescribeJsonError(const std::string& raw) {
  std::vector<absl::string_view> lines = absl::StrSplit(raw, '\n');
  std::string message(absl::StripAsciiWhitespace(lines.empty() ? raw : lines.front()));
  // Syntax errors quote the input line and put a caret under the position.
  if (lines.size() >= 3) {
    const absl::string_view snippet = lines[lines.size() - 2];
    const size_t caret = lines.back().find('^');
    if (caret != absl::string_view::npos && caret < snippet.size()) {
      absl::StrAppend(&message, " near '", snippet.substr(caret, 24), "'");
    } else if (caret != absl::string_view::npos) {
      absl::StrAppend(&message, " at the end of the input");
    }
    return message;
  }
  std::string location;
  if (absl::StartsWith(message, "(")) {
    const size_t close = message.find(')');
    if (close != std::string::npos) {
      location = message.substr(1, close - 1);
      message = std::string(absl::StripLeadingAsciiWhitespace(message.substr(close + 1)));
    }
  }
  if (absl::StartsWith(message, ":")) {
    message = std::string(absl::StripLeadingAsciiWhitespace(message.substr(1)));
  }
  if (absl::EndsWith(message, ": Cannot find field.")) {
    const std::string field = message.substr(0, message.size() - strlen(": Cannot find field."));
    return absl::StrCat(location, location.empty() ? "" : ".", field, ": unknown field");
  }
  constexpr std::string_view kTypeUrlPrefix = "type.googleapis.com/";
  for (size_t at; (at = message.find(kTypeUrlPrefix)) != std::string::npos;) {
    message.erase(at, kTypeUrlPrefix.size());
  }
  if (location.empty()) return message;
  return absl::StrCat(location, ": ", message);
}

// Checks strict JSON syntax (RFC 8259) without building a document: protobuf 3.21's parser is
// lenient (it takes `{"a":1,}`), and this error names the line and column.
class JsonSyntaxCheck : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& error) override {
    error_ = error.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 17: ..."
    if (const size_t end = error_.find("] ");
        absl::StartsWith(error_, "[") && end != std::string::npos) {
      error_.erase(0, end + 2);
    }
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

absl::Status ParseBody(const std::string& body, pb::Message* message) {
  if (absl::StripAsciiWhitespace(body).empty()) return absl::OkStatus();  // `{}`
  JsonSyntaxCheck syntax;
  if (!nlohmann::json::sax_parse(body, &syntax, nlohmann::json::input_format_t::json,
                                 /*strict=*/true, /*ignore_comments=*/false)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON body: ", syntax.error()));
  }
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  options.case_insensitive_enum_parsing = false;
  const auto status =
      pb::util::JsonStringToMessage(pb::StringPiece(body.data(), body.size()), message, options);
  if (status.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("invalid JSON body: ", DescribeJsonError(status.message().as_string())));
}

// Builds the request message of `route` from the URL and body of `http_request`.
absl::Status BindRequest(const RestRoute& route, const http::Request& http_request,
                         pb::Message* message) {
  if (route.has_body) {
    if (absl::Status status = ParseBody(http_request.body, message); !status.ok()) return status;
  } else if (!absl::StripAsciiWhitespace(http_request.body).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(route.method, " ", route.pattern,
                                                   " takes no request body (parameters go in "
                                                   "the query string)"));
  }
  // Every pair in order, repeated keys kept (repeatable parameters); a repeated key of a
  // single-valued parameter: the last value wins.
  std::vector<std::pair<std::string, std::string>> query;
  if (!http_request.raw_query.empty()) {
    for (absl::string_view split : absl::StrSplit(http_request.raw_query, '&', absl::SkipEmpty())) {
      const std::string_view piece(split.data(), split.size());
      const size_t eq = piece.find('=');
      absl::StatusOr<std::string> key = http::PercentDecode(piece.substr(0, eq), true);
      absl::StatusOr<std::string> value = eq == absl::string_view::npos
                                              ? absl::StatusOr<std::string>("")
                                              : http::PercentDecode(piece.substr(eq + 1), true);
      if (!key.ok() || !value.ok()) {
        return absl::InvalidArgumentError("invalid percent-encoding in the query");
      }
      query.emplace_back(*std::move(key), *std::move(value));
    }
  } else {
    query.assign(http_request.query.begin(), http_request.query.end());
  }
  for (const auto& [key, value] : query) {
    const FieldDescriptor* field = nullptr;
    for (const FieldDescriptor* candidate : route.query_params) {
      if (candidate->json_name() == key) field = candidate;
    }
    if (field == nullptr) {
      std::vector<std::string> known;
      for (const FieldDescriptor* candidate : route.query_params) {
        known.push_back(candidate->json_name());
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown query parameter '", key, "' (",
          known.empty() ? "this route takes none" : "expected " + absl::StrJoin(known, ", "), ")"));
    }
    if (absl::Status status = SetQueryField(field, value, message); !status.ok()) return status;
  }
  const pb::Reflection* reflection = message->GetReflection();
  for (const FieldDescriptor* field : route.path_params) {
    const auto it = http_request.path_params.find(field->name());
    const std::string& url_value = it == http_request.path_params.end() ? "" : it->second;
    const std::string body_value = reflection->GetString(*message, field);
    if (!body_value.empty() && body_value != url_value) {
      return absl::InvalidArgumentError(absl::StrCat(field->json_name(), ": the body says '",
                                                     body_value, "' but the URL says '", url_value,
                                                     "'"));
    }
    reflection->SetString(message, field, url_value);
  }
  return absl::OkStatus();
}

absl::StatusOr<RequestContext> BuildContext(const http::Request& http_request,
                                            const RestGatewayOptions& options) {
  RequestContext ctx;
  ctx.api_key = std::string(BearerToken(http_request.Header("Authorization")));
  ctx.correlation_id = http_request.correlation_id;
  if (http_request.headers.count("grpc-timeout") != 0) {
    absl::StatusOr<absl::Duration> timeout =
        ParseGrpcTimeout(http_request.headers.find("grpc-timeout")->second);
    if (!timeout.ok()) return timeout.status();
    ctx.deadline = options.now() + *timeout;
  }
  return ctx;
}

http::Response ErrorResponse(const RestRoute& route, const absl::Status& status,
                             const std::string& correlation_id) {
  if (status.code() == absl::StatusCode::kInternal || status.code() == absl::StatusCode::kUnknown) {
    // The client gets a generic message; the details stay here, under the correlation id.
    spdlog::error("{} {} failed: {}", route.method, route.pattern, status.ToString());
  }
  return http::JsonErrorResponse(status, correlation_id);
}

http::Response Serve(const RestRoute& route, ApiCore& core, const RestGatewayOptions& options,
                     const http::Request& http_request) {
  absl::StatusOr<RequestContext> ctx = BuildContext(http_request, options);
  if (!ctx.ok()) return ErrorResponse(route, ctx.status(), http_request.correlation_id);

  std::unique_ptr<pb::Message> request(
      pb::MessageFactory::generated_factory()->GetPrototype(route.request)->New());
  if (absl::Status status = BindRequest(route, http_request, request.get()); !status.ok()) {
    return ErrorResponse(route, status, http_request.correlation_id);
  }

  absl::StatusOr<std::unique_ptr<pb::Message>> result = route.invoke(core, *ctx, *request);
  if (!result.ok()) return ErrorResponse(route, result.status(), http_request.correlation_id);
  const pb::Message& reply = **result;

  http::Response response;
  response.status = route.success_status;
  if (!route.created_field.empty()) {
    const FieldDescriptor* created = route.response->FindFieldByName(route.created_field);
    if (reply.GetReflection()->GetBool(reply, created)) response.status = 201;
  }
  pb::util::JsonPrintOptions print;
  print.always_print_primitive_fields = true;
  print.always_print_enums_as_ints = false;
  print.preserve_proto_field_names = false;
  print.add_whitespace = false;
  const auto printed = pb::util::MessageToJsonString(reply, &response.body, print);
  if (!printed.ok()) {
    return ErrorResponse(
        route,
        absl::InternalError(absl::StrCat("JSON encoding of the ", route.rpc,
                                         " response failed: ", printed.message().as_string())),
        http_request.correlation_id);
  }
  return response;
}

// The largest request body of a streaming route (a Reason body; export has none).
constexpr size_t kStreamRequestBodyLimit = 1 << 20;

http::Response ServeStream(const RestRoute& route, ApiCore& core, const RestGatewayOptions& options,
                           http::StreamContext& stream) {
  http::Request http_request = stream.request();
  std::vector<char> buffer(64 << 10);
  while (true) {
    absl::StatusOr<size_t> n = stream.ReadBody(buffer.data(), buffer.size());
    if (!n.ok()) {
      if (n.status().code() == absl::StatusCode::kResourceExhausted) {
        return http::JsonErrorResponse(
            absl::ResourceExhaustedError(absl::StrCat("request body exceeds ",
                                                      kStreamRequestBodyLimit, " bytes")),
            http_request.correlation_id);
      }
      return ErrorResponse(route, n.status(), http_request.correlation_id);
    }
    if (*n == 0) break;
    http_request.body.append(buffer.data(), *n);
  }
  absl::StatusOr<RequestContext> ctx = BuildContext(http_request, options);
  if (!ctx.ok()) return ErrorResponse(route, ctx.status(), http_request.correlation_id);
  std::unique_ptr<pb::Message> request(
      pb::MessageFactory::generated_factory()->GetPrototype(route.request)->New());
  if (absl::Status status = BindRequest(route, http_request, request.get()); !status.ok()) {
    return ErrorResponse(route, status, http_request.correlation_id);
  }
  // An error before anything was streamed is answered as a unary route's.
  const absl::Status refused = route.stream(core, *ctx, *request, stream);
  if (!refused.ok()) return ErrorResponse(route, refused, http_request.correlation_id);
  return {};
}

}  // namespace

const std::vector<RestRoute>& RestRoutes() {
  static const std::vector<RestRoute>* const routes = new std::vector<RestRoute>(BuildRoutes());
  return *routes;
}

absl::Status BindRestRequest(const RestRoute& route, const http::Request& http_request,
                             const RestGatewayOptions& options, pb::Message* request,
                             RequestContext* ctx) {
  absl::StatusOr<RequestContext> context = BuildContext(http_request, options);
  if (!context.ok()) return context.status();
  *ctx = *std::move(context);
  return BindRequest(route, http_request, request);
}

absl::StatusOr<absl::Duration> ParseGrpcTimeout(std::string_view header) {
  const std::string value(header);
  const auto malformed = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("grpc-timeout: malformed '", value,
                     "' (expected 1 to 8 digits and a unit H, M, S, m, u or n, e.g. 500m)"));
  };
  if (value.size() < 2 || value.size() > 9) return malformed();
  const std::string digits = value.substr(0, value.size() - 1);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return malformed();
  }
  int64_t amount = 0;
  if (!absl::SimpleAtoi(digits, &amount)) return malformed();
  switch (value.back()) {
    case 'H':
      return absl::Hours(amount);
    case 'M':
      return absl::Minutes(amount);
    case 'S':
      return absl::Seconds(amount);
    case 'm':
      return absl::Milliseconds(amount);
    case 'u':
      return absl::Microseconds(amount);
    case 'n':
      return absl::Nanoseconds(amount);
    default:
      return malformed();
  }
}

void RegisterRestRoutes(http::HttpServer& server, ApiCore& core, RestGatewayOptions options) {
  auto shared_options = std::make_shared<const RestGatewayOptions>(std::move(options));
  for (const RestRoute& route : RestRoutes()) {
    if (route.stream) {
      server.HandleStream(
          route.method, route.pattern,
          [&route, &core, shared_options](http::StreamContext& stream) {
            return ServeStream(route, core, *shared_options, stream);
          },
          kStreamRequestBodyLimit);
      continue;
    }
    server.Handle(route.method, route.pattern,
                  [&route, &core, shared_options](const http::Request& request) {
                    return Serve(route, core, *shared_options, request);
                  });
  }
  absl::StatusOr<std::string> document = OpenApiDocument();
  if (!document.ok()) {
    // Only an unsupported proto construct gets here; openapi_test catches it first.
    spdlog::critical("cannot build the OpenAPI document: {}", document.status().ToString());
    std::abort();
  }
  server.Handle("GET", "/openapi.json", [body = *std::move(document)](const http::Request&) {
    return http::Response{.body = body};
  });
}

}  // namespace engram::api
