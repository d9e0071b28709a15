#include "services/control/monitor/prom_text.h"

#include <cmath>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::control {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(PromTextTest, ParsesFamiliesLabelsAndValues) {
  const std::string text =
      "# HELP http_requests_total HTTP requests handled.\n"
      "# TYPE http_requests_total counter\n"
      "http_requests_total{route=\"/v1/a\",method=\"GET\",code=\"200\"} 17\n"
      "http_requests_total{code=\"503\",method=\"GET\",route=\"/v1/a\"} 2 1700000000123\n"
      "# a plain comment\n"
      "\n"
      "up 1\n"
      "x:recorded_rule{} -3.5e-2\n";
  absl::StatusOr<std::vector<Sample>> samples = ParsePromText(text);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 4u);
  EXPECT_EQ((*samples)[0].name, "http_requests_total");
  EXPECT_EQ((*samples)[0].labels, (Labels{{"code", "200"}, {"method", "GET"}, {"route", "/v1/a"}}));
  EXPECT_EQ((*samples)[0].value, 17);
  EXPECT_FALSE((*samples)[0].timestamp_ms.has_value());
  EXPECT_EQ((*samples)[1].timestamp_ms, 1700000000123);
  EXPECT_EQ((*samples)[2].name, "up");
  EXPECT_TRUE((*samples)[2].labels.empty());
  EXPECT_EQ((*samples)[3].name, "x:recorded_rule");
  EXPECT_DOUBLE_EQ((*samples)[3].value, -0.035);
}

TEST(PromTextTest, EscapesSpecialValuesBlanksAndCrlf) {
  const std::string text =
      "a{path=\"C:\\\\dir\",quote=\"say \\\"hi\\\"\",nl=\"two\\nlines\",} +Inf\r\n"
      "b -Inf\n"
      "c\tNaN\t-5\n"
      "  d { x = \"1\" , y=\"}\" }   1e3  \n"
      "e inf\n"
      "f{le=\"+Inf\"} 4\n";
  absl::StatusOr<std::vector<Sample>> samples = ParsePromText(text);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 6u);
  EXPECT_EQ((*samples)[0].labels.at("path"), "C:\\dir");
  EXPECT_EQ((*samples)[0].labels.at("quote"), "say \"hi\"");
  EXPECT_EQ((*samples)[0].labels.at("nl"), "two\nlines");
  EXPECT_TRUE(std::isinf((*samples)[0].value) && (*samples)[0].value > 0);
  EXPECT_TRUE(std::isinf((*samples)[1].value) && (*samples)[1].value < 0);
  EXPECT_TRUE(std::isnan((*samples)[2].value));
  EXPECT_EQ((*samples)[2].timestamp_ms, -5);
  EXPECT_EQ((*samples)[3].labels, (Labels{{"x", "1"}, {"y", "}"}}));
  EXPECT_EQ((*samples)[3].value, 1000);
  EXPECT_TRUE(std::isinf((*samples)[4].value));
  EXPECT_EQ((*samples)[5].labels.at("le"), "+Inf");
}

TEST(PromTextTest, EmptyInputHasNoSamples) {
  absl::StatusOr<std::vector<Sample>> samples = ParsePromText("");
  ASSERT_TRUE(samples.ok());
  EXPECT_TRUE(samples->empty());
  samples = ParsePromText("\n\n# only comments\n");
  ASSERT_TRUE(samples.ok());
  EXPECT_TRUE(samples->empty());
}

TEST(PromTextTest, MalformedLinesNameTheLine) {
  struct Case {
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {"ok 1\nbad\n", "line 2: missing value"},
      {"ok 1\n\nx{a=\"1\" 2\n", "line 3: expected ',' or '}'"},
      {"x{a=1} 2\n", "line 1: expected '\"'"},
      {"x{a=\"1} 2\n", "line 1: unterminated label value"},
      {"x{a=\"\\t\"} 2\n", "line 1: invalid escape sequence"},
      {"x{a=\"1\",a=\"2\"} 2\n", "line 1: duplicate label 'a'"},
      {"x{1a=\"1\"} 2\n", "line 1: expected a label name"},
      {"x one\n", "line 1: invalid value 'one'"},
      {"x 1 2 3\n", "line 1: unexpected text '3'"},
      {"x 1 1.5\n", "line 1: invalid timestamp '1.5'"},
      {"9x 1\n", "line 1: expected a metric name"},
      {"x-y 1\n", "line 1: unexpected character '-'"},
      {"# TYPE x countr\n", "line 1: invalid TYPE line"},
      {"# TYPE x counter\n# TYPE x gauge\n", "line 2: second TYPE line for 'x'"},
      {"# HELP 1x help\n", "line 1: invalid metric name '1x'"},
      {"x ++1\n", "line 1: invalid value"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<Sample>> samples = ParsePromText(c.text);
    ASSERT_FALSE(samples.ok()) << c.text;
    EXPECT_EQ(samples.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(samples.status().message(), HasSubstr(c.message)) << c.text;
  }
}

TEST(PromTextTest, LimitsBoundInputAndSamples) {
  absl::StatusOr<std::vector<Sample>> samples =
      ParsePromText("a 1\nb 2\nc 3\n", PromTextLimits{.max_bytes = 8});
  EXPECT_EQ(samples.status().code(), absl::StatusCode::kResourceExhausted);
  samples = ParsePromText("a 1\nb 2\nc 3\n", PromTextLimits{.max_samples = 2});
  EXPECT_EQ(samples.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(samples.status().message(), HasSubstr("line 3"));
  samples = ParsePromText("a 1\nb 2\n", PromTextLimits{.max_samples = 2});
  EXPECT_TRUE(samples.ok());
}

TEST(PromTextTest, ParsePromValueReadsLeLabels) {
  EXPECT_EQ(ParsePromValue("0.25"), 0.25);
  EXPECT_EQ(ParsePromValue("+Inf"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(ParsePromValue("-inf"), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(ParsePromValue("1e-05"), 1e-05);
  EXPECT_FALSE(ParsePromValue("").has_value());
  EXPECT_FALSE(ParsePromValue("0.1x").has_value());
  EXPECT_FALSE(ParsePromValue("+-1").has_value());
}

TEST(MetricSnapshotTest, IndexesSeriesAndTypes) {
  absl::StatusOr<MetricSnapshot> snapshot = MetricSnapshot::Parse(
      "# TYPE idle_total counter\n"
      "# TYPE b gauge\n"
      "b{x=\"2\"} 2\n"
      "a 1\n"
      "b{x=\"1\"} 1\n"
      "c 3\n");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  const std::span<const Sample> b = snapshot->Series("b");
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].labels.at("x"), "1");
  EXPECT_EQ(b[1].labels.at("x"), "2");
  EXPECT_EQ(snapshot->Series("a").size(), 1u);
  EXPECT_TRUE(snapshot->Series("zzz").empty());
  EXPECT_TRUE(snapshot->Series("").empty());
  EXPECT_EQ(snapshot->Type("b"), "gauge");
  EXPECT_FALSE(snapshot->Type("a").has_value());
  EXPECT_TRUE(snapshot->HasFamily("idle_total"));  // Declared, no samples yet.
  EXPECT_TRUE(snapshot->HasFamily("c"));
  EXPECT_FALSE(snapshot->HasFamily("d"));
}

}  // namespace
}  // namespace engram::control
