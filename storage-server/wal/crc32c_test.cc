#include "storage-server/wal/crc32c.h"

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace engram::storage::wal {
namespace {

using Fn = uint32_t (*)(const void*, size_t, uint32_t);

struct Impl {
  const char* name;
  Fn fn;
  bool available;
};

std::vector<Impl> Impls() {
  return {{"portable", &internal::Crc32cPortable, true},
          {"sse42", &internal::Crc32cSse42, internal::Sse42Available()},
          {"dispatch", [](const void* d, size_t n, uint32_t c) { return Crc32c(d, n, c); }, true}};
}

class Crc32cTest : public ::testing::TestWithParam<Impl> {
 protected:
  void SetUp() override {
    if (!GetParam().available) GTEST_SKIP() << GetParam().name << " not supported on this CPU";
  }
  uint32_t Crc(const void* data, size_t n, uint32_t crc = 0) { return GetParam().fn(data, n, crc); }
};

// Test vectors from RFC 3720 section B.4 and the usual "123456789" check value.
TEST_P(Crc32cTest, StandardVectors) {
  EXPECT_EQ(Crc("123456789", 9), 0xE3069283u);
  EXPECT_EQ(Crc("", 0), 0u);

  uint8_t buf[32];
  std::memset(buf, 0, sizeof(buf));
  EXPECT_EQ(Crc(buf, sizeof(buf)), 0x8A9136AAu);
  std::memset(buf, 0xFF, sizeof(buf));
  EXPECT_EQ(Crc(buf, sizeof(buf)), 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Crc(buf, sizeof(buf)), 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(31 - i);
  EXPECT_EQ(Crc(buf, sizeof(buf)), 0x113FDB5Cu);

  const uint8_t iscsi_read[48] = {
      0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
      0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  };
  EXPECT_EQ(Crc(iscsi_read, sizeof(iscsi_read)), 0xD9963A56u);
}

TEST_P(Crc32cTest, ExtendEqualsWhole) {
  const std::string s = "hello world, this is a longer string to cross 8-byte words";
  const uint32_t whole = Crc(s.data(), s.size());
  for (size_t k = 0; k <= s.size(); ++k) {
    EXPECT_EQ(Crc(s.data() + k, s.size() - k, Crc(s.data(), k)), whole) << "split at " << k;
  }
}

TEST_P(Crc32cTest, MatchesPortableOnRandomDataAtEveryAlignment) {
  std::mt19937 rng(42);
  std::vector<uint8_t> data(4096 + 16);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  for (size_t align = 0; align < 8; ++align) {
    for (size_t n : {0, 1, 7, 8, 9, 15, 16, 63, 64, 65, 600, 4096}) {
      EXPECT_EQ(Crc(data.data() + align, n, 0x1234u),
                internal::Crc32cPortable(data.data() + align, n, 0x1234u))
          << "align " << align << " n " << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllImpls, Crc32cTest, ::testing::ValuesIn(Impls()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace engram::storage::wal
