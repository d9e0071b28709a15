#include "common/grpc/server_runner.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc/async_stream.h"
#include "common/grpc/async_unary.h"
#include "common/grpc/call_canceller.h"
#include "common/grpc/correlation.h"
#include "common/logging/correlation.h"
#include "common/metrics/metrics.h"
#include "common/sync/mutex.h"
#include "engram/testing/v1/echo.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"

namespace engram::grpcutil {
namespace {

namespace echo = ::engram::testing::v1;
using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;

constexpr char kServiceName[] = "engram.testing.v1.Echo";

// Polls `condition` until it holds or a generous bound passes; returns whether it held.
template <typename Condition>
bool Eventually(Condition condition) {
  for (int i = 0; i < 10000; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return condition();
}

class EchoService;

template <typename Calls>
int CountDone(const Calls& calls) {
  int n = 0;
  for (const auto& call : calls) n += call->done.load() ? 1 : 0;
  return n;
}

// A call that stays in flight until released or cancelled.
class BlockingReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit BlockingReactor(EchoService* service) : service_(service) {}
  void Release() { FinishOnce(grpc::Status::OK); }
  void OnCancel() override { FinishOnce(grpc::Status::CANCELLED); }
  void OnDone() override;

 private:
  void FinishOnce(grpc::Status status) {
    if (!finished_.exchange(true)) Finish(std::move(status));
  }
  EchoService* const service_;
  std::atomic<bool> finished_{false};
};

class EchoService final : public echo::Echo::CallbackService {
 public:
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const echo::EchoRequest* request,
                                 echo::EchoResponse* response) override {
    RpcScope scope(context);
    response->set_message(request->message());
    // What the logging scope carries is what log lines would carry.
    response->set_correlation_id(std::string(logging::CurrentCorrelationId()));
    if (request->block()) {
      auto* reactor = new BlockingReactor(this);
      sync::MutexLock lock(&mu_);
      blocked_.insert(reactor);
      blocked_changed_.SignalAll();
      return reactor;
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (request->fail_with_code() != 0) {
      reactor->Finish(grpc::Status(static_cast<grpc::StatusCode>(request->fail_with_code()),
                                   "requested failure"));
    } else {
      reactor->Finish(grpc::Status::OK);
    }
    return reactor;
  }

  void WaitForBlocked(size_t n) {
    sync::MutexLock lock(&mu_);
    while (blocked_.size() < n) blocked_changed_.Wait(&mu_);
  }

  void ReleaseAll() {
    sync::MutexLock lock(&mu_);
    for (BlockingReactor* reactor : blocked_) reactor->Release();
  }

  void Done(BlockingReactor* reactor) {
    sync::MutexLock lock(&mu_);
    blocked_.erase(reactor);
  }

 private:
  sync::Mutex mu_;
  sync::CondVar blocked_changed_;
  std::set<BlockingReactor*> blocked_ ABSL_GUARDED_BY(mu_);
};

void BlockingReactor::OnDone() {
  service_->Done(this);
  delete this;
}

class ServerRunnerTest : public ::testing::Test {
 protected:
  void StartRunner(ServerRunner::Options options = {}) {
    options.service_name = kServiceName;
    options.grpc_address = "127.0.0.1:0";
    options.metrics = &registry_;
    runner_ = std::make_unique<ServerRunner>(options);
    runner_->AddService(&service_);
    ASSERT_TRUE(runner_->Start().ok());
    ASSERT_GT(runner_->port(), 0);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", runner_->port()),
                                   grpc::InsecureChannelCredentials());
    health_ = Health::NewStub(channel_);
    echo_ = echo::Echo::NewStub(channel_);
  }

  void TearDown() override {
    service_.ReleaseAll();
    if (runner_) runner_->Shutdown();
  }

  grpc::Status Check(const std::string& service, HealthCheckResponse::ServingStatus* status) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    grpc::Status result = health_->Check(&context, request, &response);
    *status = response.status();
    return result;
  }

  grpc::Status CallEcho(const echo::EchoRequest& request, echo::EchoResponse* response,
                        grpc::ClientContext* context) {
    if (context->deadline() == std::chrono::system_clock::time_point::max()) {
      context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    }
    return echo_->Echo(context, request, response);
  }

  static std::vector<std::string> ServerMetadata(const grpc::ClientContext& context,
                                                 const std::string& key) {
    std::vector<std::string> values;
    auto [begin, end] = context.GetServerInitialMetadata().equal_range(key);
    for (auto it = begin; it != end; ++it)
      values.emplace_back(it->second.data(), it->second.size());
    return values;
  }

  metrics::Registry registry_;
  EchoService service_;
  std::unique_ptr<ServerRunner> runner_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Health::Stub> health_;
  std::unique_ptr<echo::Echo::Stub> echo_;
};

TEST_F(ServerRunnerTest, CallCancellerCancelsTrackedCallsAndLaterOnes) {
  StartRunner();
  auto canceller = std::make_shared<CallCanceller>();
  grpc::Status blocked_status;
  std::thread caller([&] {
    grpc::ClientContext context;
    CallCanceller::Tracked tracked = canceller->Track(&context);
    echo::EchoRequest request;
    request.set_block(true);
    echo::EchoResponse response;
    blocked_status = echo_->Echo(&context, request, &response);
  });
  service_.WaitForBlocked(1);  // the call is in flight on the server
  EXPECT_FALSE(canceller->cancelled());
  canceller->Cancel();
  caller.join();
  EXPECT_EQ(blocked_status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(canceller->cancelled());

  // A call started after Cancel() is cancelled at once (it never blocks).
  grpc::ClientContext late;
  CallCanceller::Tracked tracked = canceller->Track(&late);
  echo::EchoRequest request;
  request.set_block(true);
  echo::EchoResponse response;
  EXPECT_EQ(echo_->Echo(&late, request, &response).error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(ServerRunnerTest, HealthIsNotServingUntilOwnerSaysReady) {
  StartRunner();
  HealthCheckResponse::ServingStatus status;
  ASSERT_TRUE(Check("", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(Check(kServiceName, &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Check("no.such.Service", &status).error_code(), grpc::StatusCode::NOT_FOUND);

  runner_->SetServing(true);
  ASSERT_TRUE(Check("", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::SERVING);
  ASSERT_TRUE(Check(kServiceName, &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::SERVING);

  runner_->SetServing(false);
  ASSERT_TRUE(Check("", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::NOT_SERVING);

  runner_->SetServing(true);
  runner_->Shutdown();
  EXPECT_EQ(runner_->health().GetStatus(""), HealthCheckResponse::NOT_SERVING);
  runner_->SetServing(true);  // Ignored after shutdown.
  EXPECT_EQ(runner_->health().GetStatus(kServiceName), HealthCheckResponse::NOT_SERVING);
}

TEST_F(ServerRunnerTest, HealthWatchStreamsChangesAndEndsAtShutdown) {
  StartRunner({.drain_timeout = absl::Seconds(60)});
  grpc::ClientContext context;
  HealthCheckRequest request;
  request.set_service(kServiceName);
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader =
      health_->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);

  runner_->SetServing(true);
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

  // Shutdown ends the watch itself rather than waiting out the 60 s drain.
  runner_->Shutdown();
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(reader->Read(&response));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(), "server shutting down");
}

TEST_F(ServerRunnerTest, HealthWatchOfUnknownServiceReportsServiceUnknown) {
  StartRunner();
  grpc::ClientContext context;
  HealthCheckRequest request;
  request.set_service("not.Registered");
  auto reader = health_->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVICE_UNKNOWN);
  context.TryCancel();
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

// Lists services through the reflection API with a generic stub; the reflection messages come
// from the descriptors libgrpc++_reflection registers in the generated pool.
std::vector<std::string> ListServicesByReflection(const std::shared_ptr<grpc::Channel>& channel) {
  namespace pb = google::protobuf;
  const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool();
  const pb::Descriptor* request_type =
      pool->FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionRequest");
  const pb::Descriptor* response_type =
      pool->FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionResponse");
  EXPECT_NE(request_type, nullptr);
  EXPECT_NE(response_type, nullptr);
  if (request_type == nullptr || response_type == nullptr) return {};
  pb::DynamicMessageFactory factory(pool);
  std::unique_ptr<pb::Message> request(factory.GetPrototype(request_type)->New());
  request->GetReflection()->SetString(request.get(), request_type->FindFieldByName("list_services"),
                                      "*");
  std::string request_bytes;
  request->SerializeToString(&request_bytes);

  grpc::GenericStub stub(channel);
  grpc::CompletionQueue queue;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &queue);
  const auto step = [&queue](intptr_t expected_tag) {
    void* tag = nullptr;
    bool ok = false;
    EXPECT_TRUE(queue.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag), expected_tag);
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  EXPECT_TRUE(step(1));
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer outgoing(&slice, 1);
  call->Write(outgoing, reinterpret_cast<void*>(2));
  EXPECT_TRUE(step(2));
  call->WritesDone(reinterpret_cast<void*>(3));
  EXPECT_TRUE(step(3));
  grpc::ByteBuffer incoming;
  call->Read(&incoming, reinterpret_cast<void*>(4));
  EXPECT_TRUE(step(4));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  EXPECT_TRUE(step(5));
  EXPECT_TRUE(status.ok()) << status.error_message();
  queue.Shutdown();
  void* ignored_tag;
  bool ignored_ok;
  while (queue.Next(&ignored_tag, &ignored_ok)) {
  }

  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(incoming.Dump(&slices).ok());
  std::string response_bytes;
  for (const grpc::Slice& s : slices) {
    response_bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  std::unique_ptr<pb::Message> response(factory.GetPrototype(response_type)->New());
  EXPECT_TRUE(response->ParseFromString(response_bytes));
  const pb::Message& list = response->GetReflection()->GetMessage(
      *response, response_type->FindFieldByName("list_services_response"));
  const pb::FieldDescriptor* service_field = list.GetDescriptor()->FindFieldByName("service");
  std::vector<std::string> names;
  for (int i = 0; i < list.GetReflection()->FieldSize(list, service_field); ++i) {
    const pb::Message& service = list.GetReflection()->GetRepeatedMessage(list, service_field, i);
    names.push_back(service.GetReflection()->GetString(
        service, service.GetDescriptor()->FindFieldByName("name")));
  }
  return names;
}

TEST_F(ServerRunnerTest, ReflectionListsServices) {
  StartRunner();
  const std::vector<std::string> services = ListServicesByReflection(channel_);
  EXPECT_THAT(services, ::testing::IsSupersetOf(
                            {std::string(kServiceName), std::string("grpc.health.v1.Health")}));
}

TEST_F(ServerRunnerTest, CorrelationIdFromClientIsUsedAndEchoed) {
  StartRunner();
  grpc::ClientContext context;
  context.AddMetadata(kCorrelationIdMetadataKey, "client-cid-1");
  echo::EchoRequest request;
  request.set_message("hi");
  echo::EchoResponse response;
  ASSERT_TRUE(CallEcho(request, &response, &context).ok());
  EXPECT_EQ(response.message(), "hi");
  EXPECT_EQ(response.correlation_id(), "client-cid-1");
  EXPECT_THAT(ServerMetadata(context, kCorrelationIdMetadataKey),
              ::testing::ElementsAre("client-cid-1"));
}

TEST_F(ServerRunnerTest, CorrelationIdIsGeneratedWhenAbsentOrUnsafe) {
  StartRunner();
  for (const char* supplied : {"", "has space", "x\"y"}) {
    grpc::ClientContext context;
    if (*supplied != '\0') context.AddMetadata(kCorrelationIdMetadataKey, supplied);
    echo::EchoRequest request;
    echo::EchoResponse response;
    ASSERT_TRUE(CallEcho(request, &response, &context).ok());
    const std::vector<std::string> sent = ServerMetadata(context, kCorrelationIdMetadataKey);
    ASSERT_EQ(sent.size(), 1u) << "exactly one id in the response metadata";
    EXPECT_TRUE(logging::IsValidCorrelationId(sent[0])) << sent[0];
    EXPECT_NE(sent[0], supplied);
    // The interceptor and the handler's RpcScope agree on the generated id.
    EXPECT_EQ(response.correlation_id(), sent[0]);
  }
}

TEST_F(ServerRunnerTest, PrepareClientContextForwardsCurrentIdAndDeadline) {
  StartRunner();
  logging::ScopedCorrelationId scope("downstream-cid");
  grpc::ClientContext context;
  const auto before = std::chrono::system_clock::now();
  PrepareClientContext(&context, absl::Seconds(30));
  EXPECT_GE(context.deadline(), before + std::chrono::seconds(30));
  EXPECT_LT(context.deadline(), std::chrono::system_clock::time_point::max());
  echo::EchoRequest request;
  echo::EchoResponse response;
  ASSERT_TRUE(echo_->Echo(&context, request, &response).ok());
  EXPECT_EQ(response.correlation_id(), "downstream-cid");

  grpc::ClientContext no_deadline;
  PrepareClientContext(&no_deadline, absl::InfiniteDuration(), "explicit");
  EXPECT_EQ(no_deadline.deadline(), std::chrono::system_clock::time_point::max());
}

TEST_F(ServerRunnerTest, MetricsCountCallsByCode) {
  StartRunner();
  for (int code : {0, 0, static_cast<int>(grpc::StatusCode::NOT_FOUND),
                   static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT)}) {
    grpc::ClientContext context;
    echo::EchoRequest request;
    request.set_fail_with_code(code);
    echo::EchoResponse response;
    EXPECT_EQ(static_cast<int>(CallEcho(request, &response, &context).error_code()), code);
  }
  const std::string text = registry_.Serialize();
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{service=\"engram.testing.v1.Echo\","
                              "method=\"Echo\",code=\"OK\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{service=\"engram.testing.v1.Echo\","
                              "method=\"Echo\",code=\"NOT_FOUND\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{service=\"engram.testing.v1.Echo\","
                              "method=\"Echo\",code=\"INVALID_ARGUMENT\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handling_seconds_count{service=\"engram.testing.v1."
                              "Echo\",method=\"Echo\"} 4\n"));
}

TEST_F(ServerRunnerTest, UnknownMethodsDoNotCreateSeries) {
  StartRunner();
  grpc::GenericStub stub(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::CompletionQueue queue;
  grpc::ByteBuffer request;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> call =
      stub.PrepareUnaryCall(&context, "/made.up.Service/Random123", request, &queue);
  call->StartCall();
  grpc::ByteBuffer reply;
  grpc::Status status;
  call->Finish(&reply, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  ASSERT_TRUE(queue.Next(&tag, &ok));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  EXPECT_THAT(registry_.Serialize(), ::testing::Not(HasSubstr("Random123")));
}

TEST_F(ServerRunnerTest, ShutdownDrainsInFlightCall) {
  StartRunner({.drain_timeout = absl::Seconds(60)});
  runner_->SetServing(true);
  grpc::Status in_flight_status;
  echo::EchoResponse in_flight_response;
  std::thread client([&] {
    grpc::ClientContext context;
    echo::EchoRequest request;
    request.set_message("slow");
    request.set_block(true);
    in_flight_status = CallEcho(request, &in_flight_response, &context);
  });
  service_.WaitForBlocked(1);

  std::atomic<bool> shutdown_returned{false};
  std::thread shutdown([&] {
    runner_->Shutdown();
    shutdown_returned = true;
  });
  ASSERT_TRUE(Eventually(
      [&] { return runner_->health().GetStatus("") == HealthCheckResponse::NOT_SERVING; }));
  EXPECT_FALSE(shutdown_returned.load()) << "Shutdown must wait for the in-flight call";

  service_.ReleaseAll();
  client.join();
  shutdown.join();
  EXPECT_TRUE(in_flight_status.ok()) << in_flight_status.error_message();
  EXPECT_EQ(in_flight_response.message(), "slow");

  // The server no longer takes calls.
  grpc::ClientContext late;
  late.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  echo::EchoRequest request;
  echo::EchoResponse response;
  EXPECT_FALSE(echo_->Echo(&late, request, &response).ok());
}

TEST_F(ServerRunnerTest, ShutdownCancelsCallsThatOutliveTheDrainTimeout) {
  StartRunner({.drain_timeout = absl::Milliseconds(50)});
  grpc::Status status;
  std::thread client([&] {
    grpc::ClientContext context;
    echo::EchoRequest request;
    request.set_block(true);
    echo::EchoResponse response;
    status = CallEcho(request, &response, &context);
  });
  service_.WaitForBlocked(1);
  runner_->Shutdown();  // Returns once the blocked call has been cancelled.
  client.join();
  EXPECT_FALSE(status.ok());
}

TEST_F(ServerRunnerTest, StartErrors) {
  StartRunner();
  EXPECT_EQ(runner_->Start().code(), absl::StatusCode::kFailedPrecondition);
  ServerRunner same_port({.grpc_address = absl::StrCat("127.0.0.1:", runner_->port())});
  EXPECT_EQ(same_port.Start().code(), absl::StatusCode::kUnavailable);
  ServerRunner after_shutdown({.grpc_address = "127.0.0.1:0"});
  after_shutdown.Shutdown();
  EXPECT_EQ(after_shutdown.Start().code(), absl::StatusCode::kFailedPrecondition);
}

// A sync Echo whose blocking calls hold their thread until released.
class SyncEchoService final : public echo::Echo::Service {
 public:
  grpc::Status Echo(grpc::ServerContext*, const echo::EchoRequest* request,
                    echo::EchoResponse* response) override {
    response->set_message(request->message());
    if (!request->block()) return grpc::Status::OK;
    sync::MutexLock lock(&mu_);
    ++blocked_;
    while (!released_) released_cv_.Wait(&mu_);
    return grpc::Status::OK;
  }
  int blocked() {
    sync::MutexLock lock(&mu_);
    return blocked_;
  }
  void Release() {
    sync::MutexLock lock(&mu_);
    released_ = true;
    released_cv_.SignalAll();
  }

 private:
  sync::Mutex mu_;
  sync::CondVar released_cv_;
  int blocked_ ABSL_GUARDED_BY(mu_) = 0;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

// Overload (issue 14): with max_threads, calls past the thread budget are refused at once with
// RESOURCE_EXHAUSTED rather than queued behind blocked ones, the calls already admitted finish,
// and once threads are free again calls are admitted again.
TEST(ServerRunnerThreadsTest, CallsPastTheThreadBudgetAreRefusedFastAndTheAdmittedOnesFinish) {
  SyncEchoService service;
  ServerRunner runner({.grpc_address = "127.0.0.1:0", .min_pollers = 1, .max_pollers = 2,
                       .max_threads = 8});
  runner.AddService(&service);
  ASSERT_TRUE(runner.Start().ok());
  auto stub = echo::Echo::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", runner.port()),
                                                      grpc::InsecureChannelCredentials()));
  struct Pending {
    grpc::ClientContext context;
    echo::EchoRequest request;
    echo::EchoResponse response;
    grpc::Status status;
    std::atomic<bool> done{false};
  };
  // Blocking calls, one after another, until one is refused: the budget is 8 threads, so that
  // happens within a few dozen calls; the refused one comes back without waiting for a release.
  std::vector<std::unique_ptr<Pending>> calls;
  bool refused = false;
  for (int i = 0; i < 64 && !refused; ++i) {
    auto call = std::make_unique<Pending>();
    call->request.set_block(true);
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    Pending* p = call.get();
    stub->async()->Echo(&p->context, &p->request, &p->response, [p](grpc::Status s) {
      p->status = std::move(s);
      p->done = true;
    });
    calls.push_back(std::move(call));
    // Wait until this call is either running in a handler or refused.
    ASSERT_TRUE(Eventually([&] {
      return p->done.load() || service.blocked() + CountDone(calls) >= static_cast<int>(calls.size());
    }));
    if (p->done) {
      EXPECT_EQ(p->status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << p->status.error_message();
      refused = true;
    }
  }
  EXPECT_TRUE(refused) << service.blocked() << " calls admitted and none refused";
  EXPECT_LE(service.blocked(), 8);
  service.Release();
  for (auto& call : calls) {
    ASSERT_TRUE(Eventually([&] { return call->done.load(); }));
    EXPECT_TRUE(call->status.ok() || call->status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED)
        << call->status.error_message();
  }
  // Threads free again: a call is admitted.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  echo::EchoRequest request;
  request.set_message("again");
  echo::EchoResponse response;
  grpc::Status s = stub->Echo(&context, request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.message(), "again");
  runner.Shutdown();
}

TEST(ServerRunnerThreadsTest, MaxThreadsMustLeaveRoomBeyondThePollers) {
  ServerRunner runner({.grpc_address = "127.0.0.1:0", .max_pollers = 4, .max_threads = 4});
  EXPECT_EQ(runner.Start().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TerminationSignalsTest, WaitReturnsPendingSignal) {
  ServerRunner::BlockTerminationSignals();
  // Thread-directed, so only this (blocking) thread can receive it.
  ASSERT_EQ(pthread_kill(pthread_self(), SIGTERM), 0);
  EXPECT_EQ(ServerRunner::WaitForTermination(), SIGTERM);
}

TEST(TerminationSignalsTest, WaitingThreadWakesOnSignal) {
  ServerRunner::BlockTerminationSignals();  // Inherited by the thread below.
  std::atomic<int> received{0};
  std::thread waiter([&] { received = ServerRunner::WaitForTermination(); });
  ASSERT_EQ(pthread_kill(waiter.native_handle(), SIGINT), 0);
  waiter.join();
  EXPECT_EQ(received.load(), SIGINT);
}

}  // namespace
}  // namespace engram::grpcutil

namespace engram::grpcutil {
namespace {

// The names of this process's threads (/proc/self/task/*/comm).
std::vector<std::string> OwnThreadNames() {
  std::vector<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) names.push_back(name);
  }
  return names;
}

bool HasThread(const std::string& name) {
  const std::vector<std::string> names = OwnThreadNames();
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Echo as an async service (AsyncUnaryServer): answered inline on the queue thread, or, for
// `block`, parked until Release() finishes it from another thread.
class AsyncEcho {
 public:
  using Call = AsyncUnaryCall<echo::EchoRequest, echo::EchoResponse>;
  using StreamCall = AsyncBidiCall<echo::EchoRequest, echo::EchoResponse>;

  AsyncEcho() {
    async_.AddMethod<echo::EchoRequest, echo::EchoResponse>(
        [this](grpc::ServerContext* c, echo::EchoRequest* r, grpc::ServerAsyncResponseWriter<echo::EchoResponse>* w,
               grpc::ServerCompletionQueue* cq, void* tag) { service_.RequestEcho(c, r, w, cq, cq, tag); },
        [this](Call* call) {
          RpcScope scope(call->context());
          call->response()->set_message(call->request().message());
          call->response()->set_correlation_id(std::string(logging::CurrentCorrelationId()));
          char name[32] = {};
          pthread_getname_np(pthread_self(), name, sizeof name);
          {
            sync::MutexLock lock(&mu_);
            handler_threads_.insert(name);
            if (call->request().block()) {
              parked_.push_back(call);
              parked_changed_.SignalAll();
              return;
            }
          }
          if (call->request().fail_with_code() != 0) {
            call->Finish(grpc::Status(static_cast<grpc::StatusCode>(call->request().fail_with_code()), "requested failure"));
          } else {
            call->Finish(grpc::Status::OK);
          }
        });
    AddBidiMethod<echo::EchoRequest, echo::EchoResponse>(
        &async_,
        [this](grpc::ServerContext* c,
               grpc::ServerAsyncReaderWriter<echo::EchoResponse, echo::EchoRequest>* stream,
               grpc::ServerCompletionQueue* cq,
               void* tag) { service_.RequestEchoStream(c, stream, cq, cq, tag); },
        [this](StreamCall*, echo::EchoRequest* request, StreamCall::Answer answer) {
          echo::EchoResponse response;
          response.set_message(request->message());
          response.set_correlation_id(std::string(logging::CurrentCorrelationId()));
          char name[32] = {};
          pthread_getname_np(pthread_self(), name, sizeof name);
          sync::MutexLock lock(&mu_);
          handler_threads_.insert(name);
          if (request->block()) {
            most_stream_unanswered_ = std::max(most_stream_unanswered_, ++stream_unanswered_);
            parked_answers_.emplace_back(std::move(response), std::move(answer));
            parked_changed_.SignalAll();
            return;
          }
          std::move(answer)(std::move(response));
        },
        kMaxStreamUnanswered);
  }

  static constexpr size_t kMaxStreamUnanswered = 4;

  grpc::Service* service() { return &service_; }
  AsyncServiceDriver* driver() { return &async_; }

  // EchoStream's answers parked (`block`), and the most requests its handler ever had unanswered.
  void WaitForParkedAnswers(size_t n) {
    sync::MutexLock lock(&mu_);
    while (parked_answers_.size() < n) parked_changed_.Wait(&mu_);
  }
  // Answers every parked stream request, the newest first, from a thread that is not a queue
  // thread; returns how many.
  size_t ReleaseAnswersNewestFirst() {
    std::vector<std::pair<echo::EchoResponse, StreamCall::Answer>> answers;
    {
      sync::MutexLock lock(&mu_);
      answers.swap(parked_answers_);
      stream_unanswered_ -= answers.size();
    }
    std::thread([&] {
      for (auto it = answers.rbegin(); it != answers.rend(); ++it) {
        std::move(it->second)(std::move(it->first));
      }
    }).join();
    return answers.size();
  }
  size_t most_stream_unanswered() {
    sync::MutexLock lock(&mu_);
    return most_stream_unanswered_;
  }

  void WaitForParked(size_t n) {
    sync::MutexLock lock(&mu_);
    while (parked_.size() < n) parked_changed_.Wait(&mu_);
  }
  // Finishes every parked call from a thread that is not a queue thread.
  void ReleaseFromAnotherThread() {
    std::vector<Call*> calls;
    {
      sync::MutexLock lock(&mu_);
      calls.swap(parked_);
    }
    std::thread([&] {
      for (Call* call : calls) call->FinishOnQueue(grpc::Status::OK);
    }).join();
  }
  std::set<std::string> handler_threads() {
    sync::MutexLock lock(&mu_);
    return handler_threads_;
  }

 private:
  echo::Echo::AsyncService service_;
  AsyncUnaryServer async_;
  sync::Mutex mu_;
  sync::CondVar parked_changed_;
  std::vector<Call*> parked_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> handler_threads_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<echo::EchoResponse, StreamCall::Answer>> parked_answers_ ABSL_GUARDED_BY(mu_);
  size_t stream_unanswered_ ABSL_GUARDED_BY(mu_) = 0;
  size_t most_stream_unanswered_ ABSL_GUARDED_BY(mu_) = 0;
};

std::unique_ptr<ServerRunner> StartAsyncRunner(AsyncEcho* echo_service, metrics::Registry* registry,
                                              int max_async_calls = 0) {
  auto runner = std::make_unique<ServerRunner>(ServerRunner::Options{.service_name = kServiceName,
                                                                     .grpc_address = "127.0.0.1:0",
                                                                     .max_async_calls = max_async_calls,
                                                                     .metrics = registry});
  runner->AddAsyncService(echo_service->service(), echo_service->driver());
  EXPECT_TRUE(runner->Start().ok());
  return runner;
}

std::unique_ptr<echo::Echo::Stub> EchoStub(int port) {
  return echo::Echo::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
}

// The point of AsyncUnaryServer: no gRPC "nexting" threads (the 100 ms stall of gRPC 1.51's
// callback API, see async_unary.h) and no hand-off, each handler runs on a queue thread. The
// check is by thread names, not timing; it first proves it can see nexting threads: a callback
// service starts them, and they are gone once that server is shut down.
TEST(AsyncUnaryServerTest, HandlesCallsInlineOnQueueThreadsAndStartsNoNextingThreads) {
  metrics::Registry registry;
  {
    EchoService callback_service;
    ServerRunner callback_runner({.service_name = kServiceName, .grpc_address = "127.0.0.1:0"});
    callback_runner.AddService(&callback_service);
    ASSERT_TRUE(callback_runner.Start().ok());
    EXPECT_TRUE(Eventually([] { return HasThread("nexting_thread"); }));
    callback_runner.Shutdown();
  }
  ASSERT_FALSE(HasThread("nexting_thread"));  // joined when the last callback server went away

  AsyncEcho echo_service;
  std::unique_ptr<ServerRunner> runner = StartAsyncRunner(&echo_service, &registry);
  auto stub = EchoStub(runner->port());
  for (int i = 0; i < 20; ++i) {
    grpc::ClientContext context;
    context.AddMetadata(kCorrelationIdMetadataKey, absl::StrCat("async-", i));
    echo::EchoRequest request;
    request.set_message(absl::StrCat("hello ", i));
    echo::EchoResponse response;
    ASSERT_TRUE(stub->Echo(&context, request, &response).ok());
    EXPECT_EQ(response.message(), absl::StrCat("hello ", i));
    EXPECT_EQ(response.correlation_id(), absl::StrCat("async-", i));
  }
  {
    grpc::ClientContext context;
    echo::EchoRequest request;
    request.set_fail_with_code(grpc::StatusCode::NOT_FOUND);
    echo::EchoResponse response;
    EXPECT_EQ(stub->Echo(&context, request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  for (const std::string& name : echo_service.handler_threads()) {
    EXPECT_THAT(name, ::testing::StartsWith("grpc_async_"));
  }
  EXPECT_FALSE(HasThread("nexting_thread"));
  // The interceptor (metrics, correlation ids) sees async calls too.
  EXPECT_THAT(registry.Serialize(), HasSubstr("grpc_server_handled_total"));
  runner->Shutdown();
}

// A call finished later from another thread (as the storage writer does) is answered; Shutdown
// waits for such calls instead of shutting their queues under them.
TEST(AsyncUnaryServerTest, CallsFinishedFromAnotherThreadAreAnsweredAndShutdownWaitsForThem) {
  metrics::Registry registry;
  AsyncEcho echo_service;
  std::unique_ptr<ServerRunner> runner = StartAsyncRunner(&echo_service, &registry);
  auto stub = EchoStub(runner->port());
  auto health = Health::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", runner->port()), grpc::InsecureChannelCredentials()));
  constexpr int kCalls = 4;
  std::vector<grpc::Status> statuses(kCalls);
  std::vector<std::string> messages(kCalls);
  auto call = [&](int i) {
    grpc::ClientContext context;
    echo::EchoRequest request;
    request.set_message(absl::StrCat("parked ", i));
    request.set_block(true);
    echo::EchoResponse response;
    statuses[i] = stub->Echo(&context, request, &response);
    messages[i] = response.message();
  };
  // Two answered while the server runs.
  {
    std::vector<std::thread> clients;
    for (int i = 0; i < 2; ++i) clients.emplace_back(call, i);
    echo_service.WaitForParked(2);
    echo_service.ReleaseFromAnotherThread();
    for (auto& t : clients) t.join();
  }
  // Two in flight when Shutdown begins; released only once it has (health answers NOT_SERVING
  // or no longer answers), and still answered.
  std::vector<std::thread> clients;
  for (int i = 2; i < kCalls; ++i) clients.emplace_back(call, i);
  echo_service.WaitForParked(2);
  std::thread shutdown([&] { runner->Shutdown(); });
  EXPECT_TRUE(Eventually([&] {
    grpc::ClientContext context;
    HealthCheckResponse response;
    grpc::Status s = health->Check(&context, HealthCheckRequest(), &response);
    return !s.ok() || response.status() == HealthCheckResponse::NOT_SERVING;
  }));
  echo_service.ReleaseFromAnotherThread();
  for (auto& t : clients) t.join();
  shutdown.join();
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    EXPECT_EQ(messages[i], absl::StrCat("parked ", i));
  }
}

// Overload on async methods: past max_async_calls in progress a call is refused at once with
// RESOURCE_EXHAUSTED (not queued to its deadline), the admitted ones finish, and once they have
// calls are admitted again.
TEST(AsyncUnaryServerTest, CallsPastMaxAsyncCallsAreRefusedAtOnceAndAdmittedAgainLater) {
  metrics::Registry registry;
  AsyncEcho echo_service;
  std::unique_ptr<ServerRunner> runner = StartAsyncRunner(&echo_service, &registry, 2);
  auto stub = EchoStub(runner->port());
  auto echo = [&](bool block, std::string* message) {
    grpc::ClientContext context;
    // Without the limit the third call would wait for a slot: its deadline then ends the test
    // with DEADLINE_EXCEEDED instead of hanging it.
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(block ? 120 : 30));
    echo::EchoRequest request;
    request.set_message("m");
    request.set_block(block);
    echo::EchoResponse response;
    grpc::Status s = stub->Echo(&context, request, &response);
    if (message != nullptr) *message = response.message();
    return s;
  };
  std::vector<grpc::Status> parked(2);
  std::vector<std::thread> clients;
  for (int i = 0; i < 2; ++i) clients.emplace_back([&, i] { parked[i] = echo(true, nullptr); });
  echo_service.WaitForParked(2);
  // Both slots held: refused without waiting for them.
  grpc::Status refused = echo(false, nullptr);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_THAT(refused.error_message(), HasSubstr("server busy: 2 calls in progress"));
  echo_service.ReleaseFromAnotherThread();
  for (auto& t : clients) t.join();
  for (const grpc::Status& s : parked) EXPECT_TRUE(s.ok()) << s.error_message();
  std::string message;
  grpc::Status again = echo(false, &message);
  EXPECT_TRUE(again.ok()) << again.error_message();
  EXPECT_EQ(message, "m");
  runner->Shutdown();
}

// A request of the echo stream: answered at once, or parked until the test answers it (`block`).
echo::EchoRequest EchoOf(const std::string& message, bool block = false) {
  echo::EchoRequest request;
  request.set_message(message);
  request.set_block(block);
  return request;
}

// A stream's answers go out in the order its requests came, whatever order the handler gives
// them in and from whatever thread; the server reads at most kMaxStreamUnanswered requests ahead
// of its answers; a client that half-closes gets every answer and then OK.
TEST(AsyncBidiStreamTest, AnswersGoOutInRequestOrderAndReadsWaitForAnswers) {
  metrics::Registry registry;
  AsyncEcho echo_service;
  std::unique_ptr<ServerRunner> runner = StartAsyncRunner(&echo_service, &registry);
  auto stub = EchoStub(runner->port());
  grpc::ClientContext context;
  context.AddMetadata(kCorrelationIdMetadataKey, "stream-1");
  auto stream = stub->EchoStream(&context);
  constexpr int kParked = 40;  // small messages: all fit in HTTP/2's window at once
  for (int i = 0; i < kParked; ++i) {
    ASSERT_TRUE(stream->Write(EchoOf(absl::StrCat("m", i), /*block=*/true)));
  }
  ASSERT_TRUE(stream->Write(EchoOf("answered at once")));
  ASSERT_TRUE(stream->WritesDone());
  // Parked answers are given newest first, a window at a time.
  size_t released = 0;
  while (released < kParked) {
    echo_service.WaitForParkedAnswers(
        std::min<size_t>(AsyncEcho::kMaxStreamUnanswered, kParked - released));
    released += echo_service.ReleaseAnswersNewestFirst();
  }
  for (int i = 0; i < kParked; ++i) {
    echo::EchoResponse response;
    ASSERT_TRUE(stream->Read(&response)) << i;
    EXPECT_EQ(response.message(), absl::StrCat("m", i));
    EXPECT_EQ(response.correlation_id(), "stream-1");  // the handler logs under the stream's id
  }
  // The id goes back once in the stream's initial metadata, not once per request (requests read
  // ahead of the first answer would otherwise pile ids into it past gRPC's metadata limit).
  EXPECT_EQ(context.GetServerInitialMetadata().count(kCorrelationIdMetadataKey), 1u);
  echo::EchoResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.message(), "answered at once");
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  // It read ahead (four requests handled before any answer), and no further.
  EXPECT_EQ(echo_service.most_stream_unanswered(), AsyncEcho::kMaxStreamUnanswered);
  for (const std::string& name : echo_service.handler_threads()) {
    EXPECT_THAT(name, ::testing::StartsWith("grpc_async_"));
  }
  runner->Shutdown();
}

// Answers that become ready together leave together (each but the last with gRPC's buffer hint):
// the last of the run must still be sent at once, with the client neither half-closing nor
// writing more. Were it held in the buffer too, these reads would wait for the deadline.
TEST(AsyncBidiStreamTest, ARunOfReadyAnswersIsSentWithoutWaitingForMoreTraffic) {
  metrics::Registry registry;
  AsyncEcho echo_service;
  std::unique_ptr<ServerRunner> runner = StartAsyncRunner(&echo_service, &registry);
  auto stub = EchoStub(runner->port());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto stream = stub->EchoStream(&context);
  for (int round = 0; round < 3; ++round) {
    constexpr int kRun = AsyncEcho::kMaxStreamUnanswered;
    for (int i = 0; i < kRun; ++i) {
      ASSERT_TRUE(stream->Write(EchoOf(absl::StrCat(round, ".", i), /*block=*/true)));
    }
    echo_service.WaitForParkedAnswers(kRun);
    ASSERT_EQ(echo_service.ReleaseAnswersNewestFirst(), static_cast<size_t>(kRun));
    for (int i = 0; i < kRun; ++i) {
      echo::EchoResponse response;
      ASSERT_TRUE(stream->Read(&response)) << round << "." << i;
      EXPECT_EQ(response.message(), absl::StrCat(round, ".", i));
    }
  }
  ASSERT_TRUE(stream->WritesDone());
  echo::EchoResponse response;
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  runner->Shutdown();
}

// A client that goes away with requests unanswered: the answers given afterwards are dropped,
// the stream ends, and Shutdown (which waits for every call) returns.
TEST(AsyncBidiStreamTest, AStreamWhoseClientLeavesEndsWhenItsAnswersCome) {
  metrics::Registry registry;
  AsyncEcho echo_service;
  std::unique_ptr<ServerRunner> runner = StartAsyncRunner(&echo_service, &registry);
  auto stub = EchoStub(runner->port());
  grpc::ClientContext context;
  auto stream = stub->EchoStream(&context);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(stream->Write(EchoOf(absl::StrCat("m", i), /*block=*/true)));
  }
  echo_service.WaitForParkedAnswers(3);
  context.TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(echo_service.ReleaseAnswersNewestFirst(), 3u);
  // The server still answers new streams.
  {
    grpc::ClientContext again;
    auto next = stub->EchoStream(&again);
    ASSERT_TRUE(next->Write(EchoOf("next")));
    echo::EchoResponse response;
    ASSERT_TRUE(next->Read(&response));
    EXPECT_EQ(response.message(), "next");
    ASSERT_TRUE(next->WritesDone());
    EXPECT_TRUE(next->Finish().ok());
  }
  runner->Shutdown();
}

// An open stream holds one of max_async_calls: past the limit a new stream is refused at once
// with RESOURCE_EXHAUSTED, and admitted again once the open one ends.
TEST(AsyncBidiStreamTest, StreamsPastMaxAsyncCallsAreRefusedAtOnce) {
  metrics::Registry registry;
  AsyncEcho echo_service;
  std::unique_ptr<ServerRunner> runner = StartAsyncRunner(&echo_service, &registry, 1);
  auto stub = EchoStub(runner->port());
  echo::EchoResponse response;
  grpc::ClientContext open_context;
  auto open = stub->EchoStream(&open_context);
  ASSERT_TRUE(open->Write(EchoOf("admitted")));
  ASSERT_TRUE(open->Read(&response));  // it holds the slot now
  {
    grpc::ClientContext context;
    auto refused = stub->EchoStream(&context);
    refused->Write(EchoOf("refused"));  // may fail: the server ends the stream at once
    EXPECT_FALSE(refused->Read(&response));
    grpc::Status status = refused->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("server busy: 1 calls in progress"));
  }
  ASSERT_TRUE(open->WritesDone());
  EXPECT_TRUE(open->Finish().ok());
  // The server frees the slot just after the client sees the end: admitted again soon after.
  EXPECT_TRUE(Eventually([&] {
    grpc::ClientContext context;
    auto again = stub->EchoStream(&context);
    again->Write(EchoOf("again"));
    again->WritesDone();
    echo::EchoResponse answer;
    const bool answered = again->Read(&answer) && answer.message() == "again";
    return again->Finish().ok() && answered;
  }));
  runner->Shutdown();
}

// Shutdown does not wait for open streams to be closed by their clients: each ends UNAVAILABLE
// once every request it read is answered and sent, an idle one at once. The drain timeout is an
// hour, so a stream that held the drain would hang the test.
TEST(AsyncBidiStreamTest, ShutdownEndsOpenStreamsOnceTheirAnswersAreSent) {
  metrics::Registry registry;
  AsyncEcho echo_service;
  ServerRunner runner({.service_name = kServiceName,
                       .grpc_address = "127.0.0.1:0",
                       .drain_timeout = absl::Hours(1),
                       .metrics = &registry});
  runner.AddAsyncService(echo_service.service(), echo_service.driver());
  ASSERT_TRUE(runner.Start().ok());
  auto stub = EchoStub(runner.port());
  grpc::ClientContext idle_context;
  auto idle = stub->EchoStream(&idle_context);
  ASSERT_TRUE(idle->Write(EchoOf("idle")));
  echo::EchoResponse response;
  ASSERT_TRUE(idle->Read(&response));
  grpc::ClientContext busy_context;
  auto busy = stub->EchoStream(&busy_context);
  ASSERT_TRUE(busy->Write(EchoOf("owed", /*block=*/true)));
  echo_service.WaitForParkedAnswers(1);

  std::thread shutdown([&] { runner.Shutdown(); });
  // The idle stream ends while the other still owes its answer.
  EXPECT_FALSE(idle->Read(&response));
  grpc::Status idle_end = idle->Finish();
  EXPECT_EQ(idle_end.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(idle_end.error_message(), HasSubstr("shutting down"));
  // The busy one gets its answer, then ends the same way.
  EXPECT_EQ(echo_service.ReleaseAnswersNewestFirst(), 1u);
  ASSERT_TRUE(busy->Read(&response));
  EXPECT_EQ(response.message(), "owed");
  EXPECT_FALSE(busy->Read(&response));
  EXPECT_EQ(busy->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  shutdown.join();
}

TEST(AsyncUnaryServerTest, NegativeMaxAsyncCallsIsRefused) {
  AsyncEcho echo_service;
  ServerRunner runner({.grpc_address = "127.0.0.1:0", .max_async_calls = -1});
  runner.AddAsyncService(echo_service.service(), echo_service.driver());
  EXPECT_EQ(runner.Start().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace engram::grpcutil
