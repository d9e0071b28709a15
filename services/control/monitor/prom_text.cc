#include "services/control/monitor/prom_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "fmt/format.h"

namespace engram::control {

namespace {

using TypeMap = std::map<std::string, std::string, std::less<>>;

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

bool IsNameStart(char c, bool allow_colon) {
  return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         (allow_colon && c == ':');
}

bool IsNameChar(char c, bool allow_colon) {
  return IsNameStart(c, allow_colon) || absl::ascii_isdigit(static_cast<unsigned char>(c));
}

// Reads one line's tokens left to right; every method reports whether it succeeded.
class LineReader {
 public:
  explicit LineReader(std::string_view line) : line_(line) {}

  // Returns how many blanks were skipped.
  size_t SkipBlanks() {
    const size_t start = pos_;
    while (pos_ < line_.size() && IsBlank(line_[pos_])) ++pos_;
    return pos_ - start;
  }
  bool AtEnd() const { return pos_ >= line_.size(); }
  char Peek() const { return AtEnd() ? '\0' : line_[pos_]; }
  bool Consume(char c) {
    if (Peek() != c || AtEnd()) return false;
    ++pos_;
    return true;
  }

  // A metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or a label name ([a-zA-Z_][a-zA-Z0-9_]*).
  std::string_view Name(bool allow_colon) {
    const size_t start = pos_;
    if (AtEnd() || !IsNameStart(line_[pos_], allow_colon)) return {};
    ++pos_;
    while (pos_ < line_.size() && IsNameChar(line_[pos_], allow_colon)) ++pos_;
    return line_.substr(start, pos_ - start);
  }

  // A token up to the next blank.
  std::string_view Token() {
    const size_t start = pos_;
    while (pos_ < line_.size() && !IsBlank(line_[pos_])) ++pos_;
    return line_.substr(start, pos_ - start);
  }

  std::string_view Rest() const { return AtEnd() ? std::string_view() : line_.substr(pos_); }

  // A double-quoted label value with the escapes \\ \" \n; the opening quote is next.
  absl::Status QuotedValue(std::string* out) {
    if (!Consume('"')) return absl::InvalidArgumentError("expected '\"' to open a label value");
    while (!AtEnd()) {
      const char c = line_[pos_++];
      if (c == '"') return absl::OkStatus();
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (AtEnd()) break;
      const char escaped = line_[pos_++];
      switch (escaped) {
        case '\\':
          out->push_back('\\');
          break;
        case '"':
          out->push_back('"');
          break;
        case 'n':
          out->push_back('\n');
          break;
        default:
          return absl::InvalidArgumentError(
              fmt::format("invalid escape sequence '\\{}' in a label value", escaped));
      }
    }
    return absl::InvalidArgumentError("unterminated label value");
  }

 private:
  std::string_view line_;
  size_t pos_ = 0;
};

// Go's strconv.ParseFloat as the Prometheus parser uses it (decimal forms, Inf/Infinity/NaN in
// any case, an optional sign).
}  // namespace

std::optional<double> ParsePromValue(std::string_view token) {
  if (token.empty()) return std::nullopt;
  bool negative = false;
  if (token.front() == '+' || token.front() == '-') {
    negative = token.front() == '-';
    token.remove_prefix(1);
    if (token.empty() || token.front() == '+' || token.front() == '-') return std::nullopt;
  }
  const std::string lower = absl::AsciiStrToLower(std::string(token));
  if (lower == "inf" || lower == "infinity") {
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  if (lower == "nan") return std::numeric_limits<double>::quiet_NaN();
  double value = 0;
  const char* end = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(token.data(), end, value, std::chars_format::general);
  // Out-of-range values: from_chars reports result_out_of_range; Go returns ±Inf or 0 then, and
  // so does the value from strtod semantics; treat them as malformed instead of guessing.
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return negative ? -value : value;
}

namespace {

std::optional<int64_t> ParseTimestamp(std::string_view token) {
  int64_t value = 0;
  const char* begin = token.data();
  const char* end = token.data() + token.size();
  if (begin != end && *begin == '+') ++begin;
  const auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end || begin == end) return std::nullopt;
  return value;
}

bool ValidMetricName(std::string_view name) {
  if (name.empty() || !IsNameStart(name.front(), true)) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsNameChar(c, true); });
}

absl::Status ParseComment(std::string_view line, TypeMap* types) {
  LineReader reader(line);
  reader.Consume('#');
  reader.SkipBlanks();
  const std::string_view keyword = reader.Token();
  if (keyword != "HELP" && keyword != "TYPE") return absl::OkStatus();  // A plain comment.
  reader.SkipBlanks();
  const std::string_view name = reader.Token();
  if (!ValidMetricName(name)) {
    return absl::InvalidArgumentError(
        fmt::format("invalid metric name '{}' in a {} line", name, keyword));
  }
  if (keyword == "HELP") return absl::OkStatus();
  reader.SkipBlanks();
  const std::string_view type = reader.Token();
  reader.SkipBlanks();
  static constexpr std::string_view kTypes[] = {"counter", "gauge", "histogram", "summary",
                                                "untyped"};
  if (std::find(std::begin(kTypes), std::end(kTypes), type) == std::end(kTypes) ||
      !reader.AtEnd()) {
    return absl::InvalidArgumentError(fmt::format("invalid TYPE line '{}'", line));
  }
  if (!types->emplace(std::string(name), std::string(type)).second) {
    return absl::InvalidArgumentError(fmt::format("second TYPE line for '{}'", name));
  }
  return absl::OkStatus();
}

absl::Status ParseSampleLine(std::string_view line, Sample* sample) {
  LineReader reader(line);
  reader.SkipBlanks();
  const std::string_view name = reader.Name(/*allow_colon=*/true);
  if (name.empty()) return absl::InvalidArgumentError("expected a metric name");
  sample->name = std::string(name);
  const size_t blanks_after_name = reader.SkipBlanks();
  if (reader.Consume('{')) {
    while (true) {
      reader.SkipBlanks();
      if (reader.Consume('}')) break;
      const std::string_view label = reader.Name(/*allow_colon=*/false);
      if (label.empty()) {
        return absl::InvalidArgumentError(
            fmt::format("expected a label name or '}}' in the labels of '{}'", name));
      }
      reader.SkipBlanks();
      if (!reader.Consume('=')) {
        return absl::InvalidArgumentError(fmt::format("expected '=' after label '{}'", label));
      }
      reader.SkipBlanks();
      std::string value;
      if (absl::Status s = reader.QuotedValue(&value); !s.ok()) {
        return absl::InvalidArgumentError(
            fmt::format("{} (label '{}')", std::string(s.message()), label));
      }
      if (!sample->labels.emplace(std::string(label), std::move(value)).second) {
        return absl::InvalidArgumentError(fmt::format("duplicate label '{}'", label));
      }
      reader.SkipBlanks();
      if (reader.Consume(',')) continue;
      if (reader.Consume('}')) break;
      return absl::InvalidArgumentError(
          fmt::format("expected ',' or '}}' after the value of label '{}'", label));
    }
    reader.SkipBlanks();
  } else if (!reader.AtEnd() && blanks_after_name == 0) {
    return absl::InvalidArgumentError(
        fmt::format("unexpected character '{}' after the metric name '{}'", reader.Peek(), name));
  }
  const std::string_view value_token = reader.Token();
  if (value_token.empty()) {
    return absl::InvalidArgumentError(fmt::format("missing value for '{}'", name));
  }
  const std::optional<double> value = ParsePromValue(value_token);
  if (!value.has_value()) {
    return absl::InvalidArgumentError(
        fmt::format("invalid value '{}' for '{}'", value_token, name));
  }
  sample->value = *value;
  reader.SkipBlanks();
  if (!reader.AtEnd()) {
    const std::string_view timestamp_token = reader.Token();
    const std::optional<int64_t> timestamp = ParseTimestamp(timestamp_token);
    if (!timestamp.has_value()) {
      return absl::InvalidArgumentError(
          fmt::format("invalid timestamp '{}' for '{}'", timestamp_token, name));
    }
    sample->timestamp_ms = timestamp;
    reader.SkipBlanks();
    if (!reader.AtEnd()) {
      return absl::InvalidArgumentError(
          fmt::format("unexpected text '{}' after the timestamp", reader.Rest()));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseText(std::string_view text, const PromTextLimits& limits,
                       std::vector<Sample>* samples, TypeMap* types) {
  if (text.size() > limits.max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "metrics text of ", text.size(), " bytes exceeds the limit of ", limits.max_bytes));
  }
  size_t line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    ++line_number;
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    size_t first = 0;
    while (first < line.size() && IsBlank(line[first])) ++first;
    if (first == line.size()) continue;
    absl::Status status;
    if (line[first] == '#') {
      status = ParseComment(line.substr(first), types);
    } else {
      if (samples->size() >= limits.max_samples) {
        return absl::ResourceExhaustedError(
            absl::StrCat("more than ", limits.max_samples, " samples (line ", line_number, ")"));
      }
      Sample sample;
      status = ParseSampleLine(line, &sample);
      if (status.ok()) samples->push_back(std::move(sample));
    }
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("line {}: {}", line_number, std::string(status.message())));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<Sample>> ParsePromText(std::string_view text,
                                                  const PromTextLimits& limits) {
  std::vector<Sample> samples;
  TypeMap types;
  if (absl::Status s = ParseText(text, limits, &samples, &types); !s.ok()) return s;
  return samples;
}

MetricSnapshot::MetricSnapshot(std::vector<Sample> samples, TypeMap types)
    : samples_(std::move(samples)), types_(std::move(types)) {
  std::stable_sort(samples_.begin(), samples_.end(), [](const Sample& a, const Sample& b) {
    if (a.name != b.name) return a.name < b.name;
    return a.labels < b.labels;
  });
}

absl::StatusOr<MetricSnapshot> MetricSnapshot::Parse(std::string_view text,
                                                     const PromTextLimits& limits) {
  std::vector<Sample> samples;
  TypeMap types;
  if (absl::Status s = ParseText(text, limits, &samples, &types); !s.ok()) return s;
  return MetricSnapshot(std::move(samples), std::move(types));
}

std::span<const Sample> MetricSnapshot::Series(std::string_view name) const {
  const auto lower =
      std::lower_bound(samples_.begin(), samples_.end(), name,
                       [](const Sample& s, std::string_view n) { return s.name < n; });
  auto upper = lower;
  while (upper != samples_.end() && upper->name == name) ++upper;
  return {samples_.data() + (lower - samples_.begin()), static_cast<size_t>(upper - lower)};
}

std::optional<std::string_view> MetricSnapshot::Type(std::string_view name) const {
  auto it = types_.find(name);
  if (it == types_.end()) return std::nullopt;
  return std::string_view(it->second);
}

bool MetricSnapshot::HasFamily(std::string_view name) const {
  return types_.find(name) != types_.end() || !Series(name).empty();
}

}  // namespace engram::control
