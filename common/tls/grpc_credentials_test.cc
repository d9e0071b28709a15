// gRPC over TLS end to end in one process: a ServerRunner with TLS options, clients built with
// MakeChannelCredentials / CreateChannel.
#include "common/tls/grpc_credentials.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/grpc/server_runner.h"
#include "common/tls/test_certs.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/auth_context.h"
#include "gtest/gtest.h"

namespace engram::tls {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;
using testing::Pem;
using testing::TestCa;
using testing::WriteFileAtomically;

// One health check on a new channel; the server certificate the client saw, described.
absl::StatusOr<std::string> CheckOverNewChannel(int port, const ClientTlsConfig& config) {
  std::shared_ptr<grpc::Channel> channel = CreateChannel(absl::StrCat("127.0.0.1:", port), config);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  HealthCheckResponse response;
  grpc::Status status = Health::NewStub(channel)->Check(&context, HealthCheckRequest(), &response);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat(status.error_code(), ": ", status.error_message()));
  }
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return std::string("plaintext");
  std::vector<grpc::string_ref> pem = auth->FindPropertyValues("x509_pem_cert");
  if (pem.empty()) return std::string("no peer certificate");
  return DescribeCertificate(std::string(pem.front().data(), pem.front().size()));
}

class GrpcTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("grpc_tls_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    Write("ca.crt", ca_.cert_pem());
    const Pem server = ca_.Issue("engram-test-server", 1);
    Write("server.crt", server.cert);
    Write("server.key", server.key);
    const Pem client = ca_.Issue("engram-test-client", 100);
    Write("client.crt", client.cert);
    Write("client.key", client.key);
    TestCa other("another CA");
    Write("other-ca.crt", other.cert_pem());
    const Pem stranger = other.Issue("stranger", 5);
    Write("stranger.crt", stranger.cert);
    Write("stranger.key", stranger.key);
  }
  void TearDown() override {
    if (runner_ != nullptr) runner_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  void Write(const std::string& name, const std::string& contents) {
    WriteFileAtomically(dir_ / name, contents);
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  int StartServer(bool mutual, const std::string& cert = "server.crt",
                  const std::string& key = "server.key") {
    grpcutil::ServerRunner::Options options;
    options.grpc_address = "127.0.0.1:0";
    options.drain_timeout = absl::Seconds(1);
    options.tls = {.cert_file = Path(cert),
                   .key_file = Path(key),
                   .client_ca_file = mutual ? Path("ca.crt") : "",
                   .reload_interval = absl::Seconds(1)};
    runner_ = std::make_unique<grpcutil::ServerRunner>(options);
    absl::Status started = runner_->Start();
    EXPECT_TRUE(started.ok()) << started;
    runner_->SetServing(true);
    return runner_->port();
  }

  ClientTlsConfig Client(bool with_identity = true) const {
    return {.ca_file = Path("ca.crt"),
            .cert_file = with_identity ? Path("client.crt") : "",
            .key_file = with_identity ? Path("client.key") : "",
            .reload_interval = absl::Seconds(1)};
  }

  TestCa ca_{"engram test CA"};
  std::filesystem::path dir_;
  std::unique_ptr<grpcutil::ServerRunner> runner_;
};

TEST_F(GrpcTlsTest, MutualTlsCallSucceedsAndSeesTheServerCertificate) {
  const int port = StartServer(/*mutual=*/true);
  absl::StatusOr<std::string> seen = CheckOverNewChannel(port, Client());
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_THAT(*seen, HasSubstr("CN=engram-test-server"));
  EXPECT_THAT(*seen, HasSubstr("serial 01"));
}

TEST_F(GrpcTlsTest, PlaintextClientIsRefused) {
  const int port = StartServer(/*mutual=*/false);
  EXPECT_FALSE(CheckOverNewChannel(port, ClientTlsConfig{}).ok());
  EXPECT_TRUE(CheckOverNewChannel(port, Client(/*with_identity=*/false)).ok());
}

TEST_F(GrpcTlsTest, WrongCaIsRefused) {
  const int port = StartServer(/*mutual=*/false);
  ClientTlsConfig config = Client(false);
  config.ca_file = Path("other-ca.crt");
  EXPECT_FALSE(CheckOverNewChannel(port, config).ok());
}

TEST_F(GrpcTlsTest, MissingOrUntrustedClientCertificateIsRefusedUnderMutualTls) {
  const int port = StartServer(/*mutual=*/true);
  EXPECT_FALSE(CheckOverNewChannel(port, Client(/*with_identity=*/false)).ok());
  ClientTlsConfig stranger = Client(false);
  stranger.cert_file = Path("stranger.crt");
  stranger.key_file = Path("stranger.key");
  EXPECT_FALSE(CheckOverNewChannel(port, stranger).ok());
  EXPECT_TRUE(CheckOverNewChannel(port, Client()).ok());
}

TEST_F(GrpcTlsTest, ServerNameOverride) {
  // A certificate that names only the Service, not the address the client dials.
  const Pem named = ca_.Issue("engram-storage", 3, {"engram-storage.engram.svc"}, {});
  Write("named.crt", named.cert);
  Write("named.key", named.key);
  const int port = StartServer(/*mutual=*/false, "named.crt", "named.key");
  ClientTlsConfig config = Client(false);
  EXPECT_FALSE(CheckOverNewChannel(port, config).ok());
  config.server_name = "engram-storage.engram.svc";
  absl::StatusOr<std::string> seen = CheckOverNewChannel(port, config);
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_THAT(*seen, HasSubstr("CN=engram-storage"));
}

TEST_F(GrpcTlsTest, RotatedCertificateIsServedWithoutRestart) {
  const int port = StartServer(/*mutual=*/true);
  ASSERT_THAT(CheckOverNewChannel(port, Client()).value_or(""), HasSubstr("serial 01"));
  const Pem rotated = ca_.Issue("engram-test-server-rotated", 2);
  // A Secret update: the key first, then the certificate; gRPC keeps the old pair until they match.
  Write("server.key", rotated.key);
  Write("server.crt", rotated.cert);
  std::string seen;
  for (int i = 0; i < 300 && seen.find("serial 02") == std::string::npos; ++i) {
    seen = CheckOverNewChannel(port, Client()).value_or("");
    if (seen.find("serial 02") == std::string::npos) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  EXPECT_THAT(seen, HasSubstr("CN=engram-test-server-rotated"));
  EXPECT_THAT(seen, HasSubstr("serial 02"));
}

TEST_F(GrpcTlsTest, StartFailsClearlyOnABadKey) {
  Write("bad.key", ca_.Issue("someone else", 9).key);
  grpcutil::ServerRunner::Options options;
  options.grpc_address = "127.0.0.1:0";
  options.tls = {.cert_file = Path("server.crt"), .key_file = Path("bad.key")};
  grpcutil::ServerRunner runner(options);
  absl::Status s = runner.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("does not match"));
}

}  // namespace
}  // namespace engram::tls
