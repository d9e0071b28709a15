#include "services/control/monitor/metric_math.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::control {
namespace {

using ::testing::ElementsAre;

constexpr double kInf = std::numeric_limits<double>::infinity();

MetricSnapshot Snap(const std::string& text) {
  absl::StatusOr<MetricSnapshot> snapshot = MetricSnapshot::Parse(text);
  EXPECT_TRUE(snapshot.ok()) << snapshot.status();
  return snapshot.ok() ? *std::move(snapshot) : MetricSnapshot();
}

TEST(LabelMatcherTest, InAndNotInTreatAbsentLabelsAsEmpty) {
  const Labels labels = {{"service", "grpc.health.v1.Health"}};
  EXPECT_TRUE(LabelMatcher::In("service", {"a", "grpc.health.v1.Health"}).Matches(labels));
  EXPECT_FALSE(LabelMatcher::NotIn("service", {"grpc.health.v1.Health"}).Matches(labels));
  EXPECT_TRUE(LabelMatcher::NotIn("route", {"/metrics"}).Matches(labels));
  EXPECT_TRUE(LabelMatcher::In("route", {""}).Matches(labels));
}

TEST(MetricMathTest, SumAndSumByFilterAndGroup) {
  const MetricSnapshot s = Snap(
      "c{ns=\"a\",code=\"OK\"} 1\n"
      "c{ns=\"a\",code=\"INTERNAL\"} 2\n"
      "c{ns=\"b\",code=\"OK\"} 4\n"
      "c{code=\"OK\"} 8\n");
  EXPECT_EQ(Sum(s, "c"), 15);
  const std::vector<LabelMatcher> ok = {LabelMatcher::In("code", {"OK"})};
  EXPECT_EQ(Sum(s, "c", ok), 13);
  EXPECT_FALSE(Sum(s, "c", {LabelMatcher::In("code", {"NONE"})}).has_value());
  EXPECT_FALSE(Sum(s, "missing").has_value());
  const std::vector<std::string> by = {"ns"};
  const std::map<Labels, double> sums = SumBy(s, "c", by);
  EXPECT_EQ(sums.size(), 3u);
  EXPECT_EQ(sums.at(Labels{{"ns", "a"}}), 3);
  EXPECT_EQ(sums.at(Labels{{"ns", "b"}}), 4);
  EXPECT_EQ(sums.at(Labels{{"ns", ""}}), 8);
  EXPECT_EQ(SumBy(s, "c", by, ok).at(Labels{{"ns", "a"}}), 1);
}

TEST(MetricMathTest, CounterIncreaseHandlesResetsAndNewSeries) {
  EXPECT_EQ(SeriesIncrease(10, 15), 5);
  EXPECT_EQ(SeriesIncrease(10, 4), 4);  // Restarted: everything counted since is new.
  EXPECT_EQ(SeriesIncrease(10, 10), 0);

  const MetricSnapshot before = Snap(
      "# TYPE calls_total counter\n"
      "calls_total{code=\"OK\"} 10\n"
      "calls_total{code=\"INTERNAL\"} 3\n"
      "calls_total{code=\"CANCELLED\"} 7\n");
  const MetricSnapshot after = Snap(
      "# TYPE calls_total counter\n"
      "# TYPE idle_total counter\n"
      "calls_total{code=\"OK\"} 15\n"
      "calls_total{code=\"INTERNAL\"} 1\n"       // Reset: 1.
      "calls_total{code=\"UNAVAILABLE\"} 2\n");  // New series: 2. CANCELLED vanished: ignored.
  EXPECT_EQ(CounterIncrease(before, after, "calls_total"), 8);
  EXPECT_EQ(CounterIncrease(before, after, "calls_total", {LabelMatcher::NotIn("code", {"OK"})}),
            3);
  EXPECT_EQ(CounterIncrease(before, after, "idle_total"), 0);  // Declared, nothing counted.
  EXPECT_FALSE(CounterIncrease(before, after, "absent_total").has_value());
  // First scrape (nothing before): the totals.
  EXPECT_EQ(CounterIncrease(MetricSnapshot(), after, "calls_total"), 18);
}

TEST(HistogramQuantileTest, InterpolatesLikePrometheus) {
  const std::vector<Bucket> buckets = {{0.1, 10}, {0.5, 30}, {1, 40}, {kInf, 50}};
  // rank 25 falls in (0.1, 0.5]: 0.1 + 0.4 * (25 - 10) / (30 - 10).
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.5, buckets), 0.4);
  // rank 5 in the first bucket, interpolated from 0.
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.1, buckets), 0.05);
  // rank 40 exactly at the top of (0.5, 1].
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.8, buckets), 1.0);
  // rank 47.5 lies in +Inf: the highest finite bound.
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.95, buckets), 1.0);
  EXPECT_DOUBLE_EQ(*HistogramQuantile(1.0, buckets), 1.0);
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.0, buckets), 0.0);
  // rank 0.99 * 50 = 49.5: +Inf again.
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.99, buckets), 1.0);
  // Order of the input does not matter.
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.5, {{kInf, 50}, {1, 40}, {0.1, 10}, {0.5, 30}}), 0.4);
}

TEST(HistogramQuantileTest, EdgeCases) {
  EXPECT_EQ(HistogramQuantile(-0.1, {{1, 1}, {kInf, 1}}), -kInf);
  EXPECT_EQ(HistogramQuantile(1.1, {{1, 1}, {kInf, 1}}), kInf);
  EXPECT_FALSE(HistogramQuantile(std::nan(""), {{1, 1}, {kInf, 1}}).has_value());
  // No observations.
  EXPECT_FALSE(HistogramQuantile(0.5, {{0.1, 0}, {1, 0}, {kInf, 0}}).has_value());
  // No +Inf bucket; only the +Inf bucket; nothing.
  EXPECT_FALSE(HistogramQuantile(0.5, {{0.1, 1}, {1, 2}}).has_value());
  EXPECT_FALSE(HistogramQuantile(0.5, {{kInf, 5}}).has_value());
  EXPECT_FALSE(HistogramQuantile(0.5, {}).has_value());
  // A first bucket with a bound <= 0 is returned as is.
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.2, {{-1, 5}, {1, 10}, {kInf, 10}}), -1.0);
  // Non-monotonic counts are made monotonic: {10, 10, 10}; rank 5 in the first bucket.
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.5, {{0.1, 10}, {0.5, 8}, {kInf, 10}}), 0.05);
  // Buckets with the same bound are merged: {0.1: 10, +Inf: 10}.
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.5, {{0.1, 4}, {0.1, 6}, {kInf, 10}}), 0.05);
  // Every observation in +Inf.
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.5, {{0.1, 0}, {0.2, 0}, {kInf, 3}}), 0.2);
}

TEST(BucketsTest, IncreaseSumsByLeAcrossSeriesWithResets) {
  const MetricSnapshot before = Snap(
      "h_bucket{m=\"a\",le=\"0.1\"} 1\n"
      "h_bucket{m=\"a\",le=\"1\"} 2\n"
      "h_bucket{m=\"a\",le=\"+Inf\"} 2\n"
      "h_bucket{m=\"b\",le=\"0.1\"} 5\n"
      "h_bucket{m=\"b\",le=\"1\"} 9\n"
      "h_bucket{m=\"b\",le=\"+Inf\"} 10\n");
  const MetricSnapshot after = Snap(
      "h_bucket{m=\"a\",le=\"0.1\"} 4\n"
      "h_bucket{m=\"a\",le=\"1\"} 8\n"
      "h_bucket{m=\"a\",le=\"+Inf\"} 9\n"
      // b restarted.
      "h_bucket{m=\"b\",le=\"0.1\"} 1\n"
      "h_bucket{m=\"b\",le=\"1\"} 1\n"
      "h_bucket{m=\"b\",le=\"+Inf\"} 1\n"
      "h_bucket{m=\"c\",le=\"junk\"} 1\n");
  EXPECT_THAT(BucketIncrease(before, after, "h"),
              ElementsAre(Bucket{0.1, 3 + 1}, Bucket{1, 6 + 1}, Bucket{kInf, 7 + 1}));
  EXPECT_THAT(BucketIncrease(before, after, "h", {LabelMatcher::In("m", {"a"})}),
              ElementsAre(Bucket{0.1, 3}, Bucket{1, 6}, Bucket{kInf, 7}));
  EXPECT_THAT(Buckets(after, "h"), ElementsAre(Bucket{0.1, 5}, Bucket{1, 9}, Bucket{kInf, 10}));
  EXPECT_TRUE(BucketIncrease(before, after, "none").empty());
}

TEST(BucketsTest, MergeAddsStepFunctions) {
  const std::vector<Bucket> a = {{0.1, 2}, {1, 5}, {kInf, 6}};
  const std::vector<Bucket> b = {{0.1, 1}, {1, 1}, {kInf, 4}};
  const std::vector<std::vector<Bucket>> same = {a, b};
  EXPECT_THAT(MergeBuckets(same), ElementsAre(Bucket{0.1, 3}, Bucket{1, 6}, Bucket{kInf, 10}));
  // Different bounds: at 0.5, a contributes its count at 0.1 (2), c its count at 0.5 (3).
  const std::vector<Bucket> c = {{0.5, 3}, {kInf, 3}};
  const std::vector<std::vector<Bucket>> mixed = {a, c};
  EXPECT_THAT(MergeBuckets(mixed),
              ElementsAre(Bucket{0.1, 2}, Bucket{0.5, 5}, Bucket{1, 8}, Bucket{kInf, 9}));
  EXPECT_TRUE(MergeBuckets({}).empty());
}

}  // namespace
}  // namespace engram::control
