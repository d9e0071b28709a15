// engram-control: the operators' admin UI and admin API (docs/control.md).
#include <memory>

#include "absl/flags/flag.h"
#include "common/service/run_main.h"
#include "services/control/server/control_server.h"

ENGRAM_HTTP_HOST_FLAGS(/*http_port=*/8090);
ENGRAM_DOWNSTREAM_TLS_FLAGS();
ABSL_FLAG(std::string, storage_addr, "127.0.0.1:50053", "engram-storage gRPC address.");
ABSL_FLAG(std::string, storage_http_addr, "127.0.0.1:9103", "engram-storage HTTP address (/readyz, /metrics).");
ABSL_FLAG(std::string, hybrid_addr, "127.0.0.1:50052",
          "engram-hybrid gRPC target; a DNS name lists every replica (balanced round-robin).");
ABSL_FLAG(int, hybrid_http_port, 9102, "engram-hybrid's HTTP port on each of its addresses.");
ABSL_FLAG(std::string, api_http_addr, "127.0.0.1:8080",
          "engram-api HTTP address; a DNS name lists every replica, each scraped.");
ABSL_FLAG(std::string, api_keys_file, "", "The API keys file of engram-api; an admin key logs in (required).");
ABSL_FLAG(std::string, session_secret_file, "",
          "File whose bytes sign sessions (shared by all replicas); default: derived from the keys file.");
ABSL_FLAG(std::string, ui_dir, "", "Serve the UI from this directory instead of the embedded copy.");
ABSL_FLAG(std::string, base_path, "/", "Path prefix the UI is served under, e.g. /control/ behind an Ingress.");
ABSL_FLAG(int, session_ttl_s, 43200, "Session lifetime in seconds.");
ABSL_FLAG(double, scrape_interval_s, 2, "How often services are scraped and browsers updated.");
ABSL_FLAG(int, history_minutes, 15, "Live-chart history kept in memory.");
ABSL_FLAG(uint64_t, max_upload_gb, 64, "Largest snapshot archive restored from the browser, GiB.");
ABSL_FLAG(bool, secure_cookies, false, "Mark the session cookie Secure (when served over HTTPS).");

int main(int argc, char** argv) {
  return engram::service::RunMain(
      argc, argv,
      {.service = "engram-control",
       .usage = "engram-control --api_keys_file=FILE [--http_port=8090] [--storage_addr=HOST:PORT]",
       .http_threads = 8,
       .max_body_bytes = 1 << 20},
      ReadHostFlags,
      [](engram::service::HostConfig host)
          -> absl::StatusOr<std::unique_ptr<engram::service::Service>> {
        engram::control::ControlServerConfig config;
        config.host = std::move(host);
        config.storage_address = absl::GetFlag(FLAGS_storage_addr);
        config.downstream_tls = ReadDownstreamTlsFlags();
        config.storage_http_address = absl::GetFlag(FLAGS_storage_http_addr);
        config.hybrid_address = absl::GetFlag(FLAGS_hybrid_addr);
        config.hybrid_http_port = absl::GetFlag(FLAGS_hybrid_http_port);
        config.api_http_address = absl::GetFlag(FLAGS_api_http_addr);
        config.api_keys_file = absl::GetFlag(FLAGS_api_keys_file);
        config.session_secret_file = absl::GetFlag(FLAGS_session_secret_file);
        config.ui_dir = absl::GetFlag(FLAGS_ui_dir);
        config.base_path = absl::GetFlag(FLAGS_base_path);
        config.session_ttl = absl::Seconds(absl::GetFlag(FLAGS_session_ttl_s));
        config.scrape_interval = absl::Seconds(absl::GetFlag(FLAGS_scrape_interval_s));
        config.history = absl::Minutes(absl::GetFlag(FLAGS_history_minutes));
        config.max_upload_bytes = absl::GetFlag(FLAGS_max_upload_gb) << 30;
        // A UI served over HTTPS marks its session cookie Secure.
        config.secure_cookies = absl::GetFlag(FLAGS_secure_cookies) || config.host.tls.enabled();
        if (absl::Status s = config.Validate(); !s.ok()) return s;
        return std::make_unique<engram::control::ControlServer>(std::move(config));
      });
}
