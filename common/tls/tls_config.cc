#include "common/tls/tls_config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "openssl/bio.h"
#include "openssl/err.h"
#include "openssl/pem.h"
#include "openssl/x509.h"

namespace engram::tls {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string Where(const std::string& flag, const std::string& path) {
  return absl::StrCat(flag, " '", path, "'");
}

BioPtr MemoryBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Every certificate in `pem`; empty when none parses.
std::vector<X509Ptr> ParseCertificates(const std::string& pem) {
  std::vector<X509Ptr> certs;
  BioPtr bio = MemoryBio(pem);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(cert);
  }
  ERR_clear_error();  // The loop ends on "no start line".
  return certs;
}

absl::Status CheckCaFile(const std::string& path, const std::string& flag) {
  absl::StatusOr<std::string> pem = ReadPemFile(path, flag);
  if (!pem.ok()) return pem.status();
  if (ParseCertificates(*pem).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(flag, path), ": no PEM certificate in the file"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadPemFile(const std::string& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(flag, path), ": cannot read: ", std::strerror(errno)));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat(Where(flag, path), ": cannot read"));
  }
  return contents.str();
}

absl::StatusOr<KeyCertPair> LoadKeyCertPair(const std::string& cert_file,
                                            const std::string& cert_flag,
                                            const std::string& key_file,
                                            const std::string& key_flag) {
  if (cert_file.empty() != key_file.empty()) {
    return absl::InvalidArgumentError(
        cert_file.empty() ? absl::StrCat(key_flag, " is set: ", cert_flag, " is needed too")
                          : absl::StrCat(cert_flag, " is set: ", key_flag, " is needed too"));
  }
  KeyCertPair pair;
  absl::StatusOr<std::string> cert_pem = ReadPemFile(cert_file, cert_flag);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = ReadPemFile(key_file, key_flag);
  if (!key_pem.ok()) return key_pem.status();
  std::vector<X509Ptr> chain = ParseCertificates(*cert_pem);
  if (chain.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(cert_flag, cert_file), ": no PEM certificate in the file"));
  }
  BioPtr key_bio = MemoryBio(*key_pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(key_flag, key_file), ": no unencrypted PEM private key in the file"));
  }
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        Where(key_flag, key_file), ": the private key does not match the certificate in ",
        Where(cert_flag, cert_file)));
  }
  pair.cert_pem = *std::move(cert_pem);
  pair.key_pem = *std::move(key_pem);
  return pair;
}

absl::Status CheckServerTls(const ServerTlsConfig& config) {
  if (!config.enabled()) {
    if (!config.key_file.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(config.key_flag, " is set: ", config.cert_flag, " is needed too"));
    }
    if (!config.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(config.client_ca_flag, " is set: client certificates need TLS (",
                       config.cert_flag, " and ", config.key_flag, ")"));
    }
    return absl::OkStatus();
  }
  if (config.reload_interval < absl::Seconds(1)) {
    return absl::InvalidArgumentError("--tls_reload_s: at least 1 second");
  }
  absl::StatusOr<KeyCertPair> pair =
      LoadKeyCertPair(config.cert_file, config.cert_flag, config.key_file, config.key_flag);
  if (!pair.ok()) return pair.status();
  if (config.mutual()) return CheckCaFile(config.client_ca_file, config.client_ca_flag);
  return absl::OkStatus();
}

absl::Status CheckClientTls(const ClientTlsConfig& config) {
  if (!config.enabled()) {
    if (!config.server_name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(config.server_name_flag, " is set: it needs TLS (", config.tls_flag, ")"));
    }
    return absl::OkStatus();
  }
  if (config.reload_interval < absl::Seconds(1)) {
    return absl::InvalidArgumentError("TLS reload interval: at least 1 second");
  }
  if (!config.ca_file.empty()) {
    if (absl::Status s = CheckCaFile(config.ca_file, config.ca_flag); !s.ok()) return s;
  }
  if (!config.cert_file.empty() || !config.key_file.empty()) {
    absl::StatusOr<KeyCertPair> pair =
        LoadKeyCertPair(config.cert_file, config.cert_flag, config.key_file, config.key_flag);
    if (!pair.ok()) return pair.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> DescribeCertificate(const std::string& pem) {
  std::vector<X509Ptr> certs = ParseCertificates(pem);
  if (certs.empty()) return absl::InvalidArgumentError("no PEM certificate");
  X509* cert = certs.front().get();
  char subject[512];
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
  BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = BN_bn2hex(serial);
  std::string description = absl::StrCat("subject ", subject, " serial ", hex);
  OPENSSL_free(hex);
  BN_free(serial);
  return description;
}

}  // namespace engram::tls
