// engramctl over a real gRPC channel (GrpcStubFactory) against an in-process fake of
// engram.v1.Engram: metadata and deadline arrive, errors come back with the correlation id.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cli/engramctl/engramctl.h"
#include "cli/engramctl/exit_codes.h"
#include "engram/v1/engram.grpc.pb.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"

namespace engram::cli {
namespace {

using ::testing::HasSubstr;

class FakeEngram final : public engram::v1::Engram::Service {
 public:
  grpc::Status GetStats(grpc::ServerContext* context, const engram::v1::GetStatsRequest*,
                        engram::v1::Stats* response) override {
    Record(context);
    response->set_concepts(42);
    return grpc::Status::OK;
  }

  grpc::Status GetConcept(grpc::ServerContext* context,
                          const engram::v1::GetConceptRequest* request,
                          engram::v1::Concept*) override {
    Record(context);
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("concept '", request->id(), "' not found"));
  }

  std::string authorization() {
    std::lock_guard<std::mutex> lock(mu_);
    return authorization_;
  }
  std::string correlation_id() {
    std::lock_guard<std::mutex> lock(mu_);
    return correlation_id_;
  }
  std::chrono::system_clock::duration deadline_left() {
    std::lock_guard<std::mutex> lock(mu_);
    return deadline_left_;
  }

 private:
  static std::string Get(grpc::ServerContext* context, const std::string& key) {
    auto it = context->client_metadata().find(key);
    if (it == context->client_metadata().end()) return "";
    return std::string(it->second.data(), it->second.size());
  }

  void Record(grpc::ServerContext* context) {
    std::lock_guard<std::mutex> lock(mu_);
    authorization_ = Get(context, "authorization");
    correlation_id_ = Get(context, "x-correlation-id");
    deadline_left_ = context->deadline() - std::chrono::system_clock::now();
    // Like engram-api's RpcScope: echo the id in the initial metadata.
    context->AddInitialMetadata("x-correlation-id", correlation_id_);
  }

  std::mutex mu_;
  std::string authorization_;
  std::string correlation_id_;
  std::chrono::system_clock::duration deadline_left_{};
};

class GrpcTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }
  void TearDown() override { server_->Shutdown(); }

  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    CliIo io = ProcessIo();
    io.out = &out_;
    io.err = &err_;
    io.err_is_tty = false;
    io.getenv = [](const std::string&) { return std::nullopt; };
    args.insert(args.begin(), {"--addr", absl::StrCat("127.0.0.1:", port_)});
    return RunEngramctl(args, io, GrpcStubFactory());
  }

  FakeEngram service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::ostringstream out_, err_;
};

TEST_F(GrpcTransportTest, SendsKeyCorrelationIdAndDeadline) {
  ASSERT_EQ(Run({"stats", "--api_key", "k-123", "--correlation_id", "cid-9", "--timeout", "12",
                 "--output", "json"}),
            kExitOk)
      << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("\"concepts\":\"42\""));
  EXPECT_EQ(service_.authorization(), "Bearer k-123");
  EXPECT_EQ(service_.correlation_id(), "cid-9");
  // 12 s, not the default 30 s. The server rebuilds the deadline from the grpc-timeout header
  // and converts gRPC's monotonic clock to the wall clock, so it may read a little over 12 s
  // (12.0998 s was seen once in CI): the upper bound allows a second for that.
  EXPECT_GT(service_.deadline_left(), std::chrono::seconds(6));
  EXPECT_LE(service_.deadline_left(), std::chrono::seconds(13));
}

TEST_F(GrpcTransportTest, ErrorsCarryCodeMessageAndCorrelationId) {
  EXPECT_EQ(Run({"get", "missing", "--correlation_id", "cid-10"}), kExitNotFound);
  EXPECT_EQ(err_.str(),
            "engramctl: NOT_FOUND: concept 'missing' not found (correlation id cid-10)\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(GrpcTransportTest, UnreachableServerIsUnavailable) {
  server_->Shutdown();
  EXPECT_EQ(Run({"stats", "--timeout", "2"}), kExitUnavailable);
  EXPECT_THAT(err_.str(), testing::MatchesRegex(
                              "engramctl: (UNAVAILABLE|DEADLINE_EXCEEDED): .*\\(correlation id "
                              "[0-9a-f]{32}\\)\n"));
}

TEST_F(GrpcTransportTest, TlsOptionsAreChecked) {
  EXPECT_EQ(Run({"stats", "--tls_ca", "/tmp/x.pem", "--ca_file", "/tmp/x.pem"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--ca_file is the older name of --tls_ca"));
  EXPECT_EQ(Run({"stats", "--tls_ca", "/nonexistent/ca.pem"}), kExitRejected);
  EXPECT_THAT(err_.str(), HasSubstr("--tls_ca '/nonexistent/ca.pem': cannot read"));
  EXPECT_EQ(Run({"stats", "--tls", "--ca_file", "/nonexistent/ca.pem"}), kExitRejected);
  EXPECT_THAT(err_.str(), HasSubstr("--ca_file '/nonexistent/ca.pem': cannot read"));
  EXPECT_EQ(Run({"stats", "--tls_cert", "/nonexistent/c.pem"}), kExitRejected);
  EXPECT_THAT(err_.str(), HasSubstr("--tls_key is needed too"));
}

}  // namespace
}  // namespace engram::cli
