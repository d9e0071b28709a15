// engramctl end to end inside the process: command line -> request (MockEngramStub) -> output
// and exit code.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/engramctl/engramctl.h"
#include "cli/engramctl/exit_codes.h"
#include "cli/engramctl/test_util.h"
#include "grpcpp/test/client_context_test_peer.h"

namespace engram::cli {
namespace {

using engram::v1::MockEngramStub;
using ::testing::_;
using ::testing::DoAll;
using ::testing::HasSubstr;
using ::testing::Invoke;
using ::testing::Return;
using ::testing::SetArgPointee;
using testing_util::EqualsProto;
using testing_util::FakeReader;
using testing_util::FromText;

class CommandsTest : public ::testing::Test {
 protected:
  int Run(std::vector<std::string> args, const std::string& stdin_text = "") {
    in_.str(stdin_text);
    in_.clear();
    out_.str("");
    err_.str("");
    CliIo io;
    io.in = &in_;
    io.out = &out_;
    io.err = &err_;
    io.err_is_tty = false;
    io.getenv = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    io.now = [this] { return clock_; };
    io.sleep = [](absl::Duration) {};
    factory_calls_ = 0;
    return RunEngramctl(args, io, [this](const GlobalOptions& options) {
      ++factory_calls_;
      options_ = options;
      return testing_util::Borrow(&stub_);
    });
  }

  std::string TempFile(const std::string& name, const std::string& contents) {
    std::filesystem::path path = std::filesystem::path(testing::TempDir()) /
                                 absl::StrCat("engramctl_", ::getpid(), "_", name);
    std::ofstream(path) << contents;
    files_.push_back(path);
    return path.string();
  }

  void TearDown() override {
    for (const auto& f : files_) std::filesystem::remove(f);
  }

  MockEngramStub stub_;
  std::istringstream in_;
  std::ostringstream out_, err_;
  std::map<std::string, std::string> env_;
  absl::Time clock_ = absl::FromUnixSeconds(1000);
  GlobalOptions options_;
  int factory_calls_ = 0;
  std::vector<std::filesystem::path> files_;
};

// ---- usage errors -----------------------------------------------------------------------------

TEST_F(CommandsTest, UsageErrorsExitTwoNamingTheFlagAndNeverConnect) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      {{}, "missing command"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{"get"}, "get: missing argument <ID>"},
      {{"get", "a", "b"}, "get: unexpected argument 'b'"},
      {{"get", "a", "--bogus"}, "get: unknown flag --bogus"},
      {{"--bogus", "get", "a"}, "engramctl: global flags: unknown flag --bogus"},
      {{"search", "x", "--k", "abc"}, "search: --k: 'abc' is not a non-negative integer"},
      {{"search", "x", "--k", "0"}, "search: --k: 0 is out of range [1, 1000]"},
      {{"search", "x", "--k"}, "search: --k: missing value"},
      {{"search"}, "search: missing argument <TEXT> (or --vector)"},
      {{"search", "x", "--vector", "1,2"}, "search: give either <TEXT> or --vector, not both"},
      {{"search", "--vector", "1,x"}, "--vector: element 1 ('x') is not a finite number"},
      {{"namespaces", "create", "n", "--keyword_fields", "a^2,^3"},
       "--keyword_fields: element 1 ('^3') has no attribute name"},
      {{"namespaces", "create", "n", "--keyword_fields", "a^x"},
       "--keyword_fields: element 0 ('a^x') has no number after '^' (ATTR^WEIGHT[:B])"},
      {{"namespaces", "create", "n", "--keyword_fields", "a^2:"},
       "--keyword_fields: element 0 ('a^2:') has no number after ':' (ATTR^WEIGHT:B)"},
      {{"namespaces", "create", "n", "--quantization", "int4"},
       "--quantization: 'int4' is not none or int8"},
      {{"search", "x", "--filter", "novalue"}, "--filter: 'novalue' is not key=value"},
      {{"search", "x", "--mode", "sideways"}, "search: --mode: 'sideways' is not hybrid, keyword or vector"},
      {{"associate", "a", "b"}, "associate: missing argument <TYPE>"},
      {{"associate", "a", "b", "LIKES"}, "associate: <TYPE>: 'LIKES' is not one of SEMANTIC"},
      {{"associate", "a", "b", "CAUSAL", "--confidence", "2"},
       "associate: --confidence: 2 is out of range [0, 1]"},
      {{"neighbors", "a", "--direction", "up"}, "--direction: 'up' is not OUT, IN or BOTH"},
      {{"neighbors", "a", "--type", "x"}, "--type: 'x' is not one of"},
      {{"paths", "a", "b", "--types", "CAUSAL,nope"}, "--types: 'nope' is not one of"},
      {{"paths", "a", "b", "--max_depth", "21"}, "paths: --max_depth: 21 is out of range [1, 20]"},
      {{"reason", "q", "--min_confidence", "-1"}, "--min_confidence: -1 is out of range [0, 1]"},
      {{"reason"}, "reason: missing argument <QUESTION>"},
      {{"learn"}, "learn: missing argument <text>"},
      {{"learn", "x", "--file", "f"}, "learn: give either <text> or --file, not both"},
      {{"learn", "x", "--whole"}, "learn: --whole needs --file FILE or -"},
      {{"learn", "x", "--attr", "k"}, "--attr: 'k' is not key=value"},
      {{"import"}, "import: missing argument jsonl|wordnet"},
      {{"import", "csv"}, "import: 'csv' is not jsonl or wordnet"},
      {{"import", "jsonl"}, "import jsonl: missing argument <FILE|->"},
      {{"import", "jsonl", "f", "--batch", "1001"}, "--batch: 1001 is out of range [1, 1000]"},
      {{"import", "wordnet", "--limit", "x"}, "import wordnet: --limit: 'x' is not"},
      {{"namespaces", "rename"}, "namespaces: 'rename' is not list, get, create or delete"},
      {{"namespaces", "create"}, "namespaces create: missing argument <NAME>"},
      {{"namespaces", "create", "x", "--metric", "manhattan"}, "--metric: 'manhattan' is not"},
      {{"namespaces", "list", "--dimension", "3"}, "namespaces list: unknown flag --dimension"},
      {{"stats", "--output", "yaml"}, "--output: 'yaml' is not text or json"},
      {{"stats", "--timeout", "0"}, "--timeout: 0 is out of range"},
      {{"stats", "--correlation_id", "bad id!"}, "--correlation_id: must be 1-128 characters"},
      {{"stats", "extra"}, "stats: unexpected argument 'extra'"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Run(c.args), kExitUsage) << testing::PrintToString(c.args);
    EXPECT_THAT(err_.str(), HasSubstr(c.message)) << testing::PrintToString(c.args);
    EXPECT_THAT(err_.str(), testing::StartsWith("engramctl: "));
    EXPECT_EQ(out_.str(), "");
    EXPECT_EQ(factory_calls_, 0) << testing::PrintToString(c.args);
  }
}

TEST_F(CommandsTest, HelpExitsZero) {
  EXPECT_EQ(Run({"help"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("exit codes:"));
  EXPECT_EQ(Run({"--help"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("usage: engramctl"));
  EXPECT_EQ(Run({"reason", "--help"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("--min_confidence C"));
  EXPECT_EQ(Run({"help", "paths"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("--max_depth D"));
  EXPECT_EQ(Run({"import", "wordnet", "-h"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("--limit N"));
  EXPECT_EQ(factory_calls_, 0);
}

// ---- transport: metadata, deadline, environment, errors --------------------------------------

TEST_F(CommandsTest, SendsKeyCorrelationIdAndDeadline) {
  EXPECT_CALL(stub_, GetConcept(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext* context, const engram::v1::GetConceptRequest&,
                          engram::v1::Concept*) {
        grpc::testing::ClientContextTestPeer peer(context);
        auto metadata = peer.GetSendInitialMetadata();
        EXPECT_EQ(metadata.count("authorization"), 1u);
        EXPECT_EQ(metadata.find("authorization")->second, "Bearer secret-key");
        EXPECT_EQ(metadata.find("x-correlation-id")->second, "req-42");
        auto remaining = context->deadline() - std::chrono::system_clock::now();
        EXPECT_GT(remaining, std::chrono::seconds(5));
        EXPECT_LE(remaining, std::chrono::milliseconds(7500));
        return grpc::Status::OK;
      }));
  EXPECT_EQ(Run({"get", "c1", "--api_key", "secret-key", "--correlation_id", "req-42", "--timeout",
                 "7.5"}),
            kExitOk);
}

TEST_F(CommandsTest, GeneratesACorrelationIdAndSendsNoKeyWithoutOne) {
  EXPECT_CALL(stub_, GetConcept(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext* context, auto&, auto*) {
        auto metadata = grpc::testing::ClientContextTestPeer(context).GetSendInitialMetadata();
        EXPECT_EQ(metadata.count("authorization"), 0u);
        EXPECT_EQ(metadata.find("x-correlation-id")->second.size(), 32u);
        return grpc::Status::OK;
      }));
  EXPECT_EQ(Run({"get", "c1"}), kExitOk);
}

TEST_F(CommandsTest, EnvironmentSuppliesDefaultsAndFlagsWin) {
  env_ = {
      {"ENGRAM_ADDR", "api:1234"}, {"ENGRAM_API_KEY", "env-key"}, {"ENGRAM_NAMESPACE", "envns"}};
  EXPECT_CALL(stub_, GetConcept(_, EqualsProto(R"pb(namespace: "envns" id: "c1")pb"), _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"get", "c1"}), kExitOk);
  EXPECT_EQ(options_.addr, "api:1234");
  EXPECT_EQ(options_.api_key, "env-key");

  EXPECT_CALL(stub_, GetConcept(_, EqualsProto(R"pb(namespace: "flagns" id: "c1")pb"), _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"--addr", "other:1", "get", "c1", "-n", "flagns", "--api_key=k2"}), kExitOk);
  EXPECT_EQ(options_.addr, "other:1");
  EXPECT_EQ(options_.api_key, "k2");
  EXPECT_TRUE(options_.ns_from_flag);
}

TEST_F(CommandsTest, ServerErrorsMapToExitCodesWithTheCorrelationId) {
  const std::pair<grpc::StatusCode, int> cases[] = {
      {grpc::StatusCode::NOT_FOUND, 3},
      {grpc::StatusCode::UNAUTHENTICATED, 4},
      {grpc::StatusCode::PERMISSION_DENIED, 4},
      {grpc::StatusCode::UNAVAILABLE, 5},
      {grpc::StatusCode::DEADLINE_EXCEEDED, 5},
      {grpc::StatusCode::INVALID_ARGUMENT, 6},
      {grpc::StatusCode::FAILED_PRECONDITION, 6},
      {grpc::StatusCode::ALREADY_EXISTS, 6},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, 7},
      {grpc::StatusCode::INTERNAL, 1},
      {grpc::StatusCode::UNKNOWN, 1},
  };
  for (const auto& [code, exit_code] : cases) {
    EXPECT_CALL(stub_, GetConcept(_, _, _)).WillOnce(Return(grpc::Status(code, "it failed")));
    EXPECT_EQ(Run({"get", "c1", "--correlation_id", "cid-7"}), exit_code) << code;
    EXPECT_EQ(out_.str(), "");
    EXPECT_THAT(err_.str(), testing::MatchesRegex(
                                "engramctl: [A-Z_]+: it failed \\(correlation id cid-7\\)\n"));
  }
  EXPECT_CALL(stub_, DeleteConcept(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "concept c9 not found")));
  EXPECT_EQ(Run({"delete", "c9", "--correlation_id", "abc"}), kExitNotFound);
  EXPECT_EQ(err_.str(), "engramctl: NOT_FOUND: concept c9 not found (correlation id abc)\n");
}

// ---- each command builds the right request ----------------------------------------------------

TEST_F(CommandsTest, GetPrintsTextOrJson) {
  auto concept_message = FromText<engram::v1::Concept>(R"pb(id: "c1"
                                                            content: "hello"
                                                            vector: [ 1, 2 ])pb");
  EXPECT_CALL(
      stub_,
      GetConcept(_, EqualsProto(R"pb(namespace: "default" id: "c1" include_vector: true)pb"), _))
      .Times(2)
      .WillRepeatedly(DoAll(SetArgPointee<2>(concept_message), Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"get", "c1", "--vector"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("content:       hello\n"));
  EXPECT_THAT(out_.str(), HasSubstr("[1, 2]"));
  EXPECT_EQ(Run({"--output", "json", "get", "c1", "--vector"}), kExitOk);
  EXPECT_THAT(out_.str(), testing::StartsWith("{\"id\":\"c1\",\"content\":\"hello\""));
  EXPECT_THAT(out_.str(), HasSubstr("\"vector\":[1,2]"));
  const std::string json = out_.str();
  EXPECT_EQ(std::count(json.begin(), json.end(), '\n'), 1);
}

TEST_F(CommandsTest, Delete) {
  EXPECT_CALL(stub_, DeleteConcept(_, EqualsProto(R"pb(namespace: "n1" id: "c1")pb"), _))
      .Times(2)
      .WillRepeatedly(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"delete", "c1", "-n", "n1"}), kExitOk);
  EXPECT_EQ(out_.str(), "deleted c1\n");
  EXPECT_EQ(Run({"delete", "c1", "-n", "n1", "--output=json"}), kExitOk);
  EXPECT_EQ(out_.str(), "{}\n");
}

TEST_F(CommandsTest, Associate) {
  auto association = FromText<engram::v1::Association>(
      R"pb(source: "rain" target: "wet" type: CAUSAL confidence: 0.75 weight: 2)pb");
  EXPECT_CALL(stub_, Associate(_, EqualsProto(R"pb(
                                 namespace: "default"
                                 source: "rain"
                                 target: "wet"
                                 type: CAUSAL
                                 confidence { value: 0.75 }
                                 weight { value: -2 })pb"),
                               _))
      .WillOnce(DoAll(SetArgPointee<2>(association), Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"associate", "rain", "wet", "causal", "--confidence", "0.75", "--weight", "-2"}),
            kExitOk);
  EXPECT_EQ(out_.str(), "rain --CAUSAL(0.75)--> wet\n");
  // Without flags confidence and weight stay unset (the server's defaults apply).
  EXPECT_CALL(stub_, Associate(_, EqualsProto(R"pb(
                                 namespace: "default"
                                 source: "a"
                                 target: "b"
                                 type: HIERARCHICAL)pb"),
                               _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"associate", "a", "b", "HIERARCHICAL"}), kExitOk);
}

TEST_F(CommandsTest, ListPagesUntilTheTokenIsEmpty) {
  EXPECT_CALL(stub_, ListConcepts(_, EqualsProto(R"pb(
                                    namespace: "docs"
                                    page_size: 2
                                    attribute: "lang:en")pb"),
                                  _))
      .WillOnce(DoAll(SetArgPointee<2>(FromText<engram::v1::ListConceptsResponse>(R"pb(
                        concepts { id: "a" content: "alpha" }
                        concepts { id: "b" content: "beta\nsecond line" }
                        next_page_token: "T1")pb")),
                      Return(grpc::Status::OK)));
  EXPECT_CALL(stub_, ListConcepts(_, EqualsProto(R"pb(
                                    namespace: "docs"
                                    page_size: 2
                                    page_token: "T1"
                                    attribute: "lang:en")pb"),
                                  _))
      .WillOnce(DoAll(SetArgPointee<2>(FromText<engram::v1::ListConceptsResponse>(
                          R"pb(concepts { id: "c" content: "gamma" })pb")),
                      Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"-n", "docs", "list", "--page_size", "2", "--attr", "lang=en"}), kExitOk);
  EXPECT_EQ(out_.str(), "a  alpha\nb  beta second line\nc  gamma\n");

  // --page: one page, the next token on stderr; --output json: one Concept per line.
  EXPECT_CALL(stub_, ListConcepts(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(FromText<engram::v1::ListConceptsResponse>(R"pb(
                        concepts { id: "a" content: "alpha" }
                        next_page_token: "T2")pb")),
                      Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"list", "--page"}), kExitOk);
  EXPECT_EQ(out_.str(), "a  alpha\n");
  EXPECT_THAT(err_.str(), HasSubstr("next page: --page_token=T2"));
  EXPECT_EQ(Run({"list", "--attr", "novalue"}), kExitUsage);
}

TEST_F(CommandsTest, UpdateSendsOnlyTheGivenFieldsInTheMask) {
  EXPECT_CALL(stub_, UpdateConcept(_, EqualsProto(R"pb(
                                     namespace: "default"
                                     id: "dog"
                                     content: "A dog barks"
                                     attributes { key: "lang" value: "en" }
                                     confidence { value: 0.5 }
                                     update_mask: "content"
                                     update_mask: "attributes"
                                     update_mask: "confidence")pb"),
                                   _))
      .WillOnce(DoAll(SetArgPointee<2>(FromText<engram::v1::Concept>(
                          R"pb(id: "dog" content: "A dog barks" confidence: 0.5)pb")),
                      Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"update", "dog", "--content", "A dog barks", "--attr", "lang=en", "--confidence",
                 "0.5"}),
            kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("A dog barks"));
  EXPECT_CALL(stub_, UpdateConcept(_, EqualsProto(R"pb(
                                     namespace: "default" id: "dog" update_mask: "attributes")pb"),
                                   _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "concept 'dog' not found")));
  EXPECT_EQ(Run({"update", "dog", "--clear_attributes"}), kExitNotFound);
  EXPECT_EQ(Run({"update", "dog"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("nothing to change"));
}

TEST_F(CommandsTest, UnlinkDeletesOneAssociation) {
  EXPECT_CALL(stub_, DeleteAssociation(_, EqualsProto(R"pb(
                                         namespace: "default"
                                         source: "rain"
                                         target: "wet"
                                         type: CAUSAL)pb"),
                                       _))
      .WillOnce(Return(grpc::Status::OK))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "association not found")));
  EXPECT_EQ(Run({"unlink", "rain", "wet", "causal"}), kExitOk);
  EXPECT_EQ(out_.str(), "deleted rain -CAUSAL-> wet\n");
  EXPECT_EQ(Run({"unlink", "rain", "wet", "causal"}), kExitNotFound);
  EXPECT_EQ(Run({"unlink", "rain", "wet"}), kExitUsage);
}

TEST_F(CommandsTest, AssociateFileSendsBatches) {
  const std::string file = TempFile(
      "edges.jsonl",
      "{\"source\":\"a\",\"target\":\"b\",\"type\":\"CAUSAL\"}\n"
      "{\"source\":\"b\",\"target\":\"c\",\"type\":\"TEMPORAL\",\"weight\":2}\n"
      "{\"source\":\"c\",\"target\":\"d\",\"type\":\"SEMANTIC\"}\n");
  std::vector<int> sizes;
  EXPECT_CALL(stub_, AssociateBatch(_, _, _))
      .Times(2)
      .WillRepeatedly(Invoke([&](grpc::ClientContext*,
                                 const engram::v1::AssociateBatchRequest& req,
                                 engram::v1::AssociateBatchResponse*) {
        EXPECT_EQ(req.namespace_(), "g");
        sizes.push_back(req.associations_size());
        return grpc::Status::OK;
      }));
  EXPECT_EQ(Run({"-n", "g", "associate", "--file", file, "--batch", "2", "--parallel", "1"}),
            kExitOk);
  EXPECT_EQ(sizes, (std::vector<int>{2, 1}));
  EXPECT_THAT(out_.str(), HasSubstr("associated 3 in"));
  EXPECT_EQ(Run({"associate", "--file", file, "a", "b", "CAUSAL"}), kExitUsage);
}

TEST_F(CommandsTest, NeighborsAndPaths) {
  EXPECT_CALL(stub_, Neighbors(_, EqualsProto(R"pb(
                                 namespace: "default"
                                 id: "dog"
                                 type: CAUSAL
                                 direction: IN
                                 limit: 5)pb"),
                               _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"neighbors", "dog", "--type", "causal", "--direction", "in", "--limit", "5"}),
            kExitOk);
  EXPECT_EQ(out_.str(), "no neighbors of dog\n");

  auto paths = FromText<engram::v1::FindPathsResponse>(R"pb(
    paths {
      concept_ids: [ "dog", "mammal" ]
      hops { source: "dog" target: "mammal" type: HIERARCHICAL confidence: 0.9 }
      confidence: 0.77
    })pb");
  EXPECT_CALL(stub_, FindPaths(_, EqualsProto(R"pb(
                                 namespace: "default"
                                 source: "dog"
                                 target: "mammal"
                                 max_depth: 3
                                 max_paths: 2
                                 types: [ HIERARCHICAL, CAUSAL ])pb"),
                               _))
      .WillOnce(DoAll(SetArgPointee<2>(paths), Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"paths", "dog", "mammal", "--max_depth", "3", "--max_paths=2", "--types",
                 "HIERARCHICAL,causal"}),
            kExitOk);
  EXPECT_EQ(out_.str(), "1. (0.77) dog --HIERARCHICAL(0.90)--> mammal\n");
}

TEST_F(CommandsTest, SearchByTextOrVector) {
  EXPECT_CALL(stub_, Search(_, EqualsProto(R"pb(
                              namespace: "default"
                              query: "what barks"
                              k: 3
                              filter {
                                attributes { key: "pos" value: "n" }
                                attributes { key: "source" value: "a=b" }
                              })pb"),
                            _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(
      Run({"search", "what", "barks", "--k", "3", "--filter", "pos=n", "--filter", "source=a=b"}),
      kExitOk);
  EXPECT_EQ(out_.str(), "no results\n");
  EXPECT_CALL(stub_, Search(_, EqualsProto(R"pb(namespace: "default"
                                                vector: [ 0.5, -1, 2 ]
                                                ef: 64)pb"),
                            _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"search", "--vector", "0.5,-1,2", "--ef", "64"}), kExitOk);
}

TEST_F(CommandsTest, ReasonPrettyAndJson) {
  auto response = FromText<engram::v1::ReasonResponse>(R"pb(
    answer { id: "m" content: "mammal" }
    confident: true
    confidence { graph: 0.9 semantic: 0.8 consensus: 0 final: 0.72 }
    paths {
      concept_ids: [ "d", "m" ]
      hops { source: "d" target: "m" type: HIERARCHICAL confidence: 0.9 }
      confidence: 0.77
    }
    path_concepts { id: "d" content: "dog" }
    path_concepts { id: "m" content: "mammal" }
    explanation: "dog is a kind of mammal")pb");
  EXPECT_CALL(stub_, Reason(_, EqualsProto(R"pb(
                              namespace: "zoo"
                              query: "is a dog a mammal"
                              k: 4
                              max_depth: 3
                              max_paths: 2
                              min_confidence { value: 0.5 })pb"),
                            _))
      .Times(2)
      .WillRepeatedly(DoAll(SetArgPointee<2>(response), Return(grpc::Status::OK)));
  std::vector<std::string> args = {
      "reason", "is a dog a mammal", "-n", "zoo", "--k", "4", "--max_depth", "3", "--max_paths",
      "2",      "--min_confidence",  "0.5"};
  EXPECT_EQ(Run(args), kExitOk);
  EXPECT_EQ(out_.str(),
            "Answer: mammal (m)\n"
            "Confidence: 0.72 (graph 0.90, semantic 0.80, consensus 0.00)\n"
            "Paths:\n"
            "  1. (0.77) dog --HIERARCHICAL(0.90)--> mammal\n"
            "Explanation: dog is a kind of mammal\n");
  args.push_back("--output");
  args.push_back("json");
  EXPECT_EQ(Run(args), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("\"confident\":true"));
  EXPECT_THAT(out_.str(), HasSubstr("\"pathConcepts\":[{\"id\":\"d\",\"content\":\"dog\"}"));
}

TEST_F(CommandsTest, Namespaces) {
  EXPECT_CALL(stub_, ListNamespaces(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"namespaces"}), kExitOk);
  EXPECT_THAT(out_.str(), testing::StartsWith("NAME"));
  EXPECT_CALL(stub_, ListNamespaces(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"namespaces", "list"}), kExitOk);

  EXPECT_CALL(stub_, GetNamespace(_, EqualsProto(R"pb(namespace: "wordnet")pb"), _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"namespaces", "get", "wordnet"}), kExitOk);
  EXPECT_CALL(stub_, GetNamespace(_, EqualsProto(R"pb(namespace: "cur")pb"), _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"namespaces", "get", "-n", "cur"}), kExitOk);

  EXPECT_CALL(stub_, CreateNamespace(_, EqualsProto(R"pb(
                                       name: "vecs"
                                       dimension: 8
                                       metric: L2
                                       embedder: "none"
                                       index_params { m: 32 ef_construction: 0 })pb"),
                                     _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"namespaces", "create", "vecs", "--dimension", "8", "--metric", "l2", "--embedder",
                 "none", "--m", "32"}),
            kExitOk);
  EXPECT_CALL(stub_, CreateNamespace(_, EqualsProto(R"pb(
                                       name: "words"
                                       keyword_fields { attribute: "lemmas" weight: 3 b: 1 }
                                       keyword_fields { attribute: "title" weight: 2 }
                                       keyword_fields { attribute: "tags" })pb"),
                                     _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"namespaces", "create", "words", "--keyword_fields", "lemmas^3:1, title^2,tags"}),
            kExitOk);
  engram::v1::Namespace quantized;
  quantized.set_name("q");
  quantized.mutable_index_params()->set_quantization(engram::v1::QUANTIZATION_INT8);
  EXPECT_CALL(stub_, CreateNamespace(_, EqualsProto(R"pb(
                                       name: "q"
                                       index_params { quantization: QUANTIZATION_INT8 })pb"),
                                     _))
      .WillOnce(DoAll(SetArgPointee<2>(quantized), Return(grpc::Status::OK)));
  out_.str("");
  EXPECT_EQ(Run({"namespaces", "create", "q", "--quantization", "INT8"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("m=0 ef_construction=0 quantization=int8"));
  EXPECT_CALL(stub_, CreateNamespace(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "namespace vecs exists")));
  EXPECT_EQ(Run({"namespaces", "create", "vecs"}), kExitRejected);

  EXPECT_CALL(stub_, DeleteNamespace(_, EqualsProto(R"pb(namespace: "vecs")pb"), _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"namespaces", "delete", "vecs"}), kExitOk);
  EXPECT_EQ(out_.str(), "deleted namespace vecs\n");
}

TEST_F(CommandsTest, Stats) {
  auto stats =
      FromText<engram::v1::Stats>(R"pb(concepts: 5 associations: 2 sync_mode: "always")pb");
  EXPECT_CALL(stub_, GetStats(_, _, _))
      .Times(2)
      .WillRepeatedly(DoAll(SetArgPointee<2>(stats), Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"stats"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("concepts:      5\n"));
  EXPECT_EQ(Run({"stats", "--output", "json"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("\"concepts\":\"5\""));
}

// ---- learn and import ------------------------------------------------------------------------

TEST_F(CommandsTest, LearnOneConcept) {
  auto response = FromText<engram::v1::LearnResponse>(R"pb(
    id: "d1"
    created: true
    associations { source: "d1" target: "mammal" type: HIERARCHICAL confidence: 0.9 })pb");
  EXPECT_CALL(stub_, Learn(_, EqualsProto(R"pb(
                             namespace: "default"
                             content: "A dog is a mammal"
                             id: "d1"
                             attributes { key: "k" value: "v" }
                             vector: [ 1, 2 ]
                             extract_associations { value: false })pb"),
                           _))
      .WillOnce(DoAll(SetArgPointee<2>(response), Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"learn", "A", "dog", "is", "a", "mammal", "--id", "d1", "--attr", "k=v",
                 "--vector", "1,2", "--no_extract"}),
            kExitOk);
  EXPECT_EQ(out_.str(),
            "learned d1 (created), 1 associations\n  d1 --HIERARCHICAL(0.90)--> mammal\n");
  // By default extraction is left to the server (unset means true).
  EXPECT_CALL(stub_, Learn(_, EqualsProto(R"pb(namespace: "default" content: "-- literal")pb"), _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"learn", "--", "-- literal"}), kExitOk);
}

TEST_F(CommandsTest, LearnWholeFileOrStdin) {
  std::string file = TempFile("whole.txt", "line one\nline two\n");
  EXPECT_CALL(
      stub_,
      Learn(_, EqualsProto(R"pb(namespace: "default" content: "line one\nline two\n")pb"), _))
      .Times(2)
      .WillRepeatedly(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"learn", "--file", file, "--whole"}), kExitOk);
  EXPECT_EQ(Run({"learn", "-", "--whole"}, "line one\nline two\n"), kExitOk);
}

TEST_F(CommandsTest, LearnLinesAsBatches) {
  std::string file = TempFile("lines.txt", "first\n\nsecond\nthird\n");
  std::vector<std::string> contents;
  EXPECT_CALL(stub_, LearnBatch(_, _, _))
      .Times(2)
      .WillRepeatedly(Invoke([&](grpc::ClientContext*, const engram::v1::LearnBatchRequest& req,
                                 engram::v1::LearnBatchResponse* resp) {
        EXPECT_EQ(req.namespace_(), "default");
        for (const auto& c : req.concepts()) {
          contents.push_back(c.content());
          EXPECT_EQ(c.attributes().at("src"), "notes");
          resp->add_results()->set_created(true);
        }
        clock_ += absl::Seconds(1);
        return grpc::Status::OK;
      }));
  EXPECT_EQ(
      Run({"learn", "--file", file, "--batch", "2", "--parallel", "1", "--attr", "src=notes"}),
      kExitOk);
  EXPECT_EQ(contents, (std::vector<std::string>{"first", "second", "third"}));
  EXPECT_EQ(out_.str(), "imported 3 concepts in 2.0 s (2 concepts/s), 0 associations\n");
  EXPECT_EQ(Run({"learn", "--file", file, "--id", "x"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--id: only for a single concept"));
}

std::vector<engram::v1::ReasonEvent> ReasonEvents() {
  return {FromText<engram::v1::ReasonEvent>(R"pb(seeds {
                                                    support { id: "d" content: "dog" score: 0.9 }
                                                  })pb"),
          FromText<engram::v1::ReasonEvent>(R"pb(path {
                                                    path {
                                                      concept_ids: [ "d", "m" ]
                                                      hops {
                                                        source: "d"
                                                        target: "m"
                                                        type: HIERARCHICAL
                                                        confidence: 0.9
                                                      }
                                                      confidence: 0.77
                                                    }
                                                    concepts { id: "d" content: "dog" }
                                                    concepts { id: "m" content: "mammal" }
                                                  })pb"),
          FromText<engram::v1::ReasonEvent>(R"pb(answer {
                                                    answer { id: "m" content: "mammal" }
                                                    confident: true
                                                    confidence { final: 0.72 }
                                                  })pb")};
}

TEST_F(CommandsTest, ReasonStreamPrintsEachEventAsItArrives) {
  EXPECT_CALL(stub_, ReasonStreamRaw(_, EqualsProto(R"pb(namespace: "zoo" query: "what is a dog")pb")))
      .Times(2)
      .WillRepeatedly(Invoke([](grpc::ClientContext*, const engram::v1::ReasonRequest&) {
        return new FakeReader<engram::v1::ReasonEvent>(ReasonEvents(), grpc::Status::OK);
      }));
  std::vector<std::string> args = {"reason", "what is a dog", "-n", "zoo", "--stream"};
  EXPECT_EQ(Run(args), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(),
            "Seeds:\n"
            "  1. [0.9000] d  dog\n"
            "Path: (0.77) dog --HIERARCHICAL(0.90)--> mammal\n"
            "Answer: mammal (m)\n"
            "Confidence: 0.72 (graph 0.00, semantic 0.00, consensus 0.00)\n");
  args.push_back("--output=json");
  EXPECT_EQ(Run(args), kExitOk);
  const std::vector<std::string> lines = absl::StrSplit(out_.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << out_.str();
  EXPECT_THAT(lines[0], HasSubstr(R"({"seeds":{"support":[{"id":"d")"));
  EXPECT_THAT(lines[1], HasSubstr(R"({"path":{"path":{"conceptIds":["d","m"])"));
  EXPECT_THAT(lines[2], HasSubstr(R"({"answer":{"answer":{"id":"m")"));
}

TEST_F(CommandsTest, ReasonStreamFailingOrEndingWithoutAnAnswerIsAnError) {
  std::vector<engram::v1::ReasonEvent> events = ReasonEvents();
  events.pop_back();
  EXPECT_CALL(stub_, ReasonStreamRaw(_, _))
      .WillOnce(Invoke([&](grpc::ClientContext*, const engram::v1::ReasonRequest&) {
        return new FakeReader<engram::v1::ReasonEvent>(
            events, grpc::Status(grpc::StatusCode::UNAVAILABLE, "hybrid unavailable"));
      }))
      .WillOnce(Invoke([&](grpc::ClientContext*, const engram::v1::ReasonRequest&) {
        return new FakeReader<engram::v1::ReasonEvent>(events, grpc::Status::OK);
      }));
  EXPECT_EQ(Run({"reason", "q", "--stream"}), kExitUnavailable);
  EXPECT_THAT(out_.str(), HasSubstr("Path: (0.77) dog"));  // what arrived was printed
  EXPECT_THAT(err_.str(), HasSubstr("UNAVAILABLE: hybrid unavailable"));
  EXPECT_EQ(Run({"reason", "q", "--stream"}), kExitUnavailable);
  EXPECT_THAT(err_.str(), HasSubstr("the stream ended without an answer"));
}

std::vector<engram::v1::ExportChunk> ExportChunks() {
  return {FromText<engram::v1::ExportChunk>(
              R"pb(namespace { name: "zoo" dimension: 2 embedder: "none" concept_count: 2 association_count: 1 })pb"),
          FromText<engram::v1::ExportChunk>(R"pb(concepts { id: "d" content: "dog" vector: [ 1, 0 ] strength: 43 }
                                                 concepts {
                                                   id: "m"
                                                   content: "mammal"
                                                   vector: [ 0, 1 ]
                                                   attributes { key: "k" value: "v" }
                                                   strength: 1
                                                 })pb"),
          FromText<engram::v1::ExportChunk>(
              R"pb(associations { source: "d" target: "m" type: HIERARCHICAL confidence: 0.5 weight: 1 })pb")};
}

TEST_F(CommandsTest, ExportWritesNdjsonToAFileThatAppearsOnlyWhenComplete) {
  const std::string file = TempFile("zoo.ndjson", "an older export\n");
  EXPECT_CALL(stub_, ExportNamespaceRaw(_, EqualsProto(R"pb(namespace: "zoo")pb")))
      .WillOnce(Invoke([](grpc::ClientContext*, const engram::v1::ExportNamespaceRequest&) {
        std::vector<engram::v1::ExportChunk> chunks = ExportChunks();
        chunks.pop_back();
        return new FakeReader<engram::v1::ExportChunk>(
            chunks, grpc::Status(grpc::StatusCode::UNAVAILABLE, "storage unavailable"));
      }))
      .WillOnce(Invoke([](grpc::ClientContext*, const engram::v1::ExportNamespaceRequest&) {
        return new FakeReader<engram::v1::ExportChunk>(ExportChunks(), grpc::Status::OK);
      }));
  const auto read = [&file] {
    std::ifstream in(file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  // A stream that fails midway leaves the earlier file as it was, and no partial file.
  EXPECT_EQ(Run({"export", file, "-n", "zoo"}), kExitUnavailable);
  EXPECT_EQ(read(), "an older export\n");
  EXPECT_FALSE(std::filesystem::exists(file + ".part"));

  EXPECT_EQ(Run({"export", file, "-n", "zoo"}), kExitOk) << err_.str();
  const std::string text = read();
  const std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << text;
  EXPECT_THAT(lines[0], HasSubstr(R"({"namespace":{"name":"zoo","dimension":2,)"));
  EXPECT_THAT(lines[1], HasSubstr(R"({"concept":{"id":"d","content":"dog",)"));
  EXPECT_THAT(lines[2], HasSubstr(R"("attributes":{"k":"v"})"));
  EXPECT_THAT(lines[3], HasSubstr(R"({"association":{"source":"d","target":"m","type":"HIERARCHICAL")"));
  EXPECT_FALSE(std::filesystem::exists(file + ".part"));
  EXPECT_EQ(out_.str(), "");
  EXPECT_THAT(err_.str(), HasSubstr("exported namespace zoo: 2 concepts, 1 associations, "));
}

TEST_F(CommandsTest, ExportToStdoutIsWhatImportJsonlReadsBack) {
  EXPECT_CALL(stub_, ExportNamespaceRaw(_, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const engram::v1::ExportNamespaceRequest&) {
        return new FakeReader<engram::v1::ExportChunk>(ExportChunks(), grpc::Status::OK);
      }));
  ASSERT_EQ(Run({"export", "-n", "zoo"}), kExitOk) << err_.str();
  const std::string exported = out_.str();

  // Into a new namespace: created like the exported one, concepts (no extraction), then edges.
  EXPECT_CALL(stub_, GetNamespace(_, EqualsProto(R"pb(namespace: "copy")pb"), _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "no namespace copy")));
  EXPECT_CALL(stub_, CreateNamespace(_, EqualsProto(R"pb(name: "copy" dimension: 2 embedder: "none"
                                                         metric: METRIC_UNSPECIFIED index_params {})pb"),
                                     _))
      .WillOnce(DoAll(SetArgPointee<2>(FromText<engram::v1::Namespace>(R"pb(name: "copy" dimension: 2 embedder: "none")pb")),
                      Return(grpc::Status::OK)));
  ::testing::InSequence in_order;
  EXPECT_CALL(stub_, LearnBatch(_, EqualsProto(R"pb(
                                  namespace: "copy"
                                  concepts {
                                    id: "d"
                                    content: "dog"
                                    vector: [ 1, 0 ]
                                    extract_associations { value: false }
                                    strength { value: 43 }
                                  }
                                  concepts {
                                    id: "m"
                                    content: "mammal"
                                    vector: [ 0, 1 ]
                                    attributes { key: "k" value: "v" }
                                    extract_associations { value: false }
                                    strength { value: 1 }
                                  })pb"),
                                _))
      .WillOnce(Invoke([](grpc::ClientContext*, const engram::v1::LearnBatchRequest& req,
                          engram::v1::LearnBatchResponse* resp) {
        for (int i = 0; i < req.concepts_size(); ++i) resp->add_results()->set_created(true);
        return grpc::Status::OK;
      }));
  EXPECT_CALL(stub_, AssociateBatch(_, EqualsProto(R"pb(
                                      namespace: "copy"
                                      associations {
                                        source: "d"
                                        target: "m"
                                        type: HIERARCHICAL
                                        confidence { value: 0.5 }
                                        weight { value: 1 }
                                      })pb"),
                                    _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"import", "jsonl", "-", "-n", "copy"}, exported), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("imported 2 concepts in "));
  EXPECT_THAT(out_.str(), HasSubstr(", 1 associations"));
  EXPECT_THAT(err_.str(), HasSubstr("created namespace copy like the exported 'zoo'"));
}

TEST_F(CommandsTest, ImportJsonlFromStdinWithThroughputLine) {
  std::string input;
  for (int i = 0; i < 5; ++i) absl::StrAppend(&input, "{\"content\":\"c", i, "\"}\n");
  EXPECT_CALL(stub_, LearnBatch(_, _, _))
      .Times(3)
      .WillRepeatedly(Invoke([&](grpc::ClientContext*, const engram::v1::LearnBatchRequest& req,
                                 engram::v1::LearnBatchResponse* resp) {
        EXPECT_EQ(req.namespace_(), "imp");
        for (int i = 0; i < req.concepts_size(); ++i) resp->add_results()->set_created(true);
        resp->set_associations_created(1);
        clock_ += absl::Milliseconds(500);
        return grpc::Status::OK;
      }));
  EXPECT_EQ(Run({"import", "jsonl", "-", "-n", "imp", "--batch", "2", "--parallel", "1"}, input),
            kExitOk);
  EXPECT_EQ(out_.str(), "imported 5 concepts in 1.5 s (3 concepts/s), 3 associations\n");
}

TEST_F(CommandsTest, ImportJsonlBadLineIsAnInputError) {
  std::string file =
      TempFile("bad.jsonl", "{\"content\":\"ok\"}\n{\"content\":\"x\",\"vectr\":[1]}\n");
  EXPECT_CALL(stub_, LearnBatch(_, _, _)).Times(0);
  EXPECT_EQ(Run({"import", "jsonl", file, "--output", "json"}), kExitRejected);
  EXPECT_THAT(err_.str(), HasSubstr(absl::StrCat("engramctl: INVALID_ARGUMENT: ", file,
                                                 " line 2: not a Learn body")));
}

TEST_F(CommandsTest, ImportJsonlMissingFile) {
  EXPECT_EQ(Run({"import", "jsonl", "/nonexistent/file.jsonl"}), kExitNotFound);
  EXPECT_THAT(err_.str(), HasSubstr("/nonexistent/file.jsonl: cannot open"));
}

TEST_F(CommandsTest, SnapshotUsageErrorsNeverReachAServer) {
  EXPECT_EQ(Run({"snapshot"}), kExitUsage);
  EXPECT_EQ(Run({"snapshot", "frobnicate"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("not create, list, download, delete or restore"));
  EXPECT_EQ(Run({"snapshot", "delete"}), kExitUsage);
  EXPECT_EQ(Run({"snapshot", "download"}), kExitUsage);
  EXPECT_EQ(Run({"snapshot", "restore", "a", "b"}), kExitUsage);
  EXPECT_EQ(Run({"snapshot", "list", "--transfer_timeout=0"}), kExitUsage);
  // This runner has no engram-storage transport: a clear refusal, not a crash.
  EXPECT_EQ(Run({"snapshot", "list"}), kExitRejected);
  EXPECT_THAT(err_.str(), HasSubstr("no engram-storage transport"));
  EXPECT_EQ(factory_calls_, 0);  // the public API was never dialled
}

TEST_F(CommandsTest, ImportWordNetUsesItsOwnNamespaceUnlessGiven) {
  std::filesystem::path dir =
      std::filesystem::path(testing::TempDir()) / absl::StrCat("wn_cli_", ::getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "data.noun") << "00001740 03 n 01 entity 0 000 | it is  \n";
  env_["ENGRAM_NAMESPACE"] = "ignored-for-wordnet";
  EXPECT_CALL(stub_, GetNamespace(_, EqualsProto(R"pb(namespace: "wordnet")pb"), _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_CALL(stub_, LearnBatch(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const engram::v1::LearnBatchRequest& req,
                          engram::v1::LearnBatchResponse* resp) {
        EXPECT_EQ(req.namespace_(), "wordnet");
        resp->add_results()->set_created(true);
        return grpc::Status::OK;
      }));
  EXPECT_EQ(Run({"import", "wordnet", dir.string()}), kExitOk);
  EXPECT_EQ(out_.str(), "imported 1 concepts in 0.0 s (0 concepts/s), 0 associations\n");

  EXPECT_CALL(stub_, GetNamespace(_, EqualsProto(R"pb(namespace: "mine")pb"), _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_CALL(stub_, LearnBatch(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"import", "wordnet", dir.string(), "-n", "mine", "--output", "json"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("\"concepts\":\"1\""));

  EXPECT_EQ(Run({"import", "wordnet", (dir / "missing").string()}), kExitNotFound);
  EXPECT_THAT(err_.str(), HasSubstr("data.noun: cannot open"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace engram::cli
