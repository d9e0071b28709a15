// TLS across the suite (docs/operations.md#tls): engram-api serves gRPC and REST over TLS to
// clients; engram-api, engram-hybrid and engram-control reach engram-storage and engram-hybrid
// over mutual TLS; control's monitor scrapes every HTTP port over HTTPS (storage's requires a
// client certificate). Certificates are made at test time (common/tls/test_certs.h).
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"
#include "common/http/tls_context.h"
#include "common/tls/grpc_credentials.h"
#include "common/tls/test_certs.h"
#include "engram/v1/engram.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/http_client.h"
#include "tests/testing/process.h"

namespace engram {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using ::testing::HasSubstr;
using json = nlohmann::json;
using testing::ChildProcess;
using testing::CommandResult;
using testing::RunCommand;
using testing::Eventually;
using tls::testing::Pem;
using tls::testing::TestCa;
using tls::testing::WriteFileAtomically;

constexpr char kAdminKey[] = "tls-admin-key-0123456789";

struct HttpsResult {
  int status = 0;  // 0: no response (refused handshake, connection error)
  std::string body;
  std::string error;
  std::string peer;  // subject and serial of the server's certificate
  std::string set_cookie;
};

// One HTTPS request to 127.0.0.1:port (30 s socket timeouts, so a stuck server fails the test).
HttpsResult Https(int port, const tls::ClientTlsConfig& config, const std::string& method,
                  const std::string& target, const std::string& body = "",
                  const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  HttpsResult result;
  absl::StatusOr<std::shared_ptr<asio::ssl::context>> context = http::MakeClientSslContext(config);
  if (!context.ok()) {
    result.error = context.status().ToString();
    return result;
  }
  asio::io_context ioc;
  beast::ssl_stream<asio::ip::tcp::socket> stream(ioc, **context);
  beast::error_code ec;
  beast::get_lowest_layer(stream).connect(
      {asio::ip::address_v4::loopback(), static_cast<unsigned short>(port)}, ec);
  if (ec) {
    result.error = ec.message();
    return result;
  }
  timeval timeout{.tv_sec = 30, .tv_usec = 0};
  const int fd = beast::get_lowest_layer(stream).native_handle();
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  stream.set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) {
    result.error = "handshake: " + ec.message();
    return result;
  }
  result.peer = tls::testing::PeerCertificateSummary(stream.native_handle());
  bhttp::request<bhttp::string_body> request(bhttp::string_to_verb(method), target, 11);
  request.set(bhttp::field::host, "localhost");
  request.set(bhttp::field::connection, "close");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  bhttp::write(stream, request, ec);
  bhttp::response<bhttp::string_body> response;
  beast::flat_buffer buffer;
  if (!ec) bhttp::read(stream, buffer, response, ec);
  if (ec) {
    result.error = ec.message();
    return result;
  }
  result.status = response.result_int();
  result.body = response.body();
  result.set_cookie = std::string(response[bhttp::field::set_cookie]);
  return result;
}

// The suite once for every test: storage and hybrid with mutual TLS on gRPC (storage also on
// HTTP), api with TLS towards clients, control with an HTTPS UI.
class TlsSuiteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::path(::testing::TempDir()) / "tls_test");
    std::filesystem::remove_all(*dir_);
    std::filesystem::create_directories(*dir_);
    ca_ = new TestCa("engram suite CA");
    Write("ca.crt", ca_->cert_pem());
    for (const char* service : {"storage", "hybrid", "api", "control"}) {
      const Pem server = ca_->Issue(absl::StrCat("engram-", service), 1);
      Write(absl::StrCat(service, ".crt"), server.cert);
      Write(absl::StrCat(service, ".key"), server.key);
    }
    const Pem internal = ca_->Issue("engram-internal-client", 10);  // the services' client cert
    Write("internal.crt", internal.cert);
    Write("internal.key", internal.key);
    TestCa other("some other CA");
    Write("other-ca.crt", other.cert_pem());
    std::ofstream(*dir_ / "keys.json") << json{
        {"keys",
         {{{"name", "admin"},
           {"key", kAdminKey},
           {"role", "admin"},
           {"namespaces", {"*"}}}}}}.dump();

    const std::vector<std::string> downstream = {"--downstream_tls_ca=" + Path("ca.crt"),
                                                 "--downstream_tls_cert=" + Path("internal.crt"),
                                                 "--downstream_tls_key=" + Path("internal.key")};
    const auto server_tls = [](const std::string& service) {
      return std::vector<std::string>{"--tls_cert=" + Path(service + ".crt"),
                                      "--tls_key=" + Path(service + ".key"),
                                      "--tls_reload_s=1",
                                      "--listen_address=127.0.0.1",
                                      "--http_port=0",
                                      "--drain_seconds=1"};
    };

    std::vector<std::string> args = server_tls("storage");
    args.insert(args.end(),
                {"--grpc_port=0", "--data_dir=" + Path("data"), "--tls_client_ca=" + Path("ca.crt"),
                 "--http_tls_client_ca=" + Path("ca.crt")});
    storage_ = Start(ENGRAM_STORAGE_BIN, args, "storage");
    storage_grpc_ = storage_->PortAfter("serving on grpc ");
    storage_http_ = storage_->PortAfter(" http ");

    args = server_tls("hybrid");
    args.insert(args.end(), {"--grpc_port=0", "--tls_client_ca=" + Path("ca.crt"),
                             absl::StrCat("--storage_addr=127.0.0.1:", storage_grpc_)});
    args.insert(args.end(), downstream.begin(), downstream.end());
    hybrid_ = Start(ENGRAM_HYBRID_BIN, args, "hybrid");
    hybrid_grpc_ = hybrid_->PortAfter("serving on grpc ");
    hybrid_http_ = hybrid_->PortAfter(" http ");

    args = server_tls("api");
    args.insert(args.end(), {"--grpc_port=0", "--api_keys_file=" + Path("keys.json"),
                             absl::StrCat("--storage_addr=127.0.0.1:", storage_grpc_),
                             absl::StrCat("--hybrid_addr=127.0.0.1:", hybrid_grpc_)});
    args.insert(args.end(), downstream.begin(), downstream.end());
    api_ = Start(ENGRAM_API_BIN, args, "api");
    api_grpc_ = api_->PortAfter("serving on grpc ");
    api_http_ = api_->PortAfter(" http ");

    args = server_tls("control");
    args.insert(args.end(), {"--api_keys_file=" + Path("keys.json"), "--scrape_interval_s=0.2",
                             absl::StrCat("--storage_addr=127.0.0.1:", storage_grpc_),
                             absl::StrCat("--storage_http_addr=127.0.0.1:", storage_http_),
                             absl::StrCat("--hybrid_addr=127.0.0.1:", hybrid_grpc_),
                             absl::StrCat("--hybrid_http_port=", hybrid_http_),
                             absl::StrCat("--api_http_addr=127.0.0.1:", api_http_)});
    args.insert(args.end(), downstream.begin(), downstream.end());
    control_ = Start(ENGRAM_CONTROL_BIN, args, "control");
    control_http_ = control_->PortAfter("serving on http ");
  }

  static void TearDownTestSuite() {
    for (auto* process : {&control_, &api_, &hybrid_, &storage_}) {
      if (*process != nullptr) (*process)->Kill(SIGTERM);
      process->reset();
    }
    delete ca_;
    delete dir_;
  }

  static std::string Path(const std::string& name) { return (*dir_ / name).string(); }
  static void Write(const std::string& name, const std::string& contents) {
    WriteFileAtomically(*dir_ / name, contents);
  }

  static std::unique_ptr<ChildProcess> Start(const std::string& binary,
                                             const std::vector<std::string>& args,
                                             const std::string& name) {
    auto process = std::make_unique<ChildProcess>(binary, args, *dir_ / (name + ".log"));
    EXPECT_TRUE(process->Start().ok());
    const absl::StatusOr<std::string> line = process->WaitForLine("serving on", absl::Seconds(120));
    EXPECT_TRUE(line.ok()) << process->Log();
    return process;
  }

  static tls::ClientTlsConfig ClientTls(bool with_identity) {
    return {.ca_file = Path("ca.crt"),
            .cert_file = with_identity ? Path("internal.crt") : "",
            .key_file = with_identity ? Path("internal.key") : ""};
  }

  // A health check on a new channel; the server certificate the client saw, or the error.
  static absl::StatusOr<std::string> GrpcHealth(int port, const tls::ClientTlsConfig& config) {
    auto stub = grpc::health::v1::Health::NewStub(
        tls::CreateChannel(absl::StrCat("127.0.0.1:", port), config));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status status =
        stub->Check(&context, grpc::health::v1::HealthCheckRequest(), &response);
    if (!status.ok()) return absl::UnavailableError(status.error_message());
    std::vector<grpc::string_ref> pem = context.auth_context()->FindPropertyValues("x509_pem_cert");
    if (pem.empty()) return std::string("plaintext");
    return tls::DescribeCertificate(std::string(pem.front().data(), pem.front().size()));
  }

  static CommandResult Engramctl(const std::string& flags) {
    return RunCommand(absl::StrCat(ENGRAMCTL_BIN, " --addr=127.0.0.1:", api_grpc_, " --api_key=",
                                   kAdminKey, " --timeout=20 ", flags),
                      *dir_ / "engramctl.out");
  }

  static bool ApiReady() {
    return Https(api_http_, ClientTls(false), "GET", "/readyz").status == 200;
  }

  static inline std::filesystem::path* dir_ = nullptr;
  static inline TestCa* ca_ = nullptr;
  static inline std::unique_ptr<ChildProcess> storage_, hybrid_, api_, control_;
  static inline int storage_grpc_ = 0, storage_http_ = 0, hybrid_grpc_ = 0, hybrid_http_ = 0;
  static inline int api_grpc_ = 0, api_http_ = 0, control_http_ = 0;
};

TEST_F(TlsSuiteTest, EngramctlAndRestOverTlsThroughMutualTlsDownstreams) {
  // api is ready only once its TLS channels to hybrid and storage are up.
  ASSERT_TRUE(Eventually(ApiReady, absl::Seconds(60)))
      << Https(api_http_, ClientTls(false), "GET", "/readyz").body << api_->Log();
  const std::string tls_flags = "--tls_ca=" + Path("ca.crt");
  CommandResult r = Engramctl(tls_flags + " --namespace=default learn 'A sparrow is a bird'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = Engramctl(tls_flags + " --namespace=default search 'sparrow' --k 3");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("sparrow"));

  // REST over HTTPS, the same data.
  HttpsResult rest = Https(api_http_, ClientTls(false), "GET", "/v1/namespaces/default", "",
                           {{"Authorization", absl::StrCat("Bearer ", kAdminKey)}});
  EXPECT_EQ(rest.status, 200) << rest.error << rest.body;
  EXPECT_THAT(rest.peer, HasSubstr("CN=engram-api"));

  // gRPC to api sees api's certificate.
  absl::StatusOr<std::string> api_cert = GrpcHealth(api_grpc_, ClientTls(false));
  ASSERT_TRUE(api_cert.ok()) << api_cert.status();
  EXPECT_THAT(*api_cert, HasSubstr("CN=engram-api"));
}

TEST_F(TlsSuiteTest, PlaintextIsRefused) {
  CommandResult r = Engramctl("--namespace=default stats");
  EXPECT_EQ(r.exit_code, 5) << r.output;  // UNAVAILABLE
  EXPECT_EQ(testing::HttpCall(api_http_, "GET", "/readyz", "", {}, 10).status, 0);
  EXPECT_EQ(testing::HttpCall(storage_http_, "GET", "/metrics", "", {}, 10).status, 0);
  EXPECT_FALSE(GrpcHealth(storage_grpc_, tls::ClientTlsConfig{}).ok());
}

TEST_F(TlsSuiteTest, WrongCaIsRefused) {
  CommandResult r = Engramctl("--tls_ca=" + Path("other-ca.crt") + " --namespace=default stats");
  EXPECT_EQ(r.exit_code, 5) << r.output;
  tls::ClientTlsConfig other = ClientTls(false);
  other.ca_file = Path("other-ca.crt");
  HttpsResult rest = Https(api_http_, other, "GET", "/readyz");
  EXPECT_EQ(rest.status, 0);
  EXPECT_THAT(rest.error, HasSubstr("handshake"));
}

TEST_F(TlsSuiteTest, MutualTlsRefusesAMissingClientCertificate) {
  EXPECT_FALSE(GrpcHealth(storage_grpc_, ClientTls(/*with_identity=*/false)).ok());
  EXPECT_FALSE(GrpcHealth(hybrid_grpc_, ClientTls(/*with_identity=*/false)).ok());
  EXPECT_EQ(Https(storage_http_, ClientTls(false), "GET", "/metrics").status, 0);
  EXPECT_TRUE(GrpcHealth(storage_grpc_, ClientTls(true)).ok());
  EXPECT_EQ(Https(storage_http_, ClientTls(true), "GET", "/metrics").status, 200);
  // engramctl's snapshot commands talk to storage: with the client certificate they get in.
  const std::string storage = absl::StrCat(" --storage_addr=127.0.0.1:", storage_grpc_);
  EXPECT_EQ(Engramctl("--tls_ca=" + Path("ca.crt") + storage + " snapshot list").exit_code, 5);
  CommandResult r = Engramctl("--tls_ca=" + Path("ca.crt") + " --tls_cert=" + Path("internal.crt") +
                              " --tls_key=" + Path("internal.key") + storage + " snapshot list");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(TlsSuiteTest, ControlServesHttpsAndScrapesEveryServiceOverTls) {
  HttpsResult login =
      Https(control_http_, ClientTls(false), "POST", "/api/login", json{{"key", kAdminKey}}.dump());
  ASSERT_EQ(login.status, 200) << login.error << login.body << control_->Log();
  EXPECT_THAT(login.set_cookie, HasSubstr("Secure"));
  const std::string cookie = login.set_cookie.substr(0, login.set_cookie.find(';'));
  HttpsResult overview;
  EXPECT_TRUE(Eventually(
      [&] {
        overview = Https(control_http_, ClientTls(false), "GET", "/api/overview", "",
                         {{"Cookie", cookie}});
        if (overview.status != 200) return false;
        const json tick = json::parse(overview.body, nullptr, /*allow_exceptions=*/false);
        if (tick.is_discarded()) return false;
        int ready = 0;
        for (const json& s : tick["services"]) ready += s["status"] == "ready" ? 1 : 0;
        return ready == 3;  // storage (HTTPS with a client certificate), hybrid, api
      },
      absl::Seconds(60)))
      << overview.body;
  // Control's gRPC channel to storage (mutual TLS): the namespaces come from storage.
  HttpsResult namespaces =
      Https(control_http_, ClientTls(false), "GET", "/api/namespaces", "", {{"Cookie", cookie}});
  EXPECT_EQ(namespaces.status, 200) << namespaces.body;
  EXPECT_THAT(namespaces.body, HasSubstr("default"));
}

TEST_F(TlsSuiteTest, RotatedCertificateIsPickedUpWithoutRestart) {
  ASSERT_THAT(GrpcHealth(storage_grpc_, ClientTls(true)).value_or(""), HasSubstr("serial 01"));
  const Pem rotated = ca_->Issue("engram-storage-rotated", 2);
  // cert-manager rewrites the Secret; the kubelet swaps the files (here: one, then the other).
  Write("storage.key", rotated.key);
  Write("storage.crt", rotated.cert);
  std::string grpc_seen;
  std::string https_seen;
  EXPECT_TRUE(Eventually(
      [&] {
        grpc_seen = GrpcHealth(storage_grpc_, ClientTls(true)).value_or("");
        https_seen = Https(storage_http_, ClientTls(true), "GET", "/healthz").peer;
        return absl::StrContains(grpc_seen, "serial 02") &&
               absl::StrContains(https_seen, "serial 2");
      },
      absl::Seconds(30)))
      << grpc_seen << " / " << https_seen;
  EXPECT_THAT(grpc_seen, HasSubstr("CN=engram-storage-rotated"));
  EXPECT_THAT(https_seen, HasSubstr("CN=engram-storage-rotated"));
  EXPECT_TRUE(storage_->running());
  // The rest of the suite still reaches storage (new handshakes verify the new certificate).
  CommandResult r = Engramctl("--tls_ca=" + Path("ca.crt") + " --namespace=default stats");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(TlsStartupTest, AKeyThatDoesNotMatchStopsStartupNamingTheFlag) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "tls_startup";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  TestCa ca("startup CA");
  WriteFileAtomically(dir / "tls.crt", ca.Issue("a", 1).cert);
  WriteFileAtomically(dir / "other.key", ca.Issue("b", 2).key);
  ChildProcess storage(ENGRAM_STORAGE_BIN,
                       {"--data_dir=" + (dir / "data").string(), "--grpc_port=0", "--http_port=0",
                        "--listen_address=127.0.0.1", "--tls_cert=" + (dir / "tls.crt").string(),
                        "--tls_key=" + (dir / "other.key").string()},
                       dir / "storage.log");
  ASSERT_TRUE(storage.Start().ok());
  absl::StatusOr<int> exit_code = storage.Wait(absl::Seconds(60));
  ASSERT_TRUE(exit_code.ok());
  EXPECT_EQ(*exit_code, 2);
  EXPECT_THAT(storage.Log(), HasSubstr("--tls_key"));
  EXPECT_THAT(storage.Log(), HasSubstr("does not match"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace engram
