#include "common/http/tls_context.h"

#include <sys/stat.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace engram::http {
namespace {

namespace ssl = boost::asio::ssl;

// Changes when a file is replaced (a Secret's symlink swap: new inode) or rewritten in place.
std::string FilesIdentity(const tls::ServerTlsConfig& config) {
  std::string identity;
  for (const std::string* path : {&config.cert_file, &config.key_file, &config.client_ca_file}) {
    struct stat st {};
    if (path->empty() || ::stat(path->c_str(), &st) != 0) {
      absl::StrAppend(&identity, "-;");
      continue;
    }
    absl::StrAppend(&identity, st.st_dev, ":", st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec,
                    ".", st.st_mtim.tv_nsec, ";");
  }
  return identity;
}

absl::Status Fail(const std::string& what, const boost::system::error_code& ec) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", ec.message()));
}

}  // namespace

absl::StatusOr<std::shared_ptr<ssl::context>> MakeServerSslContext(
    const tls::ServerTlsConfig& config) {
  if (absl::Status s = tls::CheckServerTls(config); !s.ok()) return s;
  if (!config.enabled()) return absl::InvalidArgumentError("TLS is not configured");
  absl::StatusOr<tls::KeyCertPair> pair =
      tls::LoadKeyCertPair(config.cert_file, config.cert_flag, config.key_file, config.key_flag);
  if (!pair.ok()) return pair.status();
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                       ec);
  if (ec) return Fail("TLS options", ec);
  context->use_certificate_chain(boost::asio::buffer(pair->cert_pem), ec);
  if (ec) return Fail(absl::StrCat(config.cert_flag, " '", config.cert_file, "'"), ec);
  context->use_private_key(boost::asio::buffer(pair->key_pem), ssl::context::pem, ec);
  if (ec) return Fail(absl::StrCat(config.key_flag, " '", config.key_file, "'"), ec);
  if (config.mutual()) {
    context->load_verify_file(config.client_ca_file, ec);
    if (ec) return Fail(absl::StrCat(config.client_ca_flag, " '", config.client_ca_file, "'"), ec);
    context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
    if (ec) return Fail("TLS verify mode", ec);
  }
  return context;
}

absl::StatusOr<std::shared_ptr<ssl::context>> MakeClientSslContext(
    const tls::ClientTlsConfig& config) {
  if (absl::Status s = tls::CheckClientTls(config); !s.ok()) return s;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1,
                       ec);
  if (ec) return Fail("TLS options", ec);
  if (!config.ca_file.empty()) {
    context->load_verify_file(config.ca_file, ec);
    if (ec) return Fail(absl::StrCat(config.ca_flag, " '", config.ca_file, "'"), ec);
  } else {
    context->set_default_verify_paths(ec);
    if (ec) return Fail("the system's CA certificates", ec);
  }
  context->set_verify_mode(ssl::verify_peer, ec);
  if (ec) return Fail("TLS verify mode", ec);
  if (config.has_identity()) {
    absl::StatusOr<tls::KeyCertPair> pair =
        tls::LoadKeyCertPair(config.cert_file, config.cert_flag, config.key_file, config.key_flag);
    if (!pair.ok()) return pair.status();
    context->use_certificate_chain(boost::asio::buffer(pair->cert_pem), ec);
    if (ec) return Fail(absl::StrCat(config.cert_flag, " '", config.cert_file, "'"), ec);
    context->use_private_key(boost::asio::buffer(pair->key_pem), ssl::context::pem, ec);
    if (ec) return Fail(absl::StrCat(config.key_flag, " '", config.key_file, "'"), ec);
  }
  return context;
}

ServerTlsContext::ServerTlsContext(tls::ServerTlsConfig config, std::function<absl::Time()> clock)
    : config_(std::move(config)), clock_(std::move(clock)) {}

absl::StatusOr<std::unique_ptr<ServerTlsContext>> ServerTlsContext::Create(
    tls::ServerTlsConfig config, std::function<absl::Time()> clock) {
  std::unique_ptr<ServerTlsContext> tls(new ServerTlsContext(std::move(config), std::move(clock)));
  const std::string identity = FilesIdentity(tls->config_);
  absl::StatusOr<std::shared_ptr<ssl::context>> context = MakeServerSslContext(tls->config_);
  if (!context.ok()) return context.status();
  sync::MutexLock lock(&tls->mu_);
  tls->context_ = *std::move(context);
  tls->files_seen_ = identity;
  tls->last_check_ = tls->clock_();
  tls->generation_ = 1;
  return tls;
}

std::shared_ptr<ssl::context> ServerTlsContext::Current() {
  sync::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  if (now - last_check_ < config_.reload_interval) return context_;
  last_check_ = now;
  const std::string identity = FilesIdentity(config_);
  if (identity == files_seen_) return context_;
  files_seen_ = identity;
  absl::StatusOr<std::shared_ptr<ssl::context>> context = MakeServerSslContext(config_);
  if (!context.ok()) {
    spdlog::warn(
        "http: TLS files changed but do not load ({}); still serving the previous "
        "certificate",
        std::string(context.status().message()));
    return context_;
  }
  context_ = *std::move(context);
  ++generation_;
  absl::StatusOr<tls::KeyCertPair> pair = tls::LoadKeyCertPair(config_.cert_file, config_.cert_flag,
                                                               config_.key_file, config_.key_flag);
  spdlog::info("http: TLS certificate reloaded from {} ({})", config_.cert_file,
               pair.ok() ? tls::DescribeCertificate(pair->cert_pem).value_or("?") : "?");
  return context_;
}

int ServerTlsContext::generation() const {
  sync::MutexLock lock(&mu_);
  return generation_;
}

}  // namespace engram::http
