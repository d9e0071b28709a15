// engram-control against real engram-storage and engram-hybrid processes: admin-key login and its
// refusals, sessions that survive a control restart (stateless replicas), CSRF on every mutating
// call, namespaces, concepts, search, paths, reason, snapshots (download verified by SHA-256,
// restore into an empty storage), online compaction of a namespace, the durable audit log, the
// live overview, and the security headers. The browser drives the same API in tests/control/control_ui_e2e.sh.
#include <openssl/evp.h>

#include <filesystem>
#include <fstream>

#include <chrono>
#include <set>
#include <tuple>

#include "absl/strings/escaping.h"
#include "engram/hybrid/v1/hybrid.grpc.pb.h"
#include "engram/storage/v1/storage.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/http_client.h"
#include "tests/testing/process.h"

namespace engram {
namespace {

using ::nlohmann::json;
using ::testing::HasSubstr;
using testing::ChildProcess;
using testing::Eventually;
using testing::HttpCall;
using testing::HttpResult;

constexpr char kAdminKey[] = "ek_test_admin_0123456789abcdef";
constexpr char kReaderKey[] = "ek_test_reader_0123456789abcdef";

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), len));
}

class ControlIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / "ControlIntegrationTest";
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "keys.json")
        << json{{"keys",
                 {{{"name", "ops"}, {"key", kAdminKey}, {"role", "admin"}, {"namespaces", {"*"}}},
                  {{"name", "viewer"}, {"key", kReaderKey}, {"role", "reader"}, {"namespaces", {"*"}}}}}}
               .dump();
    storage_ = StartStorage("storage");
    hybrid_ = std::make_unique<ChildProcess>(
        ENGRAM_HYBRID_BIN,
        std::vector<std::string>{"--grpc_port=0", "--http_port=0", "--listen_address=127.0.0.1",
                                 absl::StrCat("--storage_addr=127.0.0.1:", storage_grpc_)},
        dir_ / "hybrid.log");
    ASSERT_TRUE(hybrid_->Start().ok());
    ASSERT_TRUE(hybrid_->WaitForLine("engram-hybrid serving on grpc", absl::Seconds(120)).ok()) << hybrid_->Log();
    hybrid_grpc_ = hybrid_->PortAfter("serving on grpc ");
    hybrid_http_ = hybrid_->PortAfter(" http ");
    control_ = StartControl("control", storage_grpc_, storage_http_);
  }

  std::unique_ptr<ChildProcess> StartStorage(const std::string& name) {
    auto p = std::make_unique<ChildProcess>(
        ENGRAM_STORAGE_BIN,
        std::vector<std::string>{"--data_dir=" + (dir_ / name).string(), "--grpc_port=0", "--http_port=0",
                                 "--listen_address=127.0.0.1"},
        dir_ / (name + ".log"));
    EXPECT_TRUE(p->Start().ok());
    EXPECT_TRUE(p->WaitForLine("engram-storage serving on grpc", absl::Seconds(120)).ok()) << p->Log();
    storage_grpc_ = p->PortAfter("serving on grpc ");
    storage_http_ = p->PortAfter(" http ");
    return p;
  }

  std::unique_ptr<ChildProcess> StartControl(const std::string& name, int storage_grpc, int storage_http,
                                             std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--http_port=0", "--listen_address=127.0.0.1", "--scrape_interval_s=0.2",
        absl::StrCat("--storage_addr=127.0.0.1:", storage_grpc),
        absl::StrCat("--storage_http_addr=127.0.0.1:", storage_http),
        absl::StrCat("--hybrid_addr=127.0.0.1:", hybrid_grpc_),
        absl::StrCat("--hybrid_http_port=", hybrid_http_),
        absl::StrCat("--api_http_addr=127.0.0.1:", testing::PickFreePort()),  // no api: unreachable
        "--api_keys_file=" + (dir_ / "keys.json").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = std::make_unique<ChildProcess>(ENGRAM_CONTROL_BIN, args, dir_ / (name + ".log"));
    EXPECT_TRUE(p->Start().ok());
    EXPECT_TRUE(p->WaitForLine("engram-control serving on http", absl::Seconds(60)).ok()) << p->Log();
    control_http_ = p->PortAfter("serving on http ");
    return p;
  }

  HttpResult Login(const std::string& key) {
    HttpResult r = HttpCall(control_http_, "POST", "/api/login", json{{"key", key}}.dump());
    if (r.status == 200) {
      const std::string cookie = r.Header("Set-Cookie");
      cookie_ = cookie.substr(0, cookie.find(';'));
      csrf_ = json::parse(r.body)["csrfToken"];
    }
    return r;
  }

  HttpResult Call(const std::string& method, const std::string& target, const std::string& body = "",
                  bool with_csrf = true) {
    std::vector<std::pair<std::string, std::string>> headers = {{"Cookie", cookie_}};
    if (with_csrf) headers.emplace_back("X-CSRF-Token", csrf_);
    return HttpCall(control_http_, method, target, body, headers, 120);
  }

  json Audit() {
    HttpResult r = Call("GET", "/api/audit?limit=1000");
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body)["entries"];
  }

  static bool HasEntry(const json& entries, const std::string& action, const std::string& target,
                       const std::string& result_prefix = "ok") {
    for (const json& e : entries) {
      if (e["action"] == action && (target.empty() || e["target"] == target) &&
          e["result"].get<std::string>().rfind(result_prefix, 0) == 0) {
        return true;
      }
    }
    return false;
  }

  std::filesystem::path dir_;
  std::unique_ptr<ChildProcess> storage_, hybrid_, control_;
  int storage_grpc_ = 0, storage_http_ = 0, hybrid_grpc_ = 0, hybrid_http_ = 0, control_http_ = 0;
  std::string cookie_, csrf_;
};

TEST_F(ControlIntegrationTest, LoginRefusalsSessionsCsrfAndAudit) {
  // The UI itself, with its security headers.
  HttpResult index = HttpCall(control_http_, "GET", "/");
  ASSERT_EQ(index.status, 200);
  EXPECT_THAT(index.body, HasSubstr("<!doctype html>"));
  EXPECT_EQ(index.Header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(index.Header("X-Frame-Options"), "DENY");
  EXPECT_THAT(index.Header("Content-Security-Policy"), HasSubstr("default-src 'self'"));

  HttpResult unauthenticated = HttpCall(control_http_, "GET", "/api/namespaces");
  EXPECT_EQ(unauthenticated.status, 401);
  EXPECT_EQ(unauthenticated.Header("X-Frame-Options"), "DENY");
  HttpResult unknown = HttpCall(control_http_, "GET", "/no/such/page");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.Header("X-Content-Type-Options"), "nosniff");
  EXPECT_THAT(unknown.Header("Content-Security-Policy"), HasSubstr("default-src 'self'"));
  EXPECT_EQ(HttpCall(control_http_, "POST", "/api/login", "{}").status, 400);
  EXPECT_EQ(Login("ek_wrong_key_0123456789abcdef").status, 401);
  HttpResult reader = Login(kReaderKey);
  EXPECT_EQ(reader.status, 403);
  EXPECT_THAT(reader.body, HasSubstr("reader"));
  EXPECT_THAT(reader.body, ::testing::Not(HasSubstr(kReaderKey)));

  HttpResult admin = Login(kAdminKey);
  ASSERT_EQ(admin.status, 200) << admin.body;
  EXPECT_THAT(admin.Header("Set-Cookie"), HasSubstr("HttpOnly"));
  EXPECT_THAT(admin.Header("Set-Cookie"), HasSubstr("SameSite=Strict"));
  EXPECT_THAT(admin.body, ::testing::Not(HasSubstr(kAdminKey)));
  EXPECT_EQ(json::parse(admin.body)["keyName"], "ops");
  EXPECT_THAT(admin.Header("Set-Cookie"), HasSubstr("Path=/;"));
  // Behind an Ingress that strips /control and says so, the cookie is scoped to the browser's path.
  HttpResult prefixed = HttpCall(control_http_, "POST", "/api/login", json{{"key", kAdminKey}}.dump(),
                                 {{"X-Forwarded-Prefix", "/control"}});
  EXPECT_THAT(prefixed.Header("Set-Cookie"), HasSubstr("Path=/control/;"));
  HttpResult bogus = HttpCall(control_http_, "POST", "/api/login", json{{"key", kAdminKey}}.dump(),
                              {{"X-Forwarded-Prefix", "/x;Domain=evil"}});
  EXPECT_THAT(bogus.Header("Set-Cookie"), HasSubstr("Path=/;"));

  HttpResult list = Call("GET", "/api/namespaces");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_THAT(list.body, HasSubstr("\"default\""));

  // A mutating call without the CSRF header is refused and changes nothing.
  const std::string create = json{{"name", "ops-test"}, {"dimension", 8}, {"metric", "L2"},
                                   {"embedder", "none"}, {"indexParams", {{"m", 8}}}}.dump();
  EXPECT_EQ(Call("POST", "/api/namespaces", create, /*with_csrf=*/false).status, 403);
  EXPECT_THAT(Call("GET", "/api/namespaces").body, ::testing::Not(HasSubstr("ops-test")));
  HttpResult created = Call("POST", "/api/namespaces", create);
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_EQ(json::parse(created.body)["indexParams"]["m"], 8);
  // Bad input names the field and changes nothing.
  HttpResult bad = Call("POST", "/api/namespaces", json{{"name", "x"}, {"dimenshun", 3}}.dump());
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("dimenshun"));
  EXPECT_EQ(Call("DELETE", "/api/namespaces/ops-test", json{{"confirm", "wrong"}}.dump()).status, 400);
  EXPECT_THAT(Call("GET", "/api/namespaces").body, HasSubstr("ops-test"));
  EXPECT_EQ(Call("DELETE", "/api/namespaces/ops-test", json{{"confirm", "ops-test"}}.dump()).status, 204);
  EXPECT_THAT(Call("GET", "/api/namespaces").body, ::testing::Not(HasSubstr("ops-test")));
  // The audit namespace cannot be dropped from the UI.
  EXPECT_EQ(Call("DELETE", "/api/namespaces/_engram_audit", json{{"confirm", "_engram_audit"}}.dump()).status, 400);

  json entries = Audit();
  EXPECT_TRUE(HasEntry(entries, "login", "")) << entries.dump(1);
  EXPECT_TRUE(HasEntry(entries, "login_failed", "", "UNAUTHENTICATED")) << entries.dump(1);
  EXPECT_TRUE(HasEntry(entries, "login_failed", "", "PERMISSION_DENIED")) << entries.dump(1);
  EXPECT_TRUE(HasEntry(entries, "namespace_create", "ops-test")) << entries.dump(1);
  EXPECT_TRUE(HasEntry(entries, "namespace_delete", "ops-test")) << entries.dump(1);
  EXPECT_THAT(entries.dump(), ::testing::Not(HasSubstr(kAdminKey)));
  EXPECT_THAT(entries.dump(), ::testing::Not(HasSubstr(kReaderKey)));
  // Newest first.
  ASSERT_GE(entries.size(), 2u);
  EXPECT_GE(entries[0]["time"].get<std::string>(), entries[entries.size() - 1]["time"].get<std::string>());
  // Filtered by action: the refused deletes are there too, with their errors.
  const json deletes = json::parse(Call("GET", "/api/audit?action=namespace_delete").body)["entries"];
  EXPECT_EQ(deletes.size(), 3u) << deletes.dump(1);
  for (const json& e : deletes) EXPECT_EQ(e["action"], "namespace_delete");
  EXPECT_TRUE(HasEntry(deletes, "namespace_delete", "ops-test", "INVALID_ARGUMENT")) << deletes.dump(1);

  // Kill every control replica: the session (a signed cookie) and the audit log (in storage) stay.
  control_->Kill(SIGKILL);
  control_ = StartControl("control-2", storage_grpc_, storage_http_);
  EXPECT_EQ(Call("GET", "/api/session").status, 200);
  EXPECT_TRUE(HasEntry(Audit(), "namespace_delete", "ops-test"));

  // Logging out ends the session for this browser.
  HttpResult out = Call("POST", "/api/logout");
  EXPECT_EQ(out.status, 204);
  EXPECT_THAT(out.Header("Set-Cookie"), HasSubstr("Max-Age=0"));
}

TEST_F(ControlIntegrationTest, FailedLoginsAreRateLimited) {
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Login("ek_guess_" + std::to_string(i) + "_0123456789").status, 401);
  HttpResult limited = Login(kAdminKey);  // even the right key waits
  EXPECT_EQ(limited.status, 429);
  EXPECT_FALSE(limited.Header("Retry-After").empty());
}

TEST_F(ControlIntegrationTest, ConceptsGraphReasonAndTheLiveOverview) {
  ASSERT_EQ(Login(kAdminKey).status, 200);
  // Seed: facts learned through engram-hybrid (extracted associations), and a small vector graph
  // written straight into engram-storage.
  {
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", hybrid_grpc_), grpc::InsecureChannelCredentials());
    auto stub = hybrid::v1::Hybrid::NewStub(channel);
    hybrid::v1::LearnRequest learn;
    learn.set_namespace_("default");
    for (const char* fact : {"A whale is a mammal.", "A mammal is an animal.", "A dolphin is a mammal."}) {
      learn.add_items()->set_content(fact);
    }
    hybrid::v1::LearnResponse learned;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    grpc::Status s = stub->Learn(&context, learn, &learned);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_EQ(Call("POST", "/api/namespaces", json{{"name", "g"}, {"dimension", 2}, {"embedder", "none"}}.dump()).status, 200);
  {
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", storage_grpc_), grpc::InsecureChannelCredentials());
    auto stub = storage::v1::Storage::NewStub(channel);
    storage::v1::WriteRequest write;
    write.set_namespace_("g");
    const std::tuple<const char*, float, float, const char*> concepts[] = {
        {"a", 1, 0, "red"}, {"b", 0.9f, 0.1f, "blue"}, {"c", 0, 1, "red"}};
    for (const auto& [id, x, y, colour] : concepts) {
      storage::v1::Concept* c = write.add_mutations()->mutable_put_concept();
      c->set_id(id);
      c->set_content(absl::StrCat("concept ", id));
      c->add_vector(x);
      c->add_vector(y);
      (*c->mutable_attributes())["colour"] = colour;
    }
    for (const auto& [from, to] : {std::pair{"a", "b"}, std::pair{"b", "c"}}) {
      storage::v1::Association* a = write.add_mutations()->mutable_put_association();
      a->set_source(from);
      a->set_target(to);
      a->set_type(storage::v1::CAUSAL);
      a->set_confidence(0.9f);
    }
    storage::v1::WriteResponse written;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Status s = stub->Write(&context, write, &written);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Browse with an attribute filter, page by page.
  HttpResult page = Call("GET", "/api/namespaces/g/concepts?pageSize=1&filter=colour%3Dred");
  ASSERT_EQ(page.status, 200) << page.body;
  std::set<std::string> red;
  json p = json::parse(page.body);
  while (true) {
    for (const json& c : p["concepts"]) red.insert(c["id"]);
    if (p["nextPageToken"] == "") break;
    HttpResult next = Call("GET", "/api/namespaces/g/concepts?pageSize=1&filter=colour%3Dred&pageToken=" +
                                      p["nextPageToken"].get<std::string>());
    ASSERT_EQ(next.status, 200) << next.body;
    p = json::parse(next.body);
  }
  EXPECT_EQ(red, (std::set<std::string>{"a", "c"}));
  EXPECT_EQ(Call("GET", "/api/namespaces/g/concepts?pageSize=5000").status, 400);
  EXPECT_EQ(Call("GET", "/api/namespaces/g/concepts?filter=novalue").status, 400);

  // Detail with associations in and out; neighbours; vector search; paths.
  HttpResult detail = Call("GET", "/api/namespaces/g/concepts/b");
  ASSERT_EQ(detail.status, 200) << detail.body;
  json d = json::parse(detail.body);
  EXPECT_EQ(d["concept"]["vector"].size(), 2u);
  ASSERT_EQ(d["out"].size(), 1u);
  EXPECT_EQ(d["out"][0]["concept"]["id"], "c");
  ASSERT_EQ(d["in"].size(), 1u);
  EXPECT_EQ(d["in"][0]["concept"]["id"], "a");
  EXPECT_EQ(Call("GET", "/api/namespaces/g/concepts/nope").status, 404);
  HttpResult neighbors = Call("GET", "/api/namespaces/g/concepts/b/neighbors?types=CAUSAL&limit=1");
  ASSERT_EQ(neighbors.status, 200) << neighbors.body;
  EXPECT_EQ(json::parse(neighbors.body)["neighbors"].size(), 1u);
  EXPECT_EQ(Call("GET", "/api/namespaces/g/concepts/b/neighbors?direction=SIDEWAYS").status, 400);
  EXPECT_EQ(Call("GET", "/api/namespaces/g/concepts/b/neighbors?types=FRIENDLY").status, 400);
  HttpResult vsearch = Call("POST", "/api/namespaces/g/search", json{{"vector", {1, 0}}, {"k", 2}}.dump());
  ASSERT_EQ(vsearch.status, 200) << vsearch.body;
  EXPECT_EQ(json::parse(vsearch.body)["results"][0]["concept"]["id"], "a");
  EXPECT_EQ(Call("POST", "/api/namespaces/g/search", json{{"k", 2}}.dump()).status, 400);
  HttpResult paths = Call("POST", "/api/namespaces/g/paths", json{{"source", "a"}, {"target", "c"}, {"mode", "SHORTEST"}}.dump());
  ASSERT_EQ(paths.status, 200) << paths.body;
  json pj = json::parse(paths.body);
  ASSERT_GE(pj["paths"].size(), 1u);
  EXPECT_EQ(pj["paths"][0]["conceptIds"], json({"a", "b", "c"}));
  EXPECT_EQ(pj["concepts"]["b"]["content"], "concept b");
  EXPECT_EQ(Call("POST", "/api/namespaces/g/paths", json{{"source", "a"}}.dump()).status, 400);

  // Text search and the reasoning tester go through engram-hybrid.
  HttpResult text = Call("POST", "/api/namespaces/default/search", json{{"text", "whale"}, {"k", 3}}.dump());
  ASSERT_EQ(text.status, 200) << text.body;
  EXPECT_THAT(text.body, HasSubstr("whale"));
  HttpResult reason = Call("POST", "/api/namespaces/default/reason", json{{"question", "What is a whale?"}}.dump());
  ASSERT_EQ(reason.status, 200) << reason.body;
  json r = json::parse(reason.body);
  EXPECT_TRUE(r.contains("paths"));
  EXPECT_TRUE(r.contains("confidence"));
  EXPECT_EQ(Call("POST", "/api/namespaces/default/reason", json{{"questio", "x"}}.dump()).status, 400);

  // Delete from the browser: gone, audited.
  EXPECT_EQ(Call("DELETE", "/api/namespaces/g/concepts/c", "", /*with_csrf=*/false).status, 403);
  EXPECT_EQ(Call("DELETE", "/api/namespaces/g/concepts/c").status, 204);
  EXPECT_EQ(Call("GET", "/api/namespaces/g/concepts/c").status, 404);
  EXPECT_TRUE(HasEntry(Audit(), "concept_delete", "g/c"));

  // The live overview: storage and hybrid ready, the absent api unreachable with a reason.
  HttpResult overview;
  ASSERT_TRUE(Eventually([&] {
    overview = Call("GET", "/api/overview");
    if (overview.status != 200) return false;
    int ready = 0;
    const json tick = json::parse(overview.body);
    for (const json& s : tick["services"]) {
      if (s["status"] == "ready" && (s["kind"] == "storage" || s["kind"] == "hybrid")) ++ready;
    }
    return ready == 2;
  }, absl::Seconds(30))) << overview.body;
  bool api_unreachable = false;
  const json last_tick = json::parse(overview.body);
  for (const json& s : last_tick["services"]) {
    if (s["kind"] == "api") api_unreachable = s["status"] == "unreachable" && !s["reason"].get<std::string>().empty();
    if (s["kind"] == "storage") {
      EXPECT_TRUE(s["version"].is_string()) << s.dump();
      EXPECT_TRUE(s["uptimeSeconds"].is_number()) << s.dump();
    }
  }
  EXPECT_TRUE(api_unreachable) << overview.body;
  HttpResult history = Call("GET", "/api/history");
  ASSERT_EQ(history.status, 200);
  EXPECT_GE(json::parse(history.body)["ticks"].size(), 1u);

  // Stop hybrid: its row says unreachable, the rest keeps working, text calls say why they fail.
  hybrid_->Kill(SIGKILL);
  ASSERT_TRUE(Eventually([&] {
    const json tick = json::parse(Call("GET", "/api/overview").body);
    for (const json& s : tick["services"]) {
      if (s["kind"] == "hybrid") return s["status"] == "unreachable";
    }
    return false;
  }, absl::Seconds(30)));
  EXPECT_EQ(Call("GET", "/api/namespaces").status, 200);
  EXPECT_EQ(Call("GET", "/api/namespaces/g/concepts/a").status, 200);
  EXPECT_EQ(Call("POST", "/api/namespaces/default/search", json{{"text", "whale"}}.dump()).status, 503);
}

TEST_F(ControlIntegrationTest, SnapshotCreateDownloadVerifiedDeleteAndRestoreIntoEmptyStorage) {
  ASSERT_EQ(Login(kAdminKey).status, 200);
  ASSERT_EQ(Call("POST", "/api/namespaces", json{{"name", "snapme"}, {"dimension", 4}, {"embedder", "none"}}.dump()).status, 200);
  HttpResult created = Call("POST", "/api/snapshots");
  ASSERT_EQ(created.status, 200) << created.body;
  const json info = json::parse(created.body);
  const std::string name = info["name"];
  HttpResult list = Call("GET", "/api/snapshots");
  EXPECT_THAT(list.body, HasSubstr(name));

  HttpResult download = Call("GET", absl::StrCat("/api/snapshots/", name, "/download"));
  ASSERT_EQ(download.status, 200);
  EXPECT_FALSE(download.truncated);
  EXPECT_EQ(download.Header("X-Checksum-SHA256"), info["sha256"]);
  EXPECT_EQ(Sha256Hex(download.body), info["sha256"]);
  EXPECT_EQ(std::to_string(download.body.size()), info["sizeBytes"].get<std::string>());
  EXPECT_EQ(HttpCall(control_http_, "GET", absl::StrCat("/api/snapshots/", name, "/download")).status, 401);
  EXPECT_EQ(Call("GET", "/api/snapshots/nope/download").status, 404);

  // Restore into a fresh, empty engram-storage through a control pointed at it.
  auto fresh = StartStorage("fresh");
  auto control2 = StartControl("control-fresh", storage_grpc_, storage_http_);
  ASSERT_EQ(Login(kAdminKey).status, 200);
  EXPECT_EQ(Call("POST", "/api/snapshots:restore", download.body, /*with_csrf=*/false).status, 403);
  HttpResult restored = Call("POST", "/api/snapshots:restore", download.body);
  ASSERT_EQ(restored.status, 200) << restored.body;
  HttpResult namespaces = Call("GET", "/api/namespaces");
  EXPECT_THAT(namespaces.body, HasSubstr("snapme"));
  // The audit log came with the snapshot (it lives in storage); this server's own entries (the
  // login before the restore) were kept, and the restore is in it too.
  json entries = Audit();
  EXPECT_TRUE(HasEntry(entries, "namespace_create", "snapme")) << entries.dump(1);
  EXPECT_TRUE(HasEntry(entries, "snapshot_restore", name)) << entries.dump(1);
  int logins = 0;
  for (const json& e : entries) logins += e["action"] == "login";
  EXPECT_GE(logins, 2) << entries.dump(1);  // one on each storage
  // A restore into a storage that holds data is refused, and changes nothing.
  {
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", storage_grpc_), grpc::InsecureChannelCredentials());
    auto stub = storage::v1::Storage::NewStub(channel);
    storage::v1::WriteRequest write;
    write.set_namespace_("snapme");
    write.add_mutations()->mutable_put_concept()->set_content("data arrived");
    storage::v1::WriteResponse written;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    ASSERT_TRUE(stub->Write(&context, write, &written).ok());
  }
  HttpResult refused = Call("POST", "/api/snapshots:restore", download.body);
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_THAT(refused.body, HasSubstr("snapme"));
  EXPECT_THAT(Call("GET", "/api/namespaces/snapme/concepts").body, HasSubstr("data arrived"));
  EXPECT_TRUE(HasEntry(Audit(), "snapshot_restore", "upload", "FAILED_PRECONDITION"));

  // Back on the first storage, which holds nothing but its audit log: restoring the snapshot there
  // keeps every entry exactly once (the ones the snapshot also holds are not duplicated).
  control_http_ = control_->PortAfter("serving on http ");
  ASSERT_EQ(Login(kAdminKey).status, 200);
  ASSERT_EQ(Call("POST", "/api/snapshots:restore", download.body).status, 200);
  json after = Audit();
  int creates = 0;
  std::set<std::string> seen;
  for (const json& e : after) {
    creates += e["action"] == "namespace_create" && e["target"] == "snapme";
    EXPECT_TRUE(seen.insert(e.dump()).second) << "duplicate audit entry " << e.dump();
  }
  EXPECT_EQ(creates, 1) << after.dump(1);
  EXPECT_TRUE(HasEntry(after, "snapshot_create", name)) << after.dump(1);  // written after the snapshot, kept
  EXPECT_EQ(Call("DELETE", absl::StrCat("/api/snapshots/", name)).status, 204);
  EXPECT_THAT(Call("GET", "/api/snapshots").body, ::testing::Not(HasSubstr(name)));
}

TEST_F(ControlIntegrationTest, CompactANamespaceWithGarbageFromTheAdminApi) {
  ASSERT_EQ(Login(kAdminKey).status, 200);
  ASSERT_EQ(Call("POST", "/api/namespaces", json{{"name", "gc"}, {"dimension", 4}, {"embedder", "none"}}.dump()).status, 200);
  // 50 concepts written five times each, straight into engram-storage: four superseded versions
  // (and vectors) of each are garbage.
  {
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", storage_grpc_), grpc::InsecureChannelCredentials());
    auto stub = storage::v1::Storage::NewStub(channel);
    for (int version = 1; version <= 5; ++version) {
      storage::v1::WriteRequest write;
      write.set_namespace_("gc");
      for (int i = 0; i < 50; ++i) {
        storage::v1::Concept* c = write.add_mutations()->mutable_put_concept();
        c->set_id(absl::StrCat("c", i));
        c->set_content(absl::StrCat("concept ", i, " version ", version, std::string(200, 'x')));
        for (float x : {1.0f * i, 1.0f * version, 1.0f, 0.5f}) c->add_vector(x);
      }
      storage::v1::WriteResponse written;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      grpc::Status s = stub->Write(&context, write, &written);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
  }
  const auto namespace_gc = [&]() -> json {
    HttpResult r = Call("GET", "/api/namespaces");
    EXPECT_EQ(r.status, 200) << r.body;
    const json all = json::parse(r.body);
    for (const json& ns : all["namespaces"]) {
      if (ns["name"] == "gc") return ns;
    }
    ADD_FAILURE() << "no namespace gc in " << r.body;
    return json::object();
  };
  const json before = namespace_gc();
  EXPECT_EQ(before["generation"], 0) << before.dump();
  EXPECT_GT(before["reclaimableBytes"].get<uint64_t>(), 50u * 4 * 200) << before.dump();
  EXPECT_EQ(before["compaction"]["state"], "IDLE") << before.dump();
  EXPECT_TRUE(before["compaction"]["last"].is_null()) << before.dump();

  // Refusals change nothing: no CSRF header, a parameter it does not take, an unknown namespace.
  EXPECT_EQ(Call("POST", "/api/namespaces/gc:compact", "", /*with_csrf=*/false).status, 403);
  HttpResult bad = Call("POST", "/api/namespaces/gc:compact", json{{"force", true}}.dump());
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_THAT(bad.body, HasSubstr("force: unknown field"));
  EXPECT_EQ(Call("POST", "/api/namespaces/gc:compact", "[1]").status, 400);
  HttpResult missing = Call("POST", "/api/namespaces/nope:compact");
  EXPECT_EQ(missing.status, 404) << missing.body;
  EXPECT_THAT(missing.body, HasSubstr("nope"));
  const json unchanged = namespace_gc();
  EXPECT_EQ(unchanged["generation"], 0);
  EXPECT_TRUE(unchanged["compaction"]["last"].is_null()) << unchanged.dump();

  HttpResult queued = Call("POST", "/api/namespaces/gc:compact");
  ASSERT_EQ(queued.status, 200) << queued.body;
  const json q = json::parse(queued.body);
  EXPECT_EQ(q["name"], "gc");
  // Queued or running; or already done when the compactor beat the answer (a tiny namespace).
  EXPECT_TRUE(q["compaction"]["state"] != "IDLE" || !q["compaction"]["last"].is_null()) << q.dump();

  json after;
  EXPECT_TRUE(Eventually([&] {
    after = namespace_gc();
    return after["compaction"]["state"] == "IDLE" && after["generation"] == 1;
  }, absl::Seconds(60))) << after.dump();
  const json& last = after["compaction"]["last"];
  ASSERT_TRUE(last.is_object()) << after.dump();
  EXPECT_EQ(last["error"], "") << after.dump();
  EXPECT_GT(last["bytesBefore"].get<uint64_t>(), 0u);
  EXPECT_GT(last["bytesAfter"].get<uint64_t>(), 0u);
  EXPECT_GE(last["endTime"].get<std::string>(), last["startTime"].get<std::string>());
  EXPECT_FALSE(last["automatic"].get<bool>());
  EXPECT_LT(after["reclaimableBytes"].get<uint64_t>(), before["reclaimableBytes"].get<uint64_t>())
      << before.dump() << " -> " << after.dump();
  EXPECT_EQ(after["concepts"], 50);
  // Every concept is there at its last version.
  HttpResult page = Call("GET", "/api/namespaces/gc/concepts?pageSize=100");
  ASSERT_EQ(page.status, 200) << page.body;
  const json concepts = json::parse(page.body)["concepts"];
  ASSERT_EQ(concepts.size(), 50u);
  for (const json& c : concepts) EXPECT_THAT(c["content"].get<std::string>(), HasSubstr(" version 5"));

  json entries = Audit();
  EXPECT_TRUE(HasEntry(entries, "namespace_compact", "gc")) << entries.dump(1);
  EXPECT_TRUE(HasEntry(entries, "namespace_compact", "gc", "INVALID_ARGUMENT")) << entries.dump(1);
  EXPECT_TRUE(HasEntry(entries, "namespace_compact", "nope", "NOT_FOUND")) << entries.dump(1);
}

}  // namespace
}  // namespace engram
