// SHA-256 on OpenSSL 3's EVP API: incremental (Sha256) or of one buffer (Sha256Digest, Sha256Hex).
//
//   crypto::Sha256 sha;
//   while (...) sha.Update(chunk);
//   std::string hex = sha.HexDigest();  // 64 lowercase hex digits
//
// The one SHA-256 of the code base: snapshot archives (storage, engramctl, engram-control), API key
// digests, asset ETags. Thread-safety: a Sha256 object is not thread-safe; the functions are.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

struct evp_md_ctx_st;  // EVP_MD_CTX, without including OpenSSL here

namespace engram::crypto {

inline constexpr size_t kSha256Bytes = 32;
using Sha256Bytes = std::array<uint8_t, kSha256Bytes>;

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t size);
  void Update(std::string_view data) { Update(data.data(), data.size()); }
  // Finishes the digest; call once, and Update no more afterwards.
  Sha256Bytes Digest();
  std::string HexDigest();  // lowercase

 private:
  evp_md_ctx_st* const ctx_;
};

Sha256Bytes Sha256Digest(std::string_view data);
std::string Sha256Hex(std::string_view data);  // lowercase

}  // namespace engram::crypto
