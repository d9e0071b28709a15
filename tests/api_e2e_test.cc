// End-to-end tests of the whole suite: the real engram-storage, engram-hybrid and engram-api
// binaries (and engramctl), over REST and gRPC. Dependencies are killed for real (SIGKILL) and
// restarted on the same port; every error path sends the real bad bytes.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <map>
#include <thread>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "engram/v1/engram.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/testing/http_client.h"
#include "tests/testing/process.h"

namespace engram {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ChildProcess;
using testing::CommandResult;
using testing::RunCommand;
using testing::Eventually;
using testing::HttpCall;
using testing::HttpResult;
using json = nlohmann::json;

constexpr char kAdminKey[] = "e2e-admin-key-0123456789";
constexpr char kWriterKey[] = "e2e-writer-key-0123456789";
constexpr char kReaderKey[] = "e2e-reader-key-0123456789";
constexpr char kScopedKey[] = "e2e-scoped-key-0123456789";  // reader of namespace "scoped" only

std::filesystem::path TestDir(const std::string& name) {
  auto dir = std::filesystem::path(::testing::TempDir()) / ("api_e2e." + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::vector<std::pair<std::string, std::string>> Auth(const std::string& key) {
  return {{"Authorization", "Bearer " + key}};
}

// The value of the first /metrics sample whose line starts with `name` and contains every one of
// `labels` (e.g. "method=\"ReasonStream\""); 0 when there is none.
double MetricValue(int http_port, const std::string& name, const std::vector<std::string>& labels = {}) {
  const std::string body = HttpCall(http_port, "GET", "/metrics").body;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (!absl::StartsWith(line, name + "{") && !absl::StartsWith(line, name + " ")) continue;
    bool all = true;
    for (const std::string& label : labels) all = all && absl::StrContains(line, label);
    if (!all) continue;
    double value = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) return value;
  }
  return 0;
}

json Json(const HttpResult& r) {
  json j = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.body;
  return j;
}


// The three services on fixed loopback ports (so a killed service can come back on its port).
class Suite {
 public:
  explicit Suite(std::string name, std::vector<std::string> extra_api_flags = {})
      : dir_(TestDir(name)), extra_api_flags_(std::move(extra_api_flags)) {
    storage_port_ = testing::PickFreePort();
    hybrid_port_ = testing::PickFreePort();
    std::ofstream keys(dir_ / "keys.json");
    keys << json{{"keys",
                  {{{"name", "admin"}, {"key", kAdminKey}, {"role", "admin"}, {"namespaces", {"*"}}},
                   {{"name", "writer"}, {"key", kWriterKey}, {"role", "writer"}, {"namespaces", {"*"}}},
                   {{"name", "reader"}, {"key", kReaderKey}, {"role", "reader"}, {"namespaces", {"*"}}},
                   {{"name", "scoped"}, {"key", kScopedKey}, {"role", "reader"}, {"namespaces", {"scoped"}}}}}}
                .dump();
  }

  void Start() {
    StartStorage();
    StartHybrid();
    api_ = StartApi("api", extra_api_flags_);
    api_grpc_port_ = api_->PortAfter("serving on grpc ");
    api_http_port_ = api_->PortAfter(" http ");
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", api_grpc_port_), grpc::InsecureChannelCredentials());
    stub_ = v1::Engram::NewStub(channel_);
    ASSERT_TRUE(Eventually([&] { return Ready(); })) << HttpCall(api_http_port_, "GET", "/readyz").body;
  }

  void StartStorage() {
    storage_ = std::make_unique<ChildProcess>(
        ENGRAM_STORAGE_BIN,
        std::vector<std::string>{"--data_dir=" + (dir_ / "storage").string(),
                                 absl::StrCat("--grpc_port=", storage_port_), "--http_port=0",
                                 "--listen_address=127.0.0.1", "--log_level=debug", "--drain_seconds=1"},
        dir_ / absl::StrCat("storage.", ++storage_starts_, ".log"));
    ASSERT_TRUE(storage_->Start().ok());
    ASSERT_TRUE(storage_->WaitForLine("engram-storage serving on grpc", absl::Seconds(120)).ok()) << storage_->Log();
    storage_http_port_ = storage_->PortAfter(" http ");
  }

  void StartHybrid() {
    std::vector<std::string> args{absl::StrCat("--grpc_port=", hybrid_port_), "--http_port=0",
                                  "--listen_address=127.0.0.1", "--log_level=debug", "--drain_seconds=1",
                                  absl::StrCat("--storage_addr=127.0.0.1:", storage_port_)};
    args.insert(args.end(), hybrid_flags_.begin(), hybrid_flags_.end());
    hybrid_ = std::make_unique<ChildProcess>(ENGRAM_HYBRID_BIN, args,
                                             dir_ / absl::StrCat("hybrid.", ++hybrid_starts_, ".log"));
    ASSERT_TRUE(hybrid_->Start().ok());
    ASSERT_TRUE(hybrid_->WaitForLine("engram-hybrid serving on grpc", absl::Seconds(120)).ok()) << hybrid_->Log();
    hybrid_http_port_ = hybrid_->PortAfter(" http ");
  }

  // Another engram-api over the same storage and hybrid (e.g. with other limits).
  std::unique_ptr<ChildProcess> StartApi(const std::string& name, std::vector<std::string> flags) {
    std::vector<std::string> args{"--grpc_port=0",
                                  "--http_port=0",
                                  "--listen_address=127.0.0.1",
                                  "--log_level=debug",
                                  "--drain_seconds=1",
                                  "--api_keys_file=" + (dir_ / "keys.json").string(),
                                  absl::StrCat("--storage_addr=127.0.0.1:", storage_port_),
                                  absl::StrCat("--hybrid_addr=127.0.0.1:", hybrid_port_)};
    args.insert(args.end(), flags.begin(), flags.end());
    auto api = std::make_unique<ChildProcess>(ENGRAM_API_BIN, args, dir_ / (name + ".log"));
    EXPECT_TRUE(api->Start().ok());
    auto line = api->WaitForLine("engram-api serving on grpc", absl::Seconds(120));
    EXPECT_TRUE(line.ok()) << api->Log();
    return api;
  }

  bool Ready() { return HttpCall(api_http_port_, "GET", "/readyz", "", {}, 5).status == 200; }

  HttpResult Rest(const std::string& method, const std::string& target, const std::string& body = "",
                  const std::string& key = kAdminKey) {
    return HttpCall(api_http_port_, method, target, body, key.empty() ? decltype(Auth(key)){} : Auth(key));
  }

  // A gRPC call context with the key and a deadline.
  static std::unique_ptr<grpc::ClientContext> Context(const std::string& key = kAdminKey,
                                                       absl::Duration timeout = absl::Seconds(30)) {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!key.empty()) context->AddMetadata("authorization", "Bearer " + key);
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    return context;
  }

  uint64_t Concepts() {
    v1::Stats stats;
    grpc::Status s = stub_->GetStats(Context().get(), v1::GetStatsRequest(), &stats);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return stats.concepts();
  }

  std::filesystem::path dir_;
  std::vector<std::string> extra_api_flags_;
  std::vector<std::string> hybrid_flags_;  // extra engram-hybrid flags (set before Start)
  int storage_port_ = 0, hybrid_port_ = 0, api_grpc_port_ = 0, api_http_port_ = 0;
  int storage_http_port_ = 0, hybrid_http_port_ = 0;
  int storage_starts_ = 0, hybrid_starts_ = 0;
  std::unique_ptr<ChildProcess> storage_, hybrid_, api_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Engram::Stub> stub_;
};

// One suite shared by the tests that do not kill anything.
class ApiE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    suite_ = new Suite("shared", {"--max_body_mb=1"});
    suite_->Start();
  }
  static void TearDownTestSuite() {
    delete suite_;
    suite_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(suite_, nullptr); }
  static Suite* suite_;
};
Suite* ApiE2eTest::suite_ = nullptr;

TEST_F(ApiE2eTest, EveryRestRoute) {
  Suite& s = *suite_;
  const std::string ns = "e2e_rest";
  const std::string base = "/v1/namespaces/" + ns;

  HttpResult r = s.Rest("POST", "/v1/namespaces", json{{"name", ns}}.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Json(r)["name"], ns);
  EXPECT_EQ(Json(r)["dimension"], 384);
  EXPECT_EQ(Json(r)["metric"], "COSINE");
  EXPECT_EQ(Json(r)["embedder"], "hashing");
  EXPECT_EQ(s.Rest("POST", "/v1/namespaces", json{{"name", ns}}.dump()).status, 409);

  r = s.Rest("GET", "/v1/namespaces");
  ASSERT_EQ(r.status, 200) << r.body;
  std::set<std::string> names;
  const json listed = Json(r);
  for (const auto& n : listed["namespaces"]) names.insert(n["name"]);
  EXPECT_TRUE(names.count(ns) && names.count("default")) << r.body;

  r = s.Rest("GET", base);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r)["conceptCount"], "0");  // 64-bit integers are JSON strings

  // Learn: 201 when created, 200 the second time; the stated relation becomes an association.
  r = s.Rest("POST", base + "/concepts", json{{"content", "A dog is a mammal"}}.dump(), kWriterKey);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string dog = Json(r)["id"];
  EXPECT_EQ(Json(r)["created"], true);
  bool hierarchical = false;
  const json learned = Json(r);
  for (const auto& a : learned["associations"]) hierarchical |= a["type"] == "HIERARCHICAL";
  EXPECT_TRUE(hierarchical) << r.body;
  r = s.Rest("POST", base + "/concepts", json{{"content", "A dog is a mammal"}}.dump(), kWriterKey);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r)["id"], dog);
  EXPECT_EQ(Json(r)["created"], false);

  r = s.Rest("POST", base + "/concepts:batch",
             json{{"concepts",
                   {{{"content", "Heavy rain causes floods"}},
                    {{"content", "Floods damage houses"}, {"id", "floods"}, {"attributes", {{"topic", "weather"}}}}}}}
                 .dump(),
             kWriterKey);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(Json(r)["results"].size(), 2u);
  EXPECT_EQ(Json(r)["results"][1]["id"], "floods");
  EXPECT_GE(std::stoull(Json(r)["associationsCreated"].get<std::string>()), 1u) << r.body;

  r = s.Rest("GET", base + "/concepts/floods?includeVector=true", "", kReaderKey);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r)["content"], "Floods damage houses");
  EXPECT_EQ(Json(r)["attributes"]["topic"], "weather");
  EXPECT_FALSE(Json(r)["createTime"].get<std::string>().empty());
  const std::vector<float> floods_vector = Json(r)["vector"];
  EXPECT_EQ(floods_vector.size(), 384u);

  r = s.Rest("POST", base + "/associations",
             json{{"source", dog}, {"target", "floods"}, {"type", "CAUSAL"}, {"confidence", 0.75}}.dump(), kWriterKey);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r)["type"], "CAUSAL");
  EXPECT_FLOAT_EQ(Json(r)["confidence"].get<float>(), 0.75f);

  r = s.Rest("GET", base + "/concepts/" + dog + "/neighbors?type=CAUSAL&direction=OUT&limit=10", "", kReaderKey);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(Json(r)["neighbors"].size(), 1u) << r.body;
  EXPECT_EQ(Json(r)["neighbors"][0]["concept"]["id"], "floods");
  EXPECT_EQ(Json(r)["neighbors"][0]["association"]["type"], "CAUSAL");

  r = s.Rest("POST", base + "/paths", json{{"source", dog}, {"target", "floods"}, {"maxDepth", 3}}.dump(), kReaderKey);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_FALSE(Json(r)["paths"].empty()) << r.body;
  EXPECT_EQ(Json(r)["paths"][0]["conceptIds"].front(), dog);
  EXPECT_EQ(Json(r)["paths"][0]["conceptIds"].back(), "floods");

  r = s.Rest("POST", base + "/search", json{{"query", "a dog is a mammal"}, {"k", 3}}.dump(), kReaderKey);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_FALSE(Json(r)["results"].empty());
  EXPECT_EQ(Json(r)["results"][0]["id"], dog);

  // v1.1 modes: a text query is HYBRID by default, with both component scores; KEYWORD is BM25.
  EXPECT_TRUE(Json(r)["results"][0]["scores"].contains("vector")) << r.body;
  EXPECT_TRUE(Json(r)["results"][0]["scores"].contains("keyword")) << r.body;
  r = s.Rest("POST", base + "/search", json{{"query", "mammal"}, {"mode", "KEYWORD"}}.dump(), kReaderKey);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_FALSE(Json(r)["results"].empty()) << r.body;
  bool found_dog = false;
  const json keyword_hits = Json(r)["results"];
  for (const auto& hit : keyword_hits) {
    found_dog |= hit["id"] == dog;
    EXPECT_THAT(hit["content"].get<std::string>(), HasSubstr("mammal")) << r.body;  // only word matches
  }
  EXPECT_TRUE(found_dog) << r.body;
  EXPECT_FALSE(Json(r)["results"][0]["scores"].contains("vector")) << r.body;
  EXPECT_GT(Json(r)["results"][0]["scores"]["keyword"].get<double>(), 0) << r.body;
  r = s.Rest("POST", base + "/search", json{{"query", "mammal"}, {"mode", "SIDEWAYS"}}.dump(), kReaderKey);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.body, HasSubstr("mode")) << r.body;
  r = s.Rest("POST", base + "/search", json{{"vector", floods_vector}, {"mode", "KEYWORD"}}.dump(), kReaderKey);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.body, HasSubstr("mode")) << r.body;

  r = s.Rest("POST", base + "/search", json{{"vector", floods_vector}, {"k", 1}}.dump(), kReaderKey);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(Json(r)["results"].size(), 1u);
  EXPECT_EQ(Json(r)["results"][0]["id"], "floods");
  EXPECT_TRUE(Json(r)["results"][0]["scores"].contains("vector")) << r.body;

  r = s.Rest("POST", base + "/search",
             json{{"query", "water damage"}, {"filter", {{"attributes", {{"topic", "weather"}}}}}}.dump(), kReaderKey);
  ASSERT_EQ(r.status, 200) << r.body;
  const json filtered = Json(r);
  ASSERT_FALSE(filtered["results"].empty());
  for (const auto& hit : filtered["results"]) EXPECT_EQ(hit["attributes"]["topic"], "weather") << r.body;

  r = s.Rest("POST", base + "/reason", json{{"query", "Is a dog a mammal?"}}.dump(), kReaderKey);
  ASSERT_EQ(r.status, 200) << r.body;
  json reason = Json(r);
  EXPECT_TRUE(reason.contains("confidence") && reason["confidence"].contains("final")) << r.body;
  EXPECT_FALSE(reason["paths"].empty()) << r.body;
  EXPECT_FALSE(reason["explanation"].get<std::string>().empty());

  r = s.Rest("GET", "/v1/stats", "", kReaderKey);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_GE(std::stoull(Json(r)["concepts"].get<std::string>()), 4u);

  // Deletes are complete: gone from get, neighbors and search.
  EXPECT_EQ(s.Rest("DELETE", base + "/concepts/floods", "", kWriterKey).status, 200);
  EXPECT_EQ(s.Rest("GET", base + "/concepts/floods", "", kReaderKey).status, 404);
  EXPECT_EQ(s.Rest("DELETE", base + "/concepts/floods", "", kWriterKey).status, 404);
  r = s.Rest("GET", base + "/concepts/" + dog + "/neighbors?type=CAUSAL", "", kReaderKey);
  EXPECT_TRUE(Json(r)["neighbors"].empty()) << r.body;
  r = s.Rest("POST", base + "/search", json{{"vector", floods_vector}, {"k", 5}}.dump(), kReaderKey);
  const json after_delete = Json(r);
  for (const auto& hit : after_delete["results"]) EXPECT_NE(hit["id"], "floods");

  EXPECT_EQ(s.Rest("DELETE", base).status, 200);
  EXPECT_EQ(s.Rest("GET", base).status, 404);

  // The HTTP port's standard and documentation routes.
  r = s.Rest("GET", "/openapi.json", "", "");
  ASSERT_EQ(r.status, 200);
  json doc = Json(r);
  EXPECT_TRUE(doc.contains("openapi"));
  for (const char* path : {"/v1/namespaces", "/v1/namespaces/{namespace}", "/v1/namespaces/{namespace}/concepts",
                           "/v1/namespaces/{namespace}/concepts:batch", "/v1/namespaces/{namespace}/concepts/{id}",
                           "/v1/namespaces/{namespace}/associations",
                           "/v1/namespaces/{namespace}/concepts/{id}/neighbors", "/v1/namespaces/{namespace}/paths",
                           "/v1/namespaces/{namespace}/search", "/v1/namespaces/{namespace}/reason", "/v1/stats"}) {
    EXPECT_TRUE(doc["paths"].contains(path)) << path;
  }
  EXPECT_EQ(s.Rest("GET", "/healthz", "", "").status, 200);
  EXPECT_EQ(s.Rest("GET", "/readyz", "", "").status, 200);
  r = s.Rest("GET", "/metrics", "", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("engram_api_requests_total"));
}

TEST_F(ApiE2eTest, EveryGrpcMethod) {
  Suite& s = *suite_;
  auto& stub = *s.stub_;
  const std::string ns = "e2e_grpc";

  v1::CreateNamespaceRequest create;
  create.set_name(ns);
  v1::Namespace created;
  ASSERT_TRUE(stub.CreateNamespace(Suite::Context().get(), create, &created).ok());
  EXPECT_EQ(created.dimension(), 384u);

  v1::ListNamespacesResponse list;
  ASSERT_TRUE(stub.ListNamespaces(Suite::Context(kReaderKey).get(), {}, &list).ok());
  EXPECT_TRUE(std::any_of(list.namespaces().begin(), list.namespaces().end(),
                          [&](const v1::Namespace& n) { return n.name() == ns; }));

  v1::LearnRequest learn;
  learn.set_namespace_(ns);
  learn.set_content("Smoking causes cancer");
  v1::LearnResponse learned;
  grpc::Status st = stub.Learn(Suite::Context(kWriterKey).get(), learn, &learned);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(learned.created());

  v1::LearnBatchRequest batch;
  batch.set_namespace_(ns);
  for (const char* text : {"Cancer is a disease", "A disease is a condition"}) {
    batch.add_concepts()->set_content(text);
  }
  v1::LearnBatchResponse batch_response;
  st = stub.LearnBatch(Suite::Context(kWriterKey).get(), batch, &batch_response);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(batch_response.results_size(), 2);

  v1::GetConceptRequest get;
  get.set_namespace_(ns);
  get.set_id(learned.id());
  v1::Concept concept_;
  ASSERT_TRUE(stub.GetConcept(Suite::Context(kReaderKey).get(), get, &concept_).ok());
  EXPECT_EQ(concept_.content(), "Smoking causes cancer");

  v1::AssociateRequest associate;
  associate.set_namespace_(ns);
  associate.set_source(batch_response.results(0).id());
  associate.set_target(batch_response.results(1).id());
  associate.set_type(v1::TEMPORAL);
  v1::Association association;
  st = stub.Associate(Suite::Context(kWriterKey).get(), associate, &association);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(association.type(), v1::TEMPORAL);

  v1::NeighborsRequest neighbors;
  neighbors.set_namespace_(ns);
  neighbors.set_id(batch_response.results(0).id());
  neighbors.set_type(v1::TEMPORAL);
  v1::NeighborsResponse neighbors_response;
  ASSERT_TRUE(stub.Neighbors(Suite::Context(kReaderKey).get(), neighbors, &neighbors_response).ok());
  ASSERT_EQ(neighbors_response.neighbors_size(), 1);
  EXPECT_EQ(neighbors_response.neighbors(0).node().id(), batch_response.results(1).id());

  v1::FindPathsRequest paths;
  paths.set_namespace_(ns);
  paths.set_source(batch_response.results(0).id());
  paths.set_target(batch_response.results(1).id());
  v1::FindPathsResponse paths_response;
  ASSERT_TRUE(stub.FindPaths(Suite::Context(kReaderKey).get(), paths, &paths_response).ok());
  EXPECT_GE(paths_response.paths_size(), 1);

  v1::SearchRequest search;
  search.set_namespace_(ns);
  search.set_query("smoking causes cancer");
  v1::SearchResponse search_response;
  ASSERT_TRUE(stub.Search(Suite::Context(kReaderKey).get(), search, &search_response).ok());
  ASSERT_GE(search_response.results_size(), 1);
  EXPECT_EQ(search_response.results(0).id(), learned.id());

  v1::ReasonRequest reason;
  reason.set_namespace_(ns);
  reason.set_query("What does smoking cause?");
  v1::ReasonResponse reason_response;
  st = stub.Reason(Suite::Context(kReaderKey).get(), reason, &reason_response);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_GE(reason_response.paths_size(), 1);
  EXPECT_FALSE(reason_response.explanation().empty());

  v1::Stats stats;
  ASSERT_TRUE(stub.GetStats(Suite::Context(kReaderKey).get(), {}, &stats).ok());
  EXPECT_GE(stats.concepts(), 3u);

  v1::GetNamespaceRequest get_ns;
  get_ns.set_namespace_(ns);
  v1::Namespace info;
  ASSERT_TRUE(stub.GetNamespace(Suite::Context(kReaderKey).get(), get_ns, &info).ok());
  EXPECT_GE(info.concept_count(), 3u);

  v1::DeleteConceptRequest del;
  del.set_namespace_(ns);
  del.set_id(learned.id());
  v1::DeleteConceptResponse deleted;
  ASSERT_TRUE(stub.DeleteConcept(Suite::Context(kWriterKey).get(), del, &deleted).ok());
  EXPECT_EQ(stub.GetConcept(Suite::Context(kReaderKey).get(), get, &concept_).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::DeleteNamespaceRequest del_ns;
  del_ns.set_namespace_(ns);
  v1::DeleteNamespaceResponse ns_deleted;
  ASSERT_TRUE(stub.DeleteNamespace(Suite::Context().get(), del_ns, &ns_deleted).ok());
  EXPECT_EQ(stub.GetNamespace(Suite::Context().get(), get_ns, &info).error_code(), grpc::StatusCode::NOT_FOUND);
}

// Every rejected request gets the documented status and a message naming the field, and
// changes nothing.
TEST_F(ApiE2eTest, ErrorPathsAreClearAndChangeNothing) {
  Suite& s = *suite_;
  const uint64_t before = s.Concepts();
  const std::string learn = "/v1/namespaces/default/concepts";
  auto expect_error = [&](const HttpResult& r, int status, const std::string& code, const std::string& mention) {
    EXPECT_EQ(r.status, status) << r.body;
    json j = Json(r);
    EXPECT_EQ(j["error"]["code"], code) << r.body;
    EXPECT_THAT(j["error"]["message"].get<std::string>(), HasSubstr(mention)) << r.body;
    EXPECT_FALSE(j["error"]["correlationId"].get<std::string>().empty()) << r.body;
  };

  expect_error(s.Rest("POST", learn, R"({"content": "unterminated)", kWriterKey), 400, "INVALID_ARGUMENT", "JSON");
  expect_error(s.Rest("POST", learn, R"({"content": "x", "colour": "red"})", kWriterKey), 400, "INVALID_ARGUMENT",
               "colour");
  expect_error(s.Rest("POST", "/v1/namespaces/no_such_ns/concepts", R"({"content": "x"})", kWriterKey), 404,
               "NOT_FOUND", "no_such_ns");
  expect_error(s.Rest("GET", "/v1/namespaces/no_such_ns", "", kReaderKey), 404, "NOT_FOUND", "no_such_ns");
  expect_error(s.Rest("POST", learn, R"({"content": "empty id?", "id": ""})", ""), 401, "UNAUTHENTICATED", "key");
  expect_error(s.Rest("POST", learn, R"({"content": "x"})", "not-a-valid-key-at-all"), 401, "UNAUTHENTICATED",
               "key");
  expect_error(s.Rest("POST", learn, R"({"content": "x"})", kReaderKey), 403, "PERMISSION_DENIED", "reader");
  expect_error(s.Rest("GET", "/v1/namespaces/default", "", kScopedKey), 403, "PERMISSION_DENIED", "default");
  expect_error(s.Rest("POST", learn, R"({"content": ""})", kWriterKey), 400, "INVALID_ARGUMENT", "content");

  // Vectors: NaN (the protobuf JSON mapping accepts "NaN"), wrong dimension.
  json nan_vector = json::array();
  for (int i = 0; i < 384; ++i) nan_vector.push_back(i == 7 ? json("NaN") : json(0.1));
  expect_error(s.Rest("POST", learn, json{{"content", "nan vector"}, {"vector", nan_vector}}.dump(), kWriterKey), 400,
               "INVALID_ARGUMENT", "vector");
  expect_error(s.Rest("POST", "/v1/namespaces/default/search", json{{"vector", nan_vector}}.dump(), kReaderKey), 400,
               "INVALID_ARGUMENT", "vector");
  expect_error(s.Rest("POST", learn, json{{"content", "short vector"}, {"vector", {0.1, 0.2, 0.3}}}.dump(), kWriterKey),
               400, "INVALID_ARGUMENT", "vector");
  expect_error(s.Rest("POST", "/v1/namespaces/default/search", json{{"query", "x"}, {"k", 100000}}.dump(), kReaderKey),
               400, "INVALID_ARGUMENT", "k");

  // A batch with one bad item is rejected whole.
  json items = json::array();
  for (int i = 0; i < 5; ++i) items.push_back({{"content", absl::StrCat("batch item ", i)}});
  items[3]["id"] = std::string(200, 'x');
  expect_error(s.Rest("POST", learn + ":batch", json{{"concepts", items}}.dump(), kWriterKey), 400,
               "INVALID_ARGUMENT", "concepts[3].id");

  // Oversized body (this suite runs with --max_body_mb=1).
  HttpResult big = s.Rest("POST", learn, json{{"content", std::string(1536 << 10, 'a')}}.dump(), kWriterKey);
  EXPECT_EQ(big.status, 413) << big.body.substr(0, 200);

  // Unknown route, wrong method.
  EXPECT_EQ(s.Rest("GET", "/v1/nothing-here", "", kReaderKey).status, 404);
  EXPECT_EQ(s.Rest("PUT", "/v1/stats", "", kReaderKey).status, 405);

  // The same over gRPC: codes, not HTTP statuses.
  v1::LearnRequest request;
  request.set_namespace_("default");
  request.set_content("grpc without a key");
  v1::LearnResponse response;
  EXPECT_EQ(s.stub_->Learn(Suite::Context("").get(), request, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(s.stub_->Learn(Suite::Context(kReaderKey).get(), request, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  request.add_vector(NAN);
  grpc::Status st = s.stub_->Learn(Suite::Context(kWriterKey).get(), request, &response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("vector"));

  EXPECT_EQ(s.Concepts(), before) << "a rejected request changed the store";
}

TEST_F(ApiE2eTest, RateLimitedKeyGets429WithRetryAfterAndGrpcResourceExhausted) {
  Suite& s = *suite_;
  // A second api replica over the same dependencies with a tiny per-key budget: one request per
  // ~17 minutes, so the second request is refused no matter how slow the machine is.
  auto api = s.StartApi("api-throttled", {"--key_rate=0.001", "--key_burst=1"});
  const int http = api->PortAfter(" http ");
  const int grpc_port = api->PortAfter("serving on grpc ");
  HttpResult first = HttpCall(http, "GET", "/v1/stats", "", Auth(kReaderKey));
  EXPECT_EQ(first.status, 200) << first.body;
  HttpResult second = HttpCall(http, "GET", "/v1/stats", "", Auth(kReaderKey));
  EXPECT_EQ(second.status, 429) << second.body;
  EXPECT_EQ(Json(second)["error"]["code"], "RESOURCE_EXHAUSTED");
  ASSERT_FALSE(second.Header("Retry-After").empty());
  EXPECT_GE(std::stoi(second.Header("Retry-After")), 1);

  auto stub = v1::Engram::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port), grpc::InsecureChannelCredentials()));
  v1::Stats stats;
  EXPECT_EQ(stub->GetStats(Suite::Context(kReaderKey).get(), {}, &stats).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Another key has its own bucket.
  EXPECT_EQ(HttpCall(http, "GET", "/v1/stats", "", Auth(kAdminKey)).status, 200);
  HttpResult metrics = HttpCall(http, "GET", "/metrics");
  EXPECT_THAT(metrics.body, HasSubstr("engram_api_rate_limited_total"));
  EXPECT_EQ(api->Kill(SIGTERM), 0) << api->Log();
}

TEST_F(ApiE2eTest, RotatedKeysFileTakesEffectWithoutRestartAndABadOneIsRefused) {
  Suite& s = *suite_;
  const std::filesystem::path keys = s.dir_ / "rotating-keys.json";
  // As Kubernetes updates a mounted Secret: the new content appears at once, by rename.
  auto write = [&](const std::string& text) {
    const std::filesystem::path tmp = keys.string() + ".tmp";
    std::ofstream(tmp, std::ios::trunc) << text;
    std::filesystem::rename(tmp, keys);
  };
  auto one_reader_key = [](const std::string& key) {
    return json{{"keys", {{{"name", "rotating"}, {"key", key}, {"role", "reader"}, {"namespaces", {"*"}}}}}}
        .dump();
  };
  const std::string old_key = "ek_rotation_old_0123456789";
  const std::string new_key = "ek_rotation_new_0123456789";
  write(one_reader_key(old_key));
  auto api = s.StartApi("api-rotating", {"--api_keys_file=" + keys.string(), "--api_keys_reload_s=1"});
  const int http = api->PortAfter(" http ");
  auto status_with = [&](const std::string& key) {
    return HttpCall(http, "GET", "/v1/stats", "", Auth(key)).status;
  };
  EXPECT_EQ(status_with(old_key), 200);
  EXPECT_EQ(status_with(new_key), 401);

  write(one_reader_key(new_key));
  ASSERT_TRUE(Eventually([&] { return status_with(new_key) == 200; })) << api->Log();
  EXPECT_EQ(status_with(old_key), 401);
  EXPECT_TRUE(api->WaitForLine("API keys reloaded: 1 keys", absl::Seconds(10)).ok()) << api->Log();

  // A broken file (a bad edit of the Secret) is refused, counted and logged; the keys stay.
  write("{\"keys\": [");
  ASSERT_TRUE(Eventually([&] {
    return absl::StrContains(HttpCall(http, "GET", "/metrics").body,
                             "engram_api_keys_reloads_total{result=\"error\"} 1");
  })) << api->Log();
  EXPECT_EQ(status_with(new_key), 200);
  EXPECT_THAT(api->Log(), HasSubstr("API keys not reloaded, the 1 keys in force stay"));
  EXPECT_THAT(api->Log(), Not(HasSubstr(new_key)));  // keys are never logged
  EXPECT_EQ(api->Kill(SIGTERM), 0) << api->Log();
}

// HPA replicas of engram-hybrid share the load: the api's hybrid channel balances round-robin over
// every address its target resolves to (a headless Service in Kubernetes; two loopback addresses
// here).
TEST_F(ApiE2eTest, TextCallsAreSpreadOverEveryHybridReplica) {
  Suite& s = *suite_;
  const int second_port = testing::PickFreePort();
  ChildProcess second(ENGRAM_HYBRID_BIN,
                      {absl::StrCat("--grpc_port=", second_port), "--http_port=0", "--listen_address=127.0.0.1",
                       "--log_level=debug", "--drain_seconds=1",
                       absl::StrCat("--storage_addr=127.0.0.1:", s.storage_port_)},
                      s.dir_ / "hybrid-second.log");
  ASSERT_TRUE(second.Start().ok());
  ASSERT_TRUE(second.WaitForLine("engram-hybrid serving on grpc", absl::Seconds(120)).ok()) << second.Log();
  // No response cache, so every search reaches a hybrid replica.
  auto api = s.StartApi("api-two-hybrids",
                        {absl::StrCat("--hybrid_addr=ipv4:127.0.0.1:", s.hybrid_port_, ",127.0.0.1:", second_port),
                         "--cache_mb=0"});
  const int http = api->PortAfter(" http ");
  auto searches_in = [](const std::string& log) {
    size_t count = 0;
    for (size_t at = log.find("Hybrid/Search -> OK"); at != std::string::npos;
         at = log.find("Hybrid/Search -> OK", at + 1)) {
      ++count;
    }
    return count;
  };
  const size_t first_before = searches_in(s.hybrid_->Log());
  int sent = 0;
  // Round-robin starts with the replicas that are connected; within a bounded number of calls both
  // must have served some.
  const bool both = Eventually([&] {
    HttpResult r = HttpCall(http, "POST", "/v1/namespaces/default/search",
                            json{{"query", absl::StrCat("spread query ", sent++)}}.dump(), Auth(kReaderKey));
    EXPECT_EQ(r.status, 200) << r.body;
    return searches_in(s.hybrid_->Log()) > first_before && searches_in(second.Log()) > 0;
  });
  EXPECT_TRUE(both) << "after " << sent << " searches: first " << searches_in(s.hybrid_->Log()) - first_before
                    << ", second " << searches_in(second.Log());
  // And not by accident: over 20 more calls each replica serves a fair share.
  const size_t a0 = searches_in(s.hybrid_->Log()), b0 = searches_in(second.Log());
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(HttpCall(http, "POST", "/v1/namespaces/default/search",
                       json{{"query", absl::StrCat("fair query ", i)}}.dump(), Auth(kReaderKey))
                  .status,
              200);
  }
  ASSERT_TRUE(Eventually([&] { return searches_in(s.hybrid_->Log()) - a0 + searches_in(second.Log()) - b0 >= 20; }));
  EXPECT_GE(searches_in(s.hybrid_->Log()) - a0, 5u);
  EXPECT_GE(searches_in(second.Log()) - b0, 5u);
  EXPECT_EQ(api->Kill(SIGTERM), 0) << api->Log();
  EXPECT_EQ(second.Kill(SIGTERM), 0) << second.Log();
}

// No service registers a gRPC callback service: gRPC 1.51 would then start "nexting_thread"s that
// time out every second and sleep 100 ms, and under light load calls stalled ~100 ms once a second
// (common/grpc/health_service.h). Checked on the real binaries by their thread names, not by timing.
TEST_F(ApiE2eTest, NoServiceStartsGrpcCallbackThreads) {
  Suite& s = *suite_;
  for (const ChildProcess* process : {s.storage_.get(), s.hybrid_.get(), s.api_.get()}) {
    const std::vector<std::string> names = process->ThreadNames();
    ASSERT_FALSE(names.empty()) << process->log_path();
    EXPECT_THAT(names, Not(::testing::Contains("nexting_thread"))) << process->log_path();
  }
}

TEST_F(ApiE2eTest, CorrelationIdIsEchoedAndLoggedByAllThreeServices) {
  Suite& s = *suite_;
  const std::string id = absl::StrCat("e2e-corr-", getpid(), "-", absl::ToUnixMicros(absl::Now()));
  HttpResult r = HttpCall(s.api_http_port_, "POST", "/v1/namespaces/default/concepts",
                          json{{"content", "Correlation ids follow a request through Engram"}}.dump(),
                          {{"Authorization", absl::StrCat("Bearer ", kWriterKey)}, {"X-Correlation-ID", id}});
  ASSERT_TRUE(r.status == 200 || r.status == 201) << r.body;
  EXPECT_EQ(r.Header("X-Correlation-ID"), id);
  // Each service logs the id on its lines for this request (bounded wait for the log write).
  EXPECT_TRUE(s.api_->WaitForLine(id, absl::Seconds(30)).ok()) << "engram-api log lacks " << id;
  EXPECT_TRUE(s.hybrid_->WaitForLine(id, absl::Seconds(30)).ok()) << "engram-hybrid log lacks " << id;
  EXPECT_TRUE(s.storage_->WaitForLine(id, absl::Seconds(30)).ok()) << "engram-storage log lacks " << id;

  // Over gRPC the id comes back in the initial metadata.
  auto context = Suite::Context(kReaderKey);
  context->AddMetadata("x-correlation-id", id + "-grpc");
  v1::Stats stats;
  ASSERT_TRUE(s.stub_->GetStats(context.get(), {}, &stats).ok());
  auto echoed = context->GetServerInitialMetadata().find("x-correlation-id");
  ASSERT_NE(echoed, context->GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(echoed->second.data(), echoed->second.size()), id + "-grpc");
}

// ---------------------------------------------------------------------------------------------
// Dependencies killed for real.
// ---------------------------------------------------------------------------------------------

TEST(ApiResilienceTest, StorageKilledMeansUnavailableWithinDeadlineThenRecoversWithoutRestart) {
  Suite s("storage_killed");
  s.Start();
  v1::LearnRequest learn;
  learn.set_namespace_("default");
  learn.set_content("Durable knowledge survives a storage crash");
  v1::LearnResponse learned;
  ASSERT_TRUE(s.stub_->Learn(Suite::Context(kWriterKey).get(), learn, &learned).ok());

  s.storage_->Kill(SIGKILL);
  ASSERT_TRUE(Eventually([&] {
    HttpResult r = HttpCall(s.api_http_port_, "GET", "/readyz", "", {}, 5);
    return r.status == 503 && r.body.find("storage") != std::string::npos;
  })) << "readyz never named storage: " << HttpCall(s.api_http_port_, "GET", "/readyz").body;

  v1::GetConceptRequest get;
  get.set_namespace_("default");
  get.set_id(learned.id());
  v1::Concept concept_;
  const absl::Time start = absl::Now();
  grpc::Status st = s.stub_->GetConcept(Suite::Context(kReaderKey, absl::Seconds(5)).get(), get, &concept_);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(6)) << "the call outlived its deadline";
  HttpResult r = s.Rest("GET", "/v1/namespaces/default/concepts/" + learned.id(), "", kReaderKey);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(Json(r)["error"]["code"], "UNAVAILABLE");

  // Storage comes back on its port with its data: the same api process recovers by itself.
  s.StartStorage();
  ASSERT_TRUE(Eventually([&] { return s.Ready(); })) << HttpCall(s.api_http_port_, "GET", "/readyz").body;
  ASSERT_TRUE(Eventually([&] {
    v1::Concept c;
    return s.stub_->GetConcept(Suite::Context(kReaderKey, absl::Seconds(5)).get(), get, &c).ok();
  }));
  ASSERT_TRUE(s.stub_->GetConcept(Suite::Context(kReaderKey).get(), get, &concept_).ok());
  EXPECT_EQ(concept_.content(), learn.content());
}

TEST(ApiResilienceTest, HybridKilledMeansDataCallsStillWork) {
  Suite s("hybrid_killed");
  s.Start();
  v1::LearnBatchRequest batch;
  batch.set_namespace_("default");
  for (const char* text : {"Wind turns turbines", "Turbines make electricity"}) batch.add_concepts()->set_content(text);
  v1::LearnBatchResponse learned;
  ASSERT_TRUE(s.stub_->LearnBatch(Suite::Context(kWriterKey).get(), batch, &learned).ok());
  v1::GetConceptRequest get;
  get.set_namespace_("default");
  get.set_id(learned.results(0).id());
  get.set_include_vector(true);
  v1::Concept wind;
  ASSERT_TRUE(s.stub_->GetConcept(Suite::Context(kReaderKey).get(), get, &wind).ok());

  s.hybrid_->Kill(SIGKILL);
  ASSERT_TRUE(Eventually([&] {
    HttpResult r = HttpCall(s.api_http_port_, "GET", "/readyz", "", {}, 5);
    return r.status == 503 && r.body.find("hybrid") != std::string::npos;
  }));

  v1::Concept again;
  EXPECT_TRUE(s.stub_->GetConcept(Suite::Context(kReaderKey).get(), get, &again).ok());
  v1::AssociateRequest associate;
  associate.set_namespace_("default");
  associate.set_source(learned.results(0).id());
  associate.set_target(learned.results(1).id());
  associate.set_type(v1::CAUSAL);
  v1::Association association;
  grpc::Status st = s.stub_->Associate(Suite::Context(kWriterKey).get(), associate, &association);
  EXPECT_TRUE(st.ok()) << st.error_message();
  v1::NeighborsRequest neighbors;
  neighbors.set_namespace_("default");
  neighbors.set_id(learned.results(0).id());
  v1::NeighborsResponse neighbors_response;
  EXPECT_TRUE(s.stub_->Neighbors(Suite::Context(kReaderKey).get(), neighbors, &neighbors_response).ok());
  EXPECT_GE(neighbors_response.neighbors_size(), 1);
  v1::SearchRequest by_vector;
  by_vector.set_namespace_("default");
  *by_vector.mutable_vector() = wind.vector();
  v1::SearchResponse hits;
  st = s.stub_->Search(Suite::Context(kReaderKey).get(), by_vector, &hits);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_GE(hits.results_size(), 1);
  EXPECT_EQ(hits.results(0).id(), wind.id());
  v1::Stats stats;
  EXPECT_TRUE(s.stub_->GetStats(Suite::Context(kReaderKey).get(), {}, &stats).ok());

  // Text needs hybrid: a clear UNAVAILABLE within the deadline.
  v1::SearchRequest by_text;
  by_text.set_namespace_("default");
  by_text.set_query("wind power");
  st = s.stub_->Search(Suite::Context(kReaderKey, absl::Seconds(5)).get(), by_text, &hits);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("hybrid"));

  s.StartHybrid();
  ASSERT_TRUE(Eventually([&] { return s.Ready(); }));
  ASSERT_TRUE(Eventually([&] {
    v1::SearchResponse r;
    return s.stub_->Search(Suite::Context(kReaderKey, absl::Seconds(5)).get(), by_text, &r).ok();
  }));
}

// ---------------------------------------------------------------------------------------------
// engramctl against the real suite.
// ---------------------------------------------------------------------------------------------

// ---- v1.1 streams -----------------------------------------------------------------------------

// Server-Sent Events of a finished response: (event, data) pairs.
std::vector<std::pair<std::string, std::string>> SseEvents(const std::string& body) {
  std::vector<std::pair<std::string, std::string>> events;
  for (absl::string_view block : absl::StrSplit(body, "\n\n", absl::SkipEmpty())) {
    std::string event, data;
    for (absl::string_view line : absl::StrSplit(block, '\n')) {
      if (absl::StartsWith(line, "event: ")) event = std::string(line.substr(7));
      if (absl::StartsWith(line, "data: ")) data = std::string(line.substr(6));
    }
    events.emplace_back(event, data);
  }
  return events;
}

TEST_F(ApiE2eTest, ReasonStreamOverSseAndGrpcEndsWithTheReasonAnswer) {
  Suite& s = *suite_;
  const std::string ns = "e2e_stream";
  ASSERT_EQ(s.Rest("POST", "/v1/namespaces", json{{"name", ns}, {"dimension", 256}}.dump()).status, 201);
  json batch = {{"concepts", json::array()}};
  for (const char* text : {"A dog is a kind of mammal.", "A mammal is a kind of animal.",
                           "A cat is a kind of mammal.", "A wheel is part of a car.",
                           "Rain causes floods."}) {
    batch["concepts"].push_back({{"content", text}});
  }
  ASSERT_EQ(s.Rest("POST", "/v1/namespaces/" + ns + "/concepts:batch", batch.dump(), kWriterKey).status, 200);
  const std::string question = json{{"query", "what kind of animal is a dog"}, {"maxPaths", 5}}.dump();

  HttpResult unary = s.Rest("POST", "/v1/namespaces/" + ns + "/reason", question, kReaderKey);
  ASSERT_EQ(unary.status, 200) << unary.body;
  HttpResult streamed = s.Rest("POST", "/v1/namespaces/" + ns + "/reason:stream", question, kReaderKey);
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  EXPECT_EQ(streamed.Header("Content-Type"), "text/event-stream");
  EXPECT_FALSE(streamed.Header("X-Correlation-ID").empty());
  const auto events = SseEvents(streamed.body);
  ASSERT_GE(events.size(), 3u) << streamed.body;
  EXPECT_EQ(events.front().first, "seeds");
  EXPECT_FALSE(Json({.body = events.front().second})["support"].empty());
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    EXPECT_EQ(events[i].first, "path") << i;
    const json path = json::parse(events[i].second);
    EXPECT_EQ(path["concepts"].size(), path["path"]["conceptIds"].size());
    EXPECT_GT(path["evidence"].get<double>(), 0);
  }
  EXPECT_EQ(events.back().first, "answer");
  const json answer = json::parse(events.back().second);
  const json expected = Json(unary);
  EXPECT_EQ(answer["explanation"], expected["explanation"]);
  EXPECT_EQ(answer["paths"], expected["paths"]);
  EXPECT_EQ(answer.value("answer", json()), expected.value("answer", json()));

  // gRPC: the same events.
  v1::ReasonRequest request;
  request.set_namespace_(ns);
  request.set_query("what kind of animal is a dog");
  request.set_max_paths(5);
  auto context = Suite::Context(kReaderKey);
  auto reader = s.stub_->ReasonStream(context.get(), request);
  std::vector<v1::ReasonEvent> grpc_events;
  for (v1::ReasonEvent e; reader->Read(&e);) grpc_events.push_back(e);
  grpc::Status st = reader->Finish();
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(grpc_events.size(), events.size());
  EXPECT_TRUE(grpc_events.front().has_seeds());
  ASSERT_TRUE(grpc_events.back().has_answer());
  EXPECT_EQ(grpc_events.back().answer().explanation(), expected["explanation"]);

  // Refusals: no key, a key scoped to another namespace, a bad request, an unknown namespace.
  EXPECT_EQ(s.Rest("POST", "/v1/namespaces/" + ns + "/reason:stream", question, "").status, 401);
  EXPECT_EQ(s.Rest("POST", "/v1/namespaces/" + ns + "/reason:stream", question, kScopedKey).status, 403);
  HttpResult bad = s.Rest("POST", "/v1/namespaces/" + ns + "/reason:stream", R"({"query":"q","k":5000})", kReaderKey);
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(Json(bad)["error"]["message"].get<std::string>(), HasSubstr("k"));
  HttpResult missing = s.Rest("POST", "/v1/namespaces/no_such_ns/reason:stream", question, kReaderKey);
  EXPECT_EQ(missing.status, 404) << missing.body;
  auto no_key = Suite::Context("");
  auto refused = s.stub_->ReasonStream(no_key.get(), request);
  v1::ReasonEvent ignored;
  EXPECT_FALSE(refused->Read(&ignored));
  EXPECT_EQ(refused->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// An int8-quantized namespace (storage's scalar quantization) created over REST: GetNamespace
// shows it, searches answer with exact float scores, and an unknown value is refused by name.
TEST_F(ApiE2eTest, AQuantizedNamespaceIsCreatedShownAndSearched) {
  Suite& s = *suite_;
  const std::string ns = "e2e_int8";
  HttpResult bad = s.Rest("POST", "/v1/namespaces",
                          json{{"name", ns}, {"dimension", 3}, {"embedder", "none"},
                               {"indexParams", {{"quantization", 7}}}}.dump());
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_THAT(bad.body, HasSubstr("indexParams.quantization"));
  EXPECT_EQ(s.Rest("GET", "/v1/namespaces/" + ns, "", kReaderKey).status, 404) << "refused, yet created";

  ASSERT_EQ(s.Rest("POST", "/v1/namespaces",
                   json{{"name", ns}, {"dimension", 3}, {"embedder", "none"},
                        {"indexParams", {{"quantization", "QUANTIZATION_INT8"}}}}.dump()).status,
            201);
  HttpResult got = s.Rest("GET", "/v1/namespaces/" + ns, "", kReaderKey);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(json::parse(got.body)["indexParams"]["quantization"], "QUANTIZATION_INT8") << got.body;

  json batch = {{"concepts", json::array()}};
  for (int i = 0; i < 50; ++i) {
    batch["concepts"].push_back({{"id", absl::StrCat("v", i)}, {"content", absl::StrCat("vector ", i)},
                                 {"vector", {1.0, static_cast<double>(i), 0.5}},
                                 {"extractAssociations", false}});
  }
  ASSERT_EQ(s.Rest("POST", "/v1/namespaces/" + ns + "/concepts:batch", batch.dump(), kWriterKey).status, 200);
  HttpResult found = s.Rest("POST", "/v1/namespaces/" + ns + "/search",
                            json{{"vector", {1.0, 7.0, 0.5}}, {"k", 3}, {"mode", "VECTOR"}}.dump(), kReaderKey);
  ASSERT_EQ(found.status, 200) << found.body;
  const json results = json::parse(found.body)["results"];
  ASSERT_EQ(results.size(), 3u) << found.body;
  EXPECT_EQ(results[0]["id"], "v7");
  EXPECT_NEAR(results[0]["score"].get<double>(), 1.0, 1e-6);  // re-scored with the float vector
}

TEST_F(ApiE2eTest, ExportOverNdjsonAndGrpcIsEveryConceptThenEveryAssociation) {
  Suite& s = *suite_;
  const std::string ns = "e2e_export";
  ASSERT_EQ(s.Rest("POST", "/v1/namespaces", json{{"name", ns}, {"dimension", 3}, {"embedder", "none"}}.dump()).status, 201);
  // 2,500 concepts (three Scan pages) in a chain of associations.
  for (int base = 0; base < 2500; base += 500) {
    json batch = {{"concepts", json::array()}};
    for (int i = base; i < base + 500; ++i) {
      batch["concepts"].push_back({{"id", absl::StrCat("c", i)}, {"content", absl::StrCat("concept ", i)},
                                   {"vector", {1.0, static_cast<double>(i), 0.5}},
                                   {"attributes", {{"n", std::to_string(i)}}},
                                   {"extractAssociations", false}});
    }
    ASSERT_EQ(s.Rest("POST", "/v1/namespaces/" + ns + "/concepts:batch", batch.dump(), kWriterKey).status, 200);
  }
  for (int base = 0; base < 2499; base += 1000) {
    json batch = {{"associations", json::array()}};
    for (int i = base; i < std::min(base + 1000, 2499); ++i) {
      batch["associations"].push_back({{"source", absl::StrCat("c", i)}, {"target", absl::StrCat("c", i + 1)},
                                       {"type", "CAUSAL"}, {"confidence", 0.5}});
    }
    ASSERT_EQ(s.Rest("POST", "/v1/namespaces/" + ns + "/associations:batch", batch.dump(), kWriterKey).status, 200)
        << base;
  }

  HttpResult exported = s.Rest("GET", "/v1/namespaces/" + ns + ":export", "", kReaderKey);
  ASSERT_EQ(exported.status, 200) << exported.body.substr(0, 500);
  EXPECT_FALSE(exported.truncated);
  EXPECT_EQ(exported.Header("Content-Type"), "application/x-ndjson");
  std::set<std::string> concepts;
  std::set<std::string> edges;
  bool association_seen = false;
  std::vector<std::string> lines = absl::StrSplit(exported.body, '\n', absl::SkipEmpty());
  ASSERT_FALSE(lines.empty());
  // First the namespace, as created.
  const json first = json::parse(lines[0]);
  ASSERT_TRUE(first.contains("namespace")) << lines[0];
  EXPECT_EQ(first["namespace"]["name"], ns);
  EXPECT_EQ(first["namespace"]["dimension"], 3);
  EXPECT_EQ(first["namespace"]["embedder"], "none");
  EXPECT_EQ(first["namespace"]["conceptCount"], "2500");
  lines.erase(lines.begin());
  for (absl::string_view line : lines) {
    const json record = json::parse(line);
    ASSERT_FALSE(record.contains("namespace")) << "a second namespace record";
    if (record.contains("concept")) {
      EXPECT_FALSE(association_seen) << "a concept after an association";
      const json& c = record["concept"];
      EXPECT_EQ(c["vector"].size(), 3u);
      EXPECT_EQ(c["attributes"]["n"], c["id"].get<std::string>().substr(1));
      concepts.insert(c["id"]);
    } else {
      ASSERT_TRUE(record.contains("association")) << line;
      association_seen = true;
      edges.insert(absl::StrCat(record["association"]["source"].get<std::string>(), ">",
                                record["association"]["target"].get<std::string>()));
    }
  }
  EXPECT_EQ(concepts.size(), 2500u);
  EXPECT_EQ(edges.size(), 2499u);
  EXPECT_TRUE(edges.contains("c0>c1") && edges.contains("c2498>c2499"));

  // gRPC: the same records in chunks of at most 1000 concepts.
  v1::ExportNamespaceRequest request;
  request.set_namespace_(ns);
  auto context = Suite::Context(kReaderKey);
  auto reader = s.stub_->ExportNamespace(context.get(), request);
  size_t grpc_concepts = 0, grpc_edges = 0, chunks = 0;
  for (v1::ExportChunk chunk; reader->Read(&chunk); ++chunks) {
    EXPECT_EQ(chunk.has_namespace_(), chunks == 0);
    if (chunks == 0) {
      EXPECT_EQ(chunk.namespace_().association_count(), 2499u);
    }
    EXPECT_LE(chunk.concepts_size(), 1000);
    grpc_concepts += chunk.concepts_size();
    grpc_edges += chunk.associations_size();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(grpc_concepts, 2500u);
  EXPECT_EQ(grpc_edges, 2499u);

  EXPECT_EQ(s.Rest("GET", "/v1/namespaces/" + ns + ":export", "", kScopedKey).status, 403);
  EXPECT_EQ(s.Rest("GET", "/v1/namespaces/no_such_ns:export", "", kReaderKey).status, 404);
  // An empty namespace: its namespace line only, and complete.
  ASSERT_EQ(s.Rest("POST", "/v1/namespaces", json{{"name", "e2e_export_empty"}, {"dimension", 3}}.dump()).status, 201);
  HttpResult empty = s.Rest("GET", "/v1/namespaces/e2e_export_empty:export", "", kReaderKey);
  EXPECT_EQ(empty.status, 200);
  EXPECT_TRUE(absl::StartsWith(empty.body, R"({"namespace":{"name":"e2e_export_empty")")) << empty.body;
  EXPECT_EQ(std::count(empty.body.begin(), empty.body.end(), '\n'), 1) << empty.body;
  EXPECT_FALSE(empty.truncated);
}

// A client that goes away stops the work downstream: with storage frozen (SIGSTOP) the reasoning
// is stuck in a storage read; the client disconnects; then, while storage is still frozen, the
// api finishes the call as CANCELLED and hybrid has no call in flight any more (it cancelled its
// storage read instead of waiting for its deadline). No timing: every wait polls for a state.
TEST(ApiStreamTest, ClientGoingAwayCancelsTheReasoningInHybridAndItsStorageReads) {
  // Deadlines far beyond the waits below: a call that only ended at its deadline fails the test.
  Suite s("stream_cancel", {"--default_deadline_ms=120000", "--max_deadline_ms=120000"});
  s.hybrid_flags_ = {"--storage_timeout_ms=120000"};
  s.Start();
  ASSERT_EQ(s.Rest("POST", "/v1/namespaces/default/concepts", R"({"content":"A dog is a kind of mammal."})",
                   kWriterKey).status / 100, 2);
  const auto hybrid_in_flight = [&] { return MetricValue(s.hybrid_http_port_, "grpc_server_in_flight"); };
  const auto api_finished = [&](const std::string& code) {
    return MetricValue(s.api_http_port_, "engram_api_requests_total",
                       {"method=\"ReasonStream\"", absl::StrCat("code=\"", code, "\"")});
  };

  for (const bool over_grpc : {false, true}) {
    SCOPED_TRACE(over_grpc ? "gRPC" : "REST");
    ASSERT_TRUE(Eventually([&] { return hybrid_in_flight() == 0; }));
    ASSERT_TRUE(s.storage_->Signal(SIGSTOP));
    const double cancelled_before = api_finished("CANCELLED");
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReader<v1::ReasonEvent>> reader;
    int socket_fd = -1;
    if (over_grpc) {
      v1::ReasonRequest request;
      request.set_namespace_("default");
      request.set_query("what is a dog");
      context = Suite::Context(kReaderKey, absl::Seconds(120));
      reader = s.stub_->ReasonStream(context.get(), request);
    } else {
      socket_fd = testing::ConnectLoopback(s.api_http_port_);
      ASSERT_GE(socket_fd, 0);
      const std::string body = R"({"query":"what is a dog"})";
      const std::string request = absl::StrCat(
          "POST /v1/namespaces/default/reason:stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ",
          kReaderKey, "\r\nContent-Type: application/json\r\nContent-Length: ", body.size(), "\r\n\r\n", body);
      ASSERT_EQ(::write(socket_fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
    }
    // Hybrid has the call and is stuck on storage.
    ASSERT_TRUE(Eventually([&] { return hybrid_in_flight() >= 1; })) << s.hybrid_->Log();
    // The client goes away.
    if (over_grpc) {
      context->TryCancel();
      EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
    } else {
      ::close(socket_fd);
    }
    // Storage still frozen: the api ends the call and hybrid stops, without storage answering.
    EXPECT_TRUE(Eventually([&] { return api_finished("CANCELLED") == cancelled_before + 1; },
                           absl::Seconds(30)))
        << HttpCall(s.api_http_port_, "GET", "/metrics").body;
    EXPECT_TRUE(Eventually([&] { return hybrid_in_flight() == 0; }, absl::Seconds(30))) << s.hybrid_->Log();
    EXPECT_TRUE(s.storage_->running());
    ASSERT_TRUE(s.storage_->Signal(SIGCONT));
    // Storage, once thawed, is left with nothing to do for the cancelled call.
    EXPECT_TRUE(Eventually([&] { return MetricValue(s.storage_http_port_, "grpc_server_in_flight") == 0; }));
  }
  // And the suite still answers.
  HttpResult r = s.Rest("POST", "/v1/namespaces/default/reason:stream", R"({"query":"what is a dog"})", kReaderKey);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(SseEvents(r.body).back().first, "answer");
}

// An overloaded server sheds searches at once instead of queueing them to their deadlines: with
// --grpc_max_async_calls=2 on the server under test and storage frozen (SIGSTOP), two searches park
// in that server; a third is refused with RESOURCE_EXHAUSTED while they are still parked; once
// storage is thawed both finish and searches are admitted again. No timing: the waits poll for
// states, and a third call the limit failed to refuse would park until its deadline and fail.
// `mode` picks the path: KEYWORD goes api -> storage, HYBRID api -> hybrid -> storage.
void ExpectSearchesPastTheAsyncCallLimitRefused(Suite& s, v1::SearchMode mode, int limited_http_port) {
  ASSERT_EQ(s.Rest("POST", "/v1/namespaces/default/concepts", R"({"content":"A dog is a kind of mammal."})",
                   kWriterKey).status / 100, 2);
  const auto search = [&](absl::Duration deadline, v1::SearchResponse* response) {
    v1::SearchRequest request;
    request.set_namespace_("default");
    request.set_query("dog");
    request.set_mode(mode);
    return s.stub_->Search(Suite::Context(kReaderKey, deadline).get(), request, response);
  };
  const auto in_flight = [&] { return MetricValue(limited_http_port, "grpc_server_in_flight"); };
  ASSERT_TRUE(Eventually([&] { return in_flight() == 0; }));
  ASSERT_TRUE(s.storage_->Signal(SIGSTOP));
  std::vector<grpc::Status> parked(2);
  std::vector<v1::SearchResponse> parked_responses(2);
  std::vector<std::thread> clients;
  for (int i = 0; i < 2; ++i) {
    clients.emplace_back([&, i] { parked[i] = search(absl::Seconds(120), &parked_responses[i]); });
  }
  EXPECT_TRUE(Eventually([&] { return in_flight() >= 2; })) << HttpCall(limited_http_port, "GET", "/metrics").body;
  v1::SearchResponse response;
  grpc::Status refused = search(absl::Seconds(60), &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_THAT(refused.error_message(), HasSubstr("server busy: 2 calls in progress"));
  ASSERT_TRUE(s.storage_->Signal(SIGCONT));
  for (std::thread& t : clients) t.join();
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(parked[i].ok()) << parked[i].error_message();
    EXPECT_GE(parked_responses[i].results_size(), 1);
  }
  grpc::Status again = search(absl::Seconds(60), &response);
  EXPECT_TRUE(again.ok()) << again.error_message();
  EXPECT_GE(response.results_size(), 1);
}

TEST(ApiOverloadTest, SearchesPastTheAsyncCallLimitAreRefusedAtOnce) {
  Suite s("async_limit", {"--grpc_max_async_calls=2", "--default_deadline_ms=120000",
                          "--max_deadline_ms=120000"});
  s.Start();
  ExpectSearchesPastTheAsyncCallLimitRefused(s, v1::KEYWORD, s.api_http_port_);
}

// The same limit in engram-hybrid (the api unlimited): the refusal reaches the client as
// RESOURCE_EXHAUSTED through the api, which neither retries it nor counts it against hybrid's
// circuit breaker (the parked searches and the next one still pass).
TEST(HybridOverloadTest, SearchesPastTheAsyncCallLimitAreRefusedAtOnce) {
  Suite s("hybrid_async_limit", {"--grpc_max_async_calls=0", "--default_deadline_ms=120000",
                                 "--max_deadline_ms=120000"});
  s.hybrid_flags_ = {"--grpc_max_async_calls=2", "--storage_timeout_ms=120000"};
  s.Start();
  ExpectSearchesPastTheAsyncCallLimitRefused(s, v1::HYBRID, s.hybrid_http_port_);
}

CommandResult RunEngramctl(const Suite& s, const std::string& args) {
  return RunCommand(absl::StrCat(ENGRAMCTL_BIN, " --addr=127.0.0.1:", s.api_grpc_port_, " --api_key=",
                                 kAdminKey, " ", args),
                    s.dir_ / "engramctl.out");
}

TEST_F(ApiE2eTest, EngramctlLearnSearchReasonAndExitCodes) {
  Suite& s = *suite_;
  CommandResult r = RunEngramctl(s, "--namespace=default learn 'A sparrow is a bird'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = RunEngramctl(s, "--namespace=default learn 'A bird is an animal'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = RunEngramctl(s, "--namespace=default search 'sparrow bird'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("A sparrow is a bird"));
  r = RunEngramctl(s, "--namespace=default --output=json search 'sparrow bird'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(json::parse(r.output, nullptr, false).is_discarded()) << r.output;
  r = RunEngramctl(s, "--namespace=default reason 'Is a sparrow an animal?'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("HIERARCHICAL"));
  r = RunEngramctl(s, "--namespace=default get no-such-concept-id");
  EXPECT_EQ(r.exit_code, 3) << r.output;  // NOT_FOUND
  r = RunEngramctl(s, "--namespace=default frobnicate");
  EXPECT_EQ(r.exit_code, 2) << r.output;  // usage
}

TEST_F(ApiE2eTest, EngramctlImportsWordNet) {
  Suite& s = *suite_;
  CommandResult r = RunEngramctl(s, "--namespace=wordnet_e2e import wordnet /usr/share/wordnet --limit=300");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("concepts/s"));
  v1::GetNamespaceRequest get;
  get.set_namespace_("wordnet_e2e");
  v1::Namespace info;
  ASSERT_TRUE(s.stub_->GetNamespace(Suite::Context().get(), get, &info).ok());
  EXPECT_EQ(info.concept_count(), 300u);
  EXPECT_GT(info.association_count(), 0u);
  // Strength from the sense counts: "entity" was tagged 11 times, "physical entity" never.
  EXPECT_THAT(r.output, HasSubstr("with sense counts"));
  for (const auto& [id, strength] : {std::pair<const char*, float>{"wn-n-00001740", 12.0f},
                                     {"wn-n-00001930", 1.0f}}) {
    v1::GetConceptRequest concept_request;
    concept_request.set_namespace_("wordnet_e2e");
    concept_request.set_id(id);
    v1::Concept got;
    const grpc::Status got_status =
        s.stub_->GetConcept(Suite::Context().get(), concept_request, &got);
    ASSERT_TRUE(got_status.ok()) << id << ": " << got_status.error_message();
    EXPECT_FLOAT_EQ(got.strength(), strength) << id;
    // And the word's own strength, as an attribute: only a tagged word has one.
    if (strength > 1) {
      EXPECT_EQ(got.attributes().at("strength:entity"), "12") << id;
    } else {
      EXPECT_EQ(got.attributes().count("strength:physical entity"), 0u) << id;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// v1.1: ListConcepts, UpdateConcept, AssociateBatch, DeleteAssociation.
// ---------------------------------------------------------------------------------------------

TEST_F(ApiE2eTest, V11RestRoutesListUpdateAssociateBatchAndUnlink) {
  Suite& s = *suite_;
  const std::string ns = "e2e_v11_rest";
  const std::string base = "/v1/namespaces/" + ns;
  ASSERT_EQ(s.Rest("POST", "/v1/namespaces", json{{"name", ns}}.dump()).status, 201);
  json concepts = json::array();
  for (int i = 0; i < 25; ++i) {
    concepts.push_back({{"content", absl::StrCat("concept number ", i)},
                        {"id", absl::StrCat("c", i)},
                        {"attributes", {{"parity", i % 2 == 0 ? "even" : "odd"}}},
                        {"extractAssociations", false}});
  }
  ASSERT_EQ(s.Rest("POST", base + "/concepts:batch", json{{"concepts", concepts}}.dump(), kWriterKey).status,
            200);

  // ListConcepts: pages of 10, point-in-time (a concept learned mid-listing is not seen), filters.
  std::set<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    HttpResult r = s.Rest("GET", base + "/concepts?pageSize=10" + (token.empty() ? "" : "&pageToken=" + token), "",
                          kReaderKey);
    ASSERT_EQ(r.status, 200) << r.body;
    const json page = Json(r);
    EXPECT_LE(page["concepts"].size(), 10u);
    for (const auto& c : page["concepts"]) {
      EXPECT_TRUE(seen.insert(c["id"].get<std::string>()).second) << "listed twice: " << c["id"];
      EXPECT_TRUE(c.contains("createTime"));
      EXPECT_TRUE(c["vector"].empty());  // only with includeVector=true
    }
    token = page["nextPageToken"];
    if (pages++ == 0) {
      ASSERT_EQ(s.Rest("POST", base + "/concepts", json{{"content", "learned while listing"}, {"id", "late"}}.dump(),
                       kWriterKey)
                    .status,
                201);
    }
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_EQ(seen.count("late"), 0u);
  EXPECT_GE(pages, 3);  // 10 + 10 + 5 (a last, empty page is allowed)
  EXPECT_LE(pages, 4);

  HttpResult r = s.Rest("GET", base + "/concepts?pageSize=1000&attribute=parity:even", "", kReaderKey);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r)["concepts"].size(), 13u) << r.body;
  r = s.Rest("GET", base + "/concepts?attribute=parity:even&attribute=parity:odd", "", kReaderKey);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.body, HasSubstr("attribute[1]"));
  r = s.Rest("GET", base + "/concepts?pageSize=1001", "", kReaderKey);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("pageSize"));
  r = s.Rest("GET", base + "/concepts?pageToken=garbage", "", kReaderKey);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("pageToken"));
  // A token of a filtered listing does not continue an unfiltered one.
  r = s.Rest("GET", base + "/concepts?pageSize=2&attribute=parity:odd", "", kReaderKey);
  ASSERT_EQ(r.status, 200);
  const std::string odd_token = Json(r)["nextPageToken"];
  ASSERT_FALSE(odd_token.empty());
  r = s.Rest("GET", base + "/concepts?pageToken=" + odd_token, "", kReaderKey);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("pageToken: issued for another"));
  EXPECT_EQ(s.Rest("GET", base + "/concepts", "", kScopedKey).status, 403);
  EXPECT_EQ(s.Rest("GET", base + "/concepts", "", "").status, 401);

  // AssociateBatch: atomic; a bad item names its index and writes nothing.
  r = s.Rest("POST", base + "/associations:batch",
             json{{"associations",
                   {{{"source", "c0"}, {"target", "c1"}, {"type", "CAUSAL"}},
                    {{"source", "c1"}, {"target", "c2"}, {"type", "TEMPORAL"}, {"confidence", 0.5}},
                    {{"source", "c2"}, {"target", "missing"}, {"type", "SEMANTIC"}}}}}
                 .dump(),
             kWriterKey);
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_THAT(r.body, HasSubstr("associations[2].target"));
  r = s.Rest("GET", base + "/concepts/c0/neighbors", "", kReaderKey);
  EXPECT_TRUE(Json(r)["neighbors"].empty()) << r.body;
  r = s.Rest("POST", base + "/associations:batch",
             json{{"associations",
                   {{{"source", "c0"}, {"target", "c1"}, {"type", "CAUSAL"}},
                    {{"source", "c1"}, {"target", ""}, {"type", "CAUSAL"}}}}}
                 .dump(),
             kWriterKey);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.body, HasSubstr("associations[1].target"));
  json many = json::array();
  for (int i = 0; i < 1001; ++i) many.push_back({{"source", "c0"}, {"target", "c1"}, {"type", "CAUSAL"}});
  r = s.Rest("POST", base + "/associations:batch", json{{"associations", many}}.dump(), kWriterKey);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("at most 1000"));
  EXPECT_EQ(s.Rest("POST", base + "/associations:batch",
                   json{{"associations", {{{"source", "c0"}, {"target", "c1"}, {"type", "CAUSAL"}}}}}.dump(),
                   kReaderKey)
                .status,
            403);
  r = s.Rest("POST", base + "/associations:batch",
             json{{"associations",
                   {{{"source", "c0"}, {"target", "c1"}, {"type", "CAUSAL"}},
                    {{"source", "c1"}, {"target", "c2"}, {"type", "TEMPORAL"}, {"confidence", 0.5}}}}}
                 .dump(),
             kWriterKey);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(Json(r)["associations"].size(), 2u);
  EXPECT_FLOAT_EQ(Json(r)["associations"][1]["confidence"].get<float>(), 0.5f);
  r = s.Rest("GET", base + "/concepts/c1/neighbors?direction=BOTH", "", kReaderKey);
  EXPECT_EQ(Json(r)["neighbors"].size(), 2u) << r.body;

  // UpdateConcept: content and attributes change, the id, create time and associations stay;
  // the new content is re-embedded (text search finds it by its new words).
  r = s.Rest("GET", base + "/concepts/c1?includeVector=true", "", kReaderKey);
  const json before = Json(r);
  r = s.Rest("PATCH", base + "/concepts/c1",
             json{{"content", "volcanic eruptions darken the sky"},
                  {"attributes", {{"topic", "geology"}}},
                  {"updateMask", {"content", "attributes"}}}
                 .dump(),
             kWriterKey);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r)["id"], "c1");
  EXPECT_EQ(Json(r)["content"], "volcanic eruptions darken the sky");
  EXPECT_EQ(Json(r)["attributes"], json({{"topic", "geology"}}));
  EXPECT_EQ(Json(r)["createTime"], before["createTime"]);
  r = s.Rest("GET", base + "/concepts/c1?includeVector=true", "", kReaderKey);
  EXPECT_NE(Json(r)["vector"], before["vector"]);
  r = s.Rest("POST", base + "/search", json{{"query", "volcanic eruptions darken the sky"}, {"k", 1}}.dump(),
             kReaderKey);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(Json(r)["results"].size(), 1u);
  EXPECT_EQ(Json(r)["results"][0]["id"], "c1");
  r = s.Rest("GET", base + "/concepts/c1/neighbors?direction=BOTH", "", kReaderKey);
  EXPECT_EQ(Json(r)["neighbors"].size(), 2u) << r.body;
  // Strength alone (empty mask: the fields the body sets); the vector stays.
  r = s.Rest("PATCH", base + "/concepts/c1", json{{"strength", 3}}.dump(), kWriterKey);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FLOAT_EQ(Json(r)["strength"].get<float>(), 3.0f);
  EXPECT_EQ(Json(r)["content"], "volcanic eruptions darken the sky");
  EXPECT_EQ(s.Rest("PATCH", base + "/concepts/ghost", json{{"strength", 1}}.dump(), kWriterKey).status, 404);
  r = s.Rest("PATCH", base + "/concepts/c1", json{{"updateMask", {"colour"}}}.dump(), kWriterKey);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("updateMask[0]"));
  r = s.Rest("PATCH", base + "/concepts/c1", json{{"vector", {1, 2, 3}}}.dump(), kWriterKey);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("vector: dimension 3 != namespace dimension 384"));
  r = s.Rest("PATCH", base + "/concepts/c1", json{{"confidence", 1.5}}.dump(), kWriterKey);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("confidence"));
  EXPECT_EQ(s.Rest("PATCH", base + "/concepts/c1", json{{"strength", 1}}.dump(), kReaderKey).status, 403);

  // DeleteAssociation: 404 when absent; the concepts stay.
  EXPECT_EQ(s.Rest("DELETE", base + "/associations?source=c0&target=c1&type=CAUSAL", "", kReaderKey).status, 403);
  EXPECT_EQ(s.Rest("DELETE", base + "/associations?source=c0&target=c1&type=CAUSAL", "", kWriterKey).status, 200);
  EXPECT_EQ(s.Rest("DELETE", base + "/associations?source=c0&target=c1&type=CAUSAL", "", kWriterKey).status, 404);
  r = s.Rest("DELETE", base + "/associations?source=c0&target=c1", "", kWriterKey);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("type: required"));
  r = s.Rest("DELETE", base + "/associations?source=c0&target=c1&type=CAUSAL&x=1", "", kWriterKey);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("unknown query parameter 'x'"));
  r = s.Rest("GET", base + "/concepts/c0/neighbors", "", kReaderKey);
  EXPECT_TRUE(Json(r)["neighbors"].empty()) << r.body;
  EXPECT_EQ(s.Rest("GET", base + "/concepts/c0", "", kReaderKey).status, 200);

  r = s.Rest("GET", "/openapi.json", "", "");
  const json doc = Json(r);
  EXPECT_TRUE(doc["paths"]["/v1/namespaces/{namespace}/concepts"].contains("get"));
  EXPECT_TRUE(doc["paths"]["/v1/namespaces/{namespace}/concepts/{id}"].contains("patch"));
  EXPECT_TRUE(doc["paths"]["/v1/namespaces/{namespace}/associations:batch"].contains("post"));
  EXPECT_TRUE(doc["paths"]["/v1/namespaces/{namespace}/associations"].contains("delete"));
  EXPECT_EQ(s.Rest("DELETE", base).status, 200);
}

TEST_F(ApiE2eTest, V11GrpcMethods) {
  Suite& s = *suite_;
  auto& stub = *s.stub_;
  const std::string ns = "e2e_v11_grpc";
  v1::CreateNamespaceRequest create;
  create.set_name(ns);
  create.set_dimension(2);
  create.set_embedder("none");
  v1::Namespace created;
  ASSERT_TRUE(stub.CreateNamespace(Suite::Context().get(), create, &created).ok());
  v1::LearnBatchRequest learn;
  learn.set_namespace_(ns);
  for (int i = 0; i < 5; ++i) {
    v1::LearnRequest* c = learn.add_concepts();
    c->set_id(absl::StrCat("n", i));
    c->set_content(absl::StrCat("node ", i));
    c->add_vector(1.0f);
    c->add_vector(static_cast<float>(i));
    c->mutable_extract_associations()->set_value(false);
  }
  v1::LearnBatchResponse learned;
  ASSERT_TRUE(stub.LearnBatch(Suite::Context(kWriterKey).get(), learn, &learned).ok());

  v1::ListConceptsRequest list;
  list.set_namespace_(ns);
  list.set_page_size(2);
  list.set_include_vector(true);
  int listed = 0;
  for (int page = 0; page < 10; ++page) {
    v1::ListConceptsResponse resp;
    grpc::Status st = stub.ListConcepts(Suite::Context(kReaderKey).get(), list, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    for (const auto& c : resp.concepts()) {
      EXPECT_EQ(c.vector_size(), 2);
      ++listed;
    }
    if (resp.next_page_token().empty()) break;
    list.set_page_token(resp.next_page_token());
  }
  EXPECT_EQ(listed, 5);

  v1::AssociateBatchRequest batch;
  batch.set_namespace_(ns);
  for (int i = 0; i + 1 < 5; ++i) {
    v1::AssociateRequest* a = batch.add_associations();
    a->set_source(absl::StrCat("n", i));
    a->set_target(absl::StrCat("n", i + 1));
    a->set_type(v1::CAUSAL);
  }
  v1::AssociateBatchResponse associated;
  grpc::Status st = stub.AssociateBatch(Suite::Context(kWriterKey).get(), batch, &associated);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(associated.associations_size(), 4);
  v1::FindPathsRequest paths;
  paths.set_namespace_(ns);
  paths.set_source("n0");
  paths.set_target("n4");
  v1::FindPathsResponse found;
  ASSERT_TRUE(stub.FindPaths(Suite::Context(kReaderKey).get(), paths, &found).ok());
  ASSERT_FALSE(found.paths().empty());
  EXPECT_EQ(found.paths(0).concept_ids_size(), 5);
  st = stub.AssociateBatch(Suite::Context(kReaderKey).get(), batch, &associated);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // New content in a namespace without an embedder needs a vector; with one it is stored.
  v1::UpdateConceptRequest update;
  update.set_namespace_(ns);
  update.set_id("n2");
  update.set_content("renamed node");
  v1::Concept updated;
  st = stub.UpdateConcept(Suite::Context(kWriterKey).get(), update, &updated);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("vector: required when the content changes"));
  update.add_vector(0.0f);
  update.add_vector(1.0f);
  st = stub.UpdateConcept(Suite::Context(kWriterKey).get(), update, &updated);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(updated.content(), "renamed node");
  v1::GetConceptRequest get;
  get.set_namespace_(ns);
  get.set_id("n2");
  get.set_include_vector(true);
  v1::Concept got;
  ASSERT_TRUE(stub.GetConcept(Suite::Context(kReaderKey).get(), get, &got).ok());
  ASSERT_EQ(got.vector_size(), 2);
  EXPECT_EQ(got.vector(1), 1.0f);
  ASSERT_TRUE(stub.FindPaths(Suite::Context(kReaderKey).get(), paths, &found).ok());
  EXPECT_FALSE(found.paths().empty()) << "associations survive an update";

  v1::DeleteAssociationRequest unlink;
  unlink.set_namespace_(ns);
  unlink.set_source("n1");
  unlink.set_target("n2");
  unlink.set_type(v1::CAUSAL);
  v1::DeleteAssociationResponse unlinked;
  ASSERT_TRUE(stub.DeleteAssociation(Suite::Context(kWriterKey).get(), unlink, &unlinked).ok());
  st = stub.DeleteAssociation(Suite::Context(kWriterKey).get(), unlink, &unlinked);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(stub.FindPaths(Suite::Context(kReaderKey).get(), paths, &found).ok());
  EXPECT_TRUE(found.paths().empty());
  st = stub.DeleteAssociation(Suite::Context("").get(), unlink, &unlinked);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  v1::DeleteNamespaceRequest drop;
  drop.set_namespace_(ns);
  v1::DeleteNamespaceResponse dropped;
  EXPECT_TRUE(stub.DeleteNamespace(Suite::Context().get(), drop, &dropped).ok());
}

TEST_F(ApiE2eTest, EngramctlListUpdateAssociateFileAndUnlink) {
  Suite& s = *suite_;
  const std::string ns = "e2e_v11_cli";
  CommandResult r = RunEngramctl(s, "namespaces create " + ns);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  {
    std::ofstream lines(s.dir_ / "v11.txt");
    for (int i = 0; i < 30; ++i) lines << "line concept " << i << "\n";
  }
  r = RunEngramctl(s, "-n " + ns + " learn --no_extract --file " + (s.dir_ / "v11.txt").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = RunEngramctl(s, "-n " + ns + " --output=json list --page_size=7");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> ids;
  for (absl::string_view line : absl::StrSplit(r.output, '\n', absl::SkipEmpty())) {
    json c = json::parse(line, nullptr, false);
    ASSERT_FALSE(c.is_discarded()) << line;
    ids.push_back(c["id"]);
  }
  ASSERT_EQ(ids.size(), 30u);
  {
    std::ofstream edges(s.dir_ / "edges.jsonl");
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      edges << json{{"source", ids[i]}, {"target", ids[i + 1]}, {"type", "TEMPORAL"}}.dump() << "\n";
    }
  }
  r = RunEngramctl(s, "-n " + ns + " associate --file " + (s.dir_ / "edges.jsonl").string() + " --batch 10");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("associated 29"));
  r = RunEngramctl(s, "-n " + ns + " paths " + ids[0] + " " + ids[10] + " --max_depth 12");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr(ids[10]));
  r = RunEngramctl(s, "-n " + ns + " neighbors " + ids[28] + " --direction OUT");
  EXPECT_THAT(r.output, HasSubstr(ids[29]));  // the last batch arrived too
  {
    std::ofstream bad(s.dir_ / "bad.jsonl");
    bad << json{{"source", ids[0]}, {"target", ids[1]}, {"type", "CAUSAL"}}.dump() << "\n";
    bad << json{{"source", ids[0]}, {"target", "nope"}, {"type", "CAUSAL"}}.dump() << "\n";
  }
  r = RunEngramctl(s, "-n " + ns + " associate --file " + (s.dir_ / "bad.jsonl").string());
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_THAT(r.output, HasSubstr("bad.jsonl line 2: target"));

  r = RunEngramctl(s, "-n " + ns + " update " + ids[3] + " --content 'a brand new text' --attr k=v");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("a brand new text"));
  r = RunEngramctl(s, "-n " + ns + " list --attr k=v");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, ids[3] + "  a brand new text\n");
  r = RunEngramctl(s, "-n " + ns + " update no-such-id --strength 2");
  EXPECT_EQ(r.exit_code, 3) << r.output;

  r = RunEngramctl(s, "-n " + ns + " unlink " + ids[0] + " " + ids[1] + " TEMPORAL");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = RunEngramctl(s, "-n " + ns + " unlink " + ids[0] + " " + ids[1] + " TEMPORAL");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  r = RunEngramctl(s, "namespaces delete " + ns);
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

// Operators' snapshot round trip with engramctl against the real engram-storage: create while
// the suite holds data, list, download (verified), restore into a fresh, empty engram-storage.
TEST_F(ApiE2eTest, EngramctlSnapshotCreateDownloadRestoreIntoAFreshStorage) {
  Suite& s = *suite_;
  const std::string storage = absl::StrCat(" --storage_addr=127.0.0.1:", s.storage_port_, " ");
  CommandResult r = RunEngramctl(s, "--namespace=default learn 'Snapshots keep knowledge safe'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const uint64_t concepts = s.Concepts();
  ASSERT_GT(concepts, 0u);

  r = RunEngramctl(s, storage + "snapshot create");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("created snap-"));
  r = RunEngramctl(s, storage + "--output=json snapshot list");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string name;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) name = json::parse(line)["name"];  // newest last
  ASSERT_FALSE(name.empty()) << r.output;

  const std::filesystem::path archive = s.dir_ / "backup.tar";
  r = RunEngramctl(s, absl::StrCat(storage, "snapshot download ", name, " ", archive.string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("SHA-256 verified"));
  ASSERT_TRUE(std::filesystem::exists(archive));
  EXPECT_FALSE(std::filesystem::exists(archive.string() + ".part"));
  std::ifstream digest_file(archive.string() + ".sha256");
  std::string digest;
  digest_file >> digest;
  EXPECT_EQ(digest.size(), 64u);
  r = RunEngramctl(s, absl::StrCat(storage, "snapshot download no-such-snapshot ", archive.string(), ".x"));
  EXPECT_EQ(r.exit_code, 3) << r.output;  // NOT_FOUND
  EXPECT_FALSE(std::filesystem::exists(archive.string() + ".x.part"));

  // A fresh engram-storage (empty data directory) takes the archive.
  const int fresh_port = testing::PickFreePort();
  ChildProcess fresh(ENGRAM_STORAGE_BIN,
                     {"--data_dir=" + (s.dir_ / "fresh-storage").string(), absl::StrCat("--grpc_port=", fresh_port),
                      "--http_port=0", "--listen_address=127.0.0.1", "--drain_seconds=1"},
                     s.dir_ / "fresh-storage.log");
  ASSERT_TRUE(fresh.Start().ok());
  ASSERT_TRUE(fresh.WaitForLine("engram-storage serving on grpc", absl::Seconds(120)).ok()) << fresh.Log();
  const std::string to_fresh = absl::StrCat(" --storage_addr=127.0.0.1:", fresh_port, " ");
  r = RunEngramctl(s, absl::StrCat(to_fresh, "snapshot restore ", archive.string()));
  ASSERT_EQ(r.exit_code, 0) << r.output << fresh.Log();
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat("restored ", name, ": ", concepts, " concepts")));
  // The restored store is not empty any more: a second restore is refused.
  r = RunEngramctl(s, absl::StrCat(to_fresh, "snapshot restore ", archive.string()));
  EXPECT_EQ(r.exit_code, 6) << r.output;  // FAILED_PRECONDITION
  EXPECT_THAT(r.output, HasSubstr("empty"));

  r = RunEngramctl(s, absl::StrCat(storage, "snapshot delete ", name));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = RunEngramctl(s, storage + "snapshot list");
  EXPECT_THAT(r.output, Not(HasSubstr(name)));
  EXPECT_EQ(fresh.Kill(SIGTERM), 0) << fresh.Log();
}

// Issue 11's round trip: a namespace exported with `engramctl export` and imported with
// `engramctl import jsonl` into a new namespace answers every read the same way.
struct NamespaceImage {
  v1::Namespace info;
  std::map<std::string, std::string> concepts;  // id -> content, attributes and vector
  std::set<std::string> edges;                  // every association, as text
};

NamespaceImage ImageOf(Suite& s, const std::string& ns) {
  NamespaceImage image;
  v1::GetNamespaceRequest get;
  get.set_namespace_(ns);
  EXPECT_TRUE(s.stub_->GetNamespace(Suite::Context().get(), get, &image.info).ok());
  image.info.clear_name();
  image.info.clear_create_time();
  v1::ListConceptsRequest list;
  list.set_namespace_(ns);
  list.set_page_size(1000);
  list.set_include_vector(true);
  do {
    v1::ListConceptsResponse page;
    grpc::Status status = s.stub_->ListConcepts(Suite::Context().get(), list, &page);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (!status.ok()) break;
    for (v1::Concept c : page.concepts()) {
      const std::string id = c.id();
      // What an import recreates: content, attributes, strength and the vector (bit for bit).
      v1::Concept kept;
      kept.set_content(c.content());
      *kept.mutable_attributes() = c.attributes();
      kept.set_strength(c.strength());
      *kept.mutable_vector() = c.vector();
      image.concepts[id] = kept.ShortDebugString();  // map entries sorted
      v1::NeighborsRequest neighbors;
      neighbors.set_namespace_(ns);
      neighbors.set_id(id);
      neighbors.set_direction(v1::OUT);
      neighbors.set_limit(1000);
      v1::NeighborsResponse out;
      EXPECT_TRUE(s.stub_->Neighbors(Suite::Context().get(), neighbors, &out).ok());
      for (const v1::Neighbor& n : out.neighbors()) {
        v1::Association a = n.association();
        a.clear_create_time();
        image.edges.insert(a.ShortDebugString());
      }
    }
    list.set_page_token(page.next_page_token());
  } while (!list.page_token().empty());
  return image;
}

TEST_F(ApiE2eTest, ExportThenImportIntoANewNamespaceAnswersTheSame) {
  Suite& s = *suite_;
  const std::string src = "e2e_roundtrip", dst = "e2e_roundtrip_copy";
  // WordNet (three association types, hashing vectors) and facts with extracted associations.
  CommandResult r = RunEngramctl(s, "-n " + src + " import wordnet /usr/share/wordnet --limit=400");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* fact : {"A sparrow is a bird.", "A bird is an animal.", "A wing is part of a bird.",
                           "Rain causes floods."}) {
    r = RunEngramctl(s, "-n " + src + " learn '" + std::string(fact) + "' --attr source=e2e");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  const NamespaceImage before = ImageOf(s, src);
  ASSERT_GE(before.concepts.size(), 404u);
  ASSERT_THAT(before.concepts.at("wn-n-00001740"), HasSubstr("strength: 12"));  // "entity", 11 tags
  ASSERT_GE(before.edges.size(), 300u);

  const std::string file = (s.dir_ / "roundtrip.ndjson").string();
  r = RunEngramctl(s, "-n " + src + " export " + file);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat("exported namespace ", src, ": ", before.concepts.size(),
                                               " concepts, ", before.edges.size(), " associations")));
  r = RunEngramctl(s, "-n " + dst + " import jsonl " + file);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("created namespace " + dst + " like the exported '" + src + "'"));

  const NamespaceImage after = ImageOf(s, dst);
  EXPECT_EQ(after.info.ShortDebugString(), before.info.ShortDebugString());  // config and counts
  EXPECT_EQ(after.concepts.size(), before.concepts.size());
  for (const auto& [id, concept_text] : before.concepts) {
    auto it = after.concepts.find(id);
    ASSERT_NE(it, after.concepts.end()) << id << " was not imported";
    ASSERT_EQ(it->second, concept_text) << id;  // content, attributes, strength, vector bit for bit
  }
  EXPECT_EQ(after.edges.size(), before.edges.size());
  EXPECT_TRUE(after.edges == before.edges) << "an association differs";

  // The same answers: paths, search (ef above the concept count: exact), reason.
  std::vector<std::string> ids;
  for (const auto& [id, unused] : before.concepts) ids.push_back(id);
  for (size_t i = 0; i < ids.size(); i += 50) {
    v1::FindPathsRequest paths;
    paths.set_source(ids[i]);
    paths.set_target(ids[(i * 7 + 13) % ids.size()]);
    paths.set_max_depth(8);
    paths.set_max_paths(5);
    v1::FindPathsResponse a, b;
    paths.set_namespace_(src);
    ASSERT_TRUE(s.stub_->FindPaths(Suite::Context().get(), paths, &a).ok());
    paths.set_namespace_(dst);
    ASSERT_TRUE(s.stub_->FindPaths(Suite::Context().get(), paths, &b).ok());
    for (v1::FindPathsResponse* response : {&a, &b}) {
      for (v1::Path& p : *response->mutable_paths()) {
        for (v1::Association& hop : *p.mutable_hops()) hop.clear_create_time();
      }
    }
    EXPECT_EQ(a.ShortDebugString(), b.ShortDebugString()) << paths.ShortDebugString();
  }
  for (const char* query : {"a small bird", "what causes floods", "organism"}) {
    v1::SearchRequest search;
    search.set_query(query);
    search.set_k(10);
    search.set_ef(1000);
    v1::SearchResponse a, b;
    search.set_namespace_(src);
    ASSERT_TRUE(s.stub_->Search(Suite::Context().get(), search, &a).ok());
    search.set_namespace_(dst);
    ASSERT_TRUE(s.stub_->Search(Suite::Context().get(), search, &b).ok());
    ASSERT_EQ(a.results_size(), 10) << query;
    EXPECT_EQ(a.ShortDebugString(), b.ShortDebugString()) << query;
  }
  for (const char* question : {"What is a sparrow?", "What is a wing part of?"}) {
    v1::ReasonRequest reason;
    reason.set_query(question);
    v1::ReasonResponse a, b;
    reason.set_namespace_(src);
    ASSERT_TRUE(s.stub_->Reason(Suite::Context().get(), reason, &a).ok());
    reason.set_namespace_(dst);
    ASSERT_TRUE(s.stub_->Reason(Suite::Context().get(), reason, &b).ok());
    EXPECT_EQ(a.answer().id(), b.answer().id()) << question;
    EXPECT_EQ(a.confident(), b.confident()) << question;
    ASSERT_EQ(a.paths_size(), b.paths_size()) << question;
    for (int i = 0; i < a.paths_size(); ++i) {
      EXPECT_EQ(absl::StrJoin(a.paths(i).concept_ids(), ">"), absl::StrJoin(b.paths(i).concept_ids(), ">"));
    }
  }

  // The streamed answer from the command line, into the copy.
  r = RunEngramctl(s, "-n " + dst + " reason 'What is a sparrow?' --stream");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StartsWith(r.output, "Seeds:\n")) << r.output;
  EXPECT_THAT(r.output, HasSubstr("\nPath: ("));
  EXPECT_THAT(r.output, HasSubstr("\nConfidence: "));

  // Importing the export again is idempotent; into a namespace of another dimension it is refused
  // before anything is written.
  r = RunEngramctl(s, "-n " + dst + " import jsonl " + file);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(ImageOf(s, dst).info.ShortDebugString(), before.info.ShortDebugString());
  r = RunEngramctl(s, "namespaces create e2e_roundtrip_small --dimension 3 --embedder none");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = RunEngramctl(s, "-n e2e_roundtrip_small import jsonl " + file);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("line 1: namespace: 'e2e_roundtrip_small' exists with dimension 3"));
}

}  // namespace
}  // namespace engram
