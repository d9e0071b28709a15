#include "common/logging/logging.h"

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "spdlog/logger.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace engram::logging {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

// A logger that writes formatted lines into a string stream.
class CapturingLogger {
 public:
  explicit CapturingLogger(const LogOptions& options) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(stream_);
    sink->set_formatter(MakeFormatter(options));
    logger_ = std::make_shared<spdlog::logger>("test", std::move(sink));
    logger_->set_level(spdlog::level::trace);
  }

  spdlog::logger& logger() { return *logger_; }

  std::vector<std::string> Lines() const {
    std::vector<std::string> lines = absl::StrSplit(stream_.str(), '\n', absl::SkipEmpty());
    return lines;
  }

 private:
  std::ostringstream stream_;
  std::shared_ptr<spdlog::logger> logger_;
};

TEST(ParseFormatTest, AcceptsKnownFormats) {
  EXPECT_EQ(*ParseFormat("text"), LogOptions::Format::kText);
  EXPECT_EQ(*ParseFormat("JSON"), LogOptions::Format::kJson);
  EXPECT_EQ(ParseFormat("yaml").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseFormat("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseLevelTest, AcceptsKnownLevels) {
  EXPECT_EQ(*ParseLevel("debug"), spdlog::level::debug);
  EXPECT_EQ(*ParseLevel("Warning"), spdlog::level::warn);
  EXPECT_EQ(*ParseLevel("warn"), spdlog::level::warn);
  EXPECT_EQ(*ParseLevel("off"), spdlog::level::off);
  EXPECT_EQ(ParseLevel("loud").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(InitTest, InstallsDefaultLoggerWithLevel) {
  ASSERT_TRUE(Init({.service = "svc", .format = LogOptions::Format::kJson, .level = "warn"}).ok());
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);
  EXPECT_EQ(spdlog::default_logger()->name(), "svc");
  ASSERT_TRUE(Init({.service = "svc", .format = LogOptions::Format::kText, .level = "debug"}).ok());
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
}

TEST(InitTest, RejectsBadLevelAndKeepsLogger) {
  ASSERT_TRUE(Init({.service = "before", .level = "info"}).ok());
  absl::Status status = Init({.service = "after", .level = "chatty"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(spdlog::default_logger()->name(), "before");
}

TEST(JsonFormatTest, LineIsValidJsonWithAllFields) {
  CapturingLogger capture({.service = "engram-test", .format = LogOptions::Format::kJson});
  {
    ScopedCorrelationId cid("abc-123");
    capture.logger().warn("stored {} concepts", 7);
  }
  const std::vector<std::string> lines = capture.Lines();
  ASSERT_EQ(lines.size(), 1u);
  const nlohmann::json record = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(record["level"], "warning");
  EXPECT_EQ(record["service"], "engram-test");
  EXPECT_EQ(record["msg"], "stored 7 concepts");
  EXPECT_EQ(record["correlation_id"], "abc-123");
  EXPECT_THAT(
      record["ts"].get<std::string>(),
      MatchesRegex(R"(^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$)"));
}

TEST(JsonFormatTest, OmitsCorrelationIdWhenUnset) {
  CapturingLogger capture({.service = "s", .format = LogOptions::Format::kJson});
  capture.logger().info("no id here");
  const std::vector<std::string> lines = capture.Lines();
  ASSERT_EQ(lines.size(), 1u);
  const nlohmann::json record = nlohmann::json::parse(lines[0]);
  EXPECT_FALSE(record.contains("correlation_id"));
  EXPECT_EQ(record["msg"], "no id here");
}

TEST(JsonFormatTest, EscapesMessageAndServiceName) {
  const std::string service = "we\"ird\\svc";
  CapturingLogger capture({.service = service, .format = LogOptions::Format::kJson});
  const std::string message =
      "quote\" backslash\\ newline\n tab\t bell\x07 utf8 \xC3\xA9 bad \xFF end";
  capture.logger().error("{}", message);
  const std::vector<std::string> lines = capture.Lines();
  ASSERT_EQ(lines.size(), 1u) << "a newline in the message must not split the record";
  const nlohmann::json record = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(record["service"], service);
  EXPECT_EQ(record["msg"],
            "quote\" backslash\\ newline\n tab\t bell\x07 utf8 \xC3\xA9 bad \xEF\xBF\xBD end");
}

TEST(TextFormatTest, CarriesServiceLevelAndCorrelationId) {
  CapturingLogger capture({.service = "api%1", .format = LogOptions::Format::kText});
  capture.logger().info("first");
  {
    ScopedCorrelationId cid("req-42");
    capture.logger().info("second");
  }
  const std::vector<std::string> lines = capture.Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("info [api%1] first"));
  EXPECT_THAT(lines[0], Not(HasSubstr("cid=")));
  EXPECT_THAT(lines[1], HasSubstr("info [api%1] [cid=req-42] second"));
  EXPECT_THAT(lines[1], MatchesRegex(R"(^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z .*)"));
}

}  // namespace
}  // namespace engram::logging
