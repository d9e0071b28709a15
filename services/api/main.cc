// engram-api: the public front door (engram.v1.Engram over gRPC, the REST gateway over HTTP).
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "common/grpc/server_runner.h"
#include "common/logging/logging.h"
#include "services/api/server/api_server.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, listen_address, "0.0.0.0", "Address to bind the gRPC and HTTP ports to.");
ABSL_FLAG(int, grpc_port, 50051, "gRPC port (engram.v1.Engram, health, reflection).");
ABSL_FLAG(int, http_port, 8080, "HTTP port (REST, /openapi.json, /healthz, /readyz, /metrics).");
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
ABSL_FLAG(int, max_connection_age_s, 300,
          "Close gRPC connections after this many seconds so clients spread over new replicas (0: never).");
ABSL_FLAG(int, drain_seconds, 20, "On SIGTERM, how long in-flight calls may take to finish.");
ABSL_FLAG(std::string, log_format, "text", "text or json.");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error.");

int main(int argc, char** argv) {
  engram::grpcutil::ServerRunner::BlockTerminationSignals();
  absl::SetProgramUsageMessage(
      "engram-api [--grpc_port=50051] [--http_port=8080] --api_keys_file=FILE");
  absl::ParseCommandLine(argc, argv);
  auto format = engram::logging::ParseFormat(absl::GetFlag(FLAGS_log_format));
  if (!format.ok() ||
      !engram::logging::Init(
           {.service = "engram-api", .format = *format, .level = absl::GetFlag(FLAGS_log_level)})
           .ok()) {
    fprintf(stderr, "--log_format / --log_level: invalid\n");
    return 2;
  }
  const std::string auth = absl::GetFlag(FLAGS_auth);
  if (auth != "enabled" && auth != "disabled") {
    spdlog::critical("--auth must be enabled or disabled, not '{}'", auth);
    return 2;
  }
  if (auth == "enabled" && absl::GetFlag(FLAGS_api_keys_file).empty()) {
    spdlog::critical(
        "--api_keys_file is required with --auth=enabled (or pass --auth=disabled for local "
        "development)");
    return 2;
  }
  engram::api::ApiServerConfig config;
  config.grpc_address =
      absl::StrCat(absl::GetFlag(FLAGS_listen_address), ":", absl::GetFlag(FLAGS_grpc_port));
  config.http_address = absl::GetFlag(FLAGS_listen_address);
  config.http_port = absl::GetFlag(FLAGS_http_port);
  config.storage_address = absl::GetFlag(FLAGS_storage_addr);
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
  config.max_body_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_body_mb)) << 20;
  config.http_threads = absl::GetFlag(FLAGS_http_threads);
  config.max_connection_age = absl::GetFlag(FLAGS_max_connection_age_s) > 0
                                  ? absl::Seconds(absl::GetFlag(FLAGS_max_connection_age_s))
                                  : absl::InfiniteDuration();
  config.drain_timeout = absl::Seconds(absl::GetFlag(FLAGS_drain_seconds));

  engram::api::ApiServer server(config);
  if (absl::Status s = server.Start(); !s.ok()) {
    spdlog::critical("engram-api failed to start: {}", s.ToString());
    return 1;
  }
  spdlog::info("dependencies: storage {}, hybrid {}", config.storage_address,
               config.hybrid_address);
  spdlog::info("engram-api serving on grpc {} http {}", server.grpc_port(), server.http_port());
  int sig = engram::grpcutil::ServerRunner::WaitForTermination();
  spdlog::info("signal {}: draining", sig);
  server.Shutdown();
  spdlog::info("engram-api stopped cleanly");
  return 0;
}
