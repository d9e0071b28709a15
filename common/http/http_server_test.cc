#include "common/http/http_server.h"

#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/websocket.hpp"
#include "common/http/json_error.h"
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
namespace websocket = boost::beast::websocket;
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

  // Like WriteRaw, but a server that stops reading (and closes) is not an error here.
  void WriteRawIgnoringErrors(std::string_view bytes) {
    beast::error_code ignored;
    asio::write(socket_, asio::buffer(bytes), ignored);
  }

  // Reads a response with a body of any size; `ec` reports a truncated or failed one.
  ClientResponse ReadLarge(beast::error_code& ec) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    bhttp::read(socket_, buffer_, parser, ec);
    return parser.release();
  }

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

// Server-side view of the stream route /upload.
struct UploadState {
  std::mutex mu;
  std::string body;
  absl::Status error;
  int calls = 0;
  absl::Notification entered;
  absl::Notification failed;
};

// Server-side view of the WebSocket route /ws.
struct WebSocketState {
  std::mutex mu;
  std::shared_ptr<WebSocketConnection> connection;
  absl::Notification opened;
  absl::Notification closed;
  std::atomic<int> close_calls{0};
};

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServer::Options options = {},
                   const std::function<void(HttpServer&)>& add_routes = {}) {
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
    if (add_routes) add_routes(*server_);
    AddStandardRoutes(*server_, &registry_, [this] {
      ReadinessReport report;
      if (!ready_.load()) report.unavailable.push_back({"storage", "recovering \"wal\""});
      if (degraded_.load()) report.degraded.push_back({"disk", "data directory /d is full"});
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
  std::atomic<bool> degraded_{false};
  absl::Notification slow_entered_;
  absl::Notification slow_release_;
  // Members, not test locals: the server (shut down in TearDown) may call back until then.
  UploadState upload_;
  WebSocketState websocket_;
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

TEST_F(HttpServerTest, DefaultHeadersOnEveryResponseUnlessTheHandlerSetsThem) {
  HttpServer::Options options;
  options.default_headers = {{"X-Frame-Options", "DENY"}, {"Location", "/default"}};
  StartServer(options, [](HttpServer& server) {
    server.HandleStream("GET", "/stream", [](StreamContext& ctx) {
      EXPECT_TRUE(ctx.StartResponse(200, "text/plain", {}).ok());
      EXPECT_TRUE(ctx.Write("x").ok());
      EXPECT_TRUE(ctx.Finish().ok());
      return Response{};
    }, 1024);
  });
  TestClient client(server_->port());
  ClientResponse ok = client.Send("GET", "/v1/namespaces/a");
  EXPECT_EQ(ok[bhttp::field::x_frame_options], "DENY");
  ClientResponse missing = client.Send("GET", "/nope");  // an error the server itself wrote
  EXPECT_EQ(missing.result_int(), 404);
  EXPECT_EQ(missing[bhttp::field::x_frame_options], "DENY");
  ClientResponse own = client.Send("GET", "/created");  // the handler's Location wins
  EXPECT_EQ(own[bhttp::field::location], "/x/1");
  TestClient streamed(server_->port());
  ClientResponse stream = streamed.Send("GET", "/stream");
  EXPECT_EQ(stream[bhttp::field::x_frame_options], "DENY");
  EXPECT_EQ(stream.body(), "x");
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
  // Ready but degraded: the probe still passes (200) and the body says what is wrong.
  degraded_ = true;
  ClientResponse degraded = client.Send("GET", "/readyz");
  EXPECT_EQ(degraded.result_int(), 200);
  EXPECT_EQ(nlohmann::json::parse(degraded.body()),
            nlohmann::json::parse(R"({"status":"degraded","degraded":)"
                                  R"([{"name":"disk","reason":"data directory /d is full"}]})"));
  degraded_ = false;

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

// ---- Stream routes ----

// `size` bytes of a pattern that a shifted or dropped piece would not reproduce.
std::string TestBytes(size_t size) {
  std::string bytes(size, '\0');
  uint32_t x = 12345;
  for (char& c : bytes) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 23);
  }
  return bytes;
}

constexpr size_t kDownloadBytes = 5 << 20;

// GET /download streams kDownloadBytes in 64 KiB chunks; ?abort=1 aborts after 1 MiB;
// ?finish=0 returns after 1 MiB without Finish().
void AddDownloadRoute(HttpServer& server) {
  server.HandleStream(
      "GET", "/download",
      [](StreamContext& stream) {
        const std::string bytes = TestBytes(kDownloadBytes);
        const bool abort = stream.request().query.count("abort") > 0;
        const bool finish = !stream.request().query.count("finish");
        EXPECT_EQ(stream.Write("early").code(), absl::StatusCode::kFailedPrecondition);
        if (!stream
                 .StartResponse(200, "application/octet-stream",
                                {{"X-Snapshot", "s1"}, {"Content-Length", "1"}})
                 .ok()) {
          return Response{};
        }
        for (size_t offset = 0; offset < bytes.size(); offset += 64 << 10) {
          if (offset == (1 << 20) && abort) {
            stream.Abort();
            EXPECT_FALSE(stream.Write("more").ok());
            return Response{};
          }
          if (offset == (1 << 20) && !finish) return Response{};
          if (!stream.Write(std::string_view(bytes).substr(offset, 64 << 10)).ok()) {
            return Response{};
          }
        }
        EXPECT_TRUE(stream.Finish().ok());
        return Response{};
      },
      /*max_body_bytes=*/0);
}

TEST_F(HttpServerTest, StreamedDownloadArrivesIntactInChunks) {
  StartServer({}, AddDownloadRoute);
  TestClient client(server_->port());
  client.WriteRaw("GET /download HTTP/1.1\r\nHost: a\r\nX-Correlation-ID: dl-1\r\n\r\n");
  beast::error_code ec;
  ClientResponse response = client.ReadLarge(ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_TRUE(response.chunked());
  EXPECT_EQ(response[bhttp::field::content_type], "application/octet-stream");
  EXPECT_EQ(response["X-Snapshot"], "s1");
  EXPECT_EQ(response["X-Correlation-ID"], "dl-1");
  EXPECT_TRUE(response.keep_alive());
  EXPECT_TRUE(response.body() == TestBytes(kDownloadBytes)) << "body differs";

  // The connection is reused for the next request.
  EXPECT_EQ(client.Send("GET", "/healthz").result_int(), 200);
  EXPECT_THAT(
      registry_.Serialize(),
      HasSubstr("http_requests_total{route=\"/download\",method=\"GET\",code=\"200\"} 1\n"));
}

TEST_F(HttpServerTest, AbortedStreamIsTruncatedForTheClient) {
  StartServer({}, AddDownloadRoute);
  for (const char* target : {"/download?abort=1", "/download?finish=0"}) {
    TestClient client(server_->port());
    client.WriteRaw(absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: a\r\n\r\n"));
    beast::error_code ec;
    ClientResponse response = client.ReadLarge(ec);
    EXPECT_TRUE(ec) << target << ": a truncated chunked body must fail";
    EXPECT_LT(response.body().size(), kDownloadBytes) << target;
  }
}

TEST_F(HttpServerTest, StreamHandlerSeesTheClientGoAway) {
  absl::Notification started, saw_open, gone;
  StartServer({}, [&](HttpServer& server) {
    server.HandleStream(
        "GET", "/wait",
        [&](StreamContext& stream) {
          EXPECT_TRUE(stream.StartResponse(200, "text/event-stream", {}).ok());
          EXPECT_TRUE(stream.Write("event: hello\ndata: {}\n\n").ok());
          if (!stream.ClientGone()) saw_open.Notify();
          started.Notify();
          // Waits for the client to leave (no timing: the test closes the socket after `started`).
          while (!stream.ClientGone()) absl::SleepFor(absl::Milliseconds(5));
          gone.Notify();
          return Response{};
        },
        /*max_body_bytes=*/0);
  });
  {
    TestClient client(server_->port());
    client.WriteRaw("GET /wait HTTP/1.1\r\nHost: a\r\n\r\n");
    started.WaitForNotification();
  }  // the client closes its connection
  gone.WaitForNotification();
  EXPECT_TRUE(saw_open.HasBeenNotified()) << "a connected client is not gone";
}

// POST /upload (limit kUploadLimit) reads the body in 64 KiB pieces and stores it.
constexpr size_t kUploadLimit = 8 << 20;

void AddUploadRoute(HttpServer& server, UploadState* state) {
  server.HandleStream(
      "POST", "/upload",
      [state](StreamContext& stream) {
        EXPECT_EQ(logging::CurrentCorrelationId(), stream.request().correlation_id);
        EXPECT_EQ(stream.request().route, "/upload");
        if (!state->entered.HasBeenNotified()) state->entered.Notify();
        std::string body;
        std::vector<char> buffer(64 << 10);
        while (true) {
          absl::StatusOr<size_t> n = stream.ReadBody(buffer.data(), buffer.size());
          if (!n.ok()) {
            std::lock_guard lock(state->mu);
            ++state->calls;
            state->error = n.status();
            state->failed.Notify();
            return Response{.status = 413, .body = "{}"};
          }
          if (*n == 0) break;
          body.append(buffer.data(), *n);
        }
        std::lock_guard lock(state->mu);
        ++state->calls;
        state->body = std::move(body);
        return Response{.body = absl::StrCat(R"({"bytes":)", state->body.size(), "}")};
      },
      kUploadLimit);
}

TEST_F(HttpServerTest, StreamedUploadOverTheServerLimitArrivesIntact) {
  UploadState& state = upload_;
  StartServer({.max_body_bytes = 1024},
              [&](HttpServer& server) { AddUploadRoute(server, &state); });
  const std::string upload = TestBytes(3 << 20);
  TestClient client(server_->port());

  // Content-Length.
  ClientResponse response = client.Send("POST", "/upload", upload);
  ASSERT_EQ(response.result_int(), 200);
  EXPECT_EQ(response.body(), R"({"bytes":3145728})");
  EXPECT_TRUE(response.keep_alive());
  {
    std::lock_guard lock(state.mu);
    EXPECT_TRUE(state.body == upload);
    state.body.clear();
  }

  // Chunked, in uneven chunks, on the same connection.
  std::string chunked = "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t offset = 0; offset < upload.size();) {
    const size_t size = std::min<size_t>(upload.size() - offset, 100000 + offset % 7);
    absl::StrAppend(&chunked, absl::Hex(size), "\r\n", upload.substr(offset, size), "\r\n");
    offset += size;
  }
  chunked += "0\r\n\r\n";
  client.WriteRaw(chunked);
  response = client.Read();
  ASSERT_EQ(response.result_int(), 200);
  {
    std::lock_guard lock(state.mu);
    EXPECT_TRUE(state.body == upload);
    state.body.clear();
  }

  // Expect: 100-continue, as curl sends for large uploads.
  client.WriteRaw(absl::StrCat(
      "POST /upload HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: ", upload.size(),
      "\r\n\r\n"));
  EXPECT_EQ(client.Read().result_int(), 100);
  client.WriteRaw(upload);
  response = client.Read();
  ASSERT_EQ(response.result_int(), 200);
  {
    std::lock_guard lock(state.mu);
    EXPECT_TRUE(state.body == upload);
    EXPECT_EQ(state.calls, 3);
  }
  EXPECT_THAT(registry_.Serialize(),
              HasSubstr("http_requests_total{route=\"/upload\",method=\"POST\",code=\"200\"} 3\n"));

  // A plain route still has Options::max_body_bytes.
  EXPECT_EQ(client.Send("POST", "/echo", std::string(2048, 'x')).result_int(), 413);
}

TEST_F(HttpServerTest, StreamedUploadOverTheRouteLimitIs413) {
  UploadState& state = upload_;
  StartServer({.max_body_bytes = 1024},
              [&](HttpServer& server) { AddUploadRoute(server, &state); });
  {
    // Content-Length over the limit: answered from the header, the handler never runs.
    TestClient client(server_->port());
    client.WriteRaw(absl::StrCat(
        "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: ", kUploadLimit + 1, "\r\n\r\n"));
    ClientResponse response = client.Read();
    EXPECT_EQ(response.result_int(), 413);
    EXPECT_EQ(nlohmann::json::parse(response.body())["error"]["code"], "PAYLOAD_TOO_LARGE");
    EXPECT_TRUE(client.ServerClosed());
    std::lock_guard lock(state.mu);
    EXPECT_EQ(state.calls, 0);
  }
  {
    // Chunked over the limit: the handler's read fails with RESOURCE_EXHAUSTED.
    TestClient client(server_->port());
    const std::string chunk(1 << 20, 'c');
    std::string request = "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (size_t sent = 0; sent <= kUploadLimit; sent += chunk.size()) {
      absl::StrAppend(&request, absl::Hex(chunk.size()), "\r\n", chunk, "\r\n");
    }
    request += "0\r\n\r\n";
    client.WriteRawIgnoringErrors(request);
    ASSERT_TRUE(state.failed.WaitForNotificationWithTimeout(absl::Seconds(30)));
    std::lock_guard lock(state.mu);
    EXPECT_EQ(state.error.code(), absl::StatusCode::kResourceExhausted) << state.error;
  }
}

TEST_F(HttpServerTest, StalledUploadIsCutOffAfterTheIdleTimeout) {
  UploadState& state = upload_;
  StartServer({.idle_timeout = absl::Milliseconds(200)},
              [&](HttpServer& server) { AddUploadRoute(server, &state); });
  TestClient client(server_->port());
  client.WriteRaw("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" +
                  std::string(1000, 'x'));
  // The client sends nothing more.
  ASSERT_TRUE(state.failed.WaitForNotificationWithTimeout(absl::Seconds(30)));
  {
    std::lock_guard lock(state.mu);
    EXPECT_EQ(state.error.code(), absl::StatusCode::kDeadlineExceeded) << state.error;
  }
  ClientResponse response = client.Read();
  EXPECT_EQ(response.result_int(), 413) << "the handler's response is still sent";
  EXPECT_FALSE(response.keep_alive()) << "the body was not read to its end";
  EXPECT_TRUE(client.ServerClosed());
}

TEST_F(HttpServerTest, ShutdownFailsABlockedStreamAfterTheDrainTimeout) {
  UploadState& state = upload_;
  StartServer({.drain_timeout = absl::Milliseconds(200)},
              [&](HttpServer& server) { AddUploadRoute(server, &state); });
  TestClient client(server_->port());
  client.WriteRaw("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\nxyz");
  // The handler now waits (idle_timeout is 60 s) for a body that never comes.
  ASSERT_TRUE(state.entered.WaitForNotificationWithTimeout(absl::Seconds(30)));
  server_->Shutdown();
  ASSERT_TRUE(state.failed.HasBeenNotified());
  std::lock_guard lock(state.mu);
  EXPECT_EQ(state.error.code(), absl::StatusCode::kUnavailable) << state.error;
}

TEST_F(HttpServerTest, ThrowingStreamHandlerIs500) {
  StartServer({}, [](HttpServer& server) {
    server.HandleStream(
        "GET", "/stream-throws",
        [](StreamContext&) -> Response { throw std::runtime_error("boom"); }, 0);
    server.HandleStream(
        "GET", "/stream-error",
        [](StreamContext& stream) {
          return JsonErrorResponse(absl::NotFoundError("no snapshot"),
                                   stream.request().correlation_id);
        },
        0);
  });
  TestClient client(server_->port());
  ClientResponse response = client.Send("GET", "/stream-throws");
  EXPECT_EQ(response.result_int(), 500);
  EXPECT_THAT(response.body(), testing::Not(HasSubstr("boom")));
  response = client.Send("GET", "/stream-error", "", {{"X-Correlation-ID", "se-1"}});
  EXPECT_EQ(response.result_int(), 404);
  EXPECT_EQ(response["X-Correlation-ID"], "se-1");
  EXPECT_EQ(nlohmann::json::parse(response.body())["error"]["correlationId"], "se-1");
  EXPECT_TRUE(response.keep_alive());
  EXPECT_EQ(client.Send("GET", "/healthz").result_int(), 200) << "connection still usable";
}

// ---- WebSocket routes ----

using ClientWebSocket = websocket::stream<tcp::socket>;

void AddWebSocketRoute(HttpServer& server, WebSocketState* state, size_t max_queued = 64) {
  server.HandleWebSocket("/ws", {.authorize =
                                     [](const Request& request) {
                                       if (request.Header("Authorization") != "Bearer good") {
                                         return absl::UnauthenticatedError("missing or bad token");
                                       }
                                       return absl::OkStatus();
                                     },
                                 .on_open =
                                     [state](std::shared_ptr<WebSocketConnection> connection) {
                                       std::lock_guard lock(state->mu);
                                       state->connection = std::move(connection);
                                       state->opened.Notify();
                                     },
                                 .on_close =
                                     [state](WebSocketConnection* connection) {
                                       EXPECT_FALSE(connection->open());
                                       ++state->close_calls;
                                       state->closed.Notify();
                                     },
                                 .max_queued = max_queued});
}

// Connects and upgrades; returns the 101 response.
websocket::response_type ConnectWebSocket(ClientWebSocket& ws, int port, std::string cid = "") {
  ws.next_layer().connect(
      tcp::endpoint(asio::ip::address_v4::loopback(), static_cast<uint16_t>(port)));
  ws.set_option(websocket::stream_base::decorator([cid](websocket::request_type& request) {
    request.set(bhttp::field::authorization, "Bearer good");
    if (!cid.empty()) request.set("X-Correlation-ID", cid);
  }));
  websocket::response_type response;
  ws.handshake(response, "localhost", "/ws");
  return response;
}

TEST_F(HttpServerTest, WebSocketRefusedByAuthorizeIs401WithoutUpgrade) {
  WebSocketState& state = websocket_;
  StartServer({}, [&](HttpServer& server) { AddWebSocketRoute(server, &state); });
  TestClient client(server_->port());
  ClientResponse response = client.Send("GET", "/ws", "",
                                        {{"Connection", "Upgrade"},
                                         {"Upgrade", "websocket"},
                                         {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                                         {"Sec-WebSocket-Version", "13"},
                                         {"X-Correlation-ID", "ws-401"}});
  EXPECT_EQ(response.result_int(), 401);
  const nlohmann::json body = nlohmann::json::parse(response.body());
  EXPECT_EQ(body["error"]["code"], "UNAUTHENTICATED");
  EXPECT_EQ(body["error"]["correlationId"], "ws-401");

  // A plain GET on the route names the missing upgrade.
  response = client.Send("GET", "/ws");
  EXPECT_EQ(response.result_int(), 426);
  EXPECT_EQ(response[bhttp::field::upgrade], "websocket");
  EXPECT_THAT(response.body(), HasSubstr("Upgrade: websocket"));
  EXPECT_FALSE(state.opened.HasBeenNotified());
}

TEST_F(HttpServerTest, WebSocketDeliversMessagesInOrderAndReportsTheClientsClose) {
  WebSocketState& state = websocket_;
  StartServer({}, [&](HttpServer& server) { AddWebSocketRoute(server, &state); });
  asio::io_context ioc;
  ClientWebSocket ws(ioc);
  const websocket::response_type upgrade = ConnectWebSocket(ws, server_->port(), "ws-cid-1");
  EXPECT_EQ(upgrade.result_int(), 101);
  EXPECT_EQ(upgrade["X-Correlation-ID"], "ws-cid-1");
  ASSERT_TRUE(state.opened.WaitForNotificationWithTimeout(absl::Seconds(30)));
  std::shared_ptr<WebSocketConnection> connection;
  {
    std::lock_guard lock(state.mu);
    connection = state.connection;
  }
  EXPECT_TRUE(connection->open());
  EXPECT_EQ(connection->request().correlation_id, "ws-cid-1");
  EXPECT_EQ(connection->request().route, "/ws");

  constexpr int kMessages = 50;
  std::thread sender([&] {
    for (int i = 0; i < kMessages; ++i) EXPECT_TRUE(connection->Send(absl::StrCat("m", i)));
  });
  for (int i = 0; i < kMessages; ++i) {
    beast::flat_buffer buffer;
    ws.read(buffer);
    EXPECT_TRUE(ws.got_text());
    EXPECT_EQ(beast::buffers_to_string(buffer.data()), absl::StrCat("m", i));
  }
  sender.join();
  ws.write(asio::buffer(std::string("ignored by the server")));

  ws.close(websocket::close_code::normal);
  ASSERT_TRUE(state.closed.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_FALSE(connection->open());
  EXPECT_FALSE(connection->Send("late"));
  EXPECT_EQ(state.close_calls.load(), 1);
  EXPECT_THAT(registry_.Serialize(),
              HasSubstr("http_requests_total{route=\"/ws\",method=\"GET\",code=\"101\"} 1\n"));
}

TEST_F(HttpServerTest, WebSocketTooSlowClientIsClosed) {
  WebSocketState& state = websocket_;
  StartServer({}, [&](HttpServer& server) { AddWebSocketRoute(server, &state, 4); });
  asio::io_context ioc;
  ClientWebSocket ws(ioc);
  ConnectWebSocket(ws, server_->port());
  ASSERT_TRUE(state.opened.WaitForNotificationWithTimeout(absl::Seconds(30)));
  std::shared_ptr<WebSocketConnection> connection;
  {
    std::lock_guard lock(state.mu);
    connection = state.connection;
  }
  // The client reads nothing: once the socket buffers are full, messages queue up.
  const std::string message(64 << 10, 'm');
  bool refused = false;
  for (int i = 0; i < 100000 && !refused; ++i) refused = !connection->Send(message);
  EXPECT_TRUE(refused);
  ASSERT_TRUE(state.closed.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_FALSE(connection->open());
  EXPECT_FALSE(connection->Send("x"));
}

TEST_F(HttpServerTest, ShutdownClosesOpenWebSockets) {
  WebSocketState& state = websocket_;
  StartServer({}, [&](HttpServer& server) { AddWebSocketRoute(server, &state); });
  asio::io_context ioc;
  ClientWebSocket ws(ioc);
  ConnectWebSocket(ws, server_->port());
  ASSERT_TRUE(state.opened.WaitForNotificationWithTimeout(absl::Seconds(30)));
  beast::error_code read_ec;
  std::thread reader([&] {
    beast::flat_buffer buffer;
    ws.read(buffer, read_ec);  // Answers the server's close frame.
  });
  server_->Shutdown();
  reader.join();
  EXPECT_EQ(read_ec, websocket::error::closed) << read_ec.message();
  EXPECT_EQ(ws.reason().code, websocket::close_code::going_away);
  EXPECT_TRUE(state.closed.HasBeenNotified());
  std::lock_guard lock(state.mu);
  EXPECT_FALSE(state.connection->open());
  EXPECT_FALSE(state.connection->Send("after shutdown"));
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
