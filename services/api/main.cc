// engram-api: the public front door (engram.v1.Engram over gRPC, the REST gateway over HTTP).
#include <memory>

#include "absl/flags/flag.h"
#include "common/service/run_main.h"
#include "services/api/server/api_server.h"

ENGRAM_HOST_FLAGS(/*grpc_port=*/50051, /*http_port=*/8080, /*max_connection_age_s=*/300);
ENGRAM_DOWNSTREAM_TLS_FLAGS();
ABSL_FLAG(std::string, storage_addr, "127.0.0.1:50053", "engram-storage gRPC address.");
ABSL_FLAG(std::string, hybrid_addr, "127.0.0.1:50052",
          "engram-hybrid gRPC target, balanced round-robin over every address it resolves to.");
ABSL_FLAG(std::string, api_keys_file, "", "JSON file of API keys (required with --auth=enabled).");
ABSL_FLAG(int, api_keys_reload_s, 10,
          "Re-read --api_keys_file this often; a changed valid file replaces the keys (0: never).");
ABSL_FLAG(std::string, auth, "enabled",
          "enabled or disabled (development only: anyone may do anything).");
ABSL_FLAG(double, key_rate, 1000, "Requests per second per API key (0: unlimited).");
ABSL_FLAG(double, key_burst, 2000, "Burst per API key.");
ABSL_FLAG(double, namespace_rate, 0, "Requests per second per namespace (0: unlimited).");
ABSL_FLAG(double, namespace_burst, 0, "Burst per namespace.");
ABSL_FLAG(uint64_t, cache_mb, 64, "Search/Reason response cache in MiB (0 disables it).");
ABSL_FLAG(int, cache_ttl_ms, 30000,
          "Longest life of a cached response (writes via other replicas).");
ABSL_FLAG(int, default_deadline_ms, 10000, "Deadline of a call whose client set none.");
ABSL_FLAG(int, max_deadline_ms, 60000, "Cap of a client's deadline.");
ABSL_FLAG(uint64_t, max_body_mb, 16, "Largest REST request body in MiB (413 above).");
ABSL_FLAG(uint64_t, max_content_bytes, 1 << 20, "Largest concept content and query text.");
ABSL_FLAG(int, http_threads, 16, "HTTP threads (REST handlers block on downstream calls).");
ABSL_FLAG(int, grpc_max_threads, 0,
          "Most gRPC calls in progress: sync calls each hold a thread while they wait on storage "
          "or hybrid, and at most this many Search calls (served asynchronously) are in progress; "
          "calls past either are refused at once with RESOURCE_EXHAUSTED (0: no limit).");
ABSL_FLAG(int, grpc_max_async_calls, 64,
          "Most Search calls (served asynchronously, holding no thread) in progress; past it, or "
          "past --grpc_max_threads when lower, RESOURCE_EXHAUSTED at once (0: no limit: an "
          "overloaded api then queues searches until their deadlines).");
ABSL_FLAG(int, http_idle_timeout_s, 60,
          "A REST client must send its request header, then its body, and take the response, "
          "each within this many seconds, or the connection is closed (slow clients).");
ABSL_FLAG(int, page_token_ttl_s, 600, "How long a ListConcepts page token stays valid.");

int main(int argc, char** argv) {
  return engram::service::RunMain(
      argc, argv,
      {.service = "engram-api",
       .grpc_service = "engram.v1.Engram",
       .usage = "engram-api [--grpc_port=50051] [--http_port=8080] --api_keys_file=FILE"},
      ReadHostFlags,
      [](engram::service::HostConfig host)
          -> absl::StatusOr<std::unique_ptr<engram::service::Service>> {
        const std::string auth = absl::GetFlag(FLAGS_auth);
        if (auth != "enabled" && auth != "disabled") {
          return absl::InvalidArgumentError("--auth: must be enabled or disabled, not '" + auth + "'");
        }
        engram::api::ApiServerConfig config;
        config.host = std::move(host);
        config.host.http_threads = absl::GetFlag(FLAGS_http_threads);
        config.host.max_body_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_body_mb)) << 20;
        if (absl::GetFlag(FLAGS_http_idle_timeout_s) < 1) {
          return absl::InvalidArgumentError("--http_idle_timeout_s: must be at least 1");
        }
        config.host.http_idle_timeout = absl::Seconds(absl::GetFlag(FLAGS_http_idle_timeout_s));
        config.host.grpc_max_threads = absl::GetFlag(FLAGS_grpc_max_threads);
        config.host.grpc_max_async_calls = absl::GetFlag(FLAGS_grpc_max_async_calls);
        config.storage_address = absl::GetFlag(FLAGS_storage_addr);
        config.downstream_tls = ReadDownstreamTlsFlags();
        config.hybrid_address = absl::GetFlag(FLAGS_hybrid_addr);
        config.api_keys_file = absl::GetFlag(FLAGS_api_keys_file);
        config.keys_reload_interval = absl::GetFlag(FLAGS_api_keys_reload_s) > 0
                                          ? absl::Seconds(absl::GetFlag(FLAGS_api_keys_reload_s))
                                          : absl::InfiniteDuration();
        config.auth_enabled = auth == "enabled";
        config.rate_limits = {.key_rate = absl::GetFlag(FLAGS_key_rate),
                              .key_burst = absl::GetFlag(FLAGS_key_burst),
                              .namespace_rate = absl::GetFlag(FLAGS_namespace_rate),
                              .namespace_burst = absl::GetFlag(FLAGS_namespace_burst)};
        config.cache_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_cache_mb)) << 20;
        config.cache_ttl = absl::Milliseconds(absl::GetFlag(FLAGS_cache_ttl_ms));
        config.core.default_deadline = absl::Milliseconds(absl::GetFlag(FLAGS_default_deadline_ms));
        config.core.max_deadline = absl::Milliseconds(absl::GetFlag(FLAGS_max_deadline_ms));
        config.core.limits.max_content_bytes = absl::GetFlag(FLAGS_max_content_bytes);
        config.core.page_token_ttl = absl::Seconds(absl::GetFlag(FLAGS_page_token_ttl_s));
        if (absl::Status s = config.Validate(); !s.ok()) return s;
        if (absl::Status s = config.host.Validate(); !s.ok()) return s;
        return std::make_unique<engram::api::ApiServer>(std::move(config));
      });
}
