#include "services/api/rest/openapi.h"

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engram/v1/engram.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#ifndef ENGRAM_OPENAPI_JSON
#error "ENGRAM_OPENAPI_JSON (the committed docs/api/openapi.json) must be defined by the build"
#endif

namespace engram::api {
namespace {

namespace pb = google::protobuf;
using Json = nlohmann::json;

constexpr char kRegenerate[] =
    "docs/api/openapi.json is stale: regenerate it with `engram-openapi docs/api/openapi.json` "
    "(or build the engram-openapi-update target) and commit it";

std::string ReadCommitted() {
  std::ifstream in(ENGRAM_OPENAPI_JSON, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << ENGRAM_OPENAPI_JSON;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Lower(std::string text) { return absl::AsciiStrToLower(text); }

std::string Generated() {
  absl::StatusOr<std::string> document = OpenApiDocument();
  EXPECT_TRUE(document.ok()) << document.status();
  return document.ok() ? *document : "";
}

TEST(OpenApiTest, CommittedDocumentIsTheGeneratedOne) {
  const std::string generated = Generated();
  ASSERT_FALSE(generated.empty());
  EXPECT_EQ(ReadCommitted(), generated) << kRegenerate;
  EXPECT_EQ(Generated(), generated) << "the generator is not deterministic";
}

// The committed document and the route table name the same (method, path) pairs, with the same
// operation, parameters and success status; failures name the route.
TEST(OpenApiTest, EveryRouteIsInTheCommittedDocumentAndViceVersa) {
  const Json document = Json::parse(ReadCommitted(), nullptr, false);
  ASSERT_FALSE(document.is_discarded()) << ENGRAM_OPENAPI_JSON << " is not JSON";
  ASSERT_TRUE(document.contains("paths"));
  EXPECT_EQ(document.value("openapi", ""), "3.0.3");

  std::set<std::string> in_table;
  for (const RestRoute& route : RestRoutes()) {
    const std::string name = absl::StrCat(route.method, " ", route.pattern);
    in_table.insert(name);
    const Json& paths = document["paths"];
    if (!paths.contains(route.pattern) || !paths[route.pattern].contains(Lower(route.method))) {
      ADD_FAILURE() << "route " << name << " is missing from the document; " << kRegenerate;
      continue;
    }
    const Json& operation = paths[route.pattern][Lower(route.method)];
    EXPECT_EQ(operation.value("operationId", ""), route.rpc) << name;
    EXPECT_TRUE(operation["responses"].contains(std::to_string(route.success_status))) << name;
    if (!route.created_field.empty()) {
      EXPECT_TRUE(operation["responses"].contains("201")) << name;
    }
    EXPECT_EQ(operation.contains("requestBody"), route.has_body) << name;

    std::set<std::string> path_params, query_params;
    for (const Json& parameter : operation["parameters"]) {
      if (parameter.value("in", "") == "path") path_params.insert(parameter["name"]);
      if (parameter.value("in", "") == "query") query_params.insert(parameter["name"]);
    }
    std::set<std::string> expected_path, expected_query;
    for (const auto* field : route.path_params) expected_path.insert(field->name());
    for (const auto* field : route.query_params) expected_query.insert(field->json_name());
    EXPECT_EQ(path_params, expected_path) << name;
    EXPECT_EQ(query_params, expected_query) << name;
  }
  for (const auto& [path, operations] : document["paths"].items()) {
    for (const auto& [method, unused] : operations.items()) {
      const std::string name = absl::StrCat(absl::AsciiStrToUpper(method), " ", path);
      EXPECT_EQ(in_table.count(name), 1u)
          << "the document has " << name << " but the route table does not; " << kRegenerate;
    }
  }
}

// Every RPC of engram.v1.Engram has exactly one route, with the RPC's request and response.
TEST(OpenApiTest, RouteTableCoversTheServiceExactly) {
  const pb::ServiceDescriptor* service =
      v1::LearnRequest::descriptor()->file()->FindServiceByName("Engram");
  ASSERT_NE(service, nullptr);
  std::map<std::string, int> routes_per_rpc;
  for (const RestRoute& route : RestRoutes()) {
    ++routes_per_rpc[route.rpc];
    const pb::MethodDescriptor* method = service->FindMethodByName(route.rpc);
    ASSERT_NE(method, nullptr) << route.rpc << " is not a method of engram.v1.Engram";
    EXPECT_EQ(method->input_type(), route.request) << route.rpc;
    EXPECT_EQ(method->output_type(), route.response) << route.rpc;
  }
  for (int i = 0; i < service->method_count(); ++i) {
    EXPECT_EQ(routes_per_rpc[service->method(i)->name()], 1)
        << service->method(i)->name() << " needs exactly one REST route";
  }
}

TEST(OpenApiTest, SchemasFollowTheProtobufJsonMapping) {
  const Json document = Json::parse(Generated());
  const Json& schemas = document["components"]["schemas"];
  const auto property = [&](const std::string& message, const std::string& name) {
    EXPECT_TRUE(schemas.contains(message)) << message;
    return schemas[message]["properties"][name];
  };
  EXPECT_EQ(property("LearnRequest", "extractAssociations"),
            Json::parse(R"({"type":"boolean","nullable":true})"));
  EXPECT_EQ(property("AssociateRequest", "confidence"),
            Json::parse(R"({"type":"number","format":"float","nullable":true})"));
  EXPECT_EQ(property("ReasonRequest", "minConfidence")["nullable"], true);
  EXPECT_EQ(property("Namespace", "conceptCount"),
            Json::parse(R"({"type":"string","format":"uint64","pattern":"^[0-9]+$"})"));
  EXPECT_EQ(property("Namespace", "createTime"),
            Json::parse(R"({"type":"string","format":"date-time"})"));
  EXPECT_EQ(property("Namespace", "metric"),
            Json::parse(R"({"$ref":"#/components/schemas/Metric"})"));
  EXPECT_EQ(property("Namespace", "dimension")["maximum"], 4294967295u);
  EXPECT_EQ(property("Concept", "attributes"),
            Json::parse(R"({"type":"object","additionalProperties":{"type":"string"}})"));
  EXPECT_EQ(property("Concept", "vector"),
            Json::parse(R"({"type":"array","items":{"type":"number","format":"float"}})"));
  EXPECT_EQ(property("Neighbor", "concept"),
            Json::parse(R"({"$ref":"#/components/schemas/ConceptRef"})"));
  EXPECT_FALSE(schemas["Neighbor"]["properties"].contains("node"));
  EXPECT_EQ(property("FindPathsRequest", "types")["items"]["$ref"],
            "#/components/schemas/AssociationType");
  EXPECT_EQ(schemas["AssociationType"],
            Json::parse(R"({"type":"string","enum":["ASSOCIATION_TYPE_UNSPECIFIED","SEMANTIC",
                            "CAUSAL","TEMPORAL","HIERARCHICAL","COMPOSITIONAL"]})"));
  EXPECT_EQ(schemas["Error"]["properties"]["error"]["required"],
            Json::parse(R"(["code","message"])"));
  // Messages that are only ever query strings are not schemas.
  EXPECT_FALSE(schemas.contains("NeighborsRequest"));
  EXPECT_FALSE(schemas.contains("GetConceptRequest"));

  EXPECT_EQ(document["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
  EXPECT_EQ(document["security"], Json::parse(R"([{"bearerAuth":[]}])"));
  EXPECT_TRUE(
      document["components"]["responses"]["ResourceExhausted"]["headers"].contains("Retry-After"));

  const Json& paths = document["paths"];
  const Json& learn = paths["/v1/namespaces/{namespace}/concepts"]["post"];
  EXPECT_TRUE(learn["responses"].contains("200"));
  EXPECT_TRUE(learn["responses"].contains("201"));
  EXPECT_EQ(learn["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/LearnRequest");
  for (const char* status :
       {"400", "401", "403", "404", "409", "413", "429", "500", "503", "504"}) {
    EXPECT_TRUE(learn["responses"].contains(status)) << status;
  }
  EXPECT_TRUE(paths["/v1/namespaces"]["post"]["responses"].contains("201"));
  EXPECT_FALSE(paths["/v1/namespaces"]["post"]["responses"].contains("200"));

  const Json& neighbors = paths["/v1/namespaces/{namespace}/concepts/{id}/neighbors"]["get"];
  std::map<std::string, Json> query;
  for (const Json& parameter : neighbors["parameters"]) {
    if (parameter.value("in", "") == "query") query[parameter["name"]] = parameter["schema"];
  }
  EXPECT_EQ(query["type"]["$ref"], "#/components/schemas/AssociationType");
  EXPECT_EQ(query["direction"]["$ref"], "#/components/schemas/Direction");
  EXPECT_EQ(query["limit"]["type"], "integer");
}

TEST(OpenApiTest, UnsupportedWellKnownTypesAreAnError) {
  RestRoute route = RestRoutes().front();
  route.request = pb::Struct::descriptor();  // map<string, google.protobuf.Value>
  absl::StatusOr<std::string> document = OpenApiDocument({route});
  EXPECT_EQ(document.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(document.status().message()),
              ::testing::HasSubstr("google.protobuf.Value"));
}

}  // namespace
}  // namespace engram::api
