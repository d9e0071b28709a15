#include "common/tls/tls_config.h"

#include <filesystem>
#include <string>

#include "common/tls/test_certs.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::tls {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::TestCa;
using testing::WriteFileAtomically;

class TlsConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("tls_config_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    const testing::Pem server = ca_.Issue("server", 7);
    WriteFileAtomically(dir_ / "ca.crt", ca_.cert_pem());
    WriteFileAtomically(dir_ / "tls.crt", server.cert);
    WriteFileAtomically(dir_ / "tls.key", server.key);
    WriteFileAtomically(dir_ / "other.key", ca_.Issue("other", 8).key);
    WriteFileAtomically(dir_ / "junk.pem", "not a certificate\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const char* name) const { return (dir_ / name).string(); }

  TestCa ca_{"config test CA"};
  std::filesystem::path dir_;
};

TEST_F(TlsConfigTest, PlaintextIsValid) {
  EXPECT_TRUE(CheckServerTls({}).ok());
  EXPECT_TRUE(CheckClientTls({}).ok());
}

TEST_F(TlsConfigTest, GoodServerAndClientConfigs) {
  EXPECT_TRUE(CheckServerTls({.cert_file = Path("tls.crt"), .key_file = Path("tls.key")}).ok());
  EXPECT_TRUE(CheckServerTls({.cert_file = Path("tls.crt"),
                              .key_file = Path("tls.key"),
                              .client_ca_file = Path("ca.crt")})
                  .ok());
  EXPECT_TRUE(
      CheckClientTls(
          {.ca_file = Path("ca.crt"), .cert_file = Path("tls.crt"), .key_file = Path("tls.key")})
          .ok());
}

TEST_F(TlsConfigTest, MissingFileNamesFlagAndPath) {
  absl::Status s = CheckServerTls({.cert_file = Path("absent.crt"), .key_file = Path("tls.key")});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              AllOf(HasSubstr("--tls_cert"), HasSubstr("absent.crt"), HasSubstr("No such file")));
  s = CheckClientTls({.ca_file = Path("absent-ca.crt")});
  EXPECT_THAT(s.message(), AllOf(HasSubstr("--downstream_tls_ca"), HasSubstr("absent-ca.crt")));
}

TEST_F(TlsConfigTest, KeyThatDoesNotMatchTheCertificate) {
  absl::Status s = CheckServerTls({.cert_file = Path("tls.crt"), .key_file = Path("other.key")});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), AllOf(HasSubstr("--tls_key"), HasSubstr("other.key"),
                                 HasSubstr("does not match"), HasSubstr("tls.crt")));
}

TEST_F(TlsConfigTest, NotPem) {
  EXPECT_THAT(
      CheckServerTls({.cert_file = Path("junk.pem"), .key_file = Path("tls.key")}).message(),
      AllOf(HasSubstr("--tls_cert"), HasSubstr("no PEM certificate")));
  EXPECT_THAT(
      CheckServerTls({.cert_file = Path("tls.crt"), .key_file = Path("junk.pem")}).message(),
      AllOf(HasSubstr("--tls_key"), HasSubstr("private key")));
  EXPECT_THAT(CheckServerTls({.cert_file = Path("tls.crt"),
                              .key_file = Path("tls.key"),
                              .client_ca_file = Path("junk.pem")})
                  .message(),
              HasSubstr("--tls_client_ca"));
}

TEST_F(TlsConfigTest, HalfConfigured) {
  EXPECT_THAT(CheckServerTls({.key_file = Path("tls.key")}).message(), HasSubstr("--tls_cert"));
  EXPECT_THAT(CheckServerTls({.client_ca_file = Path("ca.crt")}).message(),
              HasSubstr("--tls_client_ca is set"));
  EXPECT_THAT(CheckClientTls({.cert_file = Path("tls.crt")}).message(),
              HasSubstr("--downstream_tls_key is needed"));
  EXPECT_THAT(CheckClientTls({.server_name = "x"}).message(), HasSubstr("needs TLS"));
}

TEST_F(TlsConfigTest, DescribeCertificateShowsSubjectAndSerial) {
  absl::StatusOr<std::string> description = DescribeCertificate(ca_.Issue("named-leaf", 0x2A).cert);
  ASSERT_TRUE(description.ok()) << description.status();
  EXPECT_THAT(*description, AllOf(HasSubstr("CN=named-leaf"), HasSubstr("serial 2A")));
}

}  // namespace
}  // namespace engram::tls
