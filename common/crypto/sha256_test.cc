#include "common/crypto/sha256.h"

#include <string>

#include "gtest/gtest.h"

namespace engram::crypto {
namespace {

// FIPS 180-2 test vectors.
TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, IncrementalEqualsOneShot) {
  const std::string text(100000, 'a');
  Sha256 sha;
  for (size_t i = 0; i < text.size(); i += 7777) sha.Update(std::string_view(text).substr(i, 7777));
  EXPECT_EQ(sha.HexDigest(), Sha256Hex(text));
  EXPECT_EQ(Sha256Digest("abc")[0], 0xba);
}

}  // namespace
}  // namespace engram::crypto
