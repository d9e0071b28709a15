#include "common/grpc/channel.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc/server_runner.h"
#include "common/tls/test_certs.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"

namespace engram::grpc_util {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

// A TCP proxy on 127.0.0.1 that holds every chunk it forwards for `delay`, each way: a link
// with that much latency, so a TLS handshake through it takes at least two delays.
class LatencyProxy {
 public:
  LatencyProxy(int target_port, std::chrono::milliseconds delay)
      : target_port_(target_port), delay_(delay) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listener_, 16) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "proxy listener: " << std::strerror(errno);
      return;
    }
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~LatencyProxy() {
    ::shutdown(listener_, SHUT_RDWR);
    if (accept_thread_.joinable()) accept_thread_.join();
    for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
    for (std::thread& t : pumps_) t.join();
    ::close(listener_);
    for (int fd : connections_) ::close(fd);
  }
  int port() const { return port_; }

 private:
  void AcceptLoop() {
    for (;;) {
      const int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      const int server = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(target_port_));
      connections_.push_back(client);
      connections_.push_back(server);
      if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::shutdown(client, SHUT_RDWR);
        continue;
      }
      pumps_.emplace_back([this, client, server] { Pump(client, server); });
      pumps_.emplace_back([this, client, server] { Pump(server, client); });
    }
  }
  void Pump(int from, int to) {
    char buffer[16384];
    for (;;) {
      const ssize_t n = ::read(from, buffer, sizeof(buffer));
      if (n <= 0) break;
      std::this_thread::sleep_for(delay_);
      for (ssize_t done = 0; done < n;) {
        const ssize_t w = ::send(to, buffer + done, n - done, MSG_NOSIGNAL);
        if (w <= 0) {
          ::shutdown(from, SHUT_RDWR);
          return;
        }
        done += w;
      }
    }
    ::shutdown(to, SHUT_WR);
  }

  const int target_port_;
  const std::chrono::milliseconds delay_;
  int listener_ = -1;
  int port_ = 0;
  std::thread accept_thread_;
  // Written by the accept thread only; read by the destructor after joining it.
  std::vector<int> connections_;
  std::vector<std::thread> pumps_;
};

std::map<std::string, int> IntArgs(const ::grpc::ChannelArguments& arguments) {
  grpc_channel_args c = arguments.c_channel_args();
  std::map<std::string, int> out;
  for (size_t i = 0; i < c.num_args; ++i) {
    if (c.args[i].type == GRPC_ARG_INTEGER) out[c.args[i].key] = c.args[i].value.integer;
  }
  return out;
}

// Regression (chaos_bench): engram-hybrid's storage channel used gRPC's default backoff (up to
// 120 s), so after a storage outage of a few seconds hybrid took up to several more seconds to
// try again; every downstream channel now caps its reconnect backoff (an attempt's own time
// limit is connect_timeout, below).
TEST(DownstreamChannelTest, ReconnectBackoffStartsSmallAndIsCapped) {
  auto args = IntArgs(DownstreamChannelArguments({}));
  EXPECT_EQ(args[GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS], 100);
  EXPECT_EQ(args[GRPC_ARG_MAX_RECONNECT_BACKOFF_MS], 2000);

  args = IntArgs(DownstreamChannelArguments({.max_reconnect_backoff = absl::Milliseconds(10)}));
  EXPECT_EQ(args[GRPC_ARG_MAX_RECONNECT_BACKOFF_MS], 100);  // never below 100 ms
}

TEST(DownstreamChannelTest, MessageLimitsOnlyWhenAsked) {
  auto args = IntArgs(DownstreamChannelArguments({}));
  EXPECT_EQ(args.count(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH), 0u);
  args = IntArgs(DownstreamChannelArguments({.max_message_bytes = 1 << 20}));
  EXPECT_EQ(args[GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH], 1 << 20);
  EXPECT_EQ(args[GRPC_ARG_MAX_SEND_MESSAGE_LENGTH], 1 << 20);
}

// Regression (a tls_suite_test failure under a loaded sanitizer run: "failed to connect to all
// addresses ... tcp handshaker shutdown"): gRPC gives a connection attempt no more than
// GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, which was the 100 ms backoff, so a TLS handshake slower
// than that was cut off and the waiting call failed UNAVAILABLE. Through a link of 150 ms each
// way the first call must succeed, on a fresh channel, without wait_for_ready.
TEST(DownstreamChannelTest, ATlsHandshakeSlowerThanTheReconnectBackoffConnects) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / absl::StrCat("grpc_channel_test_", ::getpid());
  std::filesystem::create_directories(dir);
  tls::testing::TestCa ca("engram test CA");
  const tls::testing::Pem server = ca.Issue("engram-test-server", 1);
  tls::testing::WriteFileAtomically(dir / "ca.crt", ca.cert_pem());
  tls::testing::WriteFileAtomically(dir / "server.crt", server.cert);
  tls::testing::WriteFileAtomically(dir / "server.key", server.key);

  grpcutil::ServerRunner::Options options;
  options.grpc_address = "127.0.0.1:0";
  options.drain_timeout = absl::Seconds(1);
  options.tls = {.cert_file = (dir / "server.crt").string(),
                 .key_file = (dir / "server.key").string()};
  grpcutil::ServerRunner runner(options);
  ASSERT_TRUE(runner.Start().ok());
  runner.SetServing(true);

  constexpr auto kDelay = std::chrono::milliseconds(150);
  {
    LatencyProxy proxy(runner.port(), kDelay);
    ASSERT_NE(proxy.port(), 0);
    auto channel = MakeDownstreamChannel(absl::StrCat("127.0.0.1:", proxy.port()),
                                         {.tls = {.ca_file = (dir / "ca.crt").string()}});
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    HealthCheckResponse response;
    const auto start = std::chrono::steady_clock::now();
    const grpc::Status status =
        Health::NewStub(channel)->Check(&context, HealthCheckRequest(), &response);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
    // The link really was that slow: the handshake and the call crossed it at least twice.
    EXPECT_GE(took, 2 * kDelay);
  }
  runner.Shutdown();
  std::filesystem::remove_all(dir);
}

TEST(DownstreamChannelTest, ConnectTimeoutIsAtLeast100Ms) {
  EXPECT_EQ(IntArgs(DownstreamChannelArguments({}))[GRPC_ARG_MIN_RECONNECT_BACKOFF_MS], 5000);
  EXPECT_EQ(IntArgs(DownstreamChannelArguments(
                {.connect_timeout = absl::Milliseconds(5)}))[GRPC_ARG_MIN_RECONNECT_BACKOFF_MS],
            100);
}

}  // namespace
}  // namespace engram::grpc_util
