#include "services/api/rest/rest_gateway.h"

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "common/status/error_detail.h"
#include "services/api/rest/openapi.h"

namespace engram::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace pb = google::protobuf;
using tcp = boost::asio::ip::tcp;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

using ClientResponse = bhttp::response<bhttp::string_body>;
using Headers = std::vector<std::pair<std::string, std::string>>;

// A blocking HTTP/1.1 client over one TCP connection.
class TestClient {
 public:
  explicit TestClient(int port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(asio::ip::address_v4::loopback(), static_cast<uint16_t>(port)));
  }

  ClientResponse Send(std::string_view method, std::string_view target, std::string body = "",
                      const Headers& headers = {}) {
    bhttp::request<bhttp::string_body> request;
    request.version(11);
    request.method_string(beast::string_view(method.data(), method.size()));
    request.target(beast::string_view(target.data(), target.size()));
    request.set(bhttp::field::host, "localhost");
    if (!body.empty()) request.set(bhttp::field::content_type, "application/json");
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = std::move(body);
    request.prepare_payload();
    bhttp::write(socket_, request);
    ClientResponse response;
    bhttp::read(socket_, buffer_, response);
    return response;
  }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

struct Call {
  std::string rpc;
  RequestContext ctx;
  std::shared_ptr<pb::Message> request;
};

// An ApiCore that records every call and answers with a canned response (an empty message unless
// set) or a canned error.
class FakeCore : public ApiCore {
 public:
  void SetResponse(const std::string& rpc, const pb::Message& response) {
    std::lock_guard<std::mutex> lock(mu_);
    std::shared_ptr<pb::Message> copy(response.New());
    copy->CopyFrom(response);
    responses_[rpc] = std::move(copy);
  }
  void FailWith(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    failure_ = std::move(status);
  }
  std::vector<Call> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

  absl::StatusOr<v1::Namespace> CreateNamespace(const RequestContext& ctx,
                                                const v1::CreateNamespaceRequest& r) override {
    return Answer<v1::Namespace>("CreateNamespace", ctx, r);
  }
  absl::StatusOr<v1::ListNamespacesResponse> ListNamespaces(
      const RequestContext& ctx, const v1::ListNamespacesRequest& r) override {
    return Answer<v1::ListNamespacesResponse>("ListNamespaces", ctx, r);
  }
  absl::StatusOr<v1::Namespace> GetNamespace(const RequestContext& ctx,
                                             const v1::GetNamespaceRequest& r) override {
    return Answer<v1::Namespace>("GetNamespace", ctx, r);
  }
  absl::StatusOr<v1::DeleteNamespaceResponse> DeleteNamespace(
      const RequestContext& ctx, const v1::DeleteNamespaceRequest& r) override {
    return Answer<v1::DeleteNamespaceResponse>("DeleteNamespace", ctx, r);
  }
  absl::StatusOr<v1::LearnResponse> Learn(const RequestContext& ctx,
                                          const v1::LearnRequest& r) override {
    return Answer<v1::LearnResponse>("Learn", ctx, r);
  }
  absl::StatusOr<v1::LearnBatchResponse> LearnBatch(const RequestContext& ctx,
                                                    const v1::LearnBatchRequest& r) override {
    return Answer<v1::LearnBatchResponse>("LearnBatch", ctx, r);
  }
  absl::StatusOr<v1::Concept> GetConcept(const RequestContext& ctx,
                                         const v1::GetConceptRequest& r) override {
    return Answer<v1::Concept>("GetConcept", ctx, r);
  }
  absl::StatusOr<v1::DeleteConceptResponse> DeleteConcept(
      const RequestContext& ctx, const v1::DeleteConceptRequest& r) override {
    return Answer<v1::DeleteConceptResponse>("DeleteConcept", ctx, r);
  }
  absl::StatusOr<v1::Association> Associate(const RequestContext& ctx,
                                            const v1::AssociateRequest& r) override {
    return Answer<v1::Association>("Associate", ctx, r);
  }
  absl::StatusOr<v1::ListConceptsResponse> ListConcepts(
      const RequestContext& ctx, const v1::ListConceptsRequest& r) override {
    return Answer<v1::ListConceptsResponse>("ListConcepts", ctx, r);
  }
  absl::StatusOr<v1::Concept> UpdateConcept(const RequestContext& ctx,
                                            const v1::UpdateConceptRequest& r) override {
    return Answer<v1::Concept>("UpdateConcept", ctx, r);
  }
  absl::StatusOr<v1::AssociateBatchResponse> AssociateBatch(
      const RequestContext& ctx, const v1::AssociateBatchRequest& r) override {
    return Answer<v1::AssociateBatchResponse>("AssociateBatch", ctx, r);
  }
  absl::StatusOr<v1::DeleteAssociationResponse> DeleteAssociation(
      const RequestContext& ctx, const v1::DeleteAssociationRequest& r) override {
    return Answer<v1::DeleteAssociationResponse>("DeleteAssociation", ctx, r);
  }
  absl::StatusOr<v1::NeighborsResponse> Neighbors(const RequestContext& ctx,
                                                  const v1::NeighborsRequest& r) override {
    return Answer<v1::NeighborsResponse>("Neighbors", ctx, r);
  }
  absl::StatusOr<v1::FindPathsResponse> FindPaths(const RequestContext& ctx,
                                                  const v1::FindPathsRequest& r) override {
    return Answer<v1::FindPathsResponse>("FindPaths", ctx, r);
  }
  absl::StatusOr<v1::SearchResponse> Search(const RequestContext& ctx,
                                            const v1::SearchRequest& r) override {
    return Answer<v1::SearchResponse>("Search", ctx, r);
  }
  absl::StatusOr<v1::ReasonResponse> Reason(const RequestContext& ctx,
                                            const v1::ReasonRequest& r) override {
    return Answer<v1::ReasonResponse>("Reason", ctx, r);
  }
  absl::StatusOr<v1::Stats> GetStats(const RequestContext& ctx,
                                     const v1::GetStatsRequest& r) override {
    return Answer<v1::Stats>("GetStats", ctx, r);
  }
  // Streams: write the canned messages set with SetStream, then fail with the canned error (if
  // any, once something was written; before that FailWith applies as for unary calls).
  void SetStream(std::vector<std::shared_ptr<pb::Message>> messages, absl::Status end) {
    std::lock_guard<std::mutex> lock(mu_);
    stream_messages_ = std::move(messages);
    stream_end_ = std::move(end);
  }
  absl::Status ReasonStream(const RequestContext& ctx, const v1::ReasonRequest& r,
                            StreamSink<v1::ReasonEvent>* sink) override {
    return Stream<v1::ReasonEvent>("ReasonStream", ctx, r, sink);
  }
  absl::Status ExportNamespace(const RequestContext& ctx, const v1::ExportNamespaceRequest& r,
                               StreamSink<v1::ExportChunk>* sink) override {
    return Stream<v1::ExportChunk>("ExportNamespace", ctx, r, sink);
  }

 private:
  template <typename Resp, typename Req>
  absl::StatusOr<Resp> Answer(const std::string& rpc, const RequestContext& ctx, const Req& r) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back({rpc, ctx, std::make_shared<Req>(r)});
    if (!failure_.ok()) return failure_;
    Resp response;
    if (auto it = responses_.find(rpc); it != responses_.end()) response.CopyFrom(*it->second);
    return response;
  }

  template <typename Msg, typename Req>
  absl::Status Stream(const std::string& rpc, const RequestContext& ctx, const Req& r,
                      StreamSink<Msg>* sink) {
    std::vector<std::shared_ptr<pb::Message>> messages;
    absl::Status end;
    {
      std::lock_guard<std::mutex> lock(mu_);
      calls_.push_back({rpc, ctx, std::make_shared<Req>(r)});
      if (!failure_.ok()) return failure_;
      messages = stream_messages_;
      end = stream_end_;
    }
    for (const auto& m : messages) {
      if (!sink->Write(static_cast<const Msg&>(*m))) return absl::CancelledError("client gone");
    }
    return end;
  }

  mutable std::mutex mu_;
  std::vector<std::shared_ptr<pb::Message>> stream_messages_;
  absl::Status stream_end_;
  std::vector<Call> calls_;
  std::map<std::string, std::shared_ptr<pb::Message>> responses_;
  absl::Status failure_;
};

const absl::Time kNow = absl::FromUnixSeconds(1'790'000'000);

class RestGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<http::HttpServer>(http::HttpServer::Options{
        .address = "127.0.0.1", .port = 0, .threads = 2, .max_body_bytes = 64 << 10});
    RegisterRestRoutes(*server_, core_, RestGatewayOptions{.now = [] { return kNow; }});
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<TestClient>(server_->port());
  }
  void TearDown() override { server_->Shutdown(); }

  ClientResponse Send(std::string_view method, std::string_view target, std::string body = "",
                      const Headers& headers = {}) {
    return client_->Send(method, target, std::move(body), headers);
  }

  // The one call the core got (fails the test when there was not exactly one).
  Call OnlyCall() {
    std::vector<Call> calls = core_.calls();
    EXPECT_EQ(calls.size(), 1u);
    return calls.empty() ? Call{} : calls.back();
  }

  // Asserts a JSON error body with `code` and returns its message.
  static std::string ErrorMessage(const ClientResponse& response, std::string_view code) {
    const nlohmann::json body = nlohmann::json::parse(response.body(), nullptr, false);
    EXPECT_TRUE(body.contains("error")) << response.body();
    if (!body.contains("error")) return "";
    EXPECT_EQ(body["error"].value("code", ""), code) << response.body();
    EXPECT_EQ(body["error"].value("correlationId", ""),
              std::string(response[beast::string_view("X-Correlation-ID")]));
    return body["error"].value("message", "");
  }

  FakeCore core_;
  std::unique_ptr<http::HttpServer> server_;
  std::unique_ptr<TestClient> client_;
};

struct RouteCase {
  std::string method;
  std::string target;
  std::string body;
  std::string rpc;
  std::string expected_request;  // text format
  int status;
};

TEST_F(RestGatewayTest, EveryRouteReachesItsCoreMethodWithPathQueryAndBodyMapped) {
  const std::vector<RouteCase> cases = {
      {"POST", "/v1/namespaces",
       R"({"name":"docs","dimension":8,"metric":"L2","embedder":"none",
           "indexParams":{"m":8,"efConstruction":64}})",
       "CreateNamespace",
       R"(name: "docs" dimension: 8 metric: L2 embedder: "none"
          index_params { m: 8 ef_construction: 64 })",
       201},
      {"GET", "/v1/namespaces", "", "ListNamespaces", "", 200},
      {"GET", "/v1/namespaces/docs", "", "GetNamespace", R"(namespace: "docs")", 200},
      {"DELETE", "/v1/namespaces/docs", "", "DeleteNamespace", R"(namespace: "docs")", 200},
      {"POST", "/v1/namespaces/docs/concepts",
       R"({"content":"A dog is a mammal","id":"dog","vector":[0.5,-1],
           "attributes":{"lang":"en"},"extractAssociations":false})",
       "Learn",
       R"(namespace: "docs" content: "A dog is a mammal" id: "dog" vector: 0.5 vector: -1
          attributes { key: "lang" value: "en" } extract_associations { value: false })",
       200},
      {"POST", "/v1/namespaces/docs/concepts:batch",
       R"({"concepts":[{"content":"a"},{"content":"b","id":"x","namespace":"docs"}]})",
       "LearnBatch",
       R"(namespace: "docs" concepts { content: "a" }
          concepts { content: "b" id: "x" namespace: "docs" })",
       200},
      {"GET", "/v1/namespaces/docs/concepts/dog%2F1?includeVector=true", "", "GetConcept",
       R"(namespace: "docs" id: "dog/1" include_vector: true)", 200},
      {"DELETE", "/v1/namespaces/docs/concepts/dog", "", "DeleteConcept",
       R"(namespace: "docs" id: "dog")", 200},
      {"POST", "/v1/namespaces/docs/associations",
       R"({"source":"dog","target":"mammal","type":"HIERARCHICAL","confidence":0.5})", "Associate",
       R"(namespace: "docs" source: "dog" target: "mammal" type: HIERARCHICAL
          confidence { value: 0.5 })",
       200},
      {"GET", "/v1/namespaces/docs/concepts/dog/neighbors?type=CAUSAL&direction=OUT&limit=7", "",
       "Neighbors", R"(namespace: "docs" id: "dog" type: CAUSAL direction: OUT limit: 7)", 200},
      {"POST", "/v1/namespaces/docs/paths",
       R"({"source":"dog","target":"animal","maxDepth":3,"maxPaths":2,
           "types":["CAUSAL","HIERARCHICAL"]})",
       "FindPaths",
       R"(namespace: "docs" source: "dog" target: "animal" max_depth: 3 max_paths: 2
          types: CAUSAL types: HIERARCHICAL)",
       200},
      {"POST", "/v1/namespaces/docs/search",
       R"({"query":"pets","k":5,"ef":64,"filter":{"attributes":{"lang":"en"}}})", "Search",
       R"(namespace: "docs" query: "pets" k: 5 ef: 64
          filter { attributes { key: "lang" value: "en" } })",
       200},
      {"POST", "/v1/namespaces/docs/reason",
       R"({"query":"is a dog an animal?","k":3,"maxDepth":2,"maxPaths":4,"minConfidence":0.25,
           "types":["HIERARCHICAL"]})",
       "Reason",
       R"(namespace: "docs" query: "is a dog an animal?" k: 3 max_depth: 2 max_paths: 4
          min_confidence { value: 0.25 } types: HIERARCHICAL)",
       200},
      {"GET", "/v1/stats", "", "GetStats", "", 200},
      // v1.1
      {"GET",
       "/v1/namespaces/docs/concepts?pageSize=2&pageToken=abc&attribute=lang:en"
       "&attribute=src%3Aurl:http%3A%2F%2Fx&includeVector=true",
       "", "ListConcepts",
       R"(namespace: "docs" page_size: 2 page_token: "abc" attribute: "lang:en"
          attribute: "src:url:http://x" include_vector: true)",
       200},
      {"PATCH", "/v1/namespaces/docs/concepts/dog",
       R"({"content":"A dog barks","attributes":{"lang":"en"},"strength":2,
           "updateMask":["content","attributes","strength"]})",
       "UpdateConcept",
       R"(namespace: "docs" id: "dog" content: "A dog barks" attributes { key: "lang" value: "en" }
          strength { value: 2 } update_mask: "content" update_mask: "attributes"
          update_mask: "strength")",
       200},
      {"POST", "/v1/namespaces/docs/associations:batch",
       R"({"associations":[{"source":"a","target":"b","type":"CAUSAL"},
                           {"source":"b","target":"c","type":"TEMPORAL","weight":2}]})",
       "AssociateBatch",
       R"(namespace: "docs" associations { source: "a" target: "b" type: CAUSAL }
          associations { source: "b" target: "c" type: TEMPORAL weight { value: 2 } })",
       200},
      {"DELETE", "/v1/namespaces/docs/associations?source=a&target=b&type=CAUSAL", "",
       "DeleteAssociation", R"(namespace: "docs" source: "a" target: "b" type: CAUSAL)", 200},
      {"POST", "/v1/namespaces/docs/reason:stream", R"({"query":"why?","maxPaths":3})",
       "ReasonStream", R"(namespace: "docs" query: "why?" max_paths: 3)", 200},
      {"GET", "/v1/namespaces/docs:export", "", "ExportNamespace", R"(namespace: "docs")", 200},
  };
  // Streaming routes answer their own content type (an empty stream here: the fake writes nothing).
  const std::map<std::string, std::string> stream_types = {
      {"ReasonStream", "text/event-stream"}, {"ExportNamespace", "application/x-ndjson"}};

  std::set<std::string> covered;
  size_t calls_before = 0;
  for (const RouteCase& c : cases) {
    SCOPED_TRACE(c.method + " " + c.target);
    const ClientResponse response = Send(c.method, c.target, c.body);
    EXPECT_EQ(response.result_int(), c.status) << response.body();
    if (auto stream = stream_types.find(c.rpc); stream != stream_types.end()) {
      EXPECT_EQ(response[bhttp::field::content_type], stream->second);
      EXPECT_EQ(response.body(), "");
    } else {
      EXPECT_EQ(response[bhttp::field::content_type], "application/json");
      EXPECT_TRUE(nlohmann::json::accept(response.body())) << response.body();
    }

    const std::vector<Call> calls = core_.calls();
    ASSERT_EQ(calls.size(), calls_before + 1);
    calls_before = calls.size();
    const Call& call = calls.back();
    EXPECT_EQ(call.rpc, c.rpc);
    std::unique_ptr<pb::Message> expected(call.request->New());
    ASSERT_TRUE(pb::TextFormat::ParseFromString(c.expected_request, expected.get()))
        << c.expected_request;
    EXPECT_TRUE(pb::util::MessageDifferencer::Equals(*call.request, *expected))
        << "got:      " << call.request->ShortDebugString()
        << "\nexpected: " << expected->ShortDebugString();
    covered.insert(c.method + " " + call.rpc);
  }
  for (const RestRoute& route : RestRoutes()) {
    EXPECT_EQ(covered.count(route.method + " " + route.rpc), 1u)
        << "no test case for " << route.method << " " << route.pattern;
  }
}

TEST_F(RestGatewayTest, ResponsesUseTheProtobufJsonMapping) {
  v1::Namespace ns;
  ns.set_name("docs");
  ns.set_dimension(8);
  ns.set_metric(v1::L2);
  ns.set_concept_count(12'345'678'901'234ULL);
  ns.mutable_create_time()->set_seconds(1'767'323'045);  // 2026-01-02T03:04:05Z
  core_.SetResponse("GetNamespace", ns);
  ClientResponse response = Send("GET", "/v1/namespaces/docs");
  ASSERT_EQ(response.result_int(), 200);
  EXPECT_EQ(response.body(),
            R"({"name":"docs","dimension":8,"metric":"L2","embedder":"","conceptCount":)"
            R"("12345678901234","associationCount":"0","keywordFields":[],)"
            R"("createTime":"2026-01-02T03:04:05Z"})");

  v1::NeighborsResponse neighbors;
  v1::Neighbor* neighbor = neighbors.add_neighbors();
  neighbor->mutable_node()->set_id("mammal");
  neighbor->mutable_association()->set_type(v1::HIERARCHICAL);
  core_.SetResponse("Neighbors", neighbors);
  response = Send("GET", "/v1/namespaces/docs/concepts/dog/neighbors");
  ASSERT_EQ(response.result_int(), 200);
  const nlohmann::json body = nlohmann::json::parse(response.body());
  EXPECT_EQ(body["neighbors"][0]["concept"]["id"], "mammal");  // json_name "concept"
  EXPECT_EQ(body["neighbors"][0]["association"]["type"], "HIERARCHICAL");
  EXPECT_EQ(body["neighbors"][0]["association"]["confidence"], 0);  // zeros are printed

  response = Send("DELETE", "/v1/namespaces/docs/concepts/dog");
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response.body(), "{}");
  // Repeated fields are printed even when empty.
  core_.SetResponse("Neighbors", v1::NeighborsResponse());
  response = Send("GET", "/v1/namespaces/docs/concepts/dog/neighbors");
  EXPECT_EQ(response.body(), R"({"neighbors":[]})");
}

TEST_F(RestGatewayTest, LearnAnswers201WhenCreatedAnd200WhenItExisted) {
  v1::LearnResponse learned;
  learned.set_id("c1");
  learned.set_created(true);
  core_.SetResponse("Learn", learned);
  ClientResponse response = Send("POST", "/v1/namespaces/docs/concepts", R"({"content":"x"})");
  EXPECT_EQ(response.result_int(), 201);
  EXPECT_EQ(response.body(), R"({"id":"c1","created":true,"associations":[]})");

  learned.set_created(false);
  core_.SetResponse("Learn", learned);
  response = Send("POST", "/v1/namespaces/docs/concepts", R"({"content":"x"})");
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response.body(), R"({"id":"c1","created":false,"associations":[]})");
}

TEST_F(RestGatewayTest, CreateNamespaceAnswers201) {
  v1::Namespace ns;
  ns.set_name("docs");
  core_.SetResponse("CreateNamespace", ns);
  const ClientResponse response = Send("POST", "/v1/namespaces", R"({"name":"docs"})");
  EXPECT_EQ(response.result_int(), 201);
  EXPECT_EQ(nlohmann::json::parse(response.body())["name"], "docs");
}

TEST_F(RestGatewayTest, EmptyBodyIsAnEmptyMessage) {
  const ClientResponse response = Send("POST", "/v1/namespaces/docs/search", "");
  EXPECT_EQ(response.result_int(), 200);
  const Call call = OnlyCall();
  EXPECT_EQ(call.request->ShortDebugString(), R"(namespace: "docs")");
}

TEST_F(RestGatewayTest, MalformedJsonIs400AndNeverReachesTheCore) {
  for (const std::string body : {R"({"content": )", R"(["a"])", R"({"content":"x"} trailing)",
                                 R"({"content":"x",})", "not json"}) {
    SCOPED_TRACE(body);
    const ClientResponse response = Send("POST", "/v1/namespaces/docs/concepts", body);
    EXPECT_EQ(response.result_int(), 400);
    EXPECT_THAT(ErrorMessage(response, "INVALID_ARGUMENT"), StartsWith("invalid JSON body: "));
  }
  ClientResponse response =
      Send("POST", "/v1/namespaces/docs/concepts", "{\"content\":\"x\",\n\"id\":}");
  EXPECT_EQ(ErrorMessage(response, "INVALID_ARGUMENT"),
            "invalid JSON body: parse error at line 2, column 6: syntax error while parsing value "
            "- unexpected '}'; expected '[', '{', or a literal");
  response = Send("POST", "/v1/namespaces/docs/concepts", "{\"content\":\"caf\xe9\"}");
  EXPECT_EQ(response.result_int(), 400);
  EXPECT_THAT(ErrorMessage(response, "INVALID_ARGUMENT"),
              AllOf(StartsWith("invalid JSON body: parse error at line 1, column 17:"),
                    HasSubstr("ill-formed UTF-8")));
  EXPECT_TRUE(core_.calls().empty());
}

TEST_F(RestGatewayTest, UnknownOrMistypedJsonFieldsAre400NamingTheField) {
  ClientResponse response =
      Send("POST", "/v1/namespaces/docs/concepts", R"({"content":"x","bogus":1})");
  EXPECT_EQ(response.result_int(), 400);
  EXPECT_EQ(ErrorMessage(response, "INVALID_ARGUMENT"), "invalid JSON body: bogus: unknown field");

  response = Send("POST", "/v1/namespaces/docs/concepts:batch",
                  R"({"concepts":[{"content":"a"},{"content":"b","nope":true}]})");
  EXPECT_EQ(response.result_int(), 400);
  EXPECT_EQ(ErrorMessage(response, "INVALID_ARGUMENT"),
            "invalid JSON body: concepts[1].nope: unknown field");

  response = Send("POST", "/v1/namespaces/docs/search", R"({"k":"many"})");
  EXPECT_EQ(response.result_int(), 400);
  EXPECT_THAT(ErrorMessage(response, "INVALID_ARGUMENT"), StartsWith("invalid JSON body: k: "));

  response = Send("POST", "/v1/namespaces/docs/associations", R"({"type":"FOO"})");
  EXPECT_EQ(response.result_int(), 400);
  EXPECT_THAT(ErrorMessage(response, "INVALID_ARGUMENT"),
              StartsWith("invalid JSON body: type: invalid value \"FOO\""));
  EXPECT_TRUE(core_.calls().empty());
}

TEST_F(RestGatewayTest, BodyNamespaceMustMatchThePath) {
  ClientResponse response =
      Send("POST", "/v1/namespaces/docs/concepts", R"({"namespace":"other","content":"x"})");
  EXPECT_EQ(response.result_int(), 400);
  EXPECT_EQ(ErrorMessage(response, "INVALID_ARGUMENT"),
            "namespace: the body says 'other' but the URL says 'docs'");
  EXPECT_TRUE(core_.calls().empty());

  response = Send("POST", "/v1/namespaces/docs/concepts", R"({"namespace":"docs","content":"x"})");
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(OnlyCall().request->ShortDebugString(), R"(namespace: "docs" content: "x")");
}

TEST_F(RestGatewayTest, BadQueryParametersAre400NamingTheParameter) {
  const std::string neighbors = "/v1/namespaces/docs/concepts/dog/neighbors";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {neighbors + "?limit=-1", "limit: not a non-negative integer ('-1')"},
      {neighbors + "?limit=abc", "limit: not a non-negative integer ('abc')"},
      {neighbors + "?limit=%2B5", "limit: not a non-negative integer ('+5')"},
      {neighbors + "?limit=", "limit: not a non-negative integer ('')"},
      {neighbors + "?limit=4294967296", "limit: out of range ('4294967296'; at most 4294967295)"},
      {neighbors + "?type=FOO",
       "type: unknown association type 'FOO' (one of ASSOCIATION_TYPE_UNSPECIFIED, SEMANTIC, "
       "CAUSAL, TEMPORAL, HIERARCHICAL, COMPOSITIONAL)"},
      {neighbors + "?direction=SIDEWAYS",
       "direction: unknown direction 'SIDEWAYS' (one of DIRECTION_UNSPECIFIED, OUT, IN, BOTH)"},
      {neighbors + "?bogus=1", "unknown query parameter 'bogus' (expected type, direction, limit)"},
      {neighbors + "?Limit=5", "unknown query parameter 'Limit' (expected type, direction, limit)"},
      {"/v1/namespaces/docs/concepts/dog?includeVector=yes",
       "includeVector: expected true or false, got 'yes'"},
      {"/v1/namespaces/docs/concepts/dog?include_vector=true",
       "unknown query parameter 'include_vector' (expected includeVector)"},
      {"/v1/stats?verbose=true", "unknown query parameter 'verbose' (this route takes none)"},
  };
  for (const auto& [target, message] : cases) {
    SCOPED_TRACE(target);
    const ClientResponse response = Send("GET", target);
    EXPECT_EQ(response.result_int(), 400);
    EXPECT_EQ(ErrorMessage(response, "INVALID_ARGUMENT"), message);
  }
  // POST routes take everything from the body.
  const ClientResponse response = Send("POST", "/v1/namespaces/docs/search?k=5", "{}");
  EXPECT_EQ(response.result_int(), 400);
  EXPECT_EQ(ErrorMessage(response, "INVALID_ARGUMENT"),
            "unknown query parameter 'k' (this route takes none)");
  EXPECT_TRUE(core_.calls().empty());
}

TEST_F(RestGatewayTest, BodyOnAGetIs400) {
  const ClientResponse response = Send("GET", "/v1/namespaces/docs", R"({"namespace":"x"})");
  EXPECT_EQ(response.result_int(), 400);
  EXPECT_THAT(ErrorMessage(response, "INVALID_ARGUMENT"), HasSubstr("takes no request body"));
  EXPECT_TRUE(core_.calls().empty());
}

TEST_F(RestGatewayTest, NonFiniteVectorReachesTheCoreUnchanged) {
  core_.FailWith(absl::InvalidArgumentError("vector[1]: not finite"));
  const ClientResponse response = Send("POST", "/v1/namespaces/docs/concepts",
                                       R"({"content":"x","vector":[1,"NaN","Infinity"]})");
  EXPECT_EQ(response.result_int(), 400);
  EXPECT_EQ(ErrorMessage(response, "INVALID_ARGUMENT"), "vector[1]: not finite");
  const Call call = OnlyCall();
  const auto& learn = static_cast<const v1::LearnRequest&>(*call.request);
  ASSERT_EQ(learn.vector_size(), 3);
  EXPECT_EQ(learn.vector(0), 1.0f);
  EXPECT_TRUE(std::isnan(learn.vector(1)));
  EXPECT_TRUE(std::isinf(learn.vector(2)));
}

TEST_F(RestGatewayTest, CoreErrorsMapToApiMdStatuses) {
  struct ErrorCase {
    absl::Status status;
    int http_status;
    std::string code;
    std::string message;
  };
  const std::vector<ErrorCase> cases = {
      {absl::InvalidArgumentError("content: required"), 400, "INVALID_ARGUMENT",
       "content: required"},
      {absl::UnauthenticatedError("missing API key"), 401, "UNAUTHENTICATED", "missing API key"},
      {absl::PermissionDeniedError("key 'r' (reader) may not learn"), 403, "PERMISSION_DENIED",
       "key 'r' (reader) may not learn"},
      {absl::NotFoundError("namespace 'docs' not found"), 404, "NOT_FOUND",
       "namespace 'docs' not found"},
      {absl::AlreadyExistsError("namespace 'docs' exists"), 409, "ALREADY_EXISTS",
       "namespace 'docs' exists"},
      {absl::ResourceExhaustedError("rate limit"), 429, "RESOURCE_EXHAUSTED", "rate limit"},
      {absl::UnavailableError("storage unavailable"), 503, "UNAVAILABLE", "storage unavailable"},
      {absl::DeadlineExceededError("deadline exceeded"), 504, "DEADLINE_EXCEEDED",
       "deadline exceeded"},
      {absl::InternalError("storage.cc:12 segment 7 checksum mismatch"), 500, "INTERNAL",
       "internal error"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.status.ToString());
    core_.FailWith(c.status);
    const ClientResponse response =
        Send("POST", "/v1/namespaces/docs/concepts", R"({"content":"x"})");
    EXPECT_EQ(response.result_int(), c.http_status);
    EXPECT_EQ(ErrorMessage(response, c.code), c.message);
    EXPECT_THAT(response.body(), Not(HasSubstr("checksum")));
  }
}

TEST_F(RestGatewayTest, ResourceExhaustedCarriesRetryAfterFromTheStatus) {
  absl::Status throttled = absl::ResourceExhaustedError("key 'ingest' over its rate limit");
  throttled = status::WithDetail(std::move(throttled), status::RateLimitedDetail("key", 17));
  core_.FailWith(throttled);
  ClientResponse response = Send("POST", "/v1/namespaces/docs/search", R"({"query":"x"})");
  EXPECT_EQ(response.result_int(), 429);
  EXPECT_EQ(response[beast::string_view("Retry-After")], "17");
  EXPECT_EQ(ErrorMessage(response, "RESOURCE_EXHAUSTED"), "key 'ingest' over its rate limit");

  core_.FailWith(absl::ResourceExhaustedError("queue full"));  // no payload: 1 second
  response = Send("POST", "/v1/namespaces/docs/search", R"({"query":"x"})");
  EXPECT_EQ(response.result_int(), 429);
  EXPECT_EQ(response[beast::string_view("Retry-After")], "1");
}

TEST_F(RestGatewayTest, CorrelationIdAndBearerKeyReachTheCore) {
  ClientResponse response =
      Send("GET", "/v1/stats", "",
           {{"X-Correlation-ID", "req-42.a:b"}, {"Authorization", "Bearer ek_live_0123456789"}});
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response[beast::string_view("X-Correlation-ID")], "req-42.a:b");
  std::vector<Call> calls = core_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].ctx.correlation_id, "req-42.a:b");
  EXPECT_EQ(calls[0].ctx.api_key, "ek_live_0123456789");
  EXPECT_EQ(calls[0].ctx.deadline, absl::InfiniteFuture());

  // No header: a generated id (echoed), no key. Another scheme is no key either.
  response = Send("GET", "/v1/stats", "", {{"Authorization", "Basic dXNlcjpwYXNz"}});
  calls = core_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_FALSE(calls[1].ctx.correlation_id.empty());
  EXPECT_EQ(calls[1].ctx.correlation_id,
            std::string(response[beast::string_view("X-Correlation-ID")]));
  EXPECT_EQ(calls[1].ctx.api_key, "");
}

TEST_F(RestGatewayTest, GrpcTimeoutHeaderSetsTheDeadline) {
  Send("GET", "/v1/stats", "", {{"grpc-timeout", "500m"}});
  Send("GET", "/v1/stats", "", {{"grpc-timeout", "2S"}});
  std::vector<Call> calls = core_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].ctx.deadline, kNow + absl::Milliseconds(500));
  EXPECT_EQ(calls[1].ctx.deadline, kNow + absl::Seconds(2));

  for (const std::string bad : {"abc", "5", "123456789S", "10s", "-5S", ""}) {
    SCOPED_TRACE(bad);
    const ClientResponse response = Send("GET", "/v1/stats", "", {{"grpc-timeout", bad}});
    EXPECT_EQ(response.result_int(), 400);
    EXPECT_THAT(ErrorMessage(response, "INVALID_ARGUMENT"), StartsWith("grpc-timeout: malformed"));
  }
  EXPECT_EQ(core_.calls().size(), 2u);
}

TEST(ParseGrpcTimeoutTest, EveryUnit) {
  EXPECT_EQ(*ParseGrpcTimeout("1H"), absl::Hours(1));
  EXPECT_EQ(*ParseGrpcTimeout("2M"), absl::Minutes(2));
  EXPECT_EQ(*ParseGrpcTimeout("3S"), absl::Seconds(3));
  EXPECT_EQ(*ParseGrpcTimeout("4m"), absl::Milliseconds(4));
  EXPECT_EQ(*ParseGrpcTimeout("5u"), absl::Microseconds(5));
  EXPECT_EQ(*ParseGrpcTimeout("99999999n"), absl::Nanoseconds(99999999));
  EXPECT_EQ(*ParseGrpcTimeout("0m"), absl::ZeroDuration());
  EXPECT_FALSE(ParseGrpcTimeout("1h").ok());
  EXPECT_FALSE(ParseGrpcTimeout(" 1S").ok());
  EXPECT_FALSE(ParseGrpcTimeout("S").ok());
}

TEST_F(RestGatewayTest, ServerLevelErrorsThroughTheGatewayRoutes) {
  ClientResponse response = Send("GET", "/v1/namespaces/docs/nothing-here");
  EXPECT_EQ(response.result_int(), 404);
  ErrorMessage(response, "NOT_FOUND");

  response = Send("PUT", "/v1/namespaces/docs", "{}");
  EXPECT_EQ(response.result_int(), 405);
  EXPECT_EQ(response[bhttp::field::allow], "DELETE, GET");

  const std::string huge = R"({"content":")" + std::string(100 << 10, 'a') + R"("})";
  TestClient other(server_->port());  // the server closes a connection after a 413
  response = other.Send("POST", "/v1/namespaces/docs/concepts", huge);
  EXPECT_EQ(response.result_int(), 413);
  ErrorMessage(response, "PAYLOAD_TOO_LARGE");
  EXPECT_TRUE(core_.calls().empty());
}

TEST_F(RestGatewayTest, ServesTheOpenApiDocument) {
  const ClientResponse response = Send("GET", "/openapi.json");
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response[bhttp::field::content_type], "application/json");
  absl::StatusOr<std::string> document = OpenApiDocument();
  ASSERT_TRUE(document.ok()) << document.status();
  EXPECT_EQ(response.body(), *document);
}

// ---- Streams --------------------------------------------------------------------------------

std::shared_ptr<pb::Message> Parsed(const pb::Message& prototype, const std::string& text) {
  std::shared_ptr<pb::Message> m(prototype.New());
  EXPECT_TRUE(pb::TextFormat::ParseFromString(text, m.get())) << text;
  return m;
}

TEST_F(RestGatewayTest, ReasonStreamIsServerSentEventsOnePerMessage) {
  core_.SetStream({Parsed(v1::ReasonEvent(), R"(seeds { support { id: "dog" score: 0.5 } })"),
                   Parsed(v1::ReasonEvent(), R"(path { path { concept_ids: "dog" concept_ids: "mammal" }
                                                       concepts { id: "dog" content: "dog" } evidence: 0.25 })"),
                   Parsed(v1::ReasonEvent(), R"(answer { confident: true explanation: "because" })")},
                  absl::OkStatus());
  const ClientResponse response =
      Send("POST", "/v1/namespaces/docs/reason:stream", R"({"query":"what is a dog?"})");
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response[bhttp::field::content_type], "text/event-stream");
  EXPECT_EQ(response[bhttp::field::cache_control], "no-store");
  const std::vector<std::string> events = absl::StrSplit(response.body(), "\n\n", absl::SkipEmpty());
  ASSERT_EQ(events.size(), 3u) << response.body();
  EXPECT_EQ(events[0], R"(event: seeds
data: {"support":[{"id":"dog","score":0.5,"content":"","attributes":{}}]})");
  EXPECT_TRUE(absl::StartsWith(events[1], "event: path\ndata: {\"path\":{\"conceptIds\":[\"dog\",\"mammal\"]"))
      << events[1];
  EXPECT_TRUE(absl::StartsWith(events[2], "event: answer\ndata: {")) << events[2];
  const nlohmann::json answer = nlohmann::json::parse(events[2].substr(events[2].find('{')));
  EXPECT_EQ(answer["explanation"], "because");
}

TEST_F(RestGatewayTest, StreamErrorBeforeTheFirstEventIsAPlainErrorResponse) {
  absl::Status limited = absl::ResourceExhaustedError("rate limit of key 'k' exceeded (1/s)");
  limited = status::WithDetail(std::move(limited), status::RateLimitedDetail("key", 4));
  core_.FailWith(limited);
  const ClientResponse response =
      Send("POST", "/v1/namespaces/docs/reason:stream", R"({"query":"q"})");
  EXPECT_EQ(response.result_int(), 429);
  EXPECT_EQ(response["Retry-After"], "4");
  EXPECT_THAT(ErrorMessage(response, "RESOURCE_EXHAUSTED"), HasSubstr("rate limit"));
}

TEST_F(RestGatewayTest, StreamRequestErrorsNameTheField) {
  ClientResponse response =
      Send("POST", "/v1/namespaces/docs/reason:stream", R"({"query":"q","nope":1})");
  EXPECT_EQ(response.result_int(), 400);
  EXPECT_THAT(ErrorMessage(response, "INVALID_ARGUMENT"), HasSubstr("nope"));
  response = Send("GET", "/v1/namespaces/docs:export?limit=3");
  EXPECT_EQ(response.result_int(), 400);
  EXPECT_THAT(ErrorMessage(response, "INVALID_ARGUMENT"), HasSubstr("unknown query parameter 'limit'"));
  EXPECT_TRUE(core_.calls().empty()) << "nothing reached the core";
}

TEST_F(RestGatewayTest, StreamErrorAfterTheFirstEventIsAnErrorEvent) {
  core_.SetStream({Parsed(v1::ReasonEvent(), R"(seeds { support { id: "dog" } })")},
                  absl::UnavailableError("hybrid unavailable: down"));
  const ClientResponse response =
      Send("POST", "/v1/namespaces/docs/reason:stream", R"({"query":"q"})");
  EXPECT_EQ(response.result_int(), 200);
  const std::vector<std::string> events = absl::StrSplit(response.body(), "\n\n", absl::SkipEmpty());
  ASSERT_EQ(events.size(), 2u) << response.body();
  ASSERT_TRUE(absl::StartsWith(events[1], "event: error\ndata: ")) << events[1];
  const nlohmann::json error = nlohmann::json::parse(events[1].substr(events[1].find('{')));
  EXPECT_EQ(error["error"]["code"], "UNAVAILABLE");
  EXPECT_EQ(error["error"]["message"], "hybrid unavailable: down");
}

TEST_F(RestGatewayTest, ExportIsNdjsonConceptsThenAssociations) {
  core_.SetStream(
      {Parsed(v1::ExportChunk(), R"(namespace { name: "docs" dimension: 2 embedder: "none" concept_count: 2 })"),
       Parsed(v1::ExportChunk(), R"(concepts { id: "a" content: "alpha" vector: 1 vector: 0 }
                                    concepts { id: "b" content: "beta" })"),
       Parsed(v1::ExportChunk(), R"(associations { source: "a" target: "b" type: CAUSAL confidence: 0.5 weight: 1 })")},
      absl::OkStatus());
  const ClientResponse response = Send("GET", "/v1/namespaces/docs:export");
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response[bhttp::field::content_type], "application/x-ndjson");
  const std::vector<std::string> lines = absl::StrSplit(response.body(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << response.body();
  const nlohmann::json ns = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(ns["namespace"]["name"], "docs");
  EXPECT_EQ(ns["namespace"]["dimension"], 2);
  EXPECT_EQ(ns["namespace"]["conceptCount"], "2");  // uint64 is a JSON string
  const nlohmann::json a = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(a["concept"]["id"], "a");
  EXPECT_EQ(a["concept"]["vector"], nlohmann::json::parse("[1,0]"));
  EXPECT_EQ(nlohmann::json::parse(lines[2])["concept"]["content"], "beta");
  const nlohmann::json edge = nlohmann::json::parse(lines[3]);
  EXPECT_EQ(edge["association"]["type"], "CAUSAL");
  EXPECT_EQ(edge["association"]["source"], "a");
  const Call call = OnlyCall();
  EXPECT_EQ(call.rpc, "ExportNamespace");
}

TEST_F(RestGatewayTest, ExportFailingMidwayEndsWithAnErrorLineAndATruncatedBody) {
  core_.SetStream({Parsed(v1::ExportChunk(), R"(concepts { id: "a" content: "alpha" })")},
                  absl::UnavailableError("storage unavailable: gone"));
  client_.reset();
  asio::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(asio::ip::address_v4::loopback(), static_cast<uint16_t>(server_->port())));
  const std::string request = "GET /v1/namespaces/docs:export HTTP/1.1\r\nHost: a\r\n\r\n";
  asio::write(socket, asio::buffer(request));
  bhttp::response_parser<bhttp::string_body> parser;
  beast::flat_buffer buffer;
  beast::error_code ec;
  bhttp::read(socket, buffer, parser, ec);
  EXPECT_TRUE(ec) << "the body must not end cleanly";
  const std::string body = parser.get().body();
  const std::vector<std::string> lines = absl::StrSplit(body, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << body;
  EXPECT_EQ(nlohmann::json::parse(lines[0])["concept"]["id"], "a");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["error"]["code"], "UNAVAILABLE");
}

}  // namespace
}  // namespace engram::api
