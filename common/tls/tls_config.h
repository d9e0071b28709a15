// TLS settings shared by every Engram server and client, and their startup checks.
//
// A server port is TLS when ServerTlsConfig::cert_file is set; with client_ca_file it is mutual
// TLS (a client certificate signed by that CA is required). A client connects with TLS when
// ClientTlsConfig::enabled(); it verifies the server against ca_file (or the system roots) and,
// with cert_file/key_file, presents a client certificate.
//
// Certificates and keys are files so that a rotated Kubernetes Secret (cert-manager) is picked up
// without a restart: every user re-reads them (grpc_credentials.h: gRPC's file watcher; the HTTP
// server: http_tls.h) every reload_interval, keeping the previous pair when the new one is bad.
//
//   engram::tls::ServerTlsConfig tls{.cert_file = "/tls/tls.crt", .key_file = "/tls/tls.key",
//                                    .client_ca_file = "/tls/ca.crt"};
//   RETURN_IF_ERROR(engram::tls::CheckServerTls(tls));   // at startup: a clear error, exit 2
//
// Errors name the file and the flag that set it (the *_flag fields), e.g.
//   --tls_key '/tls/tls.key': the private key does not match the certificate in --tls_cert
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace engram::tls {

struct ServerTlsConfig {
  std::string cert_file;       // PEM certificate chain, leaf first. Empty: plaintext.
  std::string key_file;        // PEM private key of the leaf.
  std::string client_ca_file;  // PEM CA bundle. Set: clients must present a certificate it signed.
  // How often the files are checked for a new certificate, key or CA (at least one second).
  absl::Duration reload_interval = absl::Seconds(60);
  // The flags behind the fields, for error messages.
  std::string cert_flag = "--tls_cert";
  std::string key_flag = "--tls_key";
  std::string client_ca_flag = "--tls_client_ca";

  bool enabled() const { return !cert_file.empty(); }
  bool mutual() const { return enabled() && !client_ca_file.empty(); }
};

struct ClientTlsConfig {
  bool tls = false;     // Use TLS even without any file (verify against the system roots).
  std::string ca_file;  // PEM CA bundle that signed the server's certificate. Empty: system roots.
  std::string cert_file;  // PEM client certificate chain for mutual TLS (with key_file).
  std::string key_file;
  // The name checked against the server's certificate instead of the target's host (e.g. the
  // certificate names "engram-storage" and the target is an IP address).
  std::string server_name;
  absl::Duration reload_interval = absl::Seconds(60);
  std::string tls_flag = "--downstream_tls";
  std::string ca_flag = "--downstream_tls_ca";
  std::string cert_flag = "--downstream_tls_cert";
  std::string key_flag = "--downstream_tls_key";
  std::string server_name_flag = "--downstream_tls_server_name";

  bool enabled() const {
    return tls || !ca_file.empty() || !cert_file.empty() || !key_file.empty();
  }
  bool has_identity() const { return !cert_file.empty(); }
};

// OK for a plaintext config. Otherwise reads and parses every file: INVALID_ARGUMENT naming the
// flag and the file when one is missing, unreadable or not PEM, when the key does not match the
// certificate, or when a key comes without a certificate (or the reverse).
absl::Status CheckServerTls(const ServerTlsConfig& config);
absl::Status CheckClientTls(const ClientTlsConfig& config);

// The whole file; INVALID_ARGUMENT "<flag> '<path>': cannot read: <reason>".
absl::StatusOr<std::string> ReadPemFile(const std::string& path, const std::string& flag);

// One identity, read and checked together: the certificate chain and its private key.
struct KeyCertPair {
  std::string cert_pem;
  std::string key_pem;
};
// Reads both files and checks that they parse and that the key matches the certificate.
absl::StatusOr<KeyCertPair> LoadKeyCertPair(const std::string& cert_file,
                                            const std::string& cert_flag,
                                            const std::string& key_file,
                                            const std::string& key_flag);

// Human-readable subject and serial of the first certificate in `pem` (logs, tests).
absl::StatusOr<std::string> DescribeCertificate(const std::string& pem);

}  // namespace engram::tls
