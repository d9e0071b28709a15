// Test-only: a certificate authority made at test time (OpenSSL 3), issuing server and client
// certificates, so no key material is checked in and nothing expires in the repository.
//
//   engram::tls::testing::TestCa ca("engram test CA");
//   engram::tls::testing::Pem server = ca.Issue("engram-storage", /*serial=*/1);  // localhost,
//   127.0.0.1 engram::tls::testing::WriteFileAtomically(dir / "tls.crt", server.cert);
#pragma once

#include <filesystem>
#include <string>
#include <vector>

struct ssl_st;  // OpenSSL's SSL

namespace engram::tls::testing {

struct Pem {
  std::string cert;
  std::string key;
};

class TestCa {
 public:
  // A self-signed CA (EC P-256) valid from an hour ago for a day.
  explicit TestCa(const std::string& common_name);

  const std::string& cert_pem() const { return self_.cert; }
  const std::string& key_pem() const { return self_.key; }

  // A leaf certificate (EC P-256) with CN `common_name`, the given serial number and subject
  // alternative names `dns_names` and `ip_addresses`. Usable as a server and as a client
  // certificate. Aborts on an OpenSSL failure (a broken test environment).
  Pem Issue(const std::string& common_name, long serial,
            const std::vector<std::string>& dns_names = {"localhost"},
            const std::vector<std::string>& ip_addresses = {"127.0.0.1"}) const;

 private:
  Pem self_;
};

// Writes `contents` to a temporary file beside `path`, then renames it over `path`.
void WriteFileAtomically(const std::filesystem::path& path, const std::string& contents);

// The subject and serial of the certificate the peer of `ssl` presented ("/CN=x serial 3"), or
// "none": how a test sees which certificate a server is serving.
std::string PeerCertificateSummary(ssl_st* ssl);

}  // namespace engram::tls::testing
