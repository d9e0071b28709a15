#include "common/tls/grpc_credentials.h"

#include <algorithm>

#include "grpc/grpc_security_constants.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace engram::tls {
namespace {

unsigned int RefreshSeconds(absl::Duration interval) {
  return static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(interval)));
}

}  // namespace

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const ServerTlsConfig& config) {
  if (!config.enabled()) return grpc::InsecureServerCredentials();
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      config.key_file, config.cert_file, config.client_ca_file,
      RefreshSeconds(config.reload_interval));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (config.mutual()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const ClientTlsConfig& config) {
  if (!config.enabled()) return grpc::InsecureChannelCredentials();
  grpc::experimental::TlsChannelCredentialsOptions options;
  if (!config.ca_file.empty() || config.has_identity()) {
    auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        config.has_identity() ? config.key_file : "", config.has_identity() ? config.cert_file : "",
        config.ca_file, RefreshSeconds(config.reload_interval));
    options.set_certificate_provider(provider);
    // Without watched roots gRPC verifies against the system's roots.
    if (!config.ca_file.empty()) options.watch_root_certs();
    if (config.has_identity()) options.watch_identity_key_cert_pairs();
  }
  options.set_verify_server_certs(true);
  return grpc::experimental::TlsCredentials(options);
}

void ApplyChannelArguments(const ClientTlsConfig& config, grpc::ChannelArguments* arguments) {
  if (config.enabled() && !config.server_name.empty()) {
    arguments->SetSslTargetNameOverride(config.server_name);
  }
}

std::shared_ptr<grpc::Channel> CreateChannel(const std::string& target,
                                             const ClientTlsConfig& config,
                                             grpc::ChannelArguments arguments) {
  ApplyChannelArguments(config, &arguments);
  return grpc::CreateCustomChannel(target, MakeChannelCredentials(config), arguments);
}

}  // namespace engram::tls
