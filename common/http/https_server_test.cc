// HttpServer over TLS (Options::tls) and ServerTlsContext's reloading.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"
#include "boost/beast/websocket.hpp"
#include "boost/beast/websocket/ssl.hpp"
#include "common/http/http_server.h"
#include "common/http/tls_context.h"
#include "common/tls/test_certs.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "openssl/x509.h"

namespace engram::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using ::testing::HasSubstr;
using tls::testing::Pem;
using tls::testing::TestCa;
using tls::testing::WriteFileAtomically;

// A blocking HTTPS client on one connection. Handshake() reports a refused handshake.
class TlsClient {
 public:
  TlsClient(int port, const tls::ClientTlsConfig& config) : socket_(ioc_) {
    context_ = *MakeClientSslContext(config);
    stream_ = std::make_unique<beast::ssl_stream<tcp::socket>>(ioc_, *context_);
    beast::get_lowest_layer(*stream_).connect(
        tcp::endpoint(asio::ip::address_v4::loopback(), static_cast<uint16_t>(port)));
    stream_->set_verify_callback(ssl::host_name_verification("localhost"));
  }

  beast::error_code Handshake() {
    beast::error_code ec;
    stream_->handshake(ssl::stream_base::client, ec);
    return ec;
  }

  // CN and serial of the certificate the server presented.
  std::string PeerCertificate() {
    return tls::testing::PeerCertificateSummary(stream_->native_handle());
  }

  // A request; a failed exchange comes back as status 0 with the error in the body.
  bhttp::response<bhttp::string_body> Send(std::string_view method, std::string_view target,
                                           std::string body = "") {
    bhttp::request<bhttp::string_body> request;
    request.version(11);
    request.method_string(beast::string_view(method.data(), method.size()));
    request.target(beast::string_view(target.data(), target.size()));
    request.set(bhttp::field::host, "localhost");
    request.body() = std::move(body);
    request.prepare_payload();
    beast::error_code ec;
    bhttp::write(*stream_, request, ec);
    bhttp::response<bhttp::string_body> response;
    if (!ec) bhttp::read(*stream_, buffer_, response, ec);
    if (ec) {
      response.result(0);
      response.body() = ec.message();
    }
    return response;
  }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  std::shared_ptr<ssl::context> context_;
  std::unique_ptr<beast::ssl_stream<tcp::socket>> stream_;
  beast::flat_buffer buffer_;
};

class HttpsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("https_server_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    Write("ca.crt", ca_.cert_pem());
    const Pem server = ca_.Issue("https-server", 1);
    Write("server.crt", server.cert);
    Write("server.key", server.key);
    const Pem client = ca_.Issue("https-client", 50);
    Write("client.crt", client.cert);
    Write("client.key", client.key);
    TestCa other("other CA");
    Write("other-ca.crt", other.cert_pem());
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  void Write(const std::string& name, const std::string& contents) {
    WriteFileAtomically(dir_ / name, contents);
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  int StartServer(bool mutual) {
    HttpServer::Options options;
    options.address = "127.0.0.1";
    options.drain_timeout = absl::Seconds(10);
    options.tls = {.cert_file = Path("server.crt"),
                   .key_file = Path("server.key"),
                   .client_ca_file = mutual ? Path("ca.crt") : "",
                   .reload_interval = absl::Seconds(1)};
    server_ = std::make_unique<HttpServer>(options);
    server_->Handle("POST", "/echo", [](const Request& request) {
      return Response{.content_type = "text/plain", .body = request.body};
    });
    server_->Handle("GET", "/slow", [this](const Request&) {
      slow_entered_.Notify();
      release_slow_.WaitForNotification();
      return Response{.content_type = "text/plain", .body = "slow done"};
    });
    server_->HandleStream(
        "GET", "/download",
        [](StreamContext& stream) {
          if (!stream.StartResponse(200, "text/plain", {}).ok()) return Response{};
          for (int i = 0; i < 100; ++i) {
            if (!stream.Write(std::string(1000, static_cast<char>('a' + i % 26))).ok()) {
              return Response{};
            }
          }
          (void)stream.Finish();
          return Response{};
        },
        /*max_body_bytes=*/0);
    server_->HandleWebSocket("/ws", {.on_open = [](std::shared_ptr<WebSocketConnection> c) {
                               c->Send("hello over wss");
                             }});
    absl::Status started = server_->Start();
    EXPECT_TRUE(started.ok()) << started;
    return server_->port();
  }

  tls::ClientTlsConfig Client(bool with_identity) const {
    return {.ca_file = Path("ca.crt"),
            .cert_file = with_identity ? Path("client.crt") : "",
            .key_file = with_identity ? Path("client.key") : ""};
  }

  TestCa ca_{"https test CA"};
  std::filesystem::path dir_;
  std::unique_ptr<HttpServer> server_;
  absl::Notification slow_entered_;
  absl::Notification release_slow_;
};

TEST_F(HttpsServerTest, RequestsKeepAliveAndStreamsWorkOverTls) {
  const int port = StartServer(/*mutual=*/false);
  TlsClient client(port, Client(false));
  ASSERT_FALSE(client.Handshake());
  EXPECT_THAT(client.PeerCertificate(), HasSubstr("CN=https-server serial 1"));
  auto first = client.Send("POST", "/echo", "hello over tls");
  EXPECT_EQ(first.result_int(), 200) << first.body();
  EXPECT_EQ(first.body(), "hello over tls");
  const std::string large(300 << 10, 'x');  // Several TLS records and relay buffers.
  auto second = client.Send("POST", "/echo", large);
  EXPECT_EQ(second.result_int(), 200);
  EXPECT_EQ(second.body(), large);
  auto download = client.Send("GET", "/download");
  EXPECT_EQ(download.result_int(), 200) << download.body();
  EXPECT_EQ(download.body().size(), 100000u);
}

TEST_F(HttpsServerTest, WebSocketOverTls) {
  const int port = StartServer(/*mutual=*/false);
  asio::io_context ioc;
  std::shared_ptr<ssl::context> context = *MakeClientSslContext(Client(false));
  beast::websocket::stream<beast::ssl_stream<tcp::socket>> ws(ioc, *context);
  beast::get_lowest_layer(ws).connect(
      tcp::endpoint(asio::ip::address_v4::loopback(), static_cast<uint16_t>(port)));
  ws.next_layer().set_verify_callback(ssl::host_name_verification("localhost"));
  ws.next_layer().handshake(ssl::stream_base::client);
  ws.handshake("localhost", "/ws");
  beast::flat_buffer buffer;
  ws.read(buffer);
  EXPECT_EQ(beast::buffers_to_string(buffer.data()), "hello over wss");
  ws.close(beast::websocket::close_code::normal);
}

TEST_F(HttpsServerTest, PlaintextClientGetsNoResponse) {
  const int port = StartServer(/*mutual=*/false);
  asio::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(asio::ip::address_v4::loopback(), static_cast<uint16_t>(port)));
  const std::string request = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi";
  beast::error_code ec;
  asio::write(socket, asio::buffer(request), ec);
  bhttp::response<bhttp::string_body> response;
  beast::flat_buffer buffer;
  bhttp::read(socket, buffer, response, ec);
  EXPECT_TRUE(ec) << "a plaintext request was answered: " << response.result_int();
}

TEST_F(HttpsServerTest, WrongCaIsRefused) {
  const int port = StartServer(/*mutual=*/false);
  tls::ClientTlsConfig config = Client(false);
  config.ca_file = Path("other-ca.crt");
  TlsClient client(port, config);
  EXPECT_TRUE(client.Handshake());
}

TEST_F(HttpsServerTest, MutualTlsRequiresAClientCertificate) {
  const int port = StartServer(/*mutual=*/true);
  {
    TlsClient anonymous(port, Client(false));
    // TLS 1.3: the server's refusal may arrive after the client's handshake completes.
    const bool refused = static_cast<bool>(anonymous.Handshake()) ||
                         anonymous.Send("POST", "/echo", "x").result_int() == 0;
    EXPECT_TRUE(refused);
  }
  TlsClient client(port, Client(true));
  ASSERT_FALSE(client.Handshake());
  EXPECT_EQ(client.Send("POST", "/echo", "mutual").body(), "mutual");
}

TEST_F(HttpsServerTest, RotatedCertificateIsServedToNewConnections) {
  const int port = StartServer(/*mutual=*/false);
  const Pem rotated = ca_.Issue("https-server-rotated", 2);
  Write("server.key", rotated.key);
  Write("server.crt", rotated.cert);
  std::string seen;
  for (int i = 0; i < 300 && seen.find("serial 2") == std::string::npos; ++i) {
    TlsClient client(port, Client(false));
    if (!client.Handshake()) seen = client.PeerCertificate();
    if (seen.find("serial 2") == std::string::npos) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  EXPECT_THAT(seen, HasSubstr("CN=https-server-rotated serial 2"));
}

TEST_F(HttpsServerTest, ShutdownDeliversTheInFlightResponse) {
  const int port = StartServer(/*mutual=*/false);
  TlsClient client(port, Client(false));
  ASSERT_FALSE(client.Handshake());
  std::thread shutdown;
  std::thread release([&] {
    slow_entered_.WaitForNotification();
    shutdown = std::thread([&] { server_->Shutdown(); });
    release_slow_.Notify();
  });
  auto response = client.Send("GET", "/slow");
  release.join();
  shutdown.join();
  EXPECT_EQ(response.result_int(), 200) << response.body();
  EXPECT_EQ(response.body(), "slow done");
}

TEST_F(HttpsServerTest, StartFailsOnAMissingKeyFile) {
  HttpServer::Options options;
  options.tls = {.cert_file = Path("server.crt"), .key_file = Path("absent.key")};
  HttpServer server(options);
  absl::Status s = server.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--tls_key"));
  EXPECT_THAT(s.message(), HasSubstr("absent.key"));
}

// ServerTlsContext on a fake clock: checks only after the interval, keeps a bad new pair out.
TEST_F(HttpsServerTest, ContextReloadsOnlyGoodPairsAfterTheInterval) {
  absl::Time now = absl::FromUnixSeconds(1000);
  absl::StatusOr<std::unique_ptr<ServerTlsContext>> context =
      ServerTlsContext::Create({.cert_file = Path("server.crt"),
                                .key_file = Path("server.key"),
                                .reload_interval = absl::Seconds(30)},
                               [&] { return now; });
  ASSERT_TRUE(context.ok()) << context.status();
  const auto first = (*context)->Current();
  const Pem rotated = ca_.Issue("https-server-rotated", 2);
  Write("server.crt", rotated.cert);  // The key is still the old one: a bad pair.
  now += absl::Seconds(31);
  EXPECT_EQ((*context)->Current(), first);
  EXPECT_EQ((*context)->generation(), 1);
  Write("server.key", rotated.key);
  now += absl::Seconds(10);  // Within the interval: not checked yet.
  EXPECT_EQ((*context)->Current(), first);
  now += absl::Seconds(30);
  EXPECT_NE((*context)->Current(), first);
  EXPECT_EQ((*context)->generation(), 2);
}

}  // namespace
}  // namespace engram::http
