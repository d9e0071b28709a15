#include "common/http/http_server.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "common/http/standard_routes.h"
#include "common/logging/correlation.h"
#include "common/metrics/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace engram::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using ClientResponse = bhttp::response<bhttp::string_body>;

// A tiny blocking HTTP/1.1 client over one TCP connection.
class TestClient {
 public:
  explicit TestClient(int port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(asio::ip::address_v4::loopback(), static_cast<uint16_t>(port)));
  }

  ClientResponse Send(std::string_view method, std::string_view target, std::string body = "",
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    bhttp::request<bhttp::string_body> request;
    request.version(11);
    request.method_string(beast::string_view(method.data(), method.size()));
    request.target(beast::string_view(target.data(), target.size()));
    request.set(bhttp::field::host, "localhost");
    for (auto& [name, value] : headers) request.set(name, value);
    request.body() = std::move(body);
    request.prepare_payload();
    bhttp::write(socket_, request);
    return Read();
  }

  void WriteRaw(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }

  ClientResponse Read() {
    ClientResponse response;
    bhttp::read(socket_, buffer_, response);
    return response;
  }

  // True when the server has closed the connection (the next read sees end of stream).
  bool ServerClosed() {
    beast::error_code ec;
    ClientResponse response;
    bhttp::read(socket_, buffer_, response, ec);
    return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::error::connection_reset;
  }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

nlohmann::json EchoRequest(const Request& request) {
  return {{"method", request.method},
          {"path", request.path},
          {"route", request.route},
          {"params", request.path_params},
          {"query", request.query},
          {"body", request.body},
          {"header", std::string(request.Header("x-test-header"))},
          {"cid", request.correlation_id},
          {"current_cid", std::string(logging::CurrentCorrelationId())}};
}

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServer::Options options = {}) {
    options.address = "127.0.0.1";
    options.metrics = &registry_;
    server_ = std::make_unique<HttpServer>(options);
    const auto echo = [](const Request& request) {
      return Response{.body = EchoRequest(request).dump()};
    };
    server_->Handle("GET", "/v1/namespaces/{namespace}", echo);
    server_->Handle("DELETE", "/v1/namespaces/{namespace}", echo);
    server_->Handle("POST", "/v1/namespaces/{namespace}/concepts", echo);
    server_->Handle("POST", "/v1/namespaces/{namespace}/concepts:batch", echo);
    server_->Handle("GET", "/v1/namespaces/{namespace}/concepts/{id}", echo);
    server_->Handle("POST", "/echo", echo);
    server_->Handle("GET", "/throws",
                    [](const Request&) -> Response { throw std::runtime_error("boom"); });
    server_->Handle("GET", "/created", [](const Request&) {
      return Response{.status = 201,
                      .content_type = "text/plain",
                      .body = "made",
                      .headers = {{"Location", "/x/1"}}};
    });
    server_->Handle("GET", "/slow", [this](const Request&) {
      slow_entered_.Notify();
      slow_release_.WaitForNotification();
      return Response{.body = R"({"slow":true})"};
    });
    AddStandardRoutes(*server_, &registry_, [this] {
      ReadinessReport report;
      if (!ready_.load()) report.unavailable.push_back({"storage", "recovering \"wal\""});
      return report;
    });
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_GT(server_->port(), 0);
  }

  void TearDown() override {
    if (!slow_release_.HasBeenNotified()) slow_release_.Notify();
    if (server_) server_->Shutdown();
  }

  metrics::Registry registry_;
  std::unique_ptr<HttpServer> server_;
  std::atomic<bool> ready_{false};
  absl::Notification slow_entered_;
  absl::Notification slow_release_;
};

TEST_F(HttpServerTest, RoutesWithParamsQueryAndHeaders) {
  StartServer();
  TestClient client(server_->port());
  ClientResponse response =
      client.Send("GET", "/v1/namespaces/news/concepts/a%2Fb?include+vector=true&x=%C3%A9", "",
                  {{"X-TEST-HEADER", "hello"}});
  ASSERT_EQ(response.result_int(), 200);
  EXPECT_EQ(response[bhttp::field::content_type], "application/json");
  const nlohmann::json echoed = nlohmann::json::parse(response.body());
  EXPECT_EQ(echoed["route"], "/v1/namespaces/{namespace}/concepts/{id}");
  EXPECT_EQ(echoed["path"], "/v1/namespaces/news/concepts/a%2Fb");
  EXPECT_EQ(echoed["params"]["namespace"], "news");
  EXPECT_EQ(echoed["params"]["id"], "a/b");
  EXPECT_EQ(echoed["query"]["include vector"], "true");
  EXPECT_EQ(echoed["query"]["x"], "\xC3\xA9");
  EXPECT_EQ(echoed["header"], "hello");
}

TEST_F(HttpServerTest, BatchCustomMethodIsDistinctFromCollection) {
  StartServer();
  TestClient client(server_->port());
  ClientResponse batch = client.Send("POST", "/v1/namespaces/default/concepts:batch", "[1,2]");
  ASSERT_EQ(batch.result_int(), 200);
  nlohmann::json echoed = nlohmann::json::parse(batch.body());
  EXPECT_EQ(echoed["route"], "/v1/namespaces/{namespace}/concepts:batch");
  EXPECT_EQ(echoed["params"]["namespace"], "default");
  EXPECT_EQ(echoed["body"], "[1,2]");

  ClientResponse learn = client.Send("POST", "/v1/namespaces/default/concepts", "{}");
  ASSERT_EQ(learn.result_int(), 200);
  EXPECT_EQ(nlohmann::json::parse(learn.body())["route"], "/v1/namespaces/{namespace}/concepts");
}

TEST_F(HttpServerTest, ResponseStatusAndHeadersPassThrough) {
  StartServer();
  TestClient client(server_->port());
  ClientResponse response = client.Send("GET", "/created");
  EXPECT_EQ(response.result_int(), 201);
  EXPECT_EQ(response[bhttp::field::content_type], "text/plain");
  EXPECT_EQ(response[bhttp::field::location], "/x/1");
  EXPECT_EQ(response.body(), "made");
}

TEST_F(HttpServerTest, UnknownRouteIs404Json) {
  StartServer();
  TestClient client(server_->port());
  ClientResponse response = client.Send("GET", "/nope", "", {{"X-Correlation-ID", "cid-404"}});
  EXPECT_EQ(response.result_int(), 404);
  const nlohmann::json body = nlohmann::json::parse(response.body());
  EXPECT_EQ(body["error"]["code"], "NOT_FOUND");
  EXPECT_EQ(body["error"]["correlationId"], "cid-404");
  EXPECT_TRUE(response.keep_alive());
}

TEST_F(HttpServerTest, WrongMethodIs405WithAllow) {
  StartServer();
  TestClient client(server_->port());
  ClientResponse response = client.Send("PUT", "/v1/namespaces/news");
  EXPECT_EQ(response.result_int(), 405);
  EXPECT_EQ(response[bhttp::field::allow], "DELETE, GET");
  EXPECT_EQ(nlohmann::json::parse(response.body())["error"]["code"], "METHOD_NOT_ALLOWED");
}

TEST_F(HttpServerTest, BadPercentEncodingIs400) {
  StartServer();
  TestClient client(server_->port());
  EXPECT_EQ(client.Send("GET", "/v1/namespaces/bad%zz").result_int(), 400);
  EXPECT_EQ(client.Send("GET", "/v1/namespaces/ok?q=%g").result_int(), 400);
}

TEST_F(HttpServerTest, OversizedContentLengthIs413WithoutReadingBody) {
  StartServer({.max_body_bytes = 1024});
  TestClient client(server_->port());
  // Only the headers are sent: the server must answer from Content-Length alone.
  client.WriteRaw("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000\r\n\r\n");
  ClientResponse response = client.Read();
  EXPECT_EQ(response.result_int(), 413);
  EXPECT_FALSE(response.keep_alive());
  EXPECT_EQ(nlohmann::json::parse(response.body())["error"]["code"], "PAYLOAD_TOO_LARGE");
  EXPECT_TRUE(client.ServerClosed());
}

TEST_F(HttpServerTest, OversizedChunkedBodyIs413WhileReading) {
  StartServer({.max_body_bytes = 1024});
  TestClient client(server_->port());
  const std::string chunk(800, 'x');
  client.WriteRaw(
      "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
      "320\r\n" +
      chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n");
  ClientResponse response = client.Read();
  EXPECT_EQ(response.result_int(), 413);
  EXPECT_TRUE(client.ServerClosed());
}

TEST_F(HttpServerTest, BodyAtTheLimitIsAccepted) {
  StartServer({.max_body_bytes = 1024});
  TestClient client(server_->port());
  ClientResponse response = client.Send("POST", "/echo", std::string(1024, 'y'));
  ASSERT_EQ(response.result_int(), 200);
  EXPECT_EQ(nlohmann::json::parse(response.body())["body"].get<std::string>().size(), 1024u);
}

TEST_F(HttpServerTest, MalformedRequestIs400AndCloses) {
  StartServer();
  TestClient client(server_->port());
  client.WriteRaw("THIS IS NOT HTTP\r\n\r\n");
  ClientResponse response = client.Read();
  EXPECT_EQ(response.result_int(), 400);
  EXPECT_EQ(nlohmann::json::parse(response.body())["error"]["code"], "INVALID_ARGUMENT");
  EXPECT_TRUE(client.ServerClosed());
}

TEST_F(HttpServerTest, OversizedHeadersAre431) {
  StartServer({.max_header_bytes = 1024});
  TestClient client(server_->port());
  client.WriteRaw("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + std::string(4096, 'h') +
                  "\r\n\r\n");
  EXPECT_EQ(client.Read().result_int(), 431);
}

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  StartServer();
  TestClient client(server_->port());
  for (int i = 0; i < 20; ++i) {
    ClientResponse response = client.Send("POST", "/echo", "request " + std::to_string(i));
    ASSERT_EQ(response.result_int(), 200) << i;
    EXPECT_TRUE(response.keep_alive());
    EXPECT_EQ(nlohmann::json::parse(response.body())["body"], "request " + std::to_string(i));
  }
  // An explicit Connection: close is honoured.
  ClientResponse last = client.Send("GET", "/healthz", "", {{"Connection", "close"}});
  EXPECT_EQ(last.result_int(), 200);
  EXPECT_FALSE(last.keep_alive());
  EXPECT_TRUE(client.ServerClosed());
}

TEST_F(HttpServerTest, ConcurrentKeepAliveClientsAreAllServed) {
  StartServer({.threads = 4});
  constexpr int kClients = 8;
  constexpr int kRequestsPerClient = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      TestClient client(server_->port());
      for (int i = 0; i < kRequestsPerClient; ++i) {
        const std::string body = std::to_string(c) + ":" + std::to_string(i);
        ClientResponse response = client.Send("POST", "/echo", body);
        if (response.result_int() == 200 &&
            nlohmann::json::parse(response.body())["body"] == body) {
          ++ok;
        }
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(ok.load(), kClients * kRequestsPerClient);
  EXPECT_THAT(registry_.Serialize(),
              HasSubstr("http_requests_total{route=\"/echo\",method=\"POST\",code=\"200\"} " +
                        std::to_string(kClients * kRequestsPerClient) + "\n"));
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  TestClient client(server_->port());
  client.WriteRaw(
      "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\none"
      "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\ntwo");
  EXPECT_EQ(nlohmann::json::parse(client.Read().body())["body"], "one");
  EXPECT_EQ(nlohmann::json::parse(client.Read().body())["body"], "two");
}

TEST_F(HttpServerTest, ExpectContinueIsHonoured) {
  StartServer();
  TestClient client(server_->port());
  client.WriteRaw(
      "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  ClientResponse interim = client.Read();
  EXPECT_EQ(interim.result_int(), 100);
  client.WriteRaw("hello");
  ClientResponse response = client.Read();
  ASSERT_EQ(response.result_int(), 200);
  EXPECT_EQ(nlohmann::json::parse(response.body())["body"], "hello");
}

TEST_F(HttpServerTest, CorrelationIdIsEchoedOrGenerated) {
  StartServer();
  TestClient client(server_->port());
  ClientResponse given = client.Send("POST", "/echo", "", {{"X-Correlation-ID", "client-id-1"}});
  EXPECT_EQ(given["X-Correlation-ID"], "client-id-1");
  nlohmann::json echoed = nlohmann::json::parse(given.body());
  EXPECT_EQ(echoed["cid"], "client-id-1");
  EXPECT_EQ(echoed["current_cid"], "client-id-1") << "handler thread must carry the id";

  ClientResponse generated = client.Send("POST", "/echo");
  const std::string id(generated["X-Correlation-ID"]);
  EXPECT_TRUE(logging::IsValidCorrelationId(id)) << id;
  EXPECT_EQ(nlohmann::json::parse(generated.body())["cid"], id);

  // Unsafe ids (log injection) are replaced.
  ClientResponse unsafe = client.Send("POST", "/echo", "", {{"X-Correlation-ID", "a b\"c"}});
  EXPECT_NE(unsafe["X-Correlation-ID"], "a b\"c");
  EXPECT_TRUE(logging::IsValidCorrelationId(std::string(unsafe["X-Correlation-ID"])));
}

TEST_F(HttpServerTest, ThrowingHandlerIs500WithoutDetails) {
  StartServer();
  TestClient client(server_->port());
  ClientResponse response = client.Send("GET", "/throws");
  EXPECT_EQ(response.result_int(), 500);
  EXPECT_THAT(response.body(), testing::Not(HasSubstr("boom")));
  EXPECT_EQ(client.Send("GET", "/healthz").result_int(), 200) << "connection still usable";
}

TEST_F(HttpServerTest, StandardRoutes) {
  StartServer();
  TestClient client(server_->port());
  ClientResponse health = client.Send("GET", "/healthz");
  EXPECT_EQ(health.result_int(), 200);
  EXPECT_EQ(nlohmann::json::parse(health.body()), nlohmann::json({{"status", "ok"}}));

  ClientResponse not_ready = client.Send("GET", "/readyz");
  EXPECT_EQ(not_ready.result_int(), 503);
  EXPECT_EQ(
      nlohmann::json::parse(not_ready.body()),
      nlohmann::json::parse(
          R"({"status":"unavailable","unavailable":[{"name":"storage","reason":"recovering \"wal\""}]})"));
  ready_ = true;
  ClientResponse ready = client.Send("GET", "/readyz");
  EXPECT_EQ(ready.result_int(), 200);
  EXPECT_EQ(nlohmann::json::parse(ready.body())["status"], "ok");

  client.Send("POST", "/v1/namespaces/default/concepts:batch", "[]");
  client.Send("GET", "/missing");
  ClientResponse metrics = client.Send("GET", "/metrics");
  EXPECT_EQ(metrics.result_int(), 200);
  EXPECT_THAT(std::string(metrics[bhttp::field::content_type]),
              StartsWith("text/plain; version=0.0.4"));
  EXPECT_THAT(metrics.body(), HasSubstr("# TYPE http_requests_total counter\n"));
  EXPECT_THAT(metrics.body(),
              HasSubstr("http_requests_total{route=\"/v1/namespaces/{namespace}/concepts:batch\","
                        "method=\"POST\",code=\"200\"} 1\n"));
  EXPECT_THAT(metrics.body(),
              HasSubstr("http_requests_total{route=\"/readyz\",method=\"GET\",code=\"503\"} 1\n"));
  EXPECT_THAT(
      metrics.body(),
      HasSubstr("http_requests_total{route=\"unmatched\",method=\"GET\",code=\"404\"} 1\n"));
  EXPECT_THAT(
      metrics.body(),
      HasSubstr("http_request_duration_seconds_count{route=\"/healthz\",method=\"GET\"} 1\n"));
}

TEST_F(HttpServerTest, StartFailsOnPortInUseAndTwice) {
  StartServer();
  EXPECT_EQ(server_->Start().code(), absl::StatusCode::kFailedPrecondition);
  HttpServer other({.address = "127.0.0.1", .port = server_->port()});
  EXPECT_EQ(other.Start().code(), absl::StatusCode::kUnavailable);
  HttpServer bad_address({.address = "not-an-address"});
  EXPECT_EQ(bad_address.Start().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(HttpServerTest, ShutdownFinishesInFlightRequestAndClosesIdleConnections) {
  StartServer({.drain_timeout = absl::Seconds(60)});
  const int port = server_->port();
  TestClient idle(port);
  ASSERT_EQ(idle.Send("GET", "/healthz").result_int(), 200);

  ClientResponse slow_response;
  std::thread slow_client([&] {
    TestClient client(port);
    slow_response = client.Send("GET", "/slow");
  });
  slow_entered_.WaitForNotification();

  std::atomic<bool> shutdown_returned{false};
  std::thread shutdown([&] {
    server_->Shutdown();
    shutdown_returned = true;
  });
  // The idle keep-alive connection is closed by the shutdown, without waiting for the slow one.
  EXPECT_TRUE(idle.ServerClosed());
  EXPECT_FALSE(shutdown_returned.load()) << "Shutdown must wait for the in-flight request";

  slow_release_.Notify();
  slow_client.join();
  shutdown.join();
  EXPECT_EQ(slow_response.result_int(), 200);
  EXPECT_EQ(slow_response.body(), R"({"slow":true})");
  EXPECT_FALSE(slow_response.keep_alive()) << "responses during shutdown close the connection";

  // No longer accepting.
  asio::io_context ioc;
  tcp::socket socket(ioc);
  beast::error_code ec;
  socket.connect(tcp::endpoint(asio::ip::address_v4::loopback(), static_cast<uint16_t>(port)), ec);
  EXPECT_TRUE(ec) << "connect after shutdown should be refused";
}

TEST(HttpServerLifecycleTest, ShutdownWithoutStartAndDestructorAreSafe) {
  HttpServer never_started({});
  never_started.Shutdown();
  never_started.Shutdown();
  HttpServer started({.address = "127.0.0.1"});
  ASSERT_TRUE(started.Start().ok());
  // Destructor shuts down.
}

}  // namespace
}  // namespace engram::http
