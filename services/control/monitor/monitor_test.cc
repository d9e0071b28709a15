#include "services/control/monitor/monitor.h"

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/metrics/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/control/monitor/fake_http_fetcher.h"

namespace engram::control {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1733212345);

absl::Time At(int seconds) { return kT0 + absl::Seconds(seconds); }

// A service's metrics, registered with the same names, labels and buckets as
// common/grpc/server_interceptor.cc and common/http/http_server.cc.
class FakeService {
 public:
  FakeService() {
    grpc_handled_ =
        &registry_.AddCounter("grpc_server_handled_total", "calls", {"service", "method", "code"});
    grpc_seconds_ =
        &registry_.AddHistogram("grpc_server_handling_seconds", "latency", {"service", "method"},
                                metrics::DefaultLatencyBuckets());
    http_requests_ =
        &registry_.AddCounter("http_requests_total", "requests", {"route", "method", "code"});
    http_seconds_ = &registry_.AddHistogram("http_request_duration_seconds", "latency",
                                            {"route", "method"}, metrics::DefaultLatencyBuckets());
  }

  void Grpc(const std::string& service, const std::string& code, int n, double seconds) {
    grpc_handled_->Add({service, "Get", code}).Increment(n);
    for (int i = 0; i < n; ++i) grpc_seconds_->Add({service, "Get"}).Observe(seconds);
  }
  void Http(const std::string& route, const std::string& code, int n, double seconds) {
    http_requests_->Add({route, "GET", code}).Increment(n);
    for (int i = 0; i < n; ++i) http_seconds_->Add({route, "GET"}).Observe(seconds);
  }
  void Info(const std::string& version, absl::Time start) {
    registry_.AddGauge("engram_build_info", "build", {"service", "version"})
        .Add({"engram-api", version})
        .Set(1);
    registry_.AddGauge("process_start_time_seconds", "start")
        .Add({})
        .Set(absl::ToUnixMicros(start) / 1e6);
  }
  metrics::Registry& registry() { return registry_; }
  std::string Text() const { return registry_.Serialize(); }

 private:
  metrics::Registry registry_;
  metrics::CounterFamily* grpc_handled_;
  metrics::HistogramFamily* grpc_seconds_;
  metrics::CounterFamily* http_requests_;
  metrics::HistogramFamily* http_seconds_;
};

class MonitorTest : public ::testing::Test {
 protected:
  std::unique_ptr<Monitor> Make(std::vector<ScrapeTarget> targets,
                                absl::Duration history = absl::Minutes(15)) {
    MonitorOptions options;
    options.targets = std::move(targets);
    options.interval = absl::Seconds(2);
    options.history = history;
    absl::StatusOr<std::unique_ptr<Monitor>> monitor = Monitor::Create(options, fetcher_);
    EXPECT_TRUE(monitor.ok()) << monitor.status();
    return monitor.ok() ? *std::move(monitor) : nullptr;
  }

  std::shared_ptr<FakeHttpFetcher> fetcher_ = std::make_shared<FakeHttpFetcher>();
};

constexpr char kApi[] = "10.0.0.7:8080";

TEST_F(MonitorTest, RatesErrorRatioAndQuantilesFromTwoScrapes) {
  FakeService api;
  api.Info("0.1.0", At(-100));
  // Before the first scrape: slow calls that must not show up in the interval's quantiles.
  api.Grpc("engram.v1.Engram", "OK", 100, 5.0);
  api.Grpc("grpc.health.v1.Health", "OK", 50, 0.00001);
  api.Http("/v1/x", "200", 10, 5.0);
  api.Http("/metrics", "200", 20, 0.00001);
  fetcher_->SetHealthy(kApi, api.Text());
  std::unique_ptr<Monitor> monitor = Make({{"api", kApi}});

  std::shared_ptr<const Tick> first = monitor->ScrapeOnce(At(0));
  ASSERT_EQ(first->services.size(), 1u);
  const ServiceStatus& s0 = first->services[0];
  EXPECT_EQ(s0.id, "api@10.0.0.7:8080");
  EXPECT_EQ(s0.status, Readiness::kReady);
  EXPECT_EQ(s0.version, "0.1.0");
  EXPECT_DOUBLE_EQ(*s0.uptime_seconds, 100);
  EXPECT_FALSE(s0.request_rate.has_value());  // First scrape: no rate yet.
  EXPECT_FALSE(s0.error_ratio.has_value());
  EXPECT_FALSE(s0.p50_seconds.has_value());

  // In the next 2 s: 20 gRPC calls of 3 ms (2 INTERNAL: server faults; 2 INVALID_ARGUMENT: client
  // errors) and 5 REST calls of 200 ms (one 503); health checks and scrapes are left out.
  api.Grpc("engram.v1.Engram", "OK", 16, 0.003);
  api.Grpc("engram.v1.Engram", "INTERNAL", 2, 0.003);
  api.Grpc("engram.v1.Engram", "INVALID_ARGUMENT", 2, 0.003);
  api.Grpc("grpc.health.v1.Health", "OK", 10, 0.00001);
  api.Http("/v1/x", "200", 4, 0.2);
  api.Http("/v1/x", "503", 1, 0.2);
  api.Http("/metrics", "200", 5, 0.00001);
  api.Http("/readyz", "200", 5, 0.00001);
  fetcher_->SetHealthy(kApi, api.Text());

  std::shared_ptr<const Tick> second = monitor->ScrapeOnce(At(2));
  const ServiceStatus& s = second->services[0];
  EXPECT_DOUBLE_EQ(*s.request_rate, 25 / 2.0);
  EXPECT_DOUBLE_EQ(*s.error_ratio, 3 / 25.0);
  // 25 observations: 20 in (0.0025, 0.005], 5 in (0.1, 0.25].
  EXPECT_NEAR(*s.p50_seconds, 0.0025 + 0.0025 * (12.5 / 20), 1e-12);
  EXPECT_NEAR(*s.p95_seconds, 0.1 + 0.15 * (3.75 / 5), 1e-12);
  EXPECT_NEAR(*s.p99_seconds, 0.1 + 0.15 * (4.75 / 5), 1e-12);
  EXPECT_DOUBLE_EQ(*s.uptime_seconds, 102);

  // An idle interval: rate 0, error ratio and quantiles unknown (0/0).
  std::shared_ptr<const Tick> third = monitor->ScrapeOnce(At(4));
  EXPECT_DOUBLE_EQ(*third->services[0].request_rate, 0);
  EXPECT_FALSE(third->services[0].error_ratio.has_value());
  EXPECT_FALSE(third->services[0].p99_seconds.has_value());
}

TEST_F(MonitorTest, MissingBuildInfoAndStartTimeAreNull) {
  FakeService api;
  api.Grpc("engram.v1.Engram", "OK", 1, 0.001);
  fetcher_->SetHealthy(kApi, api.Text());
  std::unique_ptr<Monitor> monitor = Make({{"api", kApi}});
  std::shared_ptr<const Tick> tick = monitor->ScrapeOnce(At(0));
  EXPECT_FALSE(tick->services[0].version.has_value());
  EXPECT_FALSE(tick->services[0].uptime_seconds.has_value());
  const nlohmann::json json = tick->ToJson();
  EXPECT_TRUE(json["services"][0]["version"].is_null());
  EXPECT_TRUE(json["services"][0]["uptimeSeconds"].is_null());
}

TEST_F(MonitorTest, ServiceWithoutRequestMetricsHasNullRate) {
  fetcher_->SetHealthy(kApi, "# TYPE something gauge\nsomething 1\n");
  std::unique_ptr<Monitor> monitor = Make({{"api", kApi}});
  monitor->ScrapeOnce(At(0));
  std::shared_ptr<const Tick> tick = monitor->ScrapeOnce(At(2));
  EXPECT_FALSE(tick->services[0].request_rate.has_value());
}

TEST_F(MonitorTest, UnreachableThenBackUsesTheLastGoodScrape) {
  FakeService api;
  api.Grpc("engram.v1.Engram", "OK", 100, 0.001);
  fetcher_->SetHealthy(kApi, api.Text());
  std::unique_ptr<Monitor> monitor = Make({{"api", kApi}});
  monitor->ScrapeOnce(At(0));

  fetcher_->SetDown(kApi);
  std::shared_ptr<const Tick> down = monitor->ScrapeOnce(At(2));
  const ServiceStatus& d = down->services[0];
  EXPECT_EQ(d.status, Readiness::kUnreachable);
  EXPECT_THAT(d.reason, HasSubstr("Connection refused"));
  EXPECT_FALSE(d.request_rate.has_value());
  EXPECT_FALSE(d.p99_seconds.has_value());
  EXPECT_FALSE(d.uptime_seconds.has_value());
  const absl::StatusOr<std::string> text = monitor->LatestMetricsText("api@10.0.0.7:8080");
  EXPECT_EQ(text.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(text.status().message(), HasSubstr("Connection refused"));
  const nlohmann::json json = down->ToJson()["services"][0];
  EXPECT_EQ(json["status"], "unreachable");
  EXPECT_TRUE(json["requestRate"].is_null());

  api.Grpc("engram.v1.Engram", "OK", 60, 0.001);
  fetcher_->SetHealthy(kApi, api.Text());
  std::shared_ptr<const Tick> back = monitor->ScrapeOnce(At(4));
  EXPECT_EQ(back->services[0].status, Readiness::kReady);
  EXPECT_EQ(back->services[0].reason, "");
  // 60 calls since the last good scrape, 4 s ago.
  EXPECT_DOUBLE_EQ(*back->services[0].request_rate, 15);
  EXPECT_TRUE(monitor->LatestMetricsText("api@10.0.0.7:8080").ok());
}

TEST_F(MonitorTest, RestartCountsEveryCounterFromZero) {
  auto api = std::make_unique<FakeService>();
  api->Info("0.1.0", At(-100));
  api->Grpc("engram.v1.Engram", "OK", 100, 0.001);
  fetcher_->SetHealthy(kApi, api->Text());
  std::unique_ptr<Monitor> monitor = Make({{"api", kApi}});
  monitor->ScrapeOnce(At(0));

  // Restarted 1 s ago and already served 150 calls (more than before: only the start time tells).
  api = std::make_unique<FakeService>();
  api->Info("0.1.1", At(1));
  api->Grpc("engram.v1.Engram", "OK", 150, 0.001);
  fetcher_->SetHealthy(kApi, api->Text());
  std::shared_ptr<const Tick> tick = monitor->ScrapeOnce(At(2));
  EXPECT_DOUBLE_EQ(*tick->services[0].request_rate, 150 / 2.0);
  EXPECT_EQ(tick->services[0].version, "0.1.1");
  EXPECT_DOUBLE_EQ(*tick->services[0].uptime_seconds, 1);

  // A restart without a start time: the counter dropped, so its new value is the increase.
  FakeService bare;
  bare.Grpc("engram.v1.Engram", "OK", 10, 0.001);
  fetcher_->SetHealthy(kApi, bare.Text());
  tick = monitor->ScrapeOnce(At(4));
  EXPECT_DOUBLE_EQ(*tick->services[0].request_rate, 10 / 2.0);
}

TEST_F(MonitorTest, StorageSummaryAndNamespaces) {
  constexpr char kStorage[] = "10.0.0.3:9103";
  metrics::Registry storage;
  storage.AddGauge("engram_storage_write_queue_depth", "q").Add({}).Set(3);
  storage.AddGauge("engram_storage_log_bytes", "wal").Add({}).Set(4096);
  storage.AddGauge("engram_storage_mapped_bytes", "mapped").Add({}).Set(1 << 20);
  auto& concepts = storage.AddGauge("engram_storage_concepts", "c", {"namespace"});
  concepts.Add({"wordnet"}).Set(82115);
  concepts.Add({"default"}).Set(10);
  auto& associations = storage.AddGauge("engram_storage_associations", "a", {"namespace"});
  associations.Add({"wordnet"}).Set(1000);
  associations.Add({"default"}).Set(4);
  auto& unindexed = storage.AddGauge("engram_storage_unindexed_vectors", "u", {"namespace"});
  unindexed.Add({"wordnet"}).Set(60000);
  unindexed.Add({"default"}).Set(0);
  auto& fsync = storage
                    .AddHistogram("engram_storage_fsync_seconds", "fsync", {},
                                  metrics::DefaultLatencyBuckets())
                    .Add({});
  for (int i = 0; i < 5; ++i) fsync.Observe(0.5);
  auto& writer = storage.AddCounter("engram_storage_writer_seconds_total", "w", {"phase"});
  writer.Add({"apply"}).Increment(7);
  writer.Add({"sync"}).Increment(3);
  fetcher_->SetHealthy(kStorage, storage.Serialize());
  std::unique_ptr<Monitor> monitor = Make({{"storage", kStorage}});

  std::shared_ptr<const Tick> first = monitor->ScrapeOnce(At(0));
  EXPECT_EQ(first->storage.write_queue, 3);
  EXPECT_FALSE(first->storage.fsync_p99_seconds.has_value());  // Needs two scrapes.
  EXPECT_FALSE(first->storage.writer_busy.has_value());
  EXPECT_EQ(first->storage.concepts, 82125);

  for (int i = 0; i < 100; ++i) fsync.Observe(0.002);
  writer.Add({"apply"}).Increment(0.5);  // 0.5 + 0.3 s of the 2 s between the scrapes
  writer.Add({"sync"}).Increment(0.3);
  fetcher_->SetHealthy(kStorage, storage.Serialize());
  std::shared_ptr<const Tick> tick = monitor->ScrapeOnce(At(2));
  const StorageSummary& s = tick->storage;
  EXPECT_EQ(s.write_queue, 3);
  EXPECT_EQ(s.wal_bytes, 4096);
  EXPECT_EQ(s.mapped_bytes, 1 << 20);
  EXPECT_EQ(s.concepts, 82125);
  EXPECT_EQ(s.associations, 1004);
  EXPECT_EQ(s.unindexed_vectors, 60000);
  // 100 fsyncs in (0.001, 0.0025]: rank 99.
  EXPECT_NEAR(*s.fsync_p99_seconds, 0.001 + 0.0015 * (99.0 / 100), 1e-12);
  EXPECT_NEAR(*s.writer_busy, 0.4, 1e-12);
  ASSERT_EQ(tick->namespaces.size(), 2u);
  EXPECT_EQ(tick->namespaces[0].name, "default");
  EXPECT_EQ(tick->namespaces[1].name, "wordnet");

  const nlohmann::json json = tick->ToJson();
  EXPECT_EQ(json["storage"]["concepts"], 82125);
  EXPECT_TRUE(json["storage"]["concepts"].is_number_integer());
  EXPECT_TRUE(json["storage"]["fsyncP99Seconds"].is_number_float());
  EXPECT_DOUBLE_EQ(json["storage"]["writerBusy"].get<double>(), 0.4);
  EXPECT_EQ(json["namespaces"],
            nlohmann::json::parse(
                R"([{"name":"default","concepts":10,"associations":4,"unindexedVectors":0},)"
                R"({"name":"wordnet","concepts":82115,"associations":1000,)"
                R"("unindexedVectors":60000}])"));
  EXPECT_EQ(json["storage"]["unindexedVectors"], 60000);
  // No traffic families in this fake storage: the request rate is unknown.
  EXPECT_TRUE(json["services"][0]["requestRate"].is_null());
}

TEST_F(MonitorTest, NoStorageMeansNullStorageFields) {
  fetcher_->SetHealthy(kApi, "");
  std::unique_ptr<Monitor> monitor = Make({{"api", kApi}, {"storage", "10.0.0.3:9103"}});
  const nlohmann::json json = monitor->ScrapeOnce(At(0))->ToJson();
  for (const char* key :
       {"writeQueue", "fsyncP99Seconds", "writerBusy", "walBytes", "mappedBytes", "concepts",
        "associations", "unindexedVectors"}) {
    EXPECT_TRUE(json["storage"][key].is_null()) << key;
  }
  EXPECT_EQ(json["namespaces"], nlohmann::json::array());
  EXPECT_EQ(json["services"][1]["status"], "unreachable");
}

TEST_F(MonitorTest, EveryReplicaIsAnInstanceWithItsOwnStatus) {
  fetcher_->SetAddresses("engram-hybrid:9102",
                         std::vector<std::string>{"10.0.0.5:9102", "10.0.0.4:9102"});
  fetcher_->SetHealthy("10.0.0.4:9102", "");
  fetcher_->SetResponse("10.0.0.5:9102", "/readyz",
                        HttpResponse{503, R"({"status":"unavailable","unavailable":)"
                                          R"([{"name":"storage","reason":"not connected"}]})"});
  fetcher_->SetResponse("10.0.0.5:9102", "/metrics", HttpResponse{200, "broken{\n"});
  std::unique_ptr<Monitor> monitor = Make({{"hybrid", "engram-hybrid:9102"}});
  std::shared_ptr<const Tick> tick = monitor->ScrapeOnce(At(0));
  ASSERT_EQ(tick->services.size(), 2u);
  EXPECT_EQ(tick->services[0].id, "hybrid@10.0.0.4:9102");
  EXPECT_EQ(tick->services[0].status, Readiness::kReady);
  EXPECT_EQ(tick->services[1].id, "hybrid@10.0.0.5:9102");
  EXPECT_EQ(tick->services[1].status, Readiness::kNotReady);
  EXPECT_EQ(tick->services[1].reason, "storage: not connected");

  EXPECT_TRUE(monitor->LatestMetricsText("hybrid@10.0.0.4:9102").ok());
  const absl::StatusOr<std::string> broken = monitor->LatestMetricsText("hybrid@10.0.0.5:9102");
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(broken.status().message(), HasSubstr("line 1"));
  EXPECT_EQ(monitor->LatestMetricsText("hybrid@10.0.0.6:9102").status().code(),
            absl::StatusCode::kNotFound);

  // A ready instance whose metrics are malformed says so in its reason.
  fetcher_->SetResponse("10.0.0.4:9102", "/metrics", HttpResponse{200, "x y z\n"});
  tick = monitor->ScrapeOnce(At(2));
  EXPECT_EQ(tick->services[0].status, Readiness::kReady);
  EXPECT_THAT(tick->services[0].reason, HasSubstr("metrics unavailable"));
}

TEST_F(MonitorTest, JsonHasTheContractShape) {
  FakeService api;
  api.Info("0.1.0", At(-10));
  fetcher_->SetHealthy(kApi, api.Text());
  std::unique_ptr<Monitor> monitor = Make({{"api", kApi}});
  const nlohmann::json json = monitor->ScrapeOnce(At(0) + absl::Milliseconds(200))->ToJson();
  std::set<std::string> keys;
  for (const auto& [key, value] : json.items()) keys.insert(key);
  EXPECT_EQ(keys, (std::set<std::string>{"time", "unixTime", "services", "storage", "namespaces"}));
  EXPECT_EQ(json["time"], "2024-12-03T07:52:25.200Z");
  EXPECT_DOUBLE_EQ(json["unixTime"].get<double>(), 1733212345.2);
  const nlohmann::json& service = json["services"][0];
  keys.clear();
  for (const auto& [key, value] : service.items()) keys.insert(key);
  EXPECT_EQ(keys, (std::set<std::string>{"id", "kind", "address", "status", "reason", "version",
                                         "uptimeSeconds", "requestRate", "errorRatio", "p50Seconds",
                                         "p95Seconds", "p99Seconds"}));
  EXPECT_EQ(service["id"], "api@10.0.0.7:8080");
  EXPECT_EQ(service["kind"], "api");
  EXPECT_EQ(service["address"], "10.0.0.7:8080");
  EXPECT_EQ(service["status"], "ready");
  EXPECT_EQ(service["reason"], "");
  EXPECT_EQ(service["version"], "0.1.0");
  EXPECT_NEAR(service["uptimeSeconds"].get<double>(), 10.2, 1e-6);
  for (const char* key : {"requestRate", "errorRatio", "p50Seconds", "p95Seconds", "p99Seconds"}) {
    EXPECT_TRUE(service[key].is_null()) << key;
  }
  keys.clear();
  for (const auto& [key, value] : json["storage"].items()) keys.insert(key);
  EXPECT_EQ(keys, (std::set<std::string>{"writeQueue", "fsyncP99Seconds", "writerBusy", "walBytes",
                                         "mappedBytes", "concepts", "associations",
                                         "unindexedVectors"}));

  // Non-finite values never reach the JSON.
  Tick tick;
  tick.time = At(0);
  ServiceStatus nan_service;
  nan_service.request_rate = std::numeric_limits<double>::quiet_NaN();
  nan_service.p99_seconds = std::numeric_limits<double>::infinity();
  tick.services.push_back(nan_service);
  tick.storage.concepts = std::numeric_limits<double>::quiet_NaN();
  const nlohmann::json odd = tick.ToJson();
  EXPECT_TRUE(odd["services"][0]["requestRate"].is_null());
  EXPECT_TRUE(odd["services"][0]["p99Seconds"].is_null());
  EXPECT_TRUE(odd["storage"]["concepts"].is_null());
  EXPECT_EQ(odd.dump().find("NaN"), std::string::npos);

  const nlohmann::json history = monitor->HistoryJson();
  EXPECT_EQ(history["intervalSeconds"], 2);
  EXPECT_TRUE(history["intervalSeconds"].is_number_integer());
  ASSERT_EQ(history["ticks"].size(), 1u);
  EXPECT_EQ(history["ticks"][0], json);
}

TEST_F(MonitorTest, HistoryIsABoundedRingOldestFirst) {
  fetcher_->SetHealthy(kApi, "");
  std::unique_ptr<Monitor> monitor = Make({{"api", kApi}}, absl::Seconds(10));
  EXPECT_EQ(monitor->history_capacity(), 5u);
  EXPECT_EQ(monitor->Latest(), nullptr);
  EXPECT_TRUE(monitor->History().empty());
  for (int i = 0; i < 7; ++i) monitor->ScrapeOnce(At(2 * i));
  const std::vector<std::shared_ptr<const Tick>> history = monitor->History();
  ASSERT_EQ(history.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(history[i]->time, At(2 * (i + 2)));
  EXPECT_EQ(monitor->Latest()->time, At(12));
}

TEST_F(MonitorTest, SubscribersGetEveryTickUntilUnsubscribed) {
  fetcher_->SetHealthy(kApi, "");
  std::unique_ptr<Monitor> monitor = Make({{"api", kApi}});
  std::vector<absl::Time> seen;
  std::vector<absl::Time> seen_once;
  const Monitor::SubscriptionId id =
      monitor->Subscribe([&](std::shared_ptr<const Tick> tick) { seen.push_back(tick->time); });
  Monitor::SubscriptionId once_id = 0;
  once_id = monitor->Subscribe([&](std::shared_ptr<const Tick> tick) {
    seen_once.push_back(tick->time);
    monitor->Unsubscribe(once_id);  // From inside a callback: must not deadlock.
  });
  monitor->ScrapeOnce(At(0));
  monitor->ScrapeOnce(At(2));
  monitor->Unsubscribe(id);
  monitor->ScrapeOnce(At(4));
  EXPECT_THAT(seen, ElementsAre(At(0), At(2)));
  EXPECT_THAT(seen_once, ElementsAre(At(0)));
  monitor->Unsubscribe(12345);  // Unknown ids are ignored.
}

TEST_F(MonitorTest, BackgroundLoopTicksUntilStopped) {
  fetcher_->SetHealthy(kApi, "");
  MonitorOptions options;
  options.targets = {{"api", kApi}};
  options.interval = absl::Milliseconds(5);
  options.history = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<Monitor>> monitor = Monitor::Create(options, fetcher_);
  ASSERT_TRUE(monitor.ok());
  std::atomic<int> ticks{0};
  absl::Notification three;
  (*monitor)->Subscribe([&](std::shared_ptr<const Tick>) {
    if (++ticks == 3) three.Notify();
  });
  ASSERT_TRUE((*monitor)->Start().ok());
  EXPECT_EQ((*monitor)->Start().code(), absl::StatusCode::kFailedPrecondition);
  // The limit only keeps a broken loop from hanging the test.
  EXPECT_TRUE(three.WaitForNotificationWithTimeout(absl::Seconds(60)));
  (*monitor)->Stop();
  const int after_stop = ticks.load();
  EXPECT_GE(after_stop, 3);
  (*monitor)->Stop();  // Idempotent.
  EXPECT_EQ(ticks.load(), after_stop);
  EXPECT_EQ((*monitor)->Start().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(MonitorCreateTest, RejectsBadOptions) {
  auto fetcher = std::make_shared<FakeHttpFetcher>();
  MonitorOptions options;
  options.targets = {{"db", "x:1"}};
  EXPECT_EQ(Monitor::Create(options, fetcher).status().code(), absl::StatusCode::kInvalidArgument);
  options.targets = {{"api", "x"}};
  EXPECT_EQ(Monitor::Create(options, fetcher).status().code(), absl::StatusCode::kInvalidArgument);
  options.targets = {{"api", "x:1"}};
  options.interval = absl::ZeroDuration();
  EXPECT_EQ(Monitor::Create(options, fetcher).status().code(), absl::StatusCode::kInvalidArgument);
  options.interval = absl::Seconds(2);
  EXPECT_EQ(Monitor::Create(options, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Monitor::Create(options, fetcher).ok());
}

}  // namespace
}  // namespace engram::control
