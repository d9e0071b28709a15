// engram-hybrid: the stateless compute service (embeddings, learning with associations, reasoning).
#include <memory>

#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"
#include "common/service/run_main.h"
#include "services/hybrid/service/hybrid_server.h"

ENGRAM_HOST_FLAGS(/*grpc_port=*/50052, /*http_port=*/9102, /*max_connection_age_s=*/300);
ENGRAM_DOWNSTREAM_TLS_FLAGS();
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
ABSL_FLAG(int, grpc_max_async_calls, 128,
          "Most Search calls (served asynchronously, holding no thread) in progress; past it "
          "RESOURCE_EXHAUSTED at once (0: no limit: an overloaded hybrid then queues searches "
          "until their deadlines). Each engram-api admits at most its own --grpc_max_async_calls.");
ABSL_FLAG(double, reason_consensus_weight, 0.25,
          "Share of multi-path consensus in a Reason answer's final confidence, 0..1 (docs/hybrid.md).");

ABSL_FLAG(double, reason_min_margin, 0.08,
          "A Reason answer is confident only when its final confidence beats the runner-up's by "
          "this much, 0..1 (docs/hybrid.md).");

ABSL_FLAG(uint32_t, reason_bridge_pairs, 32,
          "Per \"How is X related to Y?\" question, the most (sense of X, concept named Y) pairs "
          "whose fewest-hops path is looked up with Storage.FindPaths, for a Y beyond the "
          "expansion's budget; 0: none (docs/hybrid.md).");

ABSL_FLAG(bool, reason_keyword_seeds, true,
          "Seed Reason from the question's words (BM25) as well as its vector; false: the vector "
          "alone (docs/hybrid.md).");

int main(int argc, char** argv) {
  return engram::service::RunMain(
      argc, argv,
      {.service = "engram-hybrid",
       .grpc_service = "engram.hybrid.v1.Hybrid",
       .usage = "engram-hybrid [--grpc_port=50052] [--http_port=9102] [--storage_addr=HOST:PORT]"},
      ReadHostFlags,
      [](engram::service::HostConfig host)
          -> absl::StatusOr<std::unique_ptr<engram::service::Service>> {
        engram::hybrid::HybridServerConfig config;
        config.host = std::move(host);
        config.host.grpc_max_async_calls = absl::GetFlag(FLAGS_grpc_max_async_calls);
        config.storage_address = absl::GetFlag(FLAGS_storage_addr);
        config.storage_tls = ReadDownstreamTlsFlags();
        config.model_dir = absl::GetFlag(FLAGS_model_dir);
        config.preload = absl::StrSplit(absl::GetFlag(FLAGS_preload), ',', absl::SkipEmpty());
        config.cache_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_cache_mb)) << 20;
        config.threads = absl::GetFlag(FLAGS_threads);
        config.compute_queue = absl::GetFlag(FLAGS_compute_queue);
        config.core.storage_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_storage_timeout_ms));
        config.core.namespace_cache.ttl = absl::Milliseconds(absl::GetFlag(FLAGS_namespace_cache_ttl_ms));
        config.core.namespace_cache.capacity = absl::GetFlag(FLAGS_namespace_cache_size);
        config.core.max_concurrent_storage_calls = absl::GetFlag(FLAGS_storage_concurrency);
        config.core.reasoner.consensus_weight =
            static_cast<float>(absl::GetFlag(FLAGS_reason_consensus_weight));
        config.core.reasoner.min_margin = static_cast<float>(absl::GetFlag(FLAGS_reason_min_margin));
        config.core.reasoner.max_bridge_pairs = absl::GetFlag(FLAGS_reason_bridge_pairs);
        config.core.keyword_seeds = absl::GetFlag(FLAGS_reason_keyword_seeds);
        if (absl::Status s = config.Validate(); !s.ok()) return s;
        return std::make_unique<engram::hybrid::HybridServer>(std::move(config));
      });
}
