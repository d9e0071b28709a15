// engram.hybrid.v1.Hybrid over a real gRPC server with a compute pool the test controls: a full
// pool answers RESOURCE_EXHAUSTED. Deterministic: the request occupying the pool is blocked inside
// its (mocked) storage Search on a latch the test releases; nothing depends on timing.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "engram/hybrid/v1/hybrid.grpc.pb.h"
#include "engram/storage/v1/storage_mock.grpc.pb.h"
#include "services/hybrid/service/compute_pool.h"
#include "services/hybrid/service/hybrid_core.h"
#include "services/hybrid/service/hybrid_service.h"

namespace engram::hybrid {
namespace {

namespace sv1 = storage::v1;
using ::testing::_;
using ::testing::Invoke;
using ::testing::Return;

class PoolFullTest : public ::testing::TestWithParam<size_t> {
 protected:
  void SetUp() override {
    pool_ = std::make_unique<ComputePool>(/*threads=*/1, /*queue_capacity=*/GetParam());
    ON_CALL(storage_, GetNamespace(_, _, _))
        .WillByDefault(Invoke([](grpc::ClientContext*, const sv1::GetNamespaceRequest& r, sv1::NamespaceInfo* out) {
          out->mutable_config()->set_name(r.name());
          out->mutable_config()->set_dimension(64);
          out->mutable_config()->set_embedder("hashing");
          return grpc::Status::OK;
        }));
    // The first Search (made by the first Reason, on the only compute thread) waits for the
    // latch; later ones answer at once.
    ON_CALL(storage_, Search(_, _, _))
        .WillByDefault(Invoke([this](grpc::ClientContext*, const sv1::SearchRequest&, sv1::SearchResponse*) {
          if (!first_search_.exchange(true)) {
            entered_.set_value();
            release_.get_future().wait();
          }
          return grpc::Status::OK;
        }));
    EXPECT_CALL(storage_, GetNamespace(_, _, _)).Times(::testing::AnyNumber());
    EXPECT_CALL(storage_, Search(_, _, _)).Times(::testing::AnyNumber());
    HybridCoreOptions options;
    options.pool = pool_.get();
    core_ = std::make_unique<HybridCore>(&storage_, &registry_, nullptr, nullptr, options);
    service_ = std::make_unique<HybridService>(core_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Hybrid::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_->Shutdown();
    server_.reset();
  }

  grpc::Status Reason(const std::string& query) {
    v1::ReasonRequest req;
    req.set_namespace_("default");
    req.set_query(query);
    v1::ReasonResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return stub_->Reason(&ctx, req, &resp);
  }
  grpc::Status Learn(const std::string& text) {
    v1::LearnRequest req;
    req.set_namespace_("default");
    req.add_items()->set_content(text);
    v1::LearnResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return stub_->Learn(&ctx, req, &resp);
  }
  grpc::Status Embed(const std::string& text) {
    v1::EmbedRequest req;
    req.set_embedder("hashing");
    req.add_texts(text);
    v1::EmbedResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return stub_->Embed(&ctx, req, &resp);
  }
  // Waits (without timing) until `n` tasks are queued behind the busy thread.
  void AwaitQueued(size_t n) {
    while (pool_->queued() < n) std::this_thread::yield();
  }

  std::atomic<bool> first_search_{false};
  std::promise<void> entered_, release_;
  ::testing::NiceMock<sv1::MockStorageStub> storage_;
  EmbedderRegistry registry_{EmbedderRegistryOptions{}};
  std::unique_ptr<ComputePool> pool_;
  std::unique_ptr<HybridCore> core_;
  std::unique_ptr<HybridService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Hybrid::Stub> stub_;
};

TEST_P(PoolFullTest, RequestsBeyondThreadsPlusQueueAreResourceExhausted) {
  const size_t queue = GetParam();
  // 1. A Reason takes the only compute thread and blocks in storage Search.
  std::future<grpc::Status> first = std::async(std::launch::async, [this] { return Reason("what is a dog"); });
  entered_.get_future().wait();
  EXPECT_EQ(pool_->busy(), 1u);

  // 2. With a queue slot, the next Reason waits in the queue.
  std::vector<std::future<grpc::Status>> queued;
  for (size_t i = 0; i < queue; ++i) {
    queued.push_back(std::async(std::launch::async, [this, i] { return Reason("queued " + std::to_string(i)); }));
    AwaitQueued(i + 1);
  }

  // 3. Everything else is refused at once, whatever the method.
  grpc::Status reason = Reason("what is a cat");
  EXPECT_EQ(reason.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << reason.error_message();
  EXPECT_THAT(reason.error_message(), ::testing::HasSubstr("compute pool full"));
  EXPECT_EQ(Learn("A cat is a kind of mammal.").error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Embed("cat").error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  // 4. Released, the admitted requests finish normally and the pool serves again.
  release_.set_value();
  grpc::Status s = first.get();
  EXPECT_TRUE(s.ok()) << s.error_message();
  for (auto& f : queued) {
    s = f.get();
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  s = Embed("cat");
  EXPECT_TRUE(s.ok()) << s.error_message();
}

INSTANTIATE_TEST_SUITE_P(Queue, PoolFullTest, ::testing::Values(size_t{0}, size_t{1}));

TEST(ComputePoolNestingTest, RunOnAWorkerRunsInlineInsteadOfDeadlocking) {
  ComputePool pool(1, 0);
  auto r = pool.Run<int>(
      [&pool]() -> absl::StatusOr<int> {
        EXPECT_TRUE(pool.OnWorkerThread());
        // The only thread is this one and the queue holds nothing: queueing would fail or hang.
        return pool.Run<int>([] { return absl::StatusOr<int>(7); }, absl::InfiniteFuture());
      },
      absl::InfiniteFuture());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 7);
  EXPECT_FALSE(pool.OnWorkerThread());
}

}  // namespace
}  // namespace engram::hybrid
