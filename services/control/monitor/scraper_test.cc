#include "services/control/monitor/scraper.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/write.hpp"
#include "common/http/http_server.h"
#include "common/http/standard_routes.h"
#include "common/metrics/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/control/monitor/fake_http_fetcher.h"
#include "services/control/monitor/http_fetcher.h"
#include "services/control/monitor/prom_text.h"

namespace engram::control {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(SplitHostPortTest, AcceptsNamesIpv4AndBracketedIpv6) {
  absl::StatusOr<HostPort> hp = SplitHostPort("engram-hybrid.engram.svc:9102");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "engram-hybrid.engram.svc");
  EXPECT_EQ(hp->port, "9102");
  hp = SplitHostPort("[::1]:8080");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(hp->port, "8080");
  for (const char* bad : {"", "host", "host:", ":80", "host:0", "host:65536", "host:8x", "::1:80",
                          "[::1]80", "[::1]"}) {
    EXPECT_EQ(SplitHostPort(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ValidateTargetTest, ChecksKindAndAddress) {
  EXPECT_TRUE(ValidateTarget({"storage", "127.0.0.1:9103"}).ok());
  EXPECT_TRUE(ValidateTarget({"control", "localhost:8090"}).ok());
  EXPECT_THAT(ValidateTarget({"db", "127.0.0.1:9103"}).message(), HasSubstr("'db'"));
  EXPECT_THAT(ValidateTarget({"api", "nope"}).message(), HasSubstr("api target"));
}

TEST(NotReadyReasonTest, NamesEveryUnavailableDependency) {
  EXPECT_EQ(NotReadyReason({503, R"({"status":"unavailable","unavailable":[)"
                                 R"({"name":"storage","reason":"not connected"},)"
                                 R"({"name":"recovery","reason":"replaying write-ahead log"}]})"}),
            "storage: not connected; recovery: replaying write-ahead log");
  EXPECT_EQ(NotReadyReason({503, R"({"unavailable":[{"name":"draining"}]})"}), "draining");
  EXPECT_EQ(NotReadyReason({404, "not\nfound"}), "GET /readyz answered HTTP 404: not found");
  EXPECT_EQ(NotReadyReason({500, ""}), "GET /readyz answered HTTP 500");
}

TEST(DegradedReasonTest, ReadyButDegradedSaysWhy) {
  EXPECT_EQ(DegradedReason({200, R"({"status":"degraded","degraded":[)"
                                 R"({"name":"disk","reason":"data directory /data is full"}]})"}),
            "disk: data directory /data is full");
  EXPECT_EQ(DegradedReason({200, R"({"status":"ok"})"}), "");
  EXPECT_EQ(DegradedReason({200, "not json"}), "");
}

TEST(ScraperTest, ResolvesEveryReplicaAndReportsEachState) {
  auto fetcher = std::make_shared<FakeHttpFetcher>();
  fetcher->SetAddresses("engram-hybrid:9102",
                        std::vector<std::string>{"10.0.0.9:9102", "10.0.0.2:9102"});
  fetcher->SetAddresses("gone:8080", absl::UnavailableError("Host not found"));
  fetcher->SetHealthy("10.0.0.2:9102", "up 1\n");
  fetcher->SetResponse("10.0.0.9:9102", "/readyz",
                       HttpResponse{503, R"({"status":"unavailable","unavailable":)"
                                         R"([{"name":"storage","reason":"not connected"}]})"});
  fetcher->SetResponse("10.0.0.9:9102", "/metrics", HttpResponse{500, "oops"});
  fetcher->SetDown("127.0.0.1:9103");
  Scraper scraper(
      {{"storage", "127.0.0.1:9103"}, {"hybrid", "engram-hybrid:9102"}, {"api", "gone:8080"}},
      fetcher, ScraperOptions{});
  const std::vector<InstanceScrape> instances = scraper.ScrapeAll();
  ASSERT_EQ(instances.size(), 4u);

  EXPECT_EQ(instances[0].id, "storage@127.0.0.1:9103");
  EXPECT_EQ(instances[0].readiness, Readiness::kUnreachable);
  EXPECT_THAT(instances[0].reason, HasSubstr("Connection refused"));
  EXPECT_FALSE(instances[0].metrics_text.has_value());

  EXPECT_EQ(instances[1].id, "hybrid@10.0.0.2:9102");  // Addresses sorted.
  EXPECT_EQ(instances[1].address, "10.0.0.2:9102");
  EXPECT_EQ(instances[1].readiness, Readiness::kReady);
  EXPECT_EQ(instances[1].reason, "");
  EXPECT_EQ(instances[1].metrics_text, "up 1\n");

  EXPECT_EQ(instances[2].id, "hybrid@10.0.0.9:9102");
  EXPECT_EQ(instances[2].readiness, Readiness::kNotReady);
  EXPECT_EQ(instances[2].reason, "storage: not connected");
  EXPECT_FALSE(instances[2].metrics_text.has_value());
  EXPECT_EQ(instances[2].metrics_error, "GET /metrics answered HTTP 500");

  EXPECT_EQ(instances[3].id, "api@gone:8080");
  EXPECT_EQ(instances[3].readiness, Readiness::kUnreachable);
  EXPECT_THAT(instances[3].reason, HasSubstr("resolving gone:8080: Host not found"));

  EXPECT_EQ(ReadinessName(Readiness::kReady), "ready");
  EXPECT_EQ(ReadinessName(Readiness::kNotReady), "not_ready");
  EXPECT_EQ(ReadinessName(Readiness::kUnreachable), "unreachable");
}

TEST(ScraperTest, SameInstanceFromTwoTargetsIsScrapedOnce) {
  auto fetcher = std::make_shared<FakeHttpFetcher>();
  fetcher->SetAddresses("a:8080", std::vector<std::string>{"10.0.0.1:8080"});
  fetcher->SetAddresses("b:8080", std::vector<std::string>{"10.0.0.1:8080"});
  fetcher->SetHealthy("10.0.0.1:8080", "");
  Scraper scraper({{"api", "a:8080"}, {"api", "b:8080"}}, fetcher, ScraperOptions{});
  const std::vector<InstanceScrape> instances = scraper.ScrapeAll();
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0].id, "api@10.0.0.1:8080");
  EXPECT_EQ(fetcher->gets(), 2);
}

// Instance "a" answers only after "b" has been asked: a scraper that fetched one instance after
// the other would make "a" wait (here, 30 s, then fail); a concurrent one does not.
class OrderingFetcher final : public HttpFetcher {
 public:
  absl::StatusOr<std::vector<std::string>> Resolve(std::string_view host_port) override {
    return std::vector<std::string>{std::string(host_port)};
  }
  absl::StatusOr<HttpResponse> Get(std::string_view address, std::string_view path, absl::Duration,
                                   size_t) override {
    if (address == "b:1" && path == "/readyz") b_asked_.Notify();
    if (address == "a:1" && path == "/readyz" &&
        !b_asked_.WaitForNotificationWithTimeout(absl::Seconds(30))) {
      return absl::DeadlineExceededError("b was never asked while a was waiting");
    }
    return HttpResponse{200, ""};
  }

 private:
  absl::Notification b_asked_;
};

TEST(ScraperTest, ScrapesInstancesConcurrently) {
  Scraper scraper({{"api", "a:1"}, {"api", "b:1"}}, std::make_shared<OrderingFetcher>(),
                  ScraperOptions{});
  const std::vector<InstanceScrape> instances = scraper.ScrapeAll();
  ASSERT_EQ(instances.size(), 2u);
  EXPECT_EQ(instances[0].readiness, Readiness::kReady) << instances[0].reason;
  EXPECT_EQ(instances[1].readiness, Readiness::kReady) << instances[1].reason;
}

// The real fetcher against a real engram::http::HttpServer.
class BeastFetcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.AddCounter("engram_test_calls", "Test calls.", {"code"}).Add({"OK"}).Increment(3);
    server_ = std::make_unique<http::HttpServer>(http::HttpServer::Options{.port = 0});
    http::AddStandardRoutes(*server_, &registry_, [this] {
      http::ReadinessReport report;
      if (!ready_.load()) report.unavailable.push_back({"storage", "not connected"});
      return report;
    });
    server_->Handle("GET", "/big", [](const http::Request&) {
      return http::Response{.content_type = "text/plain", .body = std::string(10000, 'x')};
    });
    ASSERT_TRUE(server_->Start().ok());
    address_ = "127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override { server_->Shutdown(); }

  metrics::Registry registry_;
  std::atomic<bool> ready_{true};
  std::unique_ptr<http::HttpServer> server_;
  std::string address_;
  std::shared_ptr<HttpFetcher> fetcher_ = NewBeastHttpFetcher();
};

TEST_F(BeastFetcherTest, FetchesReadyzAndMetrics) {
  absl::StatusOr<HttpResponse> ready = fetcher_->Get(address_, "/readyz", absl::Seconds(5), 1024);
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->status, 200);
  absl::StatusOr<HttpResponse> metrics =
      fetcher_->Get(address_, "/metrics", absl::Seconds(5), 1 << 20);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->status, 200);
  absl::StatusOr<MetricSnapshot> parsed = MetricSnapshot::Parse(metrics->body);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->Series("engram_test_calls_total").size(), 1u);
  EXPECT_EQ(parsed->Series("engram_test_calls_total")[0].value, 3);
}

TEST_F(BeastFetcherTest, ScraperReportsNotReadyWithReasons) {
  ready_ = false;
  Scraper scraper({{"storage", address_}}, fetcher_,
                  ScraperOptions{.request_timeout = absl::Seconds(5)});
  const std::vector<InstanceScrape> instances = scraper.ScrapeAll();
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0].id, "storage@" + address_);
  EXPECT_EQ(instances[0].readiness, Readiness::kNotReady);
  EXPECT_EQ(instances[0].reason, "storage: not connected");
  ASSERT_TRUE(instances[0].metrics_text.has_value()) << instances[0].metrics_error;
  EXPECT_THAT(*instances[0].metrics_text, HasSubstr("engram_test_calls_total"));

  ready_ = true;
  const std::vector<InstanceScrape> again = scraper.ScrapeAll();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].readiness, Readiness::kReady);
}

TEST_F(BeastFetcherTest, BodyOverTheLimitIsRefused) {
  absl::StatusOr<HttpResponse> big = fetcher_->Get(address_, "/big", absl::Seconds(5), 1000);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted) << big.status();
  big = fetcher_->Get(address_, "/big", absl::Seconds(5), 10000);
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->body.size(), 10000u);
}

TEST_F(BeastFetcherTest, ResolvesNumericAndLocalNames) {
  absl::StatusOr<std::vector<std::string>> addresses = fetcher_->Resolve(address_);
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  EXPECT_THAT(*addresses, ElementsAre(address_));
  addresses = fetcher_->Resolve("localhost:" + std::to_string(server_->port()));
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  // IPv4 preferred: localhost is one instance, 127.0.0.1.
  EXPECT_THAT(*addresses, ElementsAre(address_));
  addresses = fetcher_->Resolve("[::1]:9102");
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  EXPECT_THAT(*addresses, ElementsAre("[::1]:9102"));
  // RFC 2606: .invalid never resolves.
  EXPECT_FALSE(fetcher_->Resolve("engram.invalid:80").ok());
  EXPECT_EQ(fetcher_->Resolve("no-port").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fetcher_->Get("localhost:80", "/", absl::Seconds(1), 10).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Serves one connection with a canned response (whatever the request), then closes it.
class CannedServer {
 public:
  explicit CannedServer(std::string response)
      : acceptor_(ioc_, boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0)),
        thread_([this, response = std::move(response)] {
          boost::system::error_code ec;
          boost::asio::ip::tcp::socket socket(ioc_);
          acceptor_.accept(socket, ec);
          if (ec) return;
          std::string request;
          char chunk[1024];
          while (request.find("\r\n\r\n") == std::string::npos) {
            const size_t n = socket.read_some(boost::asio::buffer(chunk), ec);
            if (ec) return;
            request.append(chunk, n);
          }
          boost::asio::write(socket, boost::asio::buffer(response), ec);
          socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
        }) {}
  ~CannedServer() { thread_.join(); }
  std::string address() const {
    return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

TEST(BeastFetcherBodyLimitTest, ChunkedAndCloseDelimitedBodiesAreCapped) {
  std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 10; ++i) chunked += "3e8\r\n" + std::string(1000, 'x') + "\r\n";
  chunked += "0\r\n\r\n";
  {
    CannedServer server(chunked);
    absl::StatusOr<HttpResponse> r =
        NewBeastHttpFetcher()->Get(server.address(), "/metrics", absl::Seconds(10), 5000);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  }
  {
    CannedServer server(chunked);
    absl::StatusOr<HttpResponse> r =
        NewBeastHttpFetcher()->Get(server.address(), "/metrics", absl::Seconds(10), 10000);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, std::string(10000, 'x'));
  }
  {
    CannedServer server("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + std::string(10000, 'y'));
    absl::StatusOr<HttpResponse> r =
        NewBeastHttpFetcher()->Get(server.address(), "/metrics", absl::Seconds(10), 5000);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  }
}

TEST(BeastFetcherFailureTest, ClosedPortIsUnreachable) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(
      ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
  const int port = acceptor.local_endpoint().port();
  acceptor.close();
  const std::string address = "127.0.0.1:" + std::to_string(port);
  absl::StatusOr<HttpResponse> r =
      NewBeastHttpFetcher()->Get(address, "/readyz", absl::Seconds(5), 1024);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("connect"));

  Scraper scraper({{"api", address}}, NewBeastHttpFetcher(), ScraperOptions{});
  const std::vector<InstanceScrape> instances = scraper.ScrapeAll();
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0].readiness, Readiness::kUnreachable);
  EXPECT_THAT(instances[0].reason, HasSubstr("refused"));
}

TEST(BeastFetcherFailureTest, ServerThatNeverAnswersTimesOut) {
  // Listening but never accepting: the kernel completes the TCP handshake, nobody ever answers.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(
      ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
  acceptor.listen();
  const std::string address = "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  absl::StatusOr<HttpResponse> r =
      NewBeastHttpFetcher()->Get(address, "/readyz", absl::Milliseconds(200), 1024);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("no answer"));

  Scraper scraper({{"hybrid", address}}, NewBeastHttpFetcher(),
                  ScraperOptions{.request_timeout = absl::Milliseconds(200)});
  const std::vector<InstanceScrape> instances = scraper.ScrapeAll();
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0].readiness, Readiness::kUnreachable);
  EXPECT_THAT(instances[0].reason, HasSubstr("no answer"));
}

}  // namespace
}  // namespace engram::control
