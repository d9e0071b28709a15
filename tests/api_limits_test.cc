// Very large and very slow requests against the real engram-api: each is cut off cleanly (the
// documented refusal, or the connection closed after --http_idle_timeout_s) and the server keeps
// serving everyone else. Every case sends the real bytes over a real socket; waits poll for a
// state (a closed connection, the api's open file descriptors back to where they were) and never
// stand in for it.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engram/v1/engram.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/testing/http_client.h"
#include "tests/testing/process.h"

namespace engram {
namespace {

using testing::ChildProcess;
using testing::Eventually;
using testing::HttpCall;

constexpr char kKey[] = "limits-admin-key-0123456789";
constexpr int kIdleTimeoutS = 2;

// storage and one api with a 1 MiB REST body limit and a short HTTP idle timeout; no hybrid (the
// calls used to check "still serving" need only storage).
class ApiLimitsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::path(::testing::TempDir()) / "api_limits");
    std::filesystem::remove_all(*dir_);
    std::filesystem::create_directories(*dir_);
    std::ofstream(*dir_ / "keys.json") << nlohmann::json{
        {"keys",
         {{{"name", "admin"},
           {"key", kKey},
           {"role", "admin"},
           {"namespaces", {"*"}}}}}}.dump();
    storage_ = new ChildProcess(ENGRAM_STORAGE_BIN,
                                {"--data_dir=" + (*dir_ / "storage").string(), "--grpc_port=0",
                                 "--http_port=0", "--listen_address=127.0.0.1"},
                                *dir_ / "storage.log");
    ASSERT_TRUE(storage_->Start().ok());
    ASSERT_TRUE(storage_->WaitForLine("serving on grpc", absl::Seconds(120)).ok())
        << storage_->Log();
    api_ = new ChildProcess(
        ENGRAM_API_BIN,
        {"--grpc_port=0", "--http_port=0", "--listen_address=127.0.0.1",
         "--api_keys_file=" + (*dir_ / "keys.json").string(),
         absl::StrCat("--storage_addr=127.0.0.1:", storage_->PortAfter("serving on grpc ")),
         absl::StrCat("--hybrid_addr=127.0.0.1:", testing::PickFreePort()), "--max_body_mb=1",
         absl::StrCat("--http_idle_timeout_s=", kIdleTimeoutS), "--key_rate=0"},
        *dir_ / "api.log");
    ASSERT_TRUE(api_->Start().ok());
    ASSERT_TRUE(api_->WaitForLine("serving on grpc", absl::Seconds(120)).ok()) << api_->Log();
    grpc_port_ = api_->PortAfter("serving on grpc ");
    http_port_ = api_->PortAfter(" http ");
  }
  static void TearDownTestSuite() {
    delete api_;
    delete storage_;
    delete dir_;
  }

  void SetUp() override {
    ASSERT_NE(api_, nullptr);
    ASSERT_TRUE(api_->running());
  }
  void TearDown() override { EXPECT_TRUE(StillServing()) << api_->Log(); }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", std::string("Bearer ") + kKey);
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    return context;
  }

  static std::unique_ptr<v1::Engram::Stub> NewStub(int channel_tag) {
    grpc::ChannelArguments args;
    args.SetInt("engram.limits.channel", channel_tag);  // its own connection
    args.SetMaxSendMessageSize(-1);
    return v1::Engram::NewStub(grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", grpc_port_),
                                                         grpc::InsecureChannelCredentials(), args));
  }

  // Another client is served, over gRPC and over REST.
  static bool StillServing() {
    v1::Stats stats;
    grpc::Status s = NewStub(++channels_)->GetStats(Context().get(), v1::GetStatsRequest(), &stats);
    if (!s.ok()) {
      ADD_FAILURE() << "gRPC GetStats: " << s.error_message();
      return false;
    }
    testing::HttpResult r = HttpCall(http_port_, "GET", "/v1/stats", "",
                                     {{"Authorization", std::string("Bearer ") + kKey}});
    if (r.status != 200) ADD_FAILURE() << "REST /v1/stats: " << r.status << " " << r.body;
    return r.status == 200;
  }

  static int ApiOpenFds() {
    int n = 0;
    std::error_code ec;
    for (auto it =
             std::filesystem::directory_iterator(absl::StrCat("/proc/", api_->pid(), "/fd"), ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      ++n;
    }
    return n;
  }

  // True once the peer has closed `fd` (EOF or reset), reading and discarding anything before.
  static bool PeerClosed(int fd) {
    char buffer[4096];
    while (true) {
      pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
      if (::poll(&p, 1, 0) <= 0) return false;
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
      if (n == 0) return true;
      if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
    }
  }

  static std::string ReadUntilClosed(int fd) {
    std::string out;
    char buffer[4096];
    ssize_t n;
    while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0)
      out.append(buffer, static_cast<size_t>(n));
    return out;
  }

  static std::filesystem::path* dir_;
  static ChildProcess* storage_;
  static ChildProcess* api_;
  static int grpc_port_, http_port_, channels_;
};

std::filesystem::path* ApiLimitsTest::dir_ = nullptr;
ChildProcess* ApiLimitsTest::storage_ = nullptr;
ChildProcess* ApiLimitsTest::api_ = nullptr;
int ApiLimitsTest::grpc_port_ = 0;
int ApiLimitsTest::http_port_ = 0;
int ApiLimitsTest::channels_ = 0;

TEST_F(ApiLimitsTest, OversizeGrpcMessageIsRefusedWithResourceExhausted) {
  // engram-api accepts gRPC messages up to 64 MiB (the largest response it may have to relay);
  // one byte-heavy Learn past that is refused by the transport before any handler runs.
  v1::LearnRequest learn;
  learn.set_namespace_("default");
  learn.set_content(std::string((64 << 20) + 4096, 'a'));
  v1::LearnResponse response;
  auto stub = NewStub(++channels_);
  grpc::Status s = stub->Learn(Context().get(), learn, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  // The same connection still works for a normal call.
  v1::Stats stats;
  s = stub->GetStats(Context().get(), v1::GetStatsRequest(), &stats);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(ApiLimitsTest, OversizeHttpHeaderGets431) {
  testing::HttpResult r = HttpCall(http_port_, "GET", "/v1/stats", "",
                                   {{"Authorization", std::string("Bearer ") + kKey},
                                    {"X-Padding", std::string(64 << 10, 'x')}});
  EXPECT_EQ(r.status, 431) << r.body;
}

TEST_F(ApiLimitsTest, OversizeHttpBodyGets413BeforeTheBodyIsSent) {
  // Only the header goes out: the 413 is decided from Content-Length, without reading 2 MiB.
  const int fd = testing::ConnectLoopback(http_port_);
  ASSERT_GE(fd, 0);
  const std::string head = absl::StrCat(
      "POST /v1/namespaces/default/concepts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ", kKey,
      "\r\nContent-Type: application/json\r\nContent-Length: ", 2 << 20, "\r\n\r\n");
  ASSERT_EQ(::write(fd, head.data(), head.size()), static_cast<ssize_t>(head.size()));
  const std::string reply = ReadUntilClosed(fd);
  ::close(fd);
  EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << reply;
  EXPECT_NE(reply.find("PAYLOAD_TOO_LARGE"), std::string::npos) << reply;
}

TEST_F(ApiLimitsTest, OversizeChunkedHttpBodyGets413WhileItIsRead) {
  // No Content-Length to judge by: the body is cut off once it passes the limit.
  const int fd = testing::ConnectLoopback(http_port_);
  ASSERT_GE(fd, 0);
  std::string request = absl::StrCat(
      "POST /v1/namespaces/default/concepts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ", kKey,
      "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string chunk = absl::StrCat("10000\r\n", std::string(0x10000, 'a'), "\r\n");
  for (int i = 0; i < 32; ++i) request += chunk;  // 2 MiB
  request += "0\r\n\r\n";
  std::thread writer([&] {  // the server may stop reading (and close) halfway: ignore EPIPE
    size_t done = 0;
    while (done < request.size()) {
      const ssize_t n = ::send(fd, request.data() + done, request.size() - done, MSG_NOSIGNAL);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
  });
  const std::string reply = ReadUntilClosed(fd);
  writer.join();
  ::close(fd);
  EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << reply.substr(0, 300);
}

TEST_F(ApiLimitsTest, SlowlorisClientsAreCutOffAndOthersAreServed) {
  // 64 clients each trickle a request header a byte at a time and would take about 100 s to
  // finish it. Meanwhile others are served; each slow client is closed by the server (after
  // --http_idle_timeout_s), long before it is done, and the api's descriptors come back.
  const int fds_before = ApiOpenFds();
  constexpr int kClients = 64;
  const std::string head =
      absl::StrCat("GET /v1/stats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ", kKey,
                   "\r\nX-Slow: ", std::string(1000, 'z'), "\r\n\r\n");
  std::vector<int> fds;
  for (int i = 0; i < kClients; ++i) {
    fds.push_back(testing::ConnectLoopback(http_port_));
    ASSERT_GE(fds.back(), 0);
  }
  std::vector<bool> closed(kClients, false);
  int still_open = kClients;
  size_t sent = 0;
  for (; sent < head.size() && still_open > 0; ++sent) {
    for (int i = 0; i < kClients; ++i) {
      if (closed[i]) continue;
      if (::send(fds[i], &head[sent], 1, MSG_NOSIGNAL) != 1 || PeerClosed(fds[i])) {
        closed[i] = true;
        --still_open;
      }
    }
    if (sent % 20 == 0) {
      ASSERT_TRUE(StillServing()) << "while " << still_open << " slow clients trickle";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the trickle's pace, not a wait
  }
  EXPECT_EQ(still_open, 0) << "slow clients still connected after sending their whole header";
  EXPECT_LT(sent, head.size()) << "the server waited for the whole trickled header";
  for (int fd : fds) ::close(fd);
  EXPECT_TRUE(Eventually([&] { return ApiOpenFds() <= fds_before; }, absl::Seconds(60)))
      << ApiOpenFds() << " fds, " << fds_before << " before";
}

TEST_F(ApiLimitsTest, SlowBodyIsCutOff) {
  // A complete header announcing 1000 bytes, then the body a byte at a time: closed by the
  // server long before the 100 s the body would take.
  const int fd = testing::ConnectLoopback(http_port_);
  ASSERT_GE(fd, 0);
  const std::string head =
      absl::StrCat("POST /v1/namespaces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ", kKey,
                   "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n");
  ASSERT_EQ(::write(fd, head.data(), head.size()), static_cast<ssize_t>(head.size()));
  int sent = 0;
  for (; sent < 1000; ++sent) {
    if (::send(fd, "a", 1, MSG_NOSIGNAL) != 1 || PeerClosed(fd)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::close(fd);
  EXPECT_LT(sent, 1000) << "the server waited for the whole trickled body";
}

// The TCP state (/proc/net/tcp "st", hex: 01 ESTABLISHED) of the api's end of the connection
// whose client end is `client_fd`; "" when there is none any more.
std::string ServerSideTcpState(int http_port, int client_fd) {
  sockaddr_in local{};
  socklen_t len = sizeof(local);
  if (::getsockname(client_fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return "";
  const std::string want_local = absl::StrCat(":", absl::Hex(http_port, absl::kZeroPad4));
  const std::string want_remote =
      absl::StrCat(":", absl::Hex(ntohs(local.sin_port), absl::kZeroPad4));
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  std::getline(tcp, line);  // header
  while (std::getline(tcp, line)) {
    std::istringstream fields(line);
    std::string slot, local_address, remote_address, state;
    fields >> slot >> local_address >> remote_address >> state;
    if (absl::AsciiStrToUpper(local_address).ends_with(absl::AsciiStrToUpper(want_local)) &&
        absl::AsciiStrToUpper(remote_address).ends_with(absl::AsciiStrToUpper(want_remote))) {
      return state;
    }
  }
  return "";
}

TEST_F(ApiLimitsTest, ClientThatNeverReadsItsResponsesIsCutOff) {
  // One keep-alive connection pipelines requests for the OpenAPI document and never reads: the
  // server's writes stall on a full socket, and it closes the connection after the idle timeout
  // instead of holding it (and the responses) forever: its end of the connection leaves
  // ESTABLISHED while this client still has not read a byte.
  const int fd = testing::ConnectLoopback(http_port_);
  ASSERT_GE(fd, 0);
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  const std::string one = "GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string many;
  for (int i = 0; i < 200; ++i) many += one;
  std::thread writer([&] {
    size_t done = 0;
    while (done < many.size()) {
      const ssize_t n = ::send(fd, many.data() + done, many.size() - done, MSG_NOSIGNAL);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
  });
  ASSERT_TRUE(
      Eventually([&] { return ServerSideTcpState(http_port_, fd) == "01"; }, absl::Seconds(30)))
      << "the api never accepted the connection";
  EXPECT_TRUE(
      Eventually([&] { return ServerSideTcpState(http_port_, fd) != "01"; }, absl::Seconds(60)))
      << "the api still holds the connection of a client that does not read";
  ::shutdown(fd, SHUT_RDWR);
  writer.join();
  ::close(fd);
}

}  // namespace
}  // namespace engram
