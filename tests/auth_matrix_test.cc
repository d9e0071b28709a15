// Who may call what, as one table: every call of the public API (over gRPC and over REST) and every
// route of engram-control's admin API, for every kind of caller, against the real binaries.
//
// Public API callers: no key, an unknown key, a reader and a writer of namespace "alpha", an admin
// of every namespace, and an admin of namespace "beta" only (a key scoped to another namespace).
// Each cell is written out (A allowed, U unauthenticated, D permission denied); a write that is
// refused must change nothing, which is checked against state prepared fresh for every cell. The
// table must name every method of engram.v1.Engram and every route of /openapi.json, so a new call
// cannot be added without its row.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "engram/v1/engram.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "nlohmann/json.hpp"
#include "tests/testing/http_client.h"
#include "tests/testing/process.h"

namespace engram {
namespace {

using testing::ChildProcess;
using testing::Eventually;
using testing::HttpCall;
using testing::HttpResult;
using json = nlohmann::json;

constexpr char kAdminKey[] = "authz-admin-key-0123456789";
constexpr char kWriterKey[] = "authz-writer-key-0123456789";
constexpr char kReaderKey[] = "authz-reader-key-0123456789";
constexpr char kOtherKey[] = "authz-other-key-0123456789";  // admin of "beta" only

enum Caller { kNoKey, kBadKey, kReader, kWriter, kAdmin, kOther, kCallers };
constexpr std::array<const char*, kCallers> kCallerNames = {"no key",       "unknown key",
                                                             "alpha reader", "alpha writer",
                                                             "admin of *",   "admin of beta only"};
constexpr std::array<const char*, kCallers> kCallerKeys = {
    "", "authz-unknown-key-0123456789", kReaderKey, kWriterKey, kAdminKey, kOtherKey};

// What one call works on, made fresh (by the admin) for every cell that writes.
struct Target {
  std::string ns = "alpha";
  std::string id = "a1";
  std::string id2 = "a2";
};

class Suite;

// One row of the table: a call of the public API.
struct Row {
  std::string rpc;
  // One letter per caller, in Caller order: A allowed (OK), U UNAUTHENTICATED / 401,
  // D PERMISSION_DENIED / 403.
  std::string expected;
  std::string http_method;
  std::string http_path;  // {ns}, {id}, {id2} are replaced by the target's
  std::function<std::string(const Target&)> http_body = [](const Target&) { return ""; };
  std::function<grpc::Status(Suite&, const Target&, grpc::ClientContext*)> grpc;
  // For writes: makes the target, and says whether it is still as made (the refused call changed
  // nothing). Reads use the shared "alpha" data.
  std::function<Target(Suite&)> prepare;
  std::function<bool(Suite&, const Target&)> unchanged;
};

class Suite {
 public:
  Suite() {
    dir_ = std::filesystem::path(::testing::TempDir()) / "auth_matrix";
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "keys.json")
        << json{{"keys",
                 {{{"name", "admin"}, {"key", kAdminKey}, {"role", "admin"}, {"namespaces", {"*"}}},
                  {{"name", "writer"}, {"key", kWriterKey}, {"role", "writer"}, {"namespaces", {"alpha"}}},
                  {{"name", "reader"}, {"key", kReaderKey}, {"role", "reader"}, {"namespaces", {"alpha"}}},
                  {{"name", "other"}, {"key", kOtherKey}, {"role", "admin"}, {"namespaces", {"beta"}}}}}}
               .dump();
  }

  void Start() {
    storage_ = Run("storage", ENGRAM_STORAGE_BIN,
                   {"--data_dir=" + (dir_ / "data").string(), "--grpc_port=0", "--http_port=0"});
    storage_grpc_ = storage_->PortAfter("serving on grpc ");
    storage_http_ = storage_->PortAfter(" http ");
    hybrid_ = Run("hybrid", ENGRAM_HYBRID_BIN,
                  {"--grpc_port=0", "--http_port=0", absl::StrCat("--storage_addr=127.0.0.1:", storage_grpc_)});
    hybrid_grpc_ = hybrid_->PortAfter("serving on grpc ");
    hybrid_http_ = hybrid_->PortAfter(" http ");
    // No rate limit: the table makes hundreds of calls with few keys.
    api_ = Run("api", ENGRAM_API_BIN,
               {"--grpc_port=0", "--http_port=0", "--key_rate=0", "--namespace_rate=0",
                "--api_keys_file=" + (dir_ / "keys.json").string(),
                absl::StrCat("--storage_addr=127.0.0.1:", storage_grpc_),
                absl::StrCat("--hybrid_addr=127.0.0.1:", hybrid_grpc_)});
    api_grpc_ = api_->PortAfter("serving on grpc ");
    api_http_ = api_->PortAfter(" http ");
    stub_ = v1::Engram::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", api_grpc_), grpc::InsecureChannelCredentials()));
    ASSERT_TRUE(Eventually([&] { return HttpCall(api_http_, "GET", "/readyz").status == 200; }))
        << HttpCall(api_http_, "GET", "/readyz").body;
  }

  std::unique_ptr<ChildProcess> Run(const std::string& name, const std::string& binary,
                                    std::vector<std::string> args) {
    args.push_back("--listen_address=127.0.0.1");
    auto p = std::make_unique<ChildProcess>(binary, std::move(args), dir_ / (name + ".log"));
    EXPECT_TRUE(p->Start().ok());
    auto line = p->WaitForLine("serving on", absl::Seconds(120));
    EXPECT_TRUE(line.ok()) << p->Log();
    return p;
  }

  // A context for `key` ("" sends no authorization).
  static void Authorize(grpc::ClientContext* c, const std::string& key) {
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    if (!key.empty()) c->AddMetadata("authorization", "Bearer " + key);
  }
  grpc::Status AsAdmin(const std::function<grpc::Status(grpc::ClientContext*)>& call) {
    grpc::ClientContext c;
    Authorize(&c, kAdminKey);
    return call(&c);
  }

  void CreateNamespace(const std::string& name) {
    v1::CreateNamespaceRequest req;
    req.set_name(name);
    v1::Namespace resp;
    grpc::Status s = AsAdmin([&](auto* c) { return stub_->CreateNamespace(c, req, &resp); });
    ASSERT_TRUE(s.ok()) << name << ": " << s.error_message();
  }
  bool NamespaceExists(const std::string& name) {
    v1::GetNamespaceRequest req;
    req.set_namespace_(name);
    v1::Namespace resp;
    return AsAdmin([&](auto* c) { return stub_->GetNamespace(c, req, &resp); }).ok();
  }
  void Learn(const std::string& ns, const std::string& id, const std::string& content) {
    v1::LearnRequest req;
    req.set_namespace_(ns);
    req.set_id(id);
    req.set_content(content);
    req.mutable_extract_associations()->set_value(false);
    v1::LearnResponse resp;
    grpc::Status s = AsAdmin([&](auto* c) { return stub_->Learn(c, req, &resp); });
    ASSERT_TRUE(s.ok()) << id << ": " << s.error_message();
  }
  // The concept's content, "" when it does not exist.
  std::string Content(const std::string& ns, const std::string& id) {
    v1::GetConceptRequest req;
    req.set_namespace_(ns);
    req.set_id(id);
    v1::Concept resp;
    return AsAdmin([&](auto* c) { return stub_->GetConcept(c, req, &resp); }).ok() ? resp.content() : "";
  }
  void Associate(const std::string& ns, const std::string& source, const std::string& target) {
    v1::AssociateRequest req;
    req.set_namespace_(ns);
    req.set_source(source);
    req.set_target(target);
    req.set_type(v1::CAUSAL);
    v1::Association resp;
    grpc::Status s = AsAdmin([&](auto* c) { return stub_->Associate(c, req, &resp); });
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  int NeighborCount(const std::string& ns, const std::string& id) {
    v1::NeighborsRequest req;
    req.set_namespace_(ns);
    req.set_id(id);
    v1::NeighborsResponse resp;
    grpc::Status s = AsAdmin([&](auto* c) { return stub_->Neighbors(c, req, &resp); });
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.neighbors_size();
  }

  // A fresh name for a cell's own state.
  std::string Fresh(const std::string& prefix) { return absl::StrCat(prefix, ++fresh_); }
  // Two fresh concepts in "alpha".
  Target FreshPair() {
    Target t{.ns = "alpha", .id = Fresh("c"), .id2 = Fresh("c")};
    Learn(t.ns, t.id, "a fresh concept " + t.id);
    Learn(t.ns, t.id2, "another fresh concept " + t.id2);
    return t;
  }

  std::filesystem::path dir_;
  std::unique_ptr<ChildProcess> storage_, hybrid_, api_;
  int storage_grpc_ = 0, storage_http_ = 0, hybrid_grpc_ = 0, hybrid_http_ = 0, api_grpc_ = 0, api_http_ = 0;
  std::unique_ptr<v1::Engram::Stub> stub_;
  int fresh_ = 0;
};

// Reads a whole server stream; its final status.
template <typename Reader, typename Message>
grpc::Status Drain(Reader reader) {
  Message m;
  while (reader->Read(&m)) {
  }
  return reader->Finish();
}

std::vector<Row> Table() {
  const auto no_state = [](Suite&) { return Target{}; };
  const auto fresh_pair = [](Suite& s) { return s.FreshPair(); };
  const auto both_still_there = [](Suite& s, const Target& t) {
    return !s.Content(t.ns, t.id).empty() && !s.Content(t.ns, t.id2).empty();
  };
  const auto unassociated = [](Suite& s, const Target& t) { return s.NeighborCount(t.ns, t.id) == 0; };
  const auto fresh_ids = [](Suite& s) { return Target{.ns = "alpha", .id = s.Fresh("n"), .id2 = s.Fresh("n")}; };
  const auto ids_absent = [](Suite& s, const Target& t) {
    return s.Content(t.ns, t.id).empty() && s.Content(t.ns, t.id2).empty();
  };
  std::vector<Row> rows;
  rows.push_back(Row{
      .rpc = "CreateNamespace", .expected = "UUDDAD", .http_method = "POST", .http_path = "/v1/namespaces",
      .http_body = [](const Target& t) { return json{{"name", t.ns}}.dump(); },
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::CreateNamespaceRequest r;
        r.set_name(t.ns);
        v1::Namespace out;
        return s.stub_->CreateNamespace(c, r, &out);
      },
      .prepare = [](Suite& s) { return Target{.ns = s.Fresh("ns")}; },
      .unchanged = [](Suite& s, const Target& t) { return !s.NamespaceExists(t.ns); }});
  rows.push_back(Row{
      .rpc = "ListNamespaces", .expected = "UUAAAA", .http_method = "GET", .http_path = "/v1/namespaces",
      .grpc = [](Suite& s, const Target&, grpc::ClientContext* c) {
        v1::ListNamespacesResponse out;
        return s.stub_->ListNamespaces(c, v1::ListNamespacesRequest(), &out);
      },
      .prepare = no_state});
  rows.push_back(Row{
      .rpc = "GetNamespace", .expected = "UUAAAD", .http_method = "GET", .http_path = "/v1/namespaces/{ns}",
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::GetNamespaceRequest r;
        r.set_namespace_(t.ns);
        v1::Namespace out;
        return s.stub_->GetNamespace(c, r, &out);
      },
      .prepare = no_state});
  rows.push_back(Row{
      .rpc = "DeleteNamespace", .expected = "UUDDAD", .http_method = "DELETE",
      .http_path = "/v1/namespaces/{ns}",
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::DeleteNamespaceRequest r;
        r.set_namespace_(t.ns);
        v1::DeleteNamespaceResponse out;
        return s.stub_->DeleteNamespace(c, r, &out);
      },
      .prepare = [](Suite& s) {
        Target t{.ns = s.Fresh("ns")};
        s.CreateNamespace(t.ns);
        return t;
      },
      .unchanged = [](Suite& s, const Target& t) { return s.NamespaceExists(t.ns); }});
  rows.push_back(Row{
      .rpc = "Learn", .expected = "UUDAAD", .http_method = "POST", .http_path = "/v1/namespaces/{ns}/concepts",
      .http_body = [](const Target& t) { return json{{"id", t.id}, {"content", "learned " + t.id}}.dump(); },
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::LearnRequest r;
        r.set_namespace_(t.ns);
        r.set_id(t.id);
        r.set_content("learned " + t.id);
        v1::LearnResponse out;
        return s.stub_->Learn(c, r, &out);
      },
      .prepare = fresh_ids, .unchanged = ids_absent});
  rows.push_back(Row{
      .rpc = "LearnBatch", .expected = "UUDAAD", .http_method = "POST",
      .http_path = "/v1/namespaces/{ns}/concepts:batch",
      .http_body = [](const Target& t) {
        return json{{"concepts", {{{"id", t.id}, {"content", "x " + t.id}}, {{"id", t.id2}, {"content", "y"}}}}}.dump();
      },
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::LearnBatchRequest r;
        r.set_namespace_(t.ns);
        for (const std::string& id : {t.id, t.id2}) {
          v1::LearnRequest* item = r.add_concepts();
          item->set_id(id);
          item->set_content("batch " + id);
        }
        v1::LearnBatchResponse out;
        return s.stub_->LearnBatch(c, r, &out);
      },
      .prepare = fresh_ids, .unchanged = ids_absent});
  rows.push_back(Row{
      .rpc = "GetConcept", .expected = "UUAAAD", .http_method = "GET",
      .http_path = "/v1/namespaces/{ns}/concepts/{id}",
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::GetConceptRequest r;
        r.set_namespace_(t.ns);
        r.set_id(t.id);
        v1::Concept out;
        return s.stub_->GetConcept(c, r, &out);
      },
      .prepare = no_state});
  rows.push_back(Row{
      .rpc = "DeleteConcept", .expected = "UUDAAD", .http_method = "DELETE",
      .http_path = "/v1/namespaces/{ns}/concepts/{id}",
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::DeleteConceptRequest r;
        r.set_namespace_(t.ns);
        r.set_id(t.id);
        v1::DeleteConceptResponse out;
        return s.stub_->DeleteConcept(c, r, &out);
      },
      .prepare = fresh_pair, .unchanged = both_still_there});
  rows.push_back(Row{
      .rpc = "ListConcepts", .expected = "UUAAAD", .http_method = "GET",
      .http_path = "/v1/namespaces/{ns}/concepts",
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::ListConceptsRequest r;
        r.set_namespace_(t.ns);
        v1::ListConceptsResponse out;
        return s.stub_->ListConcepts(c, r, &out);
      },
      .prepare = no_state});
  rows.push_back(Row{
      .rpc = "UpdateConcept", .expected = "UUDAAD", .http_method = "PATCH",
      .http_path = "/v1/namespaces/{ns}/concepts/{id}",
      .http_body = [](const Target&) { return json{{"content", "changed"}, {"updateMask", {"content"}}}.dump(); },
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::UpdateConceptRequest r;
        r.set_namespace_(t.ns);
        r.set_id(t.id);
        r.set_content("changed");
        r.add_update_mask("content");
        v1::Concept out;
        return s.stub_->UpdateConcept(c, r, &out);
      },
      .prepare = fresh_pair,
      .unchanged = [](Suite& s, const Target& t) { return s.Content(t.ns, t.id) == "a fresh concept " + t.id; }});
  rows.push_back(Row{
      .rpc = "Associate", .expected = "UUDAAD", .http_method = "POST",
      .http_path = "/v1/namespaces/{ns}/associations",
      .http_body = [](const Target& t) { return json{{"source", t.id}, {"target", t.id2}, {"type", "CAUSAL"}}.dump(); },
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::AssociateRequest r;
        r.set_namespace_(t.ns);
        r.set_source(t.id);
        r.set_target(t.id2);
        r.set_type(v1::CAUSAL);
        v1::Association out;
        return s.stub_->Associate(c, r, &out);
      },
      .prepare = fresh_pair, .unchanged = unassociated});
  rows.push_back(Row{
      .rpc = "AssociateBatch", .expected = "UUDAAD", .http_method = "POST",
      .http_path = "/v1/namespaces/{ns}/associations:batch",
      .http_body = [](const Target& t) {
        return json{{"associations", {{{"source", t.id}, {"target", t.id2}, {"type", "CAUSAL"}}}}}.dump();
      },
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::AssociateBatchRequest r;
        r.set_namespace_(t.ns);
        v1::AssociateRequest* a = r.add_associations();
        a->set_source(t.id);
        a->set_target(t.id2);
        a->set_type(v1::CAUSAL);
        v1::AssociateBatchResponse out;
        return s.stub_->AssociateBatch(c, r, &out);
      },
      .prepare = fresh_pair, .unchanged = unassociated});
  rows.push_back(Row{
      .rpc = "DeleteAssociation", .expected = "UUDAAD", .http_method = "DELETE",
      .http_path = "/v1/namespaces/{ns}/associations?source={id}&target={id2}&type=CAUSAL",
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::DeleteAssociationRequest r;
        r.set_namespace_(t.ns);
        r.set_source(t.id);
        r.set_target(t.id2);
        r.set_type(v1::CAUSAL);
        v1::DeleteAssociationResponse out;
        return s.stub_->DeleteAssociation(c, r, &out);
      },
      .prepare = [](Suite& s) {
        Target t = s.FreshPair();
        s.Associate(t.ns, t.id, t.id2);
        return t;
      },
      .unchanged = [](Suite& s, const Target& t) { return s.NeighborCount(t.ns, t.id) == 1; }});
  rows.push_back(Row{
      .rpc = "Neighbors", .expected = "UUAAAD", .http_method = "GET",
      .http_path = "/v1/namespaces/{ns}/concepts/{id}/neighbors",
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::NeighborsRequest r;
        r.set_namespace_(t.ns);
        r.set_id(t.id);
        v1::NeighborsResponse out;
        return s.stub_->Neighbors(c, r, &out);
      },
      .prepare = no_state});
  rows.push_back(Row{
      .rpc = "FindPaths", .expected = "UUAAAD", .http_method = "POST", .http_path = "/v1/namespaces/{ns}/paths",
      .http_body = [](const Target& t) { return json{{"source", t.id}, {"target", t.id2}}.dump(); },
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::FindPathsRequest r;
        r.set_namespace_(t.ns);
        r.set_source(t.id);
        r.set_target(t.id2);
        v1::FindPathsResponse out;
        return s.stub_->FindPaths(c, r, &out);
      },
      .prepare = no_state});
  rows.push_back(Row{
      .rpc = "Search", .expected = "UUAAAD", .http_method = "POST", .http_path = "/v1/namespaces/{ns}/search",
      .http_body = [](const Target&) { return json{{"query", "rain"}}.dump(); },
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::SearchRequest r;
        r.set_namespace_(t.ns);
        r.set_query("rain");
        v1::SearchResponse out;
        return s.stub_->Search(c, r, &out);
      },
      .prepare = no_state});
  rows.push_back(Row{
      .rpc = "Reason", .expected = "UUAAAD", .http_method = "POST", .http_path = "/v1/namespaces/{ns}/reason",
      .http_body = [](const Target&) { return json{{"query", "What does rain cause?"}}.dump(); },
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::ReasonRequest r;
        r.set_namespace_(t.ns);
        r.set_query("What does rain cause?");
        v1::ReasonResponse out;
        return s.stub_->Reason(c, r, &out);
      },
      .prepare = no_state});
  rows.push_back(Row{
      .rpc = "ReasonStream", .expected = "UUAAAD", .http_method = "POST",
      .http_path = "/v1/namespaces/{ns}/reason:stream",
      .http_body = [](const Target&) { return json{{"query", "What does rain cause?"}}.dump(); },
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::ReasonRequest r;
        r.set_namespace_(t.ns);
        r.set_query("What does rain cause?");
        return Drain<decltype(s.stub_->ReasonStream(c, r)), v1::ReasonEvent>(s.stub_->ReasonStream(c, r));
      },
      .prepare = no_state});
  rows.push_back(Row{
      .rpc = "ExportNamespace", .expected = "UUAAAD", .http_method = "GET", .http_path = "/v1/namespaces/{ns}:export",
      .grpc = [](Suite& s, const Target& t, grpc::ClientContext* c) {
        v1::ExportNamespaceRequest r;
        r.set_namespace_(t.ns);
        return Drain<decltype(s.stub_->ExportNamespace(c, r)), v1::ExportChunk>(s.stub_->ExportNamespace(c, r));
      },
      .prepare = no_state});
  rows.push_back(Row{
      .rpc = "GetStats", .expected = "UUAAAA", .http_method = "GET", .http_path = "/v1/stats",
      .grpc = [](Suite& s, const Target&, grpc::ClientContext* c) {
        v1::Stats out;
        return s.stub_->GetStats(c, v1::GetStatsRequest(), &out);
      },
      .prepare = no_state});
  return rows;
}

grpc::StatusCode ExpectedCode(char letter) {
  return letter == 'A' ? grpc::StatusCode::OK
         : letter == 'U' ? grpc::StatusCode::UNAUTHENTICATED
                         : grpc::StatusCode::PERMISSION_DENIED;
}

std::string Fill(std::string pattern, const Target& t) {
  return absl::StrReplaceAll(pattern, {{"{ns}", t.ns}, {"{id}", t.id}, {"{id2}", t.id2}});
}

class AuthMatrixTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    suite_ = new Suite();
    suite_->Start();
    suite_->CreateNamespace("alpha");
    suite_->CreateNamespace("beta");
    suite_->Learn("alpha", "a1", "Rain causes floods.");
    suite_->Learn("alpha", "a2", "Floods damage houses.");
    suite_->Associate("alpha", "a1", "a2");
  }
  static void TearDownTestSuite() {
    delete suite_;
    suite_ = nullptr;
  }
  static Suite* suite_;
};
Suite* AuthMatrixTest::suite_ = nullptr;

TEST_F(AuthMatrixTest, TheTableNamesEveryGrpcMethodAndEveryRestRoute) {
  std::set<std::string> rows;
  std::set<std::string> routes;
  for (const Row& row : Table()) {
    ASSERT_EQ(row.expected.size(), static_cast<size_t>(kCallers)) << row.rpc;
    rows.insert(row.rpc);
    std::string path = row.http_path.substr(0, row.http_path.find('?'));
    path = absl::StrReplaceAll(path, {{"{ns}", "{namespace}"}});
    routes.insert(absl::StrCat(row.http_method, " ", path));
  }
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName("engram.v1.Engram");
  ASSERT_NE(service, nullptr);
  std::set<std::string> methods;
  for (int i = 0; i < service->method_count(); ++i) methods.insert(service->method(i)->name());
  EXPECT_EQ(rows, methods);

  HttpResult doc = HttpCall(suite_->api_http_, "GET", "/openapi.json");
  ASSERT_EQ(doc.status, 200);
  std::set<std::string> documented;
  const json openapi = json::parse(doc.body);
  for (const auto& [path, operations] : openapi["paths"].items()) {
    for (const auto& [method, op] : operations.items()) {
      std::string upper = method;
      for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      documented.insert(absl::StrCat(upper, " ", path));
    }
  }
  // The table's {id} is the route's {id}; every documented route has a row and vice versa.
  EXPECT_EQ(routes, documented);
}

TEST_F(AuthMatrixTest, EveryCallerOfEveryGrpcMethodIsAllowedOrRefusedAsSpecified) {
  Suite& s = *suite_;
  for (const Row& row : Table()) {
    for (int caller = 0; caller < kCallers; ++caller) {
      const Target t = row.prepare(s);
      grpc::ClientContext c;
      Suite::Authorize(&c, kCallerKeys[caller]);
      const grpc::Status status = row.grpc(s, t, &c);
      const char want = row.expected[caller];
      EXPECT_EQ(status.error_code(), ExpectedCode(want))
          << row.rpc << " by " << kCallerNames[caller] << ": " << status.error_message();
      if (want != 'A' && row.unchanged) {
        EXPECT_TRUE(row.unchanged(s, t)) << "refused " << row.rpc << " by " << kCallerNames[caller]
                                         << " changed something";
      }
      if (want == 'D') {
        EXPECT_THAT(status.error_message(), ::testing::HasSubstr("may not")) << row.rpc;
      }
    }
  }
}

TEST_F(AuthMatrixTest, EveryCallerOfEveryRestRouteIsAllowedOrRefusedAsSpecified) {
  Suite& s = *suite_;
  for (const Row& row : Table()) {
    for (int caller = 0; caller < kCallers; ++caller) {
      const Target t = row.prepare(s);
      std::vector<std::pair<std::string, std::string>> headers;
      if (*kCallerKeys[caller] != '\0') headers.push_back({"Authorization", absl::StrCat("Bearer ", kCallerKeys[caller])});
      if (row.http_method != "GET" && row.http_method != "DELETE") headers.push_back({"Content-Type", "application/json"});
      const HttpResult r =
          HttpCall(s.api_http_, row.http_method, Fill(row.http_path, t), row.http_body(t), headers, 60);
      const char want = row.expected[caller];
      if (want == 'A') {
        EXPECT_TRUE(r.status == 200 || r.status == 201)
            << row.http_method << " " << row.http_path << " by " << kCallerNames[caller] << ": " << r.status
            << " " << r.body;
      } else {
        EXPECT_EQ(r.status, want == 'U' ? 401 : 403)
            << row.http_method << " " << row.http_path << " by " << kCallerNames[caller] << ": " << r.body;
        json body = json::parse(r.body, nullptr, false);
        ASSERT_FALSE(body.is_discarded()) << r.body;
        EXPECT_EQ(body["error"]["code"], want == 'U' ? "UNAUTHENTICATED" : "PERMISSION_DENIED") << r.body;
      }
      if (want != 'A' && row.unchanged) {
        EXPECT_TRUE(row.unchanged(s, t)) << "refused " << row.rpc << " by " << kCallerNames[caller]
                                         << " changed something";
      }
    }
  }
}

TEST_F(AuthMatrixTest, AKeyListsOnlyItsOwnNamespaces) {
  Suite& s = *suite_;
  const auto names = [&](const char* key) {
    grpc::ClientContext c;
    Suite::Authorize(&c, key);
    v1::ListNamespacesResponse out;
    EXPECT_TRUE(s.stub_->ListNamespaces(&c, v1::ListNamespacesRequest(), &out).ok());
    std::set<std::string> listed;
    for (const v1::Namespace& ns : out.namespaces()) listed.insert(ns.name());
    return listed;
  };
  EXPECT_EQ(names(kReaderKey), std::set<std::string>{"alpha"});
  EXPECT_EQ(names(kOtherKey), std::set<std::string>{"beta"});
  EXPECT_TRUE(names(kAdminKey).count("alpha") && names(kAdminKey).count("beta"));
}

// engram-control: only an admin key for every namespace logs in; every route refuses a caller
// without a valid session, and every mutating route one without the CSRF header.
class ControlAuthMatrixTest : public AuthMatrixTest {
 protected:
  void SetUp() override {
    Suite& s = *suite_;
    control_ = s.Run("control", ENGRAM_CONTROL_BIN,
                     {"--http_port=0", "--scrape_interval_s=0.2",
                      absl::StrCat("--storage_addr=127.0.0.1:", s.storage_grpc_),
                      absl::StrCat("--storage_http_addr=127.0.0.1:", s.storage_http_),
                      absl::StrCat("--hybrid_addr=127.0.0.1:", s.hybrid_grpc_),
                      absl::StrCat("--hybrid_http_port=", s.hybrid_http_),
                      absl::StrCat("--api_http_addr=127.0.0.1:", s.api_http_),
                      "--api_keys_file=" + (s.dir_ / "keys.json").string()});
    port_ = control_->PortAfter("serving on http ");
  }
  HttpResult Login(const std::string& body) { return HttpCall(port_, "POST", "/api/login", body); }

  std::unique_ptr<ChildProcess> control_;
  int port_ = 0;
};

TEST_F(ControlAuthMatrixTest, OnlyAnAdminKeyForEveryNamespaceLogsIn) {
  struct Cell {
    std::string body;
    int status;
    std::string says;
  };
  const std::vector<std::pair<std::string, Cell>> cells = {
      {"no key", {"{}", 400, "key: required"}},
      {"unknown key", {json{{"key", kCallerKeys[kBadKey]}}.dump(), 401, "invalid API key"}},
      {"reader", {json{{"key", kReaderKey}}.dump(), 403, "has the role reader"}},
      {"writer", {json{{"key", kWriterKey}}.dump(), 403, "has the role writer"}},
      {"admin of beta only", {json{{"key", kOtherKey}}.dump(), 403, "for some namespaces only"}},
      {"admin of *", {json{{"key", kAdminKey}}.dump(), 200, "csrfToken"}},
  };
  for (const auto& [who, cell] : cells) {
    HttpResult r = Login(cell.body);
    EXPECT_EQ(r.status, cell.status) << who << ": " << r.body;
    EXPECT_THAT(r.body, ::testing::HasSubstr(cell.says)) << who;
    EXPECT_EQ(r.Header("Set-Cookie").empty(), cell.status != 200) << who;
  }
}

TEST_F(ControlAuthMatrixTest, EveryRouteRefusesWithoutASessionAndEveryMutatingOneWithoutCsrf) {
  Suite& s = *suite_;
  HttpResult login = Login(json{{"key", kAdminKey}}.dump());
  ASSERT_EQ(login.status, 200) << login.body;
  const std::string cookie = login.Header("Set-Cookie").substr(0, login.Header("Set-Cookie").find(';'));
  const std::string csrf = json::parse(login.body)["csrfToken"];

  struct Route {
    std::string method, path, body;
    bool mutating;
    std::function<bool()> unchanged;  // for mutating routes: nothing changed after a refusal
  };
  const std::string doomed = s.Fresh("ctl");
  s.CreateNamespace(doomed);
  s.Learn("alpha", "ctl-c", "a concept control may delete");
  const std::vector<Route> routes = {
      {"POST", "/api/logout", "", true},
      {"GET", "/api/session", "", false},
      {"GET", "/api/overview", "", false},
      {"GET", "/api/history", "", false},
      {"GET", "/api/services/storage-0/metrics", "", false},
      {"GET", "/api/namespaces", "", false},
      {"POST", "/api/namespaces", json{{"name", "ctl-new"}}.dump(), true,
       [&] { return !s.NamespaceExists("ctl-new"); }},
      {"DELETE", "/api/namespaces/" + doomed, json{{"confirm", doomed}}.dump(), true,
       [&] { return s.NamespaceExists(doomed); }},
      {"POST", "/api/namespaces/alpha:compact", "", true},
      {"GET", "/api/namespaces/alpha/concepts", "", false},
      {"GET", "/api/namespaces/alpha/concepts/a1", "", false},
      {"DELETE", "/api/namespaces/alpha/concepts/ctl-c", "", true,
       [&] { return !s.Content("alpha", "ctl-c").empty(); }},
      {"GET", "/api/namespaces/alpha/concepts/a1/neighbors", "", false},
      {"POST", "/api/namespaces/alpha/search", json{{"text", "rain"}}.dump(), true},
      {"POST", "/api/namespaces/alpha/paths", json{{"source", "a1"}, {"target", "a2"}}.dump(), true},
      {"POST", "/api/namespaces/alpha/reason", json{{"question", "What does rain cause?"}}.dump(), true},
      {"GET", "/api/snapshots", "", false},
      {"POST", "/api/snapshots", "", true},
      {"DELETE", "/api/snapshots/none-such", "", true},
      {"GET", "/api/snapshots/none-such/download", "", false},
      {"POST", "/api/snapshots:restore", "not an archive", true},
      {"GET", "/api/audit", "", false},
  };
  using Headers = std::vector<std::pair<std::string, std::string>>;
  const std::vector<std::pair<std::string, Headers>> refused = {
      {"no session", {}},
      {"a forged session", {{"Cookie", "engram_session=forged.token.value"}, {"X-CSRF-Token", csrf}}},
      {"a wrong CSRF header", {{"Cookie", cookie}, {"X-CSRF-Token", "0123456789abcdef"}}},
      {"no CSRF header", {{"Cookie", cookie}}},
  };
  for (const Route& route : routes) {
    for (const auto& [who, headers] : refused) {
      const bool csrf_only = who == "a wrong CSRF header" || who == "no CSRF header";
      if (csrf_only && !route.mutating) continue;  // reads need only the session
      HttpResult r = HttpCall(port_, route.method, route.path, route.body, headers, 60);
      EXPECT_EQ(r.status, csrf_only ? 403 : 401) << route.method << " " << route.path << " with " << who
                                                 << ": " << r.body;
      if (route.unchanged) EXPECT_TRUE(route.unchanged()) << route.method << " " << route.path << " by " << who;
    }
  }
  // With the session and its CSRF header every route is let through (its own answer may still be an
  // error about the request, e.g. 404 for an unknown snapshot or 409 for a restore into a store
  // that holds data). Logout last: it ends the cookie in the browser.
  for (size_t i = routes.size(); i-- > 0;) {
    const Route& route = routes[i];
    HttpResult r = HttpCall(port_, route.method, route.path, route.body,
                            {{"Cookie", cookie}, {"X-CSRF-Token", csrf}}, 120);
    EXPECT_NE(r.status, 0) << route.path;
    EXPECT_NE(r.status, 401) << route.method << " " << route.path << ": " << r.body;
    EXPECT_NE(r.status, 403) << route.method << " " << route.path << ": " << r.body;
  }
  EXPECT_TRUE(s.NamespaceExists("ctl-new"));
  EXPECT_FALSE(s.NamespaceExists(doomed));
  EXPECT_TRUE(s.Content("alpha", "ctl-c").empty());
}

// The live WebSocket needs a session too.
TEST_F(ControlAuthMatrixTest, TheLiveWebSocketRefusesWithoutASession) {
  const auto upgrade = [&](const std::string& cookie) {
    int fd = testing::ConnectLoopback(port_);
    EXPECT_GE(fd, 0);
    std::string request = absl::StrCat(
        "GET /api/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        cookie.empty() ? "" : "Cookie: " + cookie + "\r\n", "\r\n");
    EXPECT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
    char buf[256] = {};
    ssize_t n = ::recv(fd, buf, sizeof(buf) - 1, 0);
    ::close(fd);
    return n > 0 ? std::string(buf, n) : std::string();
  };
  EXPECT_THAT(upgrade(""), ::testing::StartsWith("HTTP/1.1 401"));
  EXPECT_THAT(upgrade("engram_session=forged.token.value"), ::testing::StartsWith("HTTP/1.1 401"));
  HttpResult login = Login(json{{"key", kAdminKey}}.dump());
  ASSERT_EQ(login.status, 200);
  EXPECT_THAT(upgrade(login.Header("Set-Cookie").substr(0, login.Header("Set-Cookie").find(';'))),
              ::testing::StartsWith("HTTP/1.1 101"));
}

}  // namespace
}  // namespace engram
