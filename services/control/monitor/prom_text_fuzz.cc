// libFuzzer target: engram-control's parser of the Prometheus text format (it scrapes /metrics of
// every service; a compromised or buggy service controls those bytes). Must return samples or
// INVALID_ARGUMENT / RESOURCE_EXHAUSTED; an accepted snapshot must find every sample it holds.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "services/control/monitor/prom_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  engram::control::PromTextLimits limits;
  limits.max_samples = 10'000;
  absl::StatusOr<engram::control::MetricSnapshot> snapshot =
      engram::control::MetricSnapshot::Parse(text, limits);
  if (!snapshot.ok()) {
    if (snapshot.status().code() != absl::StatusCode::kInvalidArgument &&
        snapshot.status().code() != absl::StatusCode::kResourceExhausted) {
      __builtin_trap();
    }
  } else {
    for (const engram::control::Sample& s : snapshot->samples()) {
      if (snapshot->Series(s.name).empty() || !snapshot->HasFamily(s.name)) __builtin_trap();
      (void)snapshot->Type(s.name);
    }
  }
  const size_t nl = text.find('\n');
  (void)engram::control::ParsePromValue(text.substr(0, nl));
  return 0;
}
