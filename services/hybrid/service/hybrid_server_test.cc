#include "services/hybrid/service/hybrid_server.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::hybrid {
namespace {

using ::testing::HasSubstr;

// Each out-of-range setting is refused with an error naming its flag.
TEST(HybridServerConfigTest, RejectsOutOfRangeSettingsNamingTheFlag) {
  EXPECT_TRUE(HybridServerConfig{}.Validate().ok()) << HybridServerConfig{}.Validate();
  struct Case {
    const char* flag;
    void (*set)(HybridServerConfig&);
  };
  const Case cases[] = {
      {"--threads", [](HybridServerConfig& c) { c.threads = -1; }},
      {"--storage_concurrency", [](HybridServerConfig& c) { c.core.max_concurrent_storage_calls = 0; }},
      {"--storage_timeout_ms", [](HybridServerConfig& c) { c.core.storage_timeout = absl::ZeroDuration(); }},
      {"--reason_consensus_weight", [](HybridServerConfig& c) { c.core.reasoner.consensus_weight = 1.5f; }},
      {"--reason_min_margin", [](HybridServerConfig& c) { c.core.reasoner.min_margin = -0.1f; }},
      {"--reason_bridge_pairs", [](HybridServerConfig& c) { c.core.reasoner.max_bridge_pairs = 1001; }},
  };
  for (const Case& c : cases) {
    HybridServerConfig config;
    c.set(config);
    const absl::Status s = config.Validate();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.flag << ": " << s;
    EXPECT_THAT(s.message(), HasSubstr(c.flag)) << s;
  }
  HybridServerConfig none;
  none.core.reasoner.max_bridge_pairs = 0;  // 0 turns the lookups off
  EXPECT_TRUE(none.Validate().ok());
}

}  // namespace
}  // namespace engram::hybrid
