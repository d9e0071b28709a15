// A parser for the Prometheus text exposition format 0.0.4 (what every Engram service serves on
// GET /metrics), and MetricSnapshot, the parsed samples indexed by metric name.
//
//   absl::StatusOr<MetricSnapshot> snapshot = MetricSnapshot::Parse(body);
//   if (!snapshot.ok()) return snapshot.status();   // INVALID_ARGUMENT "line 12: ..."
//   for (const Sample& s : snapshot->Series("grpc_server_handled_total")) { ... }
//
// What is accepted (as Prometheus' own text parser does):
//   * '#' comments; "# HELP name text" and "# TYPE name counter|gauge|histogram|summary|untyped"
//     (TYPE is remembered per family; HELP is checked for a valid name and otherwise ignored).
//   * Samples: name [{label="value",...[,]}] value [timestamp_ms], tokens separated by blanks or
//     tabs; label values with the escapes \\ \" \n; values as Go's ParseFloat reads them,
//     including NaN, +Inf, -Inf (any case); an optional integer timestamp in milliseconds.
//   * Empty lines; a trailing '\r' on a line (CRLF input).
// Errors: INVALID_ARGUMENT naming the 1-based line number for a malformed line, a duplicate label
// name in one sample, an unknown TYPE or a second TYPE for the same family;
// RESOURCE_EXHAUSTED when the input or the number of samples exceeds PromTextLimits.
//
// Thread-safety: the functions are pure; a MetricSnapshot is immutable after construction and may
// be read from any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace engram::control {

// Label name -> value, sorted by name (so equal label sets compare equal).
using Labels = std::map<std::string, std::string, std::less<>>;

struct Sample {
  std::string name;  // As exposed, e.g. "http_request_duration_seconds_bucket".
  Labels labels;
  double value = 0;
  std::optional<int64_t> timestamp_ms;

  friend bool operator==(const Sample&, const Sample&) = default;
};

struct PromTextLimits {
  size_t max_bytes = size_t{16} << 20;  // Input size.
  size_t max_samples = 500'000;
};

// Parses `text`; samples are returned in input order.
absl::StatusOr<std::vector<Sample>> ParsePromText(std::string_view text,
                                                  const PromTextLimits& limits = {});

// One sample value as the format writes it (also an le label): decimal, NaN, +Inf, -Inf, Inf in
// any case, an optional sign. nullopt when malformed.
std::optional<double> ParsePromValue(std::string_view token);

// Parsed samples sorted by (name, labels), with the families' declared TYPEs.
class MetricSnapshot {
 public:
  MetricSnapshot() = default;
  explicit MetricSnapshot(std::vector<Sample> samples,
                          std::map<std::string, std::string, std::less<>> types = {});

  // ParsePromText, then index. Errors as ParsePromText.
  static absl::StatusOr<MetricSnapshot> Parse(std::string_view text,
                                              const PromTextLimits& limits = {});

  // Every sample named exactly `name`, sorted by labels; empty when there is none.
  std::span<const Sample> Series(std::string_view name) const;

  // The TYPE declared for family `name` ("counter", "histogram", ...), or nullopt.
  std::optional<std::string_view> Type(std::string_view name) const;

  // Whether the family `name` is known: declared by a TYPE line or present as a sample name.
  // A service registers its families at startup, so a declared family without samples means
  // "nothing counted yet" (zero), not "unknown".
  bool HasFamily(std::string_view name) const;

  const std::vector<Sample>& samples() const { return samples_; }
  bool empty() const { return samples_.empty() && types_.empty(); }

 private:
  std::vector<Sample> samples_;
  std::map<std::string, std::string, std::less<>> types_;
};

}  // namespace engram::control
