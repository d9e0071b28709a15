#include "common/logging/logging.h"

#include <chrono>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/logging/json_escape.h"
#include "fmt/chrono.h"
#include "fmt/format.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace engram::logging {
namespace {

// Custom pattern flags; both letters are unused by spdlog 1.10's built-in flags.
constexpr char kCorrelationFlag = 'Q';
constexpr char kJsonRecordFlag = 'J';

void AppendToBuffer(std::string_view text, spdlog::memory_buf_t& dest) {
  dest.append(text.data(), text.data() + text.size());
}

// Text format: "[cid=<id>] " when the thread has a correlation id, nothing otherwise.
class CorrelationFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string_view id = CurrentCorrelationId();
    if (id.empty()) return;
    AppendToBuffer("[cid=", dest);
    AppendToBuffer(id, dest);
    AppendToBuffer("] ", dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<CorrelationFlag>();
  }
};

// JSON format: the whole record as one JSON object (the pattern is just this flag).
class JsonRecordFlag final : public spdlog::custom_flag_formatter {
 public:
  explicit JsonRecordFlag(std::string quoted_service)
      : quoted_service_(std::move(quoted_service)) {}

  void format(const spdlog::details::log_msg& msg, const std::tm& utc_time,
              spdlog::memory_buf_t& dest) override {
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() %
        1000;
    std::string line;
    line.reserve(128 + msg.payload.size());
    line.append("{\"ts\":\"");
    line.append(fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", utc_time, millis));
    line.append("\",\"level\":\"");
    const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
    line.append(level.data(), level.size());
    line.append("\",\"service\":");
    line.append(quoted_service_);
    line.append(",\"msg\":\"");
    AppendJsonEscaped(std::string_view(msg.payload.data(), msg.payload.size()), &line);
    line.push_back('"');
    if (std::string_view id = CurrentCorrelationId(); !id.empty()) {
      line.append(",\"correlation_id\":\"");
      AppendJsonEscaped(id, &line);
      line.push_back('"');
    }
    line.push_back('}');
    AppendToBuffer(line, dest);
  }

  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonRecordFlag>(quoted_service_);
  }

 private:
  const std::string quoted_service_;
};

}  // namespace

absl::StatusOr<LogOptions::Format> ParseFormat(std::string_view text) {
  const std::string lower = absl::AsciiStrToLower(std::string(text));
  if (lower == "text") return LogOptions::Format::kText;
  if (lower == "json") return LogOptions::Format::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("log format must be \"text\" or \"json\", got \"", std::string(text), "\""));
}

absl::StatusOr<spdlog::level::level_enum> ParseLevel(std::string_view text) {
  const std::string lower = absl::AsciiStrToLower(std::string(text));
  if (lower == "trace") return spdlog::level::trace;
  if (lower == "debug") return spdlog::level::debug;
  if (lower == "info") return spdlog::level::info;
  if (lower == "warn" || lower == "warning") return spdlog::level::warn;
  if (lower == "error") return spdlog::level::err;
  if (lower == "critical") return spdlog::level::critical;
  if (lower == "off") return spdlog::level::off;
  return absl::InvalidArgumentError(absl::StrCat(
      "log level must be one of trace, debug, info, warn, error, critical, off; got \"",
      std::string(text), "\""));
}

std::unique_ptr<spdlog::formatter> MakeFormatter(const LogOptions& options) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (options.format == LogOptions::Format::kJson) {
    formatter->add_flag<JsonRecordFlag>(kJsonRecordFlag, JsonQuote(options.service));
    formatter->set_pattern(std::string("%") + kJsonRecordFlag);
  } else {
    formatter->add_flag<CorrelationFlag>(kCorrelationFlag);
    // '%' is the only character the pattern language treats specially.
    const std::string service = absl::StrReplaceAll(options.service, {{"%", "%%"}});
    formatter->set_pattern(absl::StrCat("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ [", service, "] %",
                                        std::string(1, kCorrelationFlag), "%v"));
  }
  return formatter;
}

absl::Status Init(const LogOptions& options) {
  absl::StatusOr<spdlog::level::level_enum> level = ParseLevel(options.level);
  if (!level.ok()) return level.status();

  spdlog::sink_ptr sink;
  if (options.format == LogOptions::Format::kJson) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    // Colours only when stderr is a terminal.
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(spdlog::color_mode::automatic);
  }
  sink->set_formatter(MakeFormatter(options));
  auto logger = std::make_shared<spdlog::logger>(
      options.service.empty() ? std::string("engram") : options.service, std::move(sink));
  logger->set_level(*level);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

}  // namespace engram::logging
