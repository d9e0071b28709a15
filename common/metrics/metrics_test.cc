#include "common/metrics/metrics.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::metrics {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(CounterTest, IncrementsAndIgnoresNegative) {
  Counter counter;
  counter.Increment();
  counter.Increment(2.5);
  counter.Increment(-10);
  counter.Increment(std::nan(""));
  EXPECT_DOUBLE_EQ(counter.value(), 3.5);
}

TEST(GaugeTest, SetAddSub) {
  Gauge gauge;
  gauge.Set(10);
  gauge.Add(5);
  gauge.Sub(2.5);
  gauge.Decrement();
  EXPECT_DOUBLE_EQ(gauge.value(), 11.5);
}

TEST(HistogramTest, BucketsAreUpperInclusive) {
  Histogram histogram({1, 2, 5});
  for (double v : {0.5, 1.0, 1.5, 2.0, 4.0, 5.0, 7.0, 100.0}) histogram.Observe(v);
  histogram.Observe(std::nan(""));
  const HistogramSnapshot snapshot = histogram.Snapshot();
  EXPECT_THAT(snapshot.bucket_counts, ElementsAre(2, 2, 2, 2));
  EXPECT_EQ(snapshot.count, 8u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 121.0);
  EXPECT_EQ(snapshot.CumulativeCount(0), 2u);
  EXPECT_EQ(snapshot.CumulativeCount(2), 6u);
  EXPECT_EQ(snapshot.CumulativeCount(3), 8u);
}

// Observe and Snapshot share the histogram's lock (prometheus::Histogram), so a snapshot taken
// during observations is consistent: its sum, count and buckets are from one instant.
TEST(HistogramTest, SnapshotIsConsistentDuringObservations) {
  Histogram histogram({0.5, 1, 2});
  std::atomic<bool> stop{false};
  std::vector<std::thread> observers;
  for (int t = 0; t < 2; ++t) {
    observers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) histogram.Observe(1.0);
    });
  }
  for (int i = 0; i < 2000; ++i) {
    const HistogramSnapshot snapshot = histogram.Snapshot();
    ASSERT_EQ(snapshot.sum, static_cast<double>(snapshot.count));
    ASSERT_EQ(snapshot.bucket_counts[1], snapshot.count);
    ASSERT_EQ(snapshot.CumulativeCount(3), snapshot.count);
  }
  stop = true;
  for (std::thread& observer : observers) observer.join();
  EXPECT_THAT(histogram.Snapshot().upper_bounds, ElementsAre(0.5, 1, 2));
}

TEST(RegistryTest, SameLabelsReturnSameMetric) {
  Registry registry;
  CounterFamily& family = registry.AddCounter("requests", "Requests.", {"method"});
  Counter& a = family.Add({"GET"});
  Counter& b = family.WithLabels({"GET"});
  Counter& c = family.Add({"POST"});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  EXPECT_EQ(family.name(), "requests_total");
}

TEST(RegistryTest, ReRegisteringCompatibleFamilyReturnsIt) {
  Registry registry;
  CounterFamily& first = registry.AddCounter("hits_total", "Hits.", {"a"});
  CounterFamily& second = registry.AddCounter("hits", "Other help.", {"a"});
  EXPECT_EQ(&first, &second);
  HistogramFamily& h1 = registry.AddHistogram("latency_seconds", "L.", {}, {1, 2});
  HistogramFamily& h2 = registry.AddHistogram("latency_seconds", "L.", {}, {1, 2, INFINITY});
  EXPECT_EQ(&h1, &h2);
  GaugeFamily& g1 = registry.AddGauge("depth", "D.");
  EXPECT_EQ(&g1, &registry.AddGauge("depth", "D."));
}

TEST(RegistryDeathTest, IncompatibleRegistrationAborts) {
  Registry registry;
  registry.AddCounter("hits", "Hits.", {"a"});
  registry.AddHistogram("lat_seconds", "L.", {}, {1, 2});
  EXPECT_DEATH(registry.AddCounter("hits", "Hits.", {"b"}), "already registered with labels");
  EXPECT_DEATH(registry.AddGauge("hits_total", "Hits."), "already registered as a counter");
  EXPECT_DEATH(registry.AddHistogram("lat_seconds", "L.", {}, {1, 3}), "other buckets");
  EXPECT_DEATH(registry.AddGauge("lat_seconds_count", "C."), "clashes");
  EXPECT_DEATH(registry.AddGauge("bad-name", "B."), "invalid metric name");
  EXPECT_DEATH(registry.AddGauge("ok", "B.", {"__reserved"}), "invalid label name");
  EXPECT_DEATH(registry.AddHistogram("h", "H.", {"le"}, {1}), "reserved");
  EXPECT_DEATH(registry.AddHistogram("h", "H.", {}, {2, 1}), "strictly increasing");
  EXPECT_DEATH(registry.AddCounter("hits", "Hits.", {"a"}).Add({"x", "y"}),
               "expected 1 label values");
  // Reserved for Prometheus' own use (prometheus-cpp would throw).
  EXPECT_DEATH(registry.AddGauge("__internal", "I."), "invalid metric name");
}

TEST(SerializeTest, CounterAndGaugeText) {
  Registry registry;
  registry.AddCounter("engram_requests", "Requests served.", {"method", "code"})
      .Add({"GET", "200"})
      .Increment(3);
  registry.AddGauge("engram_temperature", "Line one\nline two \\ backslash.").Add({}).Set(-1.5);
  EXPECT_EQ(registry.Serialize(),
            "# HELP engram_requests_total Requests served.\n"
            "# TYPE engram_requests_total counter\n"
            "engram_requests_total{method=\"GET\",code=\"200\"} 3\n"
            "# HELP engram_temperature Line one\\nline two \\\\ backslash.\n"
            "# TYPE engram_temperature gauge\n"
            "engram_temperature -1.5\n");
}

TEST(SerializeTest, EscapesLabelValues) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  Registry registry;
  registry.AddGauge("g", "G.", {"path"}).Add({"C:\\dir \"x\"\n"}).Set(1);
  EXPECT_THAT(registry.Serialize(), HasSubstr("g{path=\"C:\\\\dir \\\"x\\\"\\n\"} 1\n"));
}

TEST(SerializeTest, FormatsSpecialValues) {
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(std::stod(FormatValue(0.1 + 0.2)), 0.1 + 0.2);  // round-trips
}

TEST(SerializeTest, HistogramBucketsAreCumulativeWithInf) {
  Registry registry;
  Histogram& histogram =
      registry.AddHistogram("rpc_seconds", "RPC latency.", {"method"}, {0.1, 1}).Add({"Get"});
  histogram.Observe(0.05);
  histogram.Observe(0.5);
  histogram.Observe(0.7);
  histogram.Observe(3);
  EXPECT_EQ(registry.Serialize(),
            "# HELP rpc_seconds RPC latency.\n"
            "# TYPE rpc_seconds histogram\n"
            "rpc_seconds_bucket{method=\"Get\",le=\"0.1\"} 1\n"
            "rpc_seconds_bucket{method=\"Get\",le=\"1\"} 3\n"
            "rpc_seconds_bucket{method=\"Get\",le=\"+Inf\"} 4\n"
            "rpc_seconds_sum{method=\"Get\"} 4.25\n"
            "rpc_seconds_count{method=\"Get\"} 4\n");
}

// prometheus::Family reports labels sorted by name and series in hash order; the exposition keeps
// the declared label order and sorts series by label values, for every family type.
TEST(SerializeTest, LabelsInDeclaredOrderAndSeriesSortedByValues) {
  Registry registry;
  HistogramFamily& histogram =
      registry.AddHistogram("zz_seconds", "Z.", {"zone", "app"}, {1});
  histogram.Add({"b", "x"}).Observe(2);
  histogram.Add({"a", "y"}).Observe(0.5);
  CounterFamily& counter = registry.AddCounter("calls", "C.", {"zone", "app"});
  for (const char* zone : {"c", "a", "b"}) counter.Add({zone, "x"}).Increment();
  EXPECT_EQ(registry.Serialize(),
            "# HELP calls_total C.\n"
            "# TYPE calls_total counter\n"
            "calls_total{zone=\"a\",app=\"x\"} 1\n"
            "calls_total{zone=\"b\",app=\"x\"} 1\n"
            "calls_total{zone=\"c\",app=\"x\"} 1\n"
            "# HELP zz_seconds Z.\n"
            "# TYPE zz_seconds histogram\n"
            "zz_seconds_bucket{zone=\"a\",app=\"y\",le=\"1\"} 1\n"
            "zz_seconds_bucket{zone=\"a\",app=\"y\",le=\"+Inf\"} 1\n"
            "zz_seconds_sum{zone=\"a\",app=\"y\"} 0.5\n"
            "zz_seconds_count{zone=\"a\",app=\"y\"} 1\n"
            "zz_seconds_bucket{zone=\"b\",app=\"x\",le=\"1\"} 0\n"
            "zz_seconds_bucket{zone=\"b\",app=\"x\",le=\"+Inf\"} 1\n"
            "zz_seconds_sum{zone=\"b\",app=\"x\"} 2\n"
            "zz_seconds_count{zone=\"b\",app=\"x\"} 1\n");
}

// The bucket bounds the services use are written as le="..." exactly as FormatValue (the
// previous exposition) wrote them, so their series keep their identity.
TEST(SerializeTest, BucketBoundsKeepTheirLeLabels) {
  for (const std::vector<double>& buckets :
       {DefaultLatencyBuckets(), ExponentialBuckets(1, 2, 13), ExponentialBuckets(0.001, 10, 4)}) {
    Registry registry;
    registry.AddHistogram("h", "H.", {}, buckets).Add({});
    const std::string text = registry.Serialize();
    for (double bound : buckets) {
      EXPECT_THAT(text, HasSubstr("h_bucket{le=\"" + FormatValue(bound) + "\"} 0\n"));
    }
  }
}

// prometheus::TextSerializer formats sample values with 16 significant digits and NaN as "Nan"
// (FormatValue: shortest round-trip, "NaN"); both are valid exposition (see the promtool test).
TEST(SerializeTest, SampleValueFormatting) {
  Registry registry;
  GaugeFamily& gauges = registry.AddGauge("g", "G.", {"k"});
  gauges.Add({"big"}).Set(1e12);
  gauges.Add({"inf"}).Set(std::numeric_limits<double>::infinity());
  gauges.Add({"nan"}).Set(std::nan(""));
  gauges.Add({"neg_inf"}).Set(-std::numeric_limits<double>::infinity());
  gauges.Add({"small"}).Set(5e-05);
  gauges.Add({"sum"}).Set(0.1 + 0.2);
  EXPECT_EQ(registry.Serialize(),
            "# HELP g G.\n# TYPE g gauge\n"
            "g{k=\"big\"} 1000000000000\n"
            "g{k=\"inf\"} +Inf\n"
            "g{k=\"nan\"} Nan\n"
            "g{k=\"neg_inf\"} -Inf\n"
            "g{k=\"small\"} 5e-05\n"
            "g{k=\"sum\"} 0.3\n");
}

TEST(SerializeTest, FamilyCollectAndAppendText) {
  Registry registry;
  GaugeFamily& empty = registry.AddGauge("empty", "Nothing yet.", {"x"});
  const std::vector<prometheus::MetricFamily> collected = empty.Collect();
  ASSERT_EQ(collected.size(), 1u);
  EXPECT_EQ(collected[0].name, "empty");
  EXPECT_EQ(collected[0].type, prometheus::MetricType::Gauge);
  EXPECT_TRUE(collected[0].metric.empty());
  std::string text;
  empty.AppendText(&text);
  EXPECT_EQ(text, "# HELP empty Nothing yet.\n# TYPE empty gauge\n");
  empty.Add({"1"}).Set(2);
  text.clear();
  empty.AppendText(&text);
  EXPECT_EQ(text, registry.Serialize());
}

TEST(SerializeTest, FamiliesAreSortedAndEmptyFamiliesHaveHeaderOnly) {
  Registry registry;
  registry.AddGauge("zeta", "Z.");
  registry.AddGauge("alpha", "A.").Add({}).Set(1);
  EXPECT_EQ(registry.Serialize(),
            "# HELP alpha A.\n# TYPE alpha gauge\nalpha 1\n"
            "# HELP zeta Z.\n# TYPE zeta gauge\n");
}

TEST(CallbackGaugeTest, EvaluatedAtScrapeTime) {
  Registry registry;
  double depth = 1;
  registry.AddCallbackGauge("queue_depth", "Depth.", [&depth] { return depth; });
  EXPECT_THAT(registry.Serialize(), HasSubstr("\nqueue_depth 1\n"));
  depth = 7;
  EXPECT_THAT(registry.Serialize(), HasSubstr("\nqueue_depth 7\n"));
}

TEST(CallbackGaugeTest, LabelledSeriesSortedWrongArityDropped) {
  Registry registry;
  registry.AddCallbackGauge("concepts", "Concepts per namespace.", {"namespace"}, [] {
    return Registry::LabelledValues{
        {{"zoo"}, 2}, {{"default"}, 5}, {{"too", "many"}, 9}, {{"default"}, 6}};
  });
  EXPECT_EQ(registry.Serialize(),
            "# HELP concepts Concepts per namespace.\n# TYPE concepts gauge\n"
            "concepts{namespace=\"default\"} 6\n"
            "concepts{namespace=\"zoo\"} 2\n");
}

TEST(CallbackGaugeTest, ReplaceAndRemove) {
  Registry registry;
  registry.AddCallbackGauge("up_things", "U.", [] { return 1.0; });
  registry.AddCallbackGauge("up_things", "U.", [] { return 2.0; });
  EXPECT_THAT(registry.Serialize(), HasSubstr("up_things 2\n"));
  registry.RemoveCallbackGauge("up_things");
  EXPECT_THAT(registry.Serialize(), Not(HasSubstr("up_things")));
  registry.RemoveCallbackGauge("never_registered");
}

TEST(CallbackGaugeDeathTest, ClashWithRegularFamilyAborts) {
  Registry registry;
  registry.AddGauge("g", "G.");
  EXPECT_DEATH(registry.AddCallbackGauge("g", "G.", [] { return 1.0; }), "already registered");
}

TEST(ConcurrencyTest, IncrementsFromManyThreadsAreAllCounted) {
  Registry registry;
  CounterFamily& counters = registry.AddCounter("ops", "Ops.", {"worker_kind"});
  HistogramFamily& latencies =
      registry.AddHistogram("op_seconds", "Op latency.", {}, ExponentialBuckets(0.001, 10, 4));
  Gauge& gauge = registry.AddGauge("inflight", "In flight.").Add({});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Resolve through the family on every call too, to exercise concurrent creation.
      for (int i = 0; i < kPerThread; ++i) {
        counters.Add({t % 2 == 0 ? "even" : "odd"}).Increment();
        latencies.Add({}).Observe(i % 2 == 0 ? 0.0005 : 0.5);
        gauge.Increment();
        gauge.Decrement();
      }
    });
  }
  // Serialize concurrently with the writers: it must not crash or deadlock.
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(registry.Serialize().empty());
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(counters.Add({"even"}).value(), kThreads / 2 * kPerThread);
  EXPECT_EQ(counters.Add({"odd"}).value(), kThreads / 2 * kPerThread);
  const HistogramSnapshot snapshot = latencies.Add({}).Snapshot();
  EXPECT_EQ(snapshot.count, static_cast<uint64_t>(kThreads) * kPerThread);
  EXPECT_EQ(snapshot.bucket_counts[0], static_cast<uint64_t>(kThreads) * kPerThread / 2);
  EXPECT_EQ(snapshot.CumulativeCount(3), static_cast<uint64_t>(kThreads) * kPerThread);
  EXPECT_DOUBLE_EQ(gauge.value(), 0);
}

TEST(BucketsTest, ExponentialAndDefault) {
  EXPECT_THAT(ExponentialBuckets(1, 2, 4), ElementsAre(1, 2, 4, 8));
  const std::vector<double> latency = DefaultLatencyBuckets();
  EXPECT_DOUBLE_EQ(latency.front(), 50e-6);
  EXPECT_DOUBLE_EQ(latency.back(), 10);
  EXPECT_TRUE(std::is_sorted(latency.begin(), latency.end()));
  EXPECT_DEATH(ExponentialBuckets(0, 2, 3), "need start > 0");
}

}  // namespace
}  // namespace engram::metrics
