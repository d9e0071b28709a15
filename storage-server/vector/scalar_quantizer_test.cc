#include "storage-server/vector/scalar_quantizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "storage-server/vector/distance.h"
#include "storage-server/vector/test_data.h"

namespace engram::storage::vector {
namespace {

// The code kernel against an exact integer reference, for every dispatch level, at the extremes
// of its input range (overflow would show at 4096 dimensions of 255 x 16383).
TEST(CodeKernelsTest, MatchExactIntegerReference) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> value(-kMaxCodeQueryValue, kMaxCodeQueryValue);
  for (size_t dim : {16u, 32u, 48u, 128u, 784u, 4096u}) {
    for (int extreme = 0; extreme < 2; ++extreme) {
      std::vector<int16_t> v(dim);
      std::vector<uint8_t> code(dim);
      for (size_t i = 0; i < dim; ++i) {
        v[i] = static_cast<int16_t>(extreme ? kMaxCodeQueryValue : value(rng));
        code[i] = static_cast<uint8_t>(extreme ? 255 : byte(rng));
      }
      code[0] = 255;  // the widening must be unsigned
      int64_t exact = 0;
      for (size_t i = 0; i < dim; ++i) exact += int64_t{v[i]} * code[i];
      for (const DistanceKernels* k : {&Kernels(), &BaselineKernels()}) {
        SCOPED_TRACE(::testing::Message() << k->isa << " dim " << dim << " extreme " << extreme);
        EXPECT_NEAR(k->code_dot(v.data(), code.data(), dim), static_cast<double>(exact),
                    1e-6 * std::abs(static_cast<double>(exact)) + 1);
      }
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

// The quantized distances equal the float distances between the query and the decoded vector,
// up to the int16 rounding of the query table: at most scale/2 per term, i.e.
// |error| <= |scale| / 2 * sum_i code_i.
TEST(ScalarQuantizerTest, QuantizedDistancesEqualDistancesToTheDecodedVector) {
  constexpr uint32_t kDim = 100, kPadded = 112;
  const std::vector<float> data =
      Padded(testing::ClusteredVectors(500, kDim, 4, 0.5f, 9), kDim, kPadded);
  std::vector<float> with_constant = data;
  for (size_t row = 0; row < 500; ++row) with_constant[row * kPadded + 7] = 2.0f;
  const ScalarQuantizer q = TrainOn(with_constant, kDim, kPadded);
  ASSERT_EQ(q.step(7), 0.0f);
  const DistanceKernels& k = Kernels();
  std::vector<uint8_t> code(kPadded);
  std::vector<float> back(kPadded);
  std::vector<int16_t> table(kPadded);
  for (size_t row = 0; row < 50; ++row) {
    const float* x = &with_constant[row * kPadded];
    const float* query = &data[(499 - row) * kPadded];
    q.Encode(x, code.data());
    q.Decode(code.data(), back.data());
    double code_sum = 0;
    for (uint8_t c : code) code_sum += c;
    float scale = 0, offset = 0;
    q.PrepareDot(query, table.data(), &scale, &offset);
    const float dot = offset + scale * k.code_dot(table.data(), code.data(), kPadded);
    EXPECT_NEAR(dot, k.dot(query, back.data(), kPadded), std::abs(scale) / 2 * code_sum + 1e-3);
    EXPECT_NEAR(dot, k.dot(query, back.data(), kPadded), 0.05);
    q.PrepareL2(query, table.data(), &scale, &offset);
    const float l2 =
        offset + q.L2Term(code.data()) + scale * k.code_dot(table.data(), code.data(), kPadded);
    const float want = k.l2_sqr(query, back.data(), kPadded);
    EXPECT_NEAR(l2, want, std::abs(scale) / 2 * code_sum + 1e-3 * (1 + want));
    EXPECT_NEAR(l2, want, 0.01 * (1 + want));
  }
}

}  // namespace
}  // namespace engram::storage::vector
