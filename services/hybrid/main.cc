// engram-hybrid: the stateless compute service (embeddings, learning with associations, reasoning).
#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/grpc/server_runner.h"
#include "common/logging/logging.h"
#include "services/hybrid/service/hybrid_server.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, listen_address, "0.0.0.0", "Address to bind the gRPC and HTTP ports to.");
ABSL_FLAG(int, grpc_port, 50052, "gRPC port (engram.hybrid.v1.Hybrid, health, reflection).");
ABSL_FLAG(int, http_port, 9102, "HTTP port (/healthz, /readyz, /metrics).");
ABSL_FLAG(std::string, storage_addr, "127.0.0.1:50053", "engram-storage gRPC address.");
ABSL_FLAG(std::string, model_dir, "", "Root of the word-vector models (/models in Kubernetes).");
ABSL_FLAG(std::string, preload, "hashing", "Comma-separated embedders loaded before readiness.");
ABSL_FLAG(int, threads, 0,
          "Compute threads for embedding, extraction and reasoning (0: twice the number of CPUs).");
ABSL_FLAG(uint64_t, compute_queue, 256,
          "Compute tasks that may wait for a busy thread before requests get RESOURCE_EXHAUSTED (0: none).");
ABSL_FLAG(int, namespace_cache_ttl_ms, 5000,
          "How long a namespace's config is reused before asking storage again (0 disables the cache).");
ABSL_FLAG(uint64_t, namespace_cache_size, 1024, "Namespace configs cached.");
ABSL_FLAG(uint64_t, storage_concurrency, 16,
          "Storage calls one request keeps in flight at once (neighbour fetches, semantic-link searches).");
ABSL_FLAG(uint64_t, cache_mb, 256, "Embedding cache size in MiB (0 disables it).");
ABSL_FLAG(int, storage_timeout_ms, 10000, "Longest storage call (the request deadline caps it too).");
ABSL_FLAG(int, max_connection_age_s, 300,
          "Close gRPC connections after this many seconds so clients spread over new replicas (0: never).");
ABSL_FLAG(double, reason_consensus_weight, 0.25,
          "Share of multi-path consensus in a Reason answer's final confidence, 0..1 (docs/hybrid.md).");
ABSL_FLAG(int, drain_seconds, 20, "On SIGTERM, how long in-flight calls may take to finish.");
ABSL_FLAG(std::string, log_format, "text", "text or json.");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error.");

int main(int argc, char** argv) {
  engram::grpcutil::ServerRunner::BlockTerminationSignals();
  absl::SetProgramUsageMessage("engram-hybrid [--grpc_port=50052] [--http_port=9102] [--storage_addr=HOST:PORT]");
  absl::ParseCommandLine(argc, argv);
  auto format = engram::logging::ParseFormat(absl::GetFlag(FLAGS_log_format));
  if (!format.ok() || !engram::logging::Init({.service = "engram-hybrid", .format = *format,
                                               .level = absl::GetFlag(FLAGS_log_level)}).ok()) {
    fprintf(stderr, "--log_format / --log_level: invalid\n");
    return 2;
  }
  engram::hybrid::HybridServerConfig config;
  config.grpc_address = absl::StrCat(absl::GetFlag(FLAGS_listen_address), ":", absl::GetFlag(FLAGS_grpc_port));
  config.http_address = absl::GetFlag(FLAGS_listen_address);
  config.http_port = absl::GetFlag(FLAGS_http_port);
  config.storage_address = absl::GetFlag(FLAGS_storage_addr);
  config.model_dir = absl::GetFlag(FLAGS_model_dir);
  config.preload = absl::StrSplit(absl::GetFlag(FLAGS_preload), ',', absl::SkipEmpty());
  config.cache_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_cache_mb)) << 20;
  config.threads = absl::GetFlag(FLAGS_threads);
  config.compute_queue = absl::GetFlag(FLAGS_compute_queue);
  config.max_connection_age = absl::GetFlag(FLAGS_max_connection_age_s) > 0
                                  ? absl::Seconds(absl::GetFlag(FLAGS_max_connection_age_s))
                                  : absl::InfiniteDuration();
  config.drain_timeout = absl::Seconds(absl::GetFlag(FLAGS_drain_seconds));
  config.core.storage_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_storage_timeout_ms));
  config.core.namespace_cache.ttl = absl::Milliseconds(absl::GetFlag(FLAGS_namespace_cache_ttl_ms));
  config.core.namespace_cache.capacity = absl::GetFlag(FLAGS_namespace_cache_size);
  config.core.max_concurrent_storage_calls = absl::GetFlag(FLAGS_storage_concurrency);
  const double consensus_weight = absl::GetFlag(FLAGS_reason_consensus_weight);
  config.core.reasoner.consensus_weight = static_cast<float>(consensus_weight);
  if (config.threads < 0 || config.core.max_concurrent_storage_calls == 0 ||
      absl::GetFlag(FLAGS_storage_timeout_ms) <= 0 || absl::GetFlag(FLAGS_namespace_cache_ttl_ms) < 0 ||
      !(consensus_weight >= 0 && consensus_weight <= 1)) {
    spdlog::critical("--threads must be >= 0, --storage_concurrency >= 1, --storage_timeout_ms > 0, "
                     "--namespace_cache_ttl_ms >= 0, --reason_consensus_weight in [0, 1]");
    return 2;
  }

  engram::hybrid::HybridServer server(config);
  if (absl::Status s = server.Start(); !s.ok()) {
    spdlog::critical("engram-hybrid failed to start: {}", s.ToString());
    return 1;
  }
  spdlog::info("engram-hybrid serving on grpc {} http {} (storage {})", server.grpc_port(), server.http_port(),
               config.storage_address);
  int sig = engram::grpcutil::ServerRunner::WaitForTermination();
  spdlog::info("signal {}: draining", sig);
  server.Shutdown();
  spdlog::info("engram-hybrid stopped cleanly");
  return 0;
}
