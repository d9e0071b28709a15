#include "common/crypto/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"

namespace engram::crypto {

namespace {
// Allocation failures and a missing SHA-256 are broken invariants, not input errors.
void Check(int ok) {
  if (ok != 1) std::abort();
}
}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) std::abort();
  Check(EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr));
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::Update(const void* data, size_t size) { Check(EVP_DigestUpdate(ctx_, data, size)); }

Sha256Bytes Sha256::Digest() {
  Sha256Bytes out{};
  unsigned int size = 0;
  Check(EVP_DigestFinal_ex(ctx_, out.data(), &size));
  if (size != out.size()) std::abort();
  return out;
}

std::string Sha256::HexDigest() {
  const Sha256Bytes digest = Digest();
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

Sha256Bytes Sha256Digest(std::string_view data) {
  Sha256 sha;
  sha.Update(data);
  return sha.Digest();
}

std::string Sha256Hex(std::string_view data) {
  Sha256 sha;
  sha.Update(data);
  return sha.HexDigest();
}

}  // namespace engram::crypto
