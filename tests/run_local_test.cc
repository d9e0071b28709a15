// The README's run command, as a user meets it: scripts/run-local.sh starts storage, hybrid and api,
// loads the small demo set, prints a working development key; Ctrl-C (SIGINT) stops all three
// cleanly; starting again keeps the data and the key and does not load the demo twice.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/testing/http_client.h"
#include "tests/testing/process.h"

namespace engram {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ChildProcess;
using testing::HttpCall;
using json = nlohmann::json;

class RunLocalTest : public ::testing::Test {
 protected:
  RunLocalTest() : dir_(std::filesystem::path(::testing::TempDir()) / "RunLocalTest") {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    const std::pair<const char*, int*> ports[] = {
        {"ENGRAM_STORAGE_GRPC_PORT", &storage_grpc_}, {"ENGRAM_STORAGE_HTTP_PORT", &storage_http_},
        {"ENGRAM_HYBRID_GRPC_PORT", &hybrid_grpc_},   {"ENGRAM_HYBRID_HTTP_PORT", &hybrid_http_},
        {"ENGRAM_API_GRPC_PORT", &api_grpc_},         {"ENGRAM_API_HTTP_PORT", &api_http_},
        {"ENGRAM_CONTROL_HTTP_PORT", &control_http_}};
    for (const auto& [name, port] : ports) {
      *port = testing::PickFreePort();
      ::setenv(name, std::to_string(*port).c_str(), 1);
    }
    ::setenv("ENGRAM_DATA_DIR", (dir_ / "data").c_str(), 1);
    ::setenv("ENGRAM_DEMO", "small", 1);
  }

  std::unique_ptr<ChildProcess> Run(int round) {
    auto script = std::make_unique<ChildProcess>(
        "/bin/bash", std::vector<std::string>{ENGRAM_SOURCE_DIR "/scripts/run-local.sh", ENGRAM_BUILD_DIR},
        dir_ / absl::StrCat("run-local.", round, ".log"));
    EXPECT_TRUE(script->Start().ok());
    EXPECT_TRUE(script->WaitForLine("Press Ctrl-C to stop.", absl::Seconds(180)).ok()) << script->Log();
    return script;
  }

  // The key the script printed ("export ENGRAM_API_KEY=<key> ENGRAM_ADDR=...").
  static std::string PrintedKey(const std::string& log) {
    const std::string prefix = "export ENGRAM_API_KEY=";
    const size_t at = log.find(prefix);
    if (at == std::string::npos) return "";
    const size_t start = at + prefix.size();
    return log.substr(start, log.find(' ', start) - start);
  }

  testing::HttpResult Search(const std::string& key) {
    return HttpCall(api_http_, "POST", "/v1/namespaces/default/search",
                    json{{"query", "whale mammal"}, {"k", 3}}.dump(), {{"Authorization", "Bearer " + key}});
  }

  // Every port of the suite refuses connections: the three services are gone.
  bool AllStopped() {
    for (int port : {storage_http_, hybrid_http_, api_http_, control_http_}) {
      if (HttpCall(port, "GET", "/healthz", "", {}, 2).status != 0) return false;
    }
    return true;
  }

  std::filesystem::path dir_;
  int storage_grpc_ = 0, storage_http_ = 0, hybrid_grpc_ = 0, hybrid_http_ = 0, api_grpc_ = 0,
      api_http_ = 0, control_http_ = 0;
};

TEST_F(RunLocalTest, StartsLoadsDemoStopsOnCtrlCAndKeepsDataOnRestart) {
  std::string key;
  {
    auto script = Run(1);
    const std::string log = script->Log();
    EXPECT_THAT(log, HasSubstr("learning a small demo set"));
    key = PrintedKey(log);
    ASSERT_FALSE(key.empty()) << log;
    EXPECT_THAT(log, HasSubstr(absl::StrCat("http://127.0.0.1:", api_http_)));
    testing::HttpResult found = Search(key);
    ASSERT_EQ(found.status, 200) << found.body;
    EXPECT_THAT(found.body, HasSubstr("whale"));
    EXPECT_EQ(Search("ek_not_a_key_0123456789").status, 401);
    // The admin UI is up, its URL printed, and the printed key logs in to it.
    EXPECT_THAT(log, HasSubstr(absl::StrCat("Admin UI (engram-control): http://127.0.0.1:", control_http_, "/")));
    testing::HttpResult ui = HttpCall(control_http_, "GET", "/");
    EXPECT_EQ(ui.status, 200);
    EXPECT_THAT(ui.body, HasSubstr("<!doctype html>"));
    testing::HttpResult login = HttpCall(control_http_, "POST", "/api/login", json{{"key", key}}.dump());
    EXPECT_EQ(login.status, 200) << login.body;
    EXPECT_THAT(login.Header("Set-Cookie"), HasSubstr("HttpOnly"));
    // Ctrl-C: the script stops api, hybrid and storage and exits 0.
    EXPECT_EQ(script->Kill(SIGINT), 0) << script->Log();
    EXPECT_TRUE(AllStopped());
    EXPECT_THAT(script->Log(), HasSubstr("stopping"));
  }
  {
    auto script = Run(2);
    const std::string log = script->Log();
    EXPECT_THAT(log, Not(HasSubstr("learning a small demo set")));  // loaded once
    EXPECT_EQ(PrintedKey(log), key);                                 // the same key
    testing::HttpResult found = Search(key);
    ASSERT_EQ(found.status, 200) << found.body;
    EXPECT_THAT(found.body, HasSubstr("whale"));  // the data survived the restart
    EXPECT_EQ(script->Kill(SIGINT), 0) << script->Log();
    EXPECT_TRUE(AllStopped());
  }
}

}  // namespace
}  // namespace engram
