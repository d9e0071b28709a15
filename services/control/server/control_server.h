// ControlServer: engram-control as one object: the admin UI (embedded assets or --ui_dir), the
// admin API (admin_api.h) behind admin-key sessions (session.h), the live monitor pushed over a
// WebSocket, and the audit log (audit.h), on one HTTP port of a ServiceHost.
//
//   ControlServer server(config);
//   RETURN_IF_ERROR(server.Start());   // loads keys and assets, listens, starts scraping
//   ...wait for SIGTERM...
//   server.Shutdown();
//
// Routes live under config.base_path (default "/"; "/control/" behind an Ingress that does not
// strip the prefix); "<base>" without its trailing slash redirects to "<base>/" so the UI's
// relative URLs resolve. Every response carries X-Content-Type-Options: nosniff,
// X-Frame-Options: DENY and a strict Content-Security-Policy.
// Readiness: the keys file is loaded and the assets are there; the downstream services being
// down is shown in the UI, not a reason to stop serving it.
// Stateless: sessions are signed cookies (any replica checks them), the audit log is in storage.
// Thread-safety: Start/Shutdown from one thread; handlers run concurrently.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/service/service_host.h"
#include "common/tls/tls_config.h"
#include "engram/hybrid/v1/hybrid.grpc.pb.h"
#include "engram/storage/v1/storage.grpc.pb.h"
#include "services/api/policy/api_keys.h"
#include "services/control/assets/asset.h"
#include "services/control/monitor/http_fetcher.h"
#include "services/control/monitor/monitor.h"
#include "services/control/server/admin_api.h"
#include "services/control/server/audit.h"
#include "services/control/server/session.h"

namespace engram::control {

struct ControlServerConfig {
  service::HostConfig host{.http_port = 8090, .http_threads = 8};
  std::string storage_address = "127.0.0.1:50053";
  std::string storage_http_address = "127.0.0.1:9103";
  std::string hybrid_address = "127.0.0.1:50052";  // gRPC target; a DNS name lists replicas
  int hybrid_http_port = 9102;
  std::string api_http_address = "127.0.0.1:8080";  // may be a DNS name listing replicas
  // TLS of the gRPC channels to storage and hybrid and of the monitor's HTTP scrapes of every
  // service (plaintext by default; common/tls/tls_config.h).
  tls::ClientTlsConfig downstream_tls;
  std::string api_keys_file;                        // required
  std::string session_secret_file;                  // optional; default: derived from the keys
  std::string ui_dir;                               // empty: the embedded assets
  std::string base_path = "/";
  absl::Duration session_ttl = absl::Hours(12);
  absl::Duration keys_reload_interval = absl::Seconds(10);
  absl::Duration scrape_interval = absl::Seconds(2);
  absl::Duration history = absl::Minutes(15);
  size_t max_upload_bytes = size_t{64} << 30;  // snapshot archives restored from the browser
  bool secure_cookies = false;                 // Secure attribute (set when served over TLS)
  AdminApiOptions admin;

  // INVALID_ARGUMENT naming the flag.
  absl::Status Validate() const;
};

// One UI asset as a response: MIME type, ETag (304 on If-None-Match), gzip when accepted,
// immutable caching for content-hashed files under assets/, no-cache otherwise, the security
// headers; HEAD answers the headers only.
http::Response ServeAsset(const Asset& asset, const http::Request& request);

class ControlServer : public service::Service {
 public:
  explicit ControlServer(ControlServerConfig config);
  ~ControlServer() override;

  absl::Status Start() override;
  void Shutdown() override;
  service::ServiceHost& host() override { return host_; }
  int http_port() const { return host_.http_port(); }

 private:
  struct Keys {
    std::shared_ptr<const api::ApiKeyStore> store;
    std::shared_ptr<const SessionCodec> codec;
  };
  // Reads the keys file (and the secret); replaces both when the file changed.
  absl::Status ReloadKeys();
  Keys CurrentKeys() const;
  void KeysLoop();

  // The session of a request, or the error to answer with (401, or 403 for a missing CSRF token
  // on a mutating call).
  absl::StatusOr<Session> Authenticate(const http::Request& request, bool mutating) const;
  std::string Client(const http::Request& request) const;
  // The session cookie's Path: X-Forwarded-Prefix when the proxy sent a valid one, else base_path.
  std::string CookiePath(const http::Request& request) const;
  void Audit(const Session* session, std::string_view key_name, std::string action,
             std::string target, const absl::Status& result, const http::Request& request);

  void RegisterRoutes();
  std::string Route(std::string_view suffix) const;  // base_path + suffix

  ControlServerConfig config_;
  service::ServiceHost host_;
  std::shared_ptr<grpc::Channel> storage_channel_;
  std::shared_ptr<grpc::Channel> hybrid_channel_;
  std::unique_ptr<storage::v1::Storage::Stub> storage_;
  std::unique_ptr<hybrid::v1::Hybrid::Stub> hybrid_;
  std::unique_ptr<AdminApi> admin_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<Monitor> monitor_;
  LoginLimiter limiter_;
  AssetSet assets_;

  mutable absl::Mutex keys_mu_;
  Keys keys_ ABSL_GUARDED_BY(keys_mu_);
  std::string keys_text_ ABSL_GUARDED_BY(keys_mu_);
  std::atomic<bool> keys_loaded_{false};

  absl::Mutex sockets_mu_;
  std::set<std::shared_ptr<http::WebSocketConnection>> sockets_ ABSL_GUARDED_BY(sockets_mu_);
  Monitor::SubscriptionId subscription_ = 0;

  absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread keys_thread_;
  bool started_ = false;
  bool shut_down_ = false;
};

}  // namespace engram::control
