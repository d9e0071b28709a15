// Validates the exposition format with the real Prometheus parser and linter.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "common/metrics/metrics.h"
#include "gtest/gtest.h"

#ifndef ENGRAM_PROMTOOL
#error "ENGRAM_PROMTOOL must be defined by the build"
#endif

namespace engram::metrics {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/metrics_promtool_XXXXXX";
    path_ = mkdtemp(pattern.data()) != nullptr ? pattern : "";
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void Populate(Registry& registry) {
  auto& requests = registry.AddCounter("engram_http_requests_total", "HTTP requests handled.",
                                       {"route", "method", "code"});
  requests.Add({"/v1/namespaces/{namespace}", "GET", "200"}).Increment(12);
  requests.Add({"/v1/namespaces/{namespace}/concepts:batch", "POST", "413"}).Increment();
  registry.AddCounter("engram_bytes_written", "Bytes written to the log, with a \\ backslash.")
      .Add({})
      .Increment(1e12);
  registry.AddGauge("engram_inflight_requests", "Requests being served.").Add({}).Set(3);
  registry.AddGauge("engram_weird_labels", "Label values needing escapes.", {"value"})
      .Add({"quote \" backslash \\ newline \n unicode \xC3\xA9"})
      .Set(-2.5);
  auto& latency = registry.AddHistogram("engram_rpc_duration_seconds", "RPC latency.", {"method"},
                                        DefaultLatencyBuckets());
  for (double v : {0.00001, 0.0003, 0.002, 0.04, 0.7, 3.0, 60.0}) {
    latency.Add({"Learn"}).Observe(v);
  }
  latency.Add({"Search"});  // An empty histogram series.
  registry.AddHistogram("engram_batch_size", "Concepts per batch.", {}, ExponentialBuckets(1, 4, 6))
      .Add({})
      .Observe(17);
  registry.AddCallbackGauge("engram_wal_queue_depth", "Writes waiting for fsync.",
                            [] { return 4.0; });
  registry.AddCallbackGauge("engram_namespace_concepts", "Concepts per namespace.", {"namespace"},
                            [] {
                              return Registry::LabelledValues{{{"default"}, 10}, {{"news"}, 0}};
                            });
  registry.AddGauge("engram_never_set", "A family with no series yet.", {"x"});
  // Special values as prometheus::TextSerializer writes them ("Nan", "+Inf", "-Inf").
  auto& special = registry.AddGauge("engram_special_values", "Non-finite values.", {"kind"});
  special.Add({"nan"}).Set(std::nan(""));
  special.Add({"inf"}).Set(INFINITY);
  special.Add({"neg_inf"}).Set(-INFINITY);
}

TEST(PromtoolTest, SerializedRegistryPassesCheckMetrics) {
  const std::string promtool = ENGRAM_PROMTOOL;
  ASSERT_FALSE(promtool.empty())
      << "promtool was not found at configure time; install the Debian package `prometheus`";
  ASSERT_EQ(access(promtool.c_str(), X_OK), 0) << promtool << " is not executable";

  Registry registry;
  Populate(registry);
  const std::string text = registry.Serialize();

  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string metrics_path = dir.path() + "/metrics.txt";
  const std::string output_path = dir.path() + "/promtool.out";
  {
    std::ofstream out(metrics_path);
    out << text;
    ASSERT_TRUE(out.good());
  }
  const std::string command =
      "'" + promtool + "' check metrics < '" + metrics_path + "' > '" + output_path + "' 2>&1";
  const int status = std::system(command.c_str());
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "promtool check metrics failed:\n"
      << ReadFile(output_path) << "\n--- exposition ---\n"
      << text;
}

}  // namespace
}  // namespace engram::metrics
