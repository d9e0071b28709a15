#include "cli/engramctl/bulk_import.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cli/engramctl/test_util.h"
#include "cli/engramctl/work_queue.h"
#include "common/status/error_detail.h"
#include "common/status/grpc_status.h"

namespace engram::cli {
namespace {

using engram::v1::MockEngramStub;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::DoAll;
using ::testing::Invoke;
using ::testing::Return;
using ::testing::SetArgPointee;
using testing_util::EqualsProto;

LineParser Jsonl(const std::string& ns) {
  return [ns](absl::string_view line, size_t) { return ParseJsonlRecord(line, ns); };
}

std::string JsonlLines(int n) {
  std::string text;
  for (int i = 1; i <= n; ++i)
    absl::StrAppend(&text, "{\"content\":\"c", i, "\",\"id\":\"i", i, "\"}\n");
  return text;
}

class BulkImportTest : public ::testing::Test {
 protected:
  absl::StatusOr<ImportSummary> Import(const std::string& text, BulkOptions options,
                                       Progress* progress = nullptr) {
    std::istringstream in(text);
    return ImportLines(client_, in, "data.jsonl", text.size(), Jsonl("ns"), "ns", options, progress,
                       sleep_, now_);
  }

  MockEngramStub stub_;
  RpcClient client_{&stub_, CallSettings{absl::Seconds(5), "key", "cid"}};
  std::vector<absl::Duration> slept_;
  std::function<void(absl::Duration)> sleep_ = [this](absl::Duration d) { slept_.push_back(d); };
  absl::Time clock_ = absl::FromUnixSeconds(1000);
  std::function<absl::Time()> now_ = [this] { return clock_; };
};

grpc::Status Acknowledge(const engram::v1::LearnBatchRequest& request,
                         engram::v1::LearnBatchResponse* response, uint64_t associations = 0) {
  for (const auto& c : request.concepts()) {
    auto* r = response->add_results();
    r->set_id(c.id());
    r->set_created(true);
  }
  response->set_associations_created(associations);
  return grpc::Status::OK;
}

TEST_F(BulkImportTest, SendsBatchesOfTheConfiguredSize) {
  std::vector<std::vector<std::string>> batches;
  EXPECT_CALL(stub_, LearnBatch(_, _, _))
      .Times(3)
      .WillRepeatedly(Invoke([&](grpc::ClientContext*, const engram::v1::LearnBatchRequest& req,
                                 engram::v1::LearnBatchResponse* resp) {
        EXPECT_EQ(req.namespace_(), "ns");
        std::vector<std::string> ids;
        for (const auto& c : req.concepts()) {
          EXPECT_TRUE(c.namespace_().empty());
          ids.push_back(c.id());
        }
        batches.push_back(ids);
        clock_ += absl::Seconds(1);
        return Acknowledge(req, resp, 2);
      }));
  auto summary = Import(JsonlLines(7), {.batch = 3, .parallel = 1});
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(batches, (std::vector<std::vector<std::string>>{
                         {"i1", "i2", "i3"}, {"i4", "i5", "i6"}, {"i7"}}));
  EXPECT_EQ(summary->concepts, 7u);
  EXPECT_EQ(summary->created, 7u);
  EXPECT_EQ(summary->associations, 6u);
  EXPECT_EQ(summary->elapsed, absl::Seconds(3));
  EXPECT_EQ(ThroughputLine(*summary),
            "imported 7 concepts in 3.0 s (2 concepts/s), 6 associations");
}

TEST_F(BulkImportTest, BadLineIsReportedBeforeItsBatchIsSent) {
  std::string text = JsonlLines(4) + "{\"id\":\"no content\"}\n" + JsonlLines(1);
  // Lines 1-3 go out; the batch holding line 5 (lines 4-6) never does.
  EXPECT_CALL(stub_, LearnBatch(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const engram::v1::LearnBatchRequest& req,
                          engram::v1::LearnBatchResponse* resp) {
        EXPECT_EQ(req.concepts_size(), 3);
        return Acknowledge(req, resp);
      }));
  auto summary = Import(text, {.batch = 3, .parallel = 2});
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(summary.status().message(), "data.jsonl line 5: content: required");
}

TEST_F(BulkImportTest, NoBatchIsSentWhenTheFirstBatchHasABadLine) {
  EXPECT_CALL(stub_, LearnBatch(_, _, _)).Times(0);
  auto summary = Import("{\"content\":\"a\"}\nnot json\n", {.batch = 500});
  ASSERT_FALSE(summary.ok());
  EXPECT_THAT(std::string(summary.status().message()),
              HasSubstr("data.jsonl line 2: not a Learn body"));
}

TEST_F(BulkImportTest, RetriesRefusedBatchesWithBackoff) {
  EXPECT_CALL(stub_, LearnBatch(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "slow down")))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting")))
      .WillOnce(
          Invoke([](grpc::ClientContext*, const engram::v1::LearnBatchRequest& req,
                    engram::v1::LearnBatchResponse* resp) { return Acknowledge(req, resp); }));
  auto summary = Import(JsonlLines(2), {.batch = 10});
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->concepts, 2u);
  EXPECT_EQ(slept_,
            (std::vector<absl::Duration>{absl::Milliseconds(200), absl::Milliseconds(400)}));
}

TEST_F(BulkImportTest, GivesUpAfterMaxAttemptsAndNamesTheBatch) {
  EXPECT_CALL(stub_, LearnBatch(_, _, _))
      .Times(3)
      .WillRepeatedly(Return(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")));
  BulkOptions options{.batch = 10};
  options.retry.max_attempts = 3;
  auto summary = Import(JsonlLines(2), options);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(summary.status().message(), "data.jsonl lines 1-2: down");
  EXPECT_EQ(CorrelationIdOf(summary.status()), "cid");
}

TEST_F(BulkImportTest, RejectedBatchStopsTheImportWithoutRetry) {
  std::atomic<int> calls{0};
  EXPECT_CALL(stub_, LearnBatch(_, _, _)).WillRepeatedly(Invoke([&](auto...) {
    ++calls;
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "concepts[0].vector: dimension 2 != 384");
  }));
  auto summary = Import(JsonlLines(50), {.batch = 5, .parallel = 1});
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(summary.status().message(),
            "data.jsonl lines 1-5: concepts[0].vector: dimension 2 != 384");
  EXPECT_TRUE(slept_.empty());
  EXPECT_LT(calls.load(), 10);  // later batches are dropped, not sent
}

// A batch whose items and extracted associations need more than one atomic storage write is
// refused as WRITE_TOO_LARGE (nothing written): it is sent again in halves until each fits, in
// order; a single item that still does not fit fails the import with the server's message.
TEST_F(BulkImportTest, ABatchTooLargeForOneWriteIsSentInHalves) {
  auto too_large = [] {
    return status::ToGrpcStatus(status::WithDetail(
        absl::InvalidArgumentError("items: this call needs 1200 storage mutations"),
        status::WriteTooLargeDetail("items")));
  };
  std::vector<std::vector<std::string>> sent;
  EXPECT_CALL(stub_, LearnBatch(_, _, _))
      .WillRepeatedly(Invoke([&](grpc::ClientContext*, const engram::v1::LearnBatchRequest& req,
                                 engram::v1::LearnBatchResponse* resp) {
        std::vector<std::string> ids;
        for (const auto& c : req.concepts()) ids.push_back(c.id());
        sent.push_back(ids);
        const bool has_i9 = std::find(ids.begin(), ids.end(), "i9") != ids.end();
        if (req.concepts_size() > 2 || has_i9) return too_large();
        return Acknowledge(req, resp, 1);
      }));
  auto summary = Import(JsonlLines(7), {.batch = 5, .parallel = 1});
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(sent, (std::vector<std::vector<std::string>>{{"i1", "i2", "i3", "i4", "i5"},
                                                         {"i1", "i2"},
                                                         {"i3", "i4", "i5"},
                                                         {"i3"},
                                                         {"i4", "i5"},
                                                         {"i6", "i7"}}));
  EXPECT_EQ(summary->concepts, 7u);
  EXPECT_EQ(summary->associations, 4u);
  EXPECT_TRUE(slept_.empty()) << "a split is not a retry with backoff";

  sent.clear();
  summary = Import(JsonlLines(9), {.batch = 5, .parallel = 1});
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(summary.status().message(),
            "data.jsonl lines 6-9: items: this call needs 1200 storage mutations");
  EXPECT_EQ(sent.back(), std::vector<std::string>{"i9"});
}

TEST_F(BulkImportTest, ParallelBatchesAllArrive) {
  std::atomic<int> concepts{0};
  EXPECT_CALL(stub_, LearnBatch(_, _, _))
      .Times(20)
      .WillRepeatedly(Invoke([&](grpc::ClientContext*, const engram::v1::LearnBatchRequest& req,
                                 engram::v1::LearnBatchResponse* resp) {
        concepts += req.concepts_size();
        return Acknowledge(req, resp);
      }));
  auto summary = Import(JsonlLines(200), {.batch = 10, .parallel = 4});
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->concepts, 200u);
  EXPECT_EQ(concepts.load(), 200);
}

TEST(JsonlTest, ParsesTheLearnBody) {
  auto parsed = ParseJsonlLine(
      R"({"content":"A dog","id":"d1","vector":[0.5,1],"attributes":{"k":"v"},"extractAssociations":false})",
      "ns");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_TRUE(parsed->has_value());
  EXPECT_THAT(**parsed, EqualsProto(R"pb(
    content: "A dog"
    id: "d1"
    vector: [ 0.5, 1 ]
    attributes { key: "k" value: "v" }
    extract_associations { value: false }
  )pb"));
  auto blank = ParseJsonlLine("   ", "ns");
  ASSERT_TRUE(blank.ok());
  EXPECT_FALSE(blank->has_value());
  auto same_ns = ParseJsonlLine(R"({"content":"x","namespace":"ns"})", "ns");
  ASSERT_TRUE(same_ns.ok());
  EXPECT_TRUE((*same_ns)->namespace_().empty());
}

TEST(JsonlTest, RejectsBadLinesNamingTheField) {
  auto message = [](absl::string_view line) {
    auto parsed = ParseJsonlLine(line, "ns");
    EXPECT_FALSE(parsed.ok()) << line;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(parsed.status().message());
  };
  EXPECT_EQ(message(R"({"id":"x"})"), "content: required");
  EXPECT_THAT(message(R"({"content":"x","colour":"red"})"), HasSubstr("not a Learn body"));
  EXPECT_THAT(message(R"({"content":"x")"), HasSubstr("not a Learn body"));
  EXPECT_EQ(message(R"({"content":"x","vector":[1,"NaN"]})"), "vector[1]: not finite");
  EXPECT_THAT(message(R"({"content":"x","namespace":"other"})"), HasSubstr("namespace: 'other'"));
}

TEST(JsonlTest, ParsesExportRecords) {
  auto record = [](absl::string_view line) {
    absl::StatusOr<ImportRecord> parsed = ParseJsonlRecord(line, "ns");
    EXPECT_TRUE(parsed.ok()) << line << ": " << parsed.status();
    return parsed.ok() ? *parsed : ImportRecord();
  };
  const ImportRecord ns = record(R"({"namespace":{"name":"zoo","dimension":3,"embedder":"none","conceptCount":"2"}})");
  ASSERT_TRUE(std::holds_alternative<engram::v1::Namespace>(ns));
  EXPECT_THAT(std::get<engram::v1::Namespace>(ns),
              EqualsProto(R"pb(name: "zoo" dimension: 3 embedder: "none" concept_count: 2)pb"));
  // Whitespace as a person would write it; createTime and the like are ignored.
  const ImportRecord concept_record = record(
      R"( { "concept" : {"id":"d","content":"dog","vector":[1,2,3],"attributes":{"k":"v"},"strength":43,"createTime":"2026-01-01T00:00:00Z"} } )");
  ASSERT_TRUE(std::holds_alternative<engram::v1::LearnRequest>(concept_record));
  EXPECT_THAT(std::get<engram::v1::LearnRequest>(concept_record), EqualsProto(R"pb(
    id: "d" content: "dog" vector: [ 1, 2, 3 ] attributes { key: "k" value: "v" }
    extract_associations { value: false } strength { value: 43 })pb"));
  // The strength is kept when the line has one, even 0; without one, the default applies.
  EXPECT_THAT(std::get<engram::v1::LearnRequest>(
                  record(R"({"concept":{"id":"d","content":"dog","strength":0}})")),
              EqualsProto(R"pb(id: "d" content: "dog" extract_associations { value: false }
                               strength { value: 0 })pb"));
  EXPECT_THAT(std::get<engram::v1::LearnRequest>(record(R"({"concept":{"id":"d","content":"dog"}})")),
              EqualsProto(R"pb(id: "d" content: "dog" extract_associations { value: false })pb"));
  const ImportRecord edge = record(
      R"({"association":{"source":"d","target":"m","type":"CAUSAL","confidence":0.5,"weight":2,"createTime":"2026-01-01T00:00:00Z"}})");
  ASSERT_TRUE(std::holds_alternative<engram::v1::AssociateRequest>(edge));
  EXPECT_THAT(std::get<engram::v1::AssociateRequest>(edge), EqualsProto(R"pb(
    source: "d" target: "m" type: CAUSAL confidence { value: 0.5 } weight { value: 2 })pb"));
  const ImportRecord error = record(R"({"error":{"code":"UNAVAILABLE","message":"gone"}})");
  ASSERT_TRUE(std::holds_alternative<ExportError>(error));
  EXPECT_EQ(std::get<ExportError>(error).json, R"({"code":"UNAVAILABLE","message":"gone"})");
  // A Learn body with a "namespace" string is still a Learn body.
  EXPECT_TRUE(std::holds_alternative<engram::v1::LearnRequest>(record(R"({"namespace":"ns","content":"x"})")));
  EXPECT_TRUE(std::holds_alternative<std::monostate>(record("  ")));
}

TEST(JsonlTest, RejectsBadExportRecordsNamingTheField) {
  auto message = [](absl::string_view line) {
    absl::StatusOr<ImportRecord> parsed = ParseJsonlRecord(line, "ns");
    EXPECT_FALSE(parsed.ok()) << line;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(parsed.status().message());
  };
  EXPECT_EQ(message(R"({"concept":{"content":"x"}})"), "concept.id: required");
  EXPECT_EQ(message(R"({"concept":{"id":"x"}})"), "concept.content: required");
  EXPECT_EQ(message(R"({"concept":{"id":"x","content":"y","vector":[1,"Infinity"]}})"),
            "concept.vector[1]: not finite");
  EXPECT_EQ(message(R"({"concept":{"id":"x","content":"y","strength":-2}})"),
            "concept.strength: -2: must be finite and >= 0");
  EXPECT_THAT(message(R"({"concept":{"id":"x","content":"y","colour":"red"}})"),
              HasSubstr("concept: not a Concept"));
  EXPECT_EQ(message(R"({"association":{"source":"a","type":"CAUSAL"}})"), "association.target: required");
  EXPECT_EQ(message(R"({"association":{"source":"a","target":"b"}})"), "association.type: required");
  EXPECT_EQ(message(R"({"namespace":{"name":"zoo"}})"), "namespace.dimension: required");
  // Two keys: the second makes the value invalid JSON, which is refused.
  EXPECT_THAT(message(R"({"concept":{"id":"x","content":"y"},"association":{}})"),
              HasSubstr("concept: not a Concept"));
}

TEST_F(BulkImportTest, AnExportErrorLineStopsTheImportAsIncomplete) {
  EXPECT_CALL(stub_, LearnBatch(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const engram::v1::LearnBatchRequest& request,
                          engram::v1::LearnBatchResponse* response) {
        return Acknowledge(request, response);
      }));
  absl::StatusOr<ImportSummary> summary = Import(
      "{\"concept\":{\"id\":\"a\",\"content\":\"alpha\"}}\n"
      "{\"error\":{\"code\":\"UNAVAILABLE\",\"message\":\"storage unavailable\"}}\n",
      BulkOptions{.batch = 1, .parallel = 1});
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(summary.status().message(), HasSubstr("data.jsonl line 2: the export this file holds failed"));
  EXPECT_THAT(summary.status().message(), HasSubstr("storage unavailable"));
}

TEST_F(BulkImportTest, ExportRecordsOutOfOrderAreRefused) {
  EXPECT_CALL(stub_, LearnBatch(_, _, _))
      .WillRepeatedly(Invoke([](grpc::ClientContext*, const engram::v1::LearnBatchRequest& request,
                                engram::v1::LearnBatchResponse* response) {
        return Acknowledge(request, response);
      }));
  EXPECT_CALL(stub_, AssociateBatch(_, _, _)).Times(0);
  absl::StatusOr<ImportSummary> late_concept = Import(
      "{\"concept\":{\"id\":\"a\",\"content\":\"alpha\"}}\n"
      "{\"association\":{\"source\":\"a\",\"target\":\"a\",\"type\":\"CAUSAL\"}}\n"
      "{\"concept\":{\"id\":\"b\",\"content\":\"beta\"}}\n",
      BulkOptions{.batch = 10, .parallel = 1});
  ASSERT_FALSE(late_concept.ok());
  EXPECT_THAT(late_concept.status().message(),
              HasSubstr("data.jsonl line 3: concepts must come before every association"));
  absl::StatusOr<ImportSummary> late_namespace = Import(
      "{\"concept\":{\"id\":\"a\",\"content\":\"alpha\"}}\n"
      "{\"namespace\":{\"name\":\"zoo\",\"dimension\":3}}\n",
      BulkOptions{.batch = 10, .parallel = 1});
  ASSERT_FALSE(late_namespace.ok());
  EXPECT_THAT(late_namespace.status().message(),
              HasSubstr("data.jsonl line 2: namespace: must come before every concept"));
}

TEST_F(BulkImportTest, AnExistingNamespaceOfAnotherDimensionIsRefusedBeforeAnyWrite) {
  EXPECT_CALL(stub_, GetNamespace(_, EqualsProto(R"pb(namespace: "ns")pb"), _))
      .WillOnce(DoAll(SetArgPointee<2>(testing_util::FromText<engram::v1::Namespace>(
                          R"pb(name: "ns" dimension: 384 embedder: "hashing")pb")),
                      Return(grpc::Status::OK)));
  EXPECT_CALL(stub_, CreateNamespace(_, _, _)).Times(0);
  EXPECT_CALL(stub_, LearnBatch(_, _, _)).Times(0);
  absl::StatusOr<ImportSummary> summary =
      Import("{\"namespace\":{\"name\":\"zoo\",\"dimension\":3,\"embedder\":\"none\"}}\n"
             "{\"concept\":{\"id\":\"a\",\"content\":\"alpha\",\"vector\":[1,2,3]}}\n",
             BulkOptions{});
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(summary.status().message(),
              HasSubstr("data.jsonl line 1: namespace: 'ns' exists with dimension 384, the "
                        "export's namespace 'zoo' has dimension 3"));
}

TEST(ProgressTest, PlainLinesAtMostEveryInterval) {
  std::ostringstream out;
  absl::Time now = absl::FromUnixSeconds(0);
  Progress progress(&out, /*tty=*/false, [&] { return now; });
  progress.Start("importing", 1000, "concepts");
  now += absl::Seconds(1);
  progress.Add(100, 10);
  EXPECT_EQ(out.str(), "");
  now += absl::Seconds(4);
  progress.Add(400, 40);
  EXPECT_EQ(out.str(), "importing: 50.0%, 50 concepts, 10/s\n");
  progress.Finish();
  EXPECT_EQ(out.str(), "importing: 50.0%, 50 concepts, 10/s\n");
}

TEST(ProgressTest, TerminalRedrawsOneLine) {
  std::ostringstream out;
  absl::Time now = absl::FromUnixSeconds(0);
  Progress progress(&out, /*tty=*/true, [&] { return now; });
  progress.Start("concepts", 0, "concepts");
  now += absl::Seconds(2);
  progress.Add(8, 8);
  progress.Finish();
  EXPECT_EQ(out.str(), "\r\033[Kconcepts: 8 concepts, 4/s\r\033[Kconcepts: 8 concepts, 4/s\n");

  std::ostringstream bar;
  Progress with_total(&bar, true, [&] { return now; });
  with_total.Start("concepts", 4, "concepts");
  now += absl::Seconds(1);
  with_total.Add(2, 2);
  EXPECT_THAT(bar.str(),
              HasSubstr("concepts [###############...............]  50.0% 2 concepts 2/s"));
}

TEST(WorkQueueTest, RunsEveryTaskWithBoundedQueue) {
  std::atomic<int> ran{0};
  {
    WorkQueue queue(3, 2);
    for (int i = 0; i < 100; ++i) queue.Submit([&] { ++ran; });
    queue.Wait();
    EXPECT_EQ(ran.load(), 100);
    queue.Submit([&] { ++ran; });
  }  // the destructor waits
  EXPECT_EQ(ran.load(), 101);
}

TEST(RetryTest, OnlyLoadAndAvailabilityAreRetried) {
  EXPECT_TRUE(IsRetryable(absl::ResourceExhaustedError("")));
  EXPECT_TRUE(IsRetryable(absl::UnavailableError("")));
  EXPECT_FALSE(IsRetryable(absl::DeadlineExceededError("")));
  EXPECT_FALSE(IsRetryable(absl::InvalidArgumentError("")));
  int calls = 0;
  std::vector<absl::Duration> slept;
  RetryPolicy policy{
      .max_attempts = 10, .initial_backoff = absl::Seconds(1), .max_backoff = absl::Seconds(3)};
  absl::Status status =
      CallWithRetry([&] { return ++calls < 5 ? absl::UnavailableError("x") : absl::OkStatus(); },
                    policy, [&](absl::Duration d) { slept.push_back(d); });
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(slept, (std::vector<absl::Duration>{absl::Seconds(1), absl::Seconds(2),
                                                absl::Seconds(3), absl::Seconds(3)}));
}

// ImportWordNet against a mock server, on a small data file.
TEST_F(BulkImportTest, WordNetCreatesNamespaceLearnsSynsetsAndLinksThem) {
  std::filesystem::path dir =
      std::filesystem::path(testing::TempDir()) / absl::StrCat("wn_import_", ::getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "data.noun")
      << "  1 license header  \n"
      << "00001740 03 n 01 entity 0 000 | that which is perceived  \n"
      << "00001930 03 n 01 physical_entity 0 001 @ 00001740 n 0000 | physical  \n"
      << "00002000 05 n 01 dog 0 002 @ 00001930 n 0000 #p 00001740 n 0000 | a dog  \n"
      << "00002100 05 n 01 cat 0 001 @ 00001930 n 0000 | a cat  \n";

  EXPECT_CALL(stub_, GetNamespace(_, EqualsProto(R"pb(namespace: "wn")pb"), _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "no namespace wn")));
  EXPECT_CALL(stub_, CreateNamespace(_, EqualsProto(R"pb(name: "wn"
                                                   embedder: "hashing"
                                                   keyword_fields { attribute: "lemmas" weight: 3 b: 1 })pb"),
                               _))
      .WillOnce(Return(grpc::Status::OK));
  std::vector<std::string> learned;
  EXPECT_CALL(stub_, LearnBatch(_, _, _))
      .Times(2)
      .WillRepeatedly(Invoke([&](grpc::ClientContext*, const engram::v1::LearnBatchRequest& req,
                                 engram::v1::LearnBatchResponse* resp) {
        EXPECT_EQ(req.namespace_(), "wn");
        for (const auto& c : req.concepts()) {
          learned.push_back(c.id());
          EXPECT_FALSE(c.extract_associations().value());
          EXPECT_EQ(c.attributes().at("source"), "wordnet");
        }
        return Acknowledge(req, resp);
      }));
  // Two AssociateBatch calls of two edges; the batch holding the edge from the (pretend) missing
  // wn-n-00002100 is refused as a whole and re-sent one Associate per edge, so only that edge
  // fails.
  std::mutex mu;
  std::vector<std::string> edges;
  auto edge_name = [](const engram::v1::AssociateRequest& a) {
    return absl::StrCat(a.source(), ">", a.target(), ":",
                        engram::v1::AssociationType_Name(a.type()));
  };
  EXPECT_CALL(stub_, AssociateBatch(_, _, _))
      .Times(2)
      .WillRepeatedly(Invoke([&](grpc::ClientContext*,
                                 const engram::v1::AssociateBatchRequest& req,
                                 engram::v1::AssociateBatchResponse*) {
        EXPECT_EQ(req.namespace_(), "wn");
        EXPECT_EQ(req.associations_size(), 2);
        for (int i = 0; i < req.associations_size(); ++i) {
          if (req.associations(i).source() == "wn-n-00002100") {
            return grpc::Status(grpc::StatusCode::NOT_FOUND,
                                absl::StrCat("associations[", i, "].source: not found"));
          }
        }
        std::lock_guard<std::mutex> lock(mu);
        for (const auto& a : req.associations()) edges.push_back(edge_name(a));
        return grpc::Status::OK;
      }));
  EXPECT_CALL(stub_, Associate(_, _, _))
      .Times(2)
      .WillRepeatedly(Invoke([&](grpc::ClientContext*, const engram::v1::AssociateRequest& req,
                                 engram::v1::Association*) {
        EXPECT_EQ(req.namespace_(), "wn");
        if (req.source() == "wn-n-00002100") {
          return grpc::Status(grpc::StatusCode::NOT_FOUND, "concept wn-n-00002100 not found");
        }
        std::lock_guard<std::mutex> lock(mu);
        edges.push_back(edge_name(req));
        return grpc::Status::OK;
      }));

  WordNetImportOptions options;
  options.dir = dir.string();
  options.ns = "wn";
  options.bulk.batch = 2;
  std::ostringstream log;
  auto summary = ImportWordNet(client_, options, nullptr, &log, sleep_, now_);
  ASSERT_TRUE(summary.ok()) << summary.status();
  std::sort(learned.begin(), learned.end());
  EXPECT_EQ(learned, (std::vector<std::string>{"wn-n-00001740", "wn-n-00001930", "wn-n-00002000",
                                               "wn-n-00002100"}));
  std::sort(edges.begin(), edges.end());
  EXPECT_EQ(edges, (std::vector<std::string>{"wn-n-00001930>wn-n-00001740:HIERARCHICAL",
                                             "wn-n-00002000>wn-n-00001740:COMPOSITIONAL",
                                             "wn-n-00002000>wn-n-00001930:HIERARCHICAL"}));
  EXPECT_EQ(summary->concepts, 4u);
  EXPECT_EQ(summary->associations, 3u);
  EXPECT_EQ(summary->association_failures, 1u);
  EXPECT_EQ(summary->first_association_error.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(summary->first_association_error.message()),
              HasSubstr("wn-n-00002100 -> wn-n-00001930"));
  EXPECT_THAT(log.str(), HasSubstr("created namespace wn"));

  // With --limit 2 only the first two synsets and the edge between them; the namespace exists.
  EXPECT_CALL(stub_, GetNamespace(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_CALL(stub_, LearnBatch(_, _, _))
      .WillOnce(Invoke([&](grpc::ClientContext*, const engram::v1::LearnBatchRequest& req,
                           engram::v1::LearnBatchResponse* resp) {
        EXPECT_EQ(req.concepts_size(), 2);
        return Acknowledge(req, resp);
      }));
  EXPECT_CALL(stub_, AssociateBatch(_, EqualsProto(R"pb(
                                      namespace: "wn"
                                      associations {
                                        source: "wn-n-00001930"
                                        target: "wn-n-00001740"
                                        type: HIERARCHICAL
                                        confidence { value: 1 }
                                      })pb"),
                                    _))
      .WillOnce(Return(grpc::Status::OK));
  options.limit = 2;
  auto limited = ImportWordNet(client_, options, nullptr, &log, sleep_, now_);
  ASSERT_TRUE(limited.ok()) << limited.status();
  EXPECT_EQ(limited->concepts, 2u);
  EXPECT_EQ(limited->associations, 1u);
  std::filesystem::remove_all(dir);
}

TEST_F(BulkImportTest, AssociationLinesAreBatchedAndAFailureNamesTheLine) {
  std::istringstream in(
      "{\"source\":\"a\",\"target\":\"b\",\"type\":\"CAUSAL\"}\n"
      "\n"
      "{\"source\":\"b\",\"target\":\"c\",\"type\":\"TEMPORAL\",\"confidence\":0.5}\n"
      "{\"source\":\"c\",\"target\":\"d\",\"type\":\"SEMANTIC\",\"weight\":2}\n");
  std::vector<int> sizes;
  EXPECT_CALL(stub_, AssociateBatch(_, _, _))
      .Times(2)
      .WillRepeatedly(Invoke([&](grpc::ClientContext*,
                                 const engram::v1::AssociateBatchRequest& req,
                                 engram::v1::AssociateBatchResponse*) {
        EXPECT_EQ(req.namespace_(), "ns");
        sizes.push_back(req.associations_size());
        return grpc::Status::OK;
      }));
  BulkOptions options;
  options.batch = 2;
  options.parallel = 1;
  auto summary =
      ImportAssociationLines(client_, in, "edges.jsonl", 0, "ns", options, nullptr, sleep_, now_);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->associations, 3u);
  EXPECT_EQ(sizes, (std::vector<int>{2, 1}));

  // The server names associations[1] of the second batch: that is line 3 of the input.
  std::istringstream bad(
      "{\"source\":\"a\",\"target\":\"b\",\"type\":\"CAUSAL\"}\n"
      "{\"source\":\"a\",\"target\":\"c\",\"type\":\"CAUSAL\"}\n"
      "{\"source\":\"a\",\"target\":\"ghost\",\"type\":\"CAUSAL\"}\n");
  options.batch = 1;
  EXPECT_CALL(stub_, AssociateBatch(_, _, _))
      .WillOnce(Return(grpc::Status::OK))
      .WillOnce(Return(grpc::Status::OK))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                    "associations[0].target: concept 'ghost' not found")));
  auto failed =
      ImportAssociationLines(client_, bad, "edges.jsonl", 0, "ns", options, nullptr, sleep_, now_);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(failed.status().message()),
              HasSubstr("edges.jsonl line 3: target: concept 'ghost' not found"));
}

TEST_F(BulkImportTest, BadAssociationLinesStopBeforeTheirBatchIsSent) {
  std::istringstream in("{\"source\":\"a\",\"target\":\"b\"}\n");
  EXPECT_CALL(stub_, AssociateBatch(_, _, _)).Times(0);
  auto summary =
      ImportAssociationLines(client_, in, "e.jsonl", 0, "ns", BulkOptions(), nullptr, sleep_, now_);
  ASSERT_FALSE(summary.ok());
  EXPECT_THAT(std::string(summary.status().message()), HasSubstr("e.jsonl line 1: type: required"));
  std::istringstream unknown("{\"source\":\"a\",\"target\":\"b\",\"type\":\"CAUSAL\",\"x\":1}\n");
  summary = ImportAssociationLines(client_, unknown, "e.jsonl", 0, "ns", BulkOptions(), nullptr,
                                   sleep_, now_);
  ASSERT_FALSE(summary.ok());
  EXPECT_THAT(std::string(summary.status().message()), HasSubstr("e.jsonl line 1: not an Associate body"));
}

TEST_F(BulkImportTest, WordNetReadsEverythingBeforeWriting) {
  std::filesystem::path dir =
      std::filesystem::path(testing::TempDir()) / absl::StrCat("wn_bad_", ::getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "data.noun") << "00001740 03 n 01 entity 0 000 | ok  \n"
                                   << "00001930 03 n 01 broken 0 001 | gloss  \n";
  EXPECT_CALL(stub_, GetNamespace(_, _, _)).Times(0);
  EXPECT_CALL(stub_, LearnBatch(_, _, _)).Times(0);
  WordNetImportOptions options;
  options.dir = dir.string();
  auto summary = ImportWordNet(client_, options, nullptr, nullptr, sleep_, now_);
  ASSERT_FALSE(summary.ok());
  EXPECT_THAT(std::string(summary.status().message()),
              HasSubstr("data.noun:2: p_cnt: 1 pointers announced, 0 found"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace engram::cli
