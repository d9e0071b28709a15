// gRPC credentials from the TLS configs (tls_config.h), with certificate rotation: the files are
// watched by grpc::experimental::FileWatcherCertificateProvider and re-read every reload_interval,
// so a rotated Kubernetes Secret takes effect on new connections without a restart. gRPC reads the
// key and certificate consistently but, in 1.51, does not hold back a pair that does not match:
// replace them atomically (a Secret volume swaps a symlink), or handshakes fail until the next
// check after the second file is written.
//
//   std::shared_ptr<grpc::Channel> channel =
//       engram::tls::CreateChannel("dns:///engram-storage:50053", config.storage_tls, args);
//
// Call CheckServerTls / CheckClientTls first: gRPC itself only logs unreadable files and then
// fails every handshake.
#pragma once

#include <memory>
#include <string>

#include "common/tls/tls_config.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace engram::tls {

// Insecure credentials for a plaintext config; TLS (mutual with client_ca_file) otherwise.
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const ServerTlsConfig& config);

// Insecure credentials when !config.enabled(); TLS verifying the server against ca_file (or the
// system roots), presenting cert_file/key_file when set. server_name is a channel argument: use
// CreateChannel, or ApplyChannelArguments on your own arguments.
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const ClientTlsConfig& config);

// Sets the server-name override (GRPC_SSL_TARGET_NAME_OVERRIDE_ARG) when configured.
void ApplyChannelArguments(const ClientTlsConfig& config, grpc::ChannelArguments* arguments);

// grpc::CreateCustomChannel with the credentials and arguments above.
std::shared_ptr<grpc::Channel> CreateChannel(const std::string& target,
                                             const ClientTlsConfig& config,
                                             grpc::ChannelArguments arguments = {});

}  // namespace engram::tls
