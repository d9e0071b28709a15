#include "services/api/grpc/engram_service.h"

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/cord.h"
#include "absl/time/clock.h"
#include "common/grpc/server_runner.h"
#include "common/status/error_detail.h"

namespace engram::api {
namespace {

using ::testing::_;
using ::testing::Invoke;
using ::testing::Return;

class MockApiCore : public ApiCore {
 public:
  MOCK_METHOD(absl::StatusOr<v1::Namespace>, CreateNamespace,
              (const RequestContext&, const v1::CreateNamespaceRequest&), (override));
  MOCK_METHOD(absl::StatusOr<v1::ListNamespacesResponse>, ListNamespaces,
              (const RequestContext&, const v1::ListNamespacesRequest&), (override));
  MOCK_METHOD(absl::StatusOr<v1::Namespace>, GetNamespace,
              (const RequestContext&, const v1::GetNamespaceRequest&), (override));
  MOCK_METHOD(absl::StatusOr<v1::DeleteNamespaceResponse>, DeleteNamespace,
              (const RequestContext&, const v1::DeleteNamespaceRequest&), (override));
  MOCK_METHOD(absl::StatusOr<v1::LearnResponse>, Learn,
              (const RequestContext&, const v1::LearnRequest&), (override));
  MOCK_METHOD(absl::StatusOr<v1::LearnBatchResponse>, LearnBatch,
              (const RequestContext&, const v1::LearnBatchRequest&), (override));
  MOCK_METHOD(absl::StatusOr<v1::Concept>, GetConcept,
              (const RequestContext&, const v1::GetConceptRequest&), (override));
  MOCK_METHOD(absl::StatusOr<v1::DeleteConceptResponse>, DeleteConcept,
              (const RequestContext&, const v1::DeleteConceptRequest&), (override));
  MOCK_METHOD(absl::StatusOr<v1::Association>, Associate,
              (const RequestContext&, const v1::AssociateRequest&), (override));
  MOCK_METHOD(absl::StatusOr<v1::NeighborsResponse>, Neighbors,
              (const RequestContext&, const v1::NeighborsRequest&), (override));
  MOCK_METHOD(absl::StatusOr<v1::FindPathsResponse>, FindPaths,
              (const RequestContext&, const v1::FindPathsRequest&), (override));
  MOCK_METHOD(absl::StatusOr<v1::SearchResponse>, Search,
              (const RequestContext&, const v1::SearchRequest&), (override));
  MOCK_METHOD(absl::StatusOr<v1::ReasonResponse>, Reason,
              (const RequestContext&, const v1::ReasonRequest&), (override));
  MOCK_METHOD(absl::StatusOr<v1::Stats>, GetStats,
              (const RequestContext&, const v1::GetStatsRequest&), (override));
  MOCK_METHOD(absl::StatusOr<v1::ListConceptsResponse>, ListConcepts,
              (const RequestContext&, const v1::ListConceptsRequest&), (override));
  MOCK_METHOD(absl::StatusOr<v1::Concept>, UpdateConcept,
              (const RequestContext&, const v1::UpdateConceptRequest&), (override));
  MOCK_METHOD(absl::StatusOr<v1::AssociateBatchResponse>, AssociateBatch,
              (const RequestContext&, const v1::AssociateBatchRequest&), (override));
  MOCK_METHOD(absl::StatusOr<v1::DeleteAssociationResponse>, DeleteAssociation,
              (const RequestContext&, const v1::DeleteAssociationRequest&), (override));
  MOCK_METHOD(absl::Status, ReasonStream,
              (const RequestContext&, const v1::ReasonRequest&, StreamSink<v1::ReasonEvent>*),
              (override));
  MOCK_METHOD(absl::Status, ExportNamespace,
              (const RequestContext&, const v1::ExportNamespaceRequest&,
               StreamSink<v1::ExportChunk>*),
              (override));
};

class EngramServiceTest : public ::testing::Test {
 protected:
  // Served as engram-api serves it: Search on a completion-queue thread, the rest on the pool.
  void SetUp() override {
    runner_.AddAsyncService(&service_, service_.async_driver());
    ASSERT_TRUE(runner_.Start().ok());
    stub_ = v1::Engram::NewStub(runner_.server()->InProcessChannel(grpc::ChannelArguments()));
  }
  void TearDown() override { runner_.Shutdown(); }

  ::testing::StrictMock<MockApiCore> core_;
  EngramService service_{&core_};
  grpcutil::ServerRunner runner_{{.grpc_address = "127.0.0.1:0"}};
  std::unique_ptr<v1::Engram::Stub> stub_;
};

TEST_F(EngramServiceTest, BuildsTheRequestContextFromTheCall) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  EXPECT_CALL(core_, GetStats(_, _))
      .WillOnce(Invoke([&](const RequestContext& ctx, const v1::GetStatsRequest&) {
        EXPECT_EQ(ctx.api_key, "secret-key-0123456789");
        EXPECT_EQ(ctx.correlation_id, "my-request-1");
        EXPECT_LT(absl::AbsDuration(ctx.deadline - deadline), absl::Seconds(1));
        v1::Stats stats;
        stats.set_concepts(7);
        return absl::StatusOr<v1::Stats>(stats);
      }));
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer secret-key-0123456789");
  context.AddMetadata("x-correlation-id", "my-request-1");
  context.set_deadline(absl::ToChronoTime(deadline));
  v1::Stats stats;
  grpc::Status s = stub_->GetStats(&context, {}, &stats);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(stats.concepts(), 7u);
  auto echoed = context.GetServerInitialMetadata().find("x-correlation-id");
  ASSERT_NE(echoed, context.GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(echoed->second.data(), echoed->second.size()), "my-request-1");
}

// Search is the async method: the same context, the answer sent from the queue's thread.
TEST_F(EngramServiceTest, SearchOnTheQueueThreadBuildsTheSameContextAndAnswers) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  EXPECT_CALL(core_, Search(_, _))
      .WillOnce(Invoke([&](const RequestContext& ctx, const v1::SearchRequest& request) {
        EXPECT_EQ(ctx.api_key, "secret-key-0123456789");
        EXPECT_EQ(ctx.correlation_id, "my-search-1");
        EXPECT_LT(absl::AbsDuration(ctx.deadline - deadline), absl::Seconds(1));
        EXPECT_EQ(request.query(), "what is a dog?");
        v1::SearchResponse found;
        found.add_results()->set_id("dog");
        return absl::StatusOr<v1::SearchResponse>(found);
      }));
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer secret-key-0123456789");
  context.AddMetadata("x-correlation-id", "my-search-1");
  context.set_deadline(absl::ToChronoTime(deadline));
  v1::SearchRequest request;
  request.set_query("what is a dog?");
  v1::SearchResponse response;
  grpc::Status s = stub_->Search(&context, request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(response.results_size(), 1);
  EXPECT_EQ(response.results(0).id(), "dog");
  auto echoed = context.GetServerInitialMetadata().find("x-correlation-id");
  ASSERT_NE(echoed, context.GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(echoed->second.data(), echoed->second.size()), "my-search-1");
}

TEST_F(EngramServiceTest, NoKeyAndNoDeadlineGiveEmptyKeyAndInfiniteDeadline) {
  EXPECT_CALL(core_, GetStats(_, _))
      .WillOnce(Invoke([](const RequestContext& ctx, const v1::GetStatsRequest&) {
        EXPECT_EQ(ctx.api_key, "");
        EXPECT_FALSE(ctx.correlation_id.empty());  // generated
        EXPECT_EQ(ctx.deadline, absl::InfiniteFuture());
        return absl::StatusOr<v1::Stats>(absl::UnauthenticatedError("missing API key"));
      }));
  grpc::ClientContext context;
  v1::Stats stats;
  grpc::Status s = stub_->GetStats(&context, {}, &stats);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(s.error_message(), "missing API key");
}

TEST_F(EngramServiceTest, ResourceExhaustedCarriesRetryAfterTrailer) {
  absl::Status limited = absl::ResourceExhaustedError("rate limit of key 'k' exceeded (1/s)");
  limited = status::WithDetail(std::move(limited), status::RateLimitedDetail("key", 7));
  EXPECT_CALL(core_, Search(_, _)).WillOnce(Return(absl::StatusOr<v1::SearchResponse>(limited)));
  grpc::ClientContext context;
  v1::SearchResponse response;
  grpc::Status s = stub_->Search(&context, {}, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  auto retry = context.GetServerTrailingMetadata().find("retry-after");
  ASSERT_NE(retry, context.GetServerTrailingMetadata().end());
  EXPECT_EQ(std::string(retry->second.data(), retry->second.size()), "7");
}

TEST_F(EngramServiceTest, InternalDetailsAreHidden) {
  EXPECT_CALL(core_, Learn(_, _))
      .WillOnce(Return(
          absl::StatusOr<v1::LearnResponse>(absl::InternalError("pointer 0xdeadbeef was null"))));
  grpc::ClientContext context;
  v1::LearnResponse response;
  grpc::Status s = stub_->Learn(&context, {}, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(s.error_message().find("deadbeef"), std::string::npos);
}

TEST_F(EngramServiceTest, StreamsCarryEveryMessageThenTheStatus) {
  EXPECT_CALL(core_, ReasonStream(_, _, _))
      .WillOnce(Invoke([](const RequestContext& ctx, const v1::ReasonRequest& request,
                          StreamSink<v1::ReasonEvent>* sink) {
        EXPECT_EQ(ctx.correlation_id, "stream-1");
        EXPECT_EQ(request.query(), "what is a dog?");
        v1::ReasonEvent seeds;
        seeds.mutable_seeds()->add_support()->set_id("dog");
        EXPECT_TRUE(sink->Write(seeds));
        v1::ReasonEvent path;
        path.mutable_path()->mutable_path()->add_concept_ids("dog");
        EXPECT_TRUE(sink->Write(path));
        EXPECT_FALSE(sink->ClientGone());
        return absl::UnavailableError("hybrid unavailable: gone");
      }));
  grpc::ClientContext context;
  context.AddMetadata("x-correlation-id", "stream-1");
  v1::ReasonRequest request;
  request.set_query("what is a dog?");
  auto reader = stub_->ReasonStream(&context, request);
  v1::ReasonEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.seeds().support(0).id(), "dog");
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.path().path().concept_ids(0), "dog");
  EXPECT_FALSE(reader->Read(&event));
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "hybrid unavailable: gone");
}

TEST_F(EngramServiceTest, AStreamSeesItsClientGoAway) {
  absl::Notification first_written, cancelled;
  EXPECT_CALL(core_, ExportNamespace(_, _, _))
      .WillOnce(Invoke([&](const RequestContext&, const v1::ExportNamespaceRequest&,
                           StreamSink<v1::ExportChunk>* sink) {
        v1::ExportChunk chunk;
        chunk.add_concepts()->set_id("a");
        EXPECT_TRUE(sink->Write(chunk));
        first_written.Notify();
        // The client cancels after reading the first chunk; no timing involved.
        while (!sink->ClientGone()) absl::SleepFor(absl::Milliseconds(5));
        cancelled.Notify();
        return absl::CancelledError("the client went away");
      }));
  grpc::ClientContext context;
  v1::ExportNamespaceRequest request;
  request.set_namespace_("n");
  auto reader = stub_->ExportNamespace(&context, request);
  v1::ExportChunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));
  EXPECT_EQ(chunk.concepts(0).id(), "a");
  first_written.WaitForNotification();
  context.TryCancel();
  cancelled.WaitForNotification();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

}  // namespace
}  // namespace engram::api
