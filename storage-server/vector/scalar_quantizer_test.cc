#include "storage-server/vector/scalar_quantizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "storage-server/vector/distance.h"
#include "storage-server/vector/test_data.h"

namespace engram::storage::vector {
namespace {

// The int8 kernels against a double-precision scalar reference, for every dispatch level.
TEST(CodeKernelsTest, MatchScalarReference) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> byte(0, 255);
  for (size_t dim : {16u, 32u, 48u, 128u, 784u}) {
    std::vector<float> w(dim), t(dim);
    std::vector<uint8_t> code(dim);
    for (size_t i = 0; i < dim; ++i) {
      w[i] = std::abs(normal(rng)) * 0.01f;
      t[i] = normal(rng) * 60 + 128;
      code[i] = static_cast<uint8_t>(byte(rng));
    }
    code[0] = 255;  // the widening must be unsigned
    double dot = 0, l2 = 0;
    for (size_t i = 0; i < dim; ++i) {
      dot += double{w[i]} * code[i];
      l2 += double{w[i]} * (t[i] - code[i]) * (t[i] - code[i]);
    }
    for (const DistanceKernels* k : {&Kernels(), &BaselineKernels()}) {
      SCOPED_TRACE(::testing::Message() << k->isa << " dim " << dim);
      EXPECT_NEAR(k->code_dot(w.data(), code.data(), dim), dot, 1e-5 * std::abs(dot) + 1e-4);
      EXPECT_NEAR(k->code_l2(t.data(), w.data(), code.data(), dim), l2, 1e-5 * l2 + 1e-4);
    }
  }
}

ScalarQuantizer TrainOn(const std::vector<float>& data, uint32_t dim, uint32_t padded) {
  const uint32_t n = static_cast<uint32_t>(data.size() / padded);
  return ScalarQuantizer::Train(dim, padded, n,
                                [&](uint32_t i) { return &data[size_t{i} * padded]; });
}

// Rows of `padded` floats: dim values then zeros.
std::vector<float> Padded(const std::vector<float>& rows, uint32_t dim, uint32_t padded) {
  const size_t n = rows.size() / dim;
  std::vector<float> out(n * padded, 0.0f);
  for (size_t i = 0; i < n; ++i) {
    std::copy(&rows[i * dim], &rows[i * dim] + dim, &out[i * padded]);
  }
  return out;
}

TEST(ScalarQuantizerTest, EncodeDecodeWithinHalfAStepInsideTheRangeAndClippedOutside) {
  constexpr uint32_t kDim = 40, kPadded = 48;
  const std::vector<float> data =
      Padded(testing::ClusteredVectors(2000, kDim, 8, 0.3f, 5), kDim, kPadded);
  const ScalarQuantizer q = TrainOn(data, kDim, kPadded);
  std::vector<uint8_t> code(kPadded);
  std::vector<float> back(kPadded);
  size_t clipped = 0;
  for (size_t row = 0; row < 2000; ++row) {
    const float* x = &data[row * kPadded];
    q.Encode(x, code.data());
    q.Decode(code.data(), back.data());
    for (uint32_t i = 0; i < kPadded; ++i) {
      if (i >= kDim) {
        EXPECT_EQ(code[i], 0);
        EXPECT_EQ(back[i], 0.0f);
        continue;
      }
      const float lo = q.lo(i), hi = q.lo(i) + 255 * q.step(i);
      ASSERT_GT(q.step(i), 0.0f);
      if (x[i] < lo || x[i] > hi) {
        ++clipped;
        EXPECT_EQ(code[i], x[i] < lo ? 0 : 255);
        EXPECT_FLOAT_EQ(back[i], x[i] < lo ? lo : hi);
      } else {
        EXPECT_LE(std::abs(back[i] - x[i]), q.step(i) * 0.5f + 1e-6f) << row << " " << i;
      }
    }
  }
  // 0.1 % quantiles on each side: about 0.2 % of the values are clipped.
  EXPECT_GT(clipped, 0u);
  EXPECT_LT(clipped, 2000u * kDim / 100);
}

TEST(ScalarQuantizerTest, ConstantDimensionAndSerializationRoundTrip) {
  constexpr uint32_t kDim = 3, kPadded = 16;
  std::vector<float> data;
  for (int i = 0; i < 100; ++i) {
    std::vector<float> row(kPadded, 0.0f);
    row[0] = 0.5f;  // constant
    row[1] = static_cast<float>(i);
    row[2] = -static_cast<float>(i) / 10;
    data.insert(data.end(), row.begin(), row.end());
  }
  const ScalarQuantizer q = TrainOn(data, kDim, kPadded);
  EXPECT_EQ(q.step(0), 0.0f);
  std::vector<uint8_t> code(kPadded);
  std::vector<float> back(kPadded);
  q.Encode(&data[42 * kPadded], code.data());
  q.Decode(code.data(), back.data());
  EXPECT_EQ(back[0], 0.5f);

  auto parsed = ScalarQuantizer::Parse(q.Serialize(), kDim, kPadded);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  for (uint32_t i = 0; i < kPadded; ++i) {
    EXPECT_EQ(parsed->lo(i), q.lo(i));
    EXPECT_EQ(parsed->step(i), q.step(i));
  }
  EXPECT_FALSE(ScalarQuantizer::Parse("short", kDim, kPadded).ok());
}

// The asymmetric distance equals the float distance between the query and the decoded vector.
TEST(ScalarQuantizerTest, AsymmetricDistancesEqualDistancesToTheDecodedVector) {
  constexpr uint32_t kDim = 100, kPadded = 112;
  const std::vector<float> data =
      Padded(testing::ClusteredVectors(500, kDim, 4, 0.5f, 9), kDim, kPadded);
  std::vector<float> with_constant = data;
  for (size_t row = 0; row < 500; ++row) with_constant[row * kPadded + 7] = 2.0f;
  const ScalarQuantizer q = TrainOn(with_constant, kDim, kPadded);
  ASSERT_EQ(q.step(7), 0.0f);
  const DistanceKernels& k = Kernels();
  std::vector<uint8_t> code(kPadded);
  std::vector<float> back(kPadded), table(kPadded);
  for (size_t row = 0; row < 50; ++row) {
    const float* x = &with_constant[row * kPadded];
    const float* query = &data[(499 - row) * kPadded];
    q.Encode(x, code.data());
    q.Decode(code.data(), back.data());
    float offset = 0;
    q.PrepareDot(query, table.data(), &offset);
    const float dot = offset + k.code_dot(table.data(), code.data(), kPadded);
    EXPECT_NEAR(dot, k.dot(query, back.data(), kPadded), 1e-3);
    q.PrepareL2(query, table.data(), &offset);
    const float l2 = offset + k.code_l2(table.data(), q.l2_weights(), code.data(), kPadded);
    EXPECT_NEAR(l2, k.l2_sqr(query, back.data(), kPadded), 1e-3);
  }
}

}  // namespace
}  // namespace engram::storage::vector
