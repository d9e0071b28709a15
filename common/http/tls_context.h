// TLS for the Beast HTTP server and clients: boost::asio::ssl contexts built from the TLS configs
// (common/tls/tls_config.h).
//
// ServerTlsContext holds the context new connections use and rebuilds it when the certificate,
// key or client CA files change (a rotated Kubernetes Secret): at most once per reload_interval,
// Current() compares the files' identity (inode, size, modification time) with the last seen
// ones. A new set that does not load (a key that does not match its certificate, half-way through
// a rotation) is logged once and the previous context stays in use; the next change is tried
// again. Connections keep the context they started with.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<ServerTlsContext> tls, ServerTlsContext::Create(config));
//   std::shared_ptr<boost::asio::ssl::context> context = tls->Current();   // per connection
//
// Thread-safety: Current() and generation() are thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "boost/asio/ssl/context.hpp"
#include "common/sync/mutex.h"
#include "common/tls/tls_config.h"

namespace engram::http {

class ServerTlsContext {
 public:
  // INVALID_ARGUMENT naming the flag and file (CheckServerTls) when the files do not load.
  static absl::StatusOr<std::unique_ptr<ServerTlsContext>> Create(
      tls::ServerTlsConfig config, std::function<absl::Time()> clock = absl::Now);

  // The context for a new connection, reloaded first when reload_interval has passed since the
  // last check and the files changed.
  std::shared_ptr<boost::asio::ssl::context> Current();

  // 1 for the first context, +1 per successful reload.
  int generation() const;

 private:
  ServerTlsContext(tls::ServerTlsConfig config, std::function<absl::Time()> clock);

  const tls::ServerTlsConfig config_;
  const std::function<absl::Time()> clock_;

  mutable sync::Mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> context_ ABSL_GUARDED_BY(mu_);
  std::string files_seen_ ABSL_GUARDED_BY(mu_);  // FilesIdentity at the last load attempt
  absl::Time last_check_ ABSL_GUARDED_BY(mu_);
  int generation_ ABSL_GUARDED_BY(mu_) = 0;
};

// A server context from the files (TLS 1.2+; client certificates required and verified against
// client_ca_file when set). INVALID_ARGUMENT naming the flag and file.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> MakeServerSslContext(
    const tls::ServerTlsConfig& config);

// A client context that verifies the server against ca_file (or the system's default paths) and
// presents cert_file/key_file when set. The caller still sets SNI and host-name verification on
// each stream (server_name, or the host it connects to). INVALID_ARGUMENT naming the flag and file.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> MakeClientSslContext(
    const tls::ClientTlsConfig& config);

}  // namespace engram::http
