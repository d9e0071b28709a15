#include "storage-server/vector/distance.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "storage-server/vector/record_array.h"

namespace engram::storage::vector {
namespace {

TEST(DistanceTest, DispatchedKernelsMatchBaseline) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (size_t dim : {16u, 32u, 48u, 128u, 784u}) {
    std::vector<float> a(dim), b(dim);
    for (size_t i = 0; i < dim; ++i) {
      a[i] = normal(rng);
      b[i] = normal(rng);
    }
    double dot = 0, l2 = 0;
    for (size_t i = 0; i < dim; ++i) {
      dot += double{a[i]} * b[i];
      l2 += (double{a[i]} - b[i]) * (double{a[i]} - b[i]);
    }
    for (const DistanceKernels* k : {&Kernels(), &BaselineKernels()}) {
      SCOPED_TRACE(k->isa);
      EXPECT_NEAR(k->dot(a.data(), b.data(), dim), dot, 1e-3 * dim);
      EXPECT_NEAR(k->l2_sqr(a.data(), b.data(), dim), l2, 1e-3 * dim);
    }
  }
}

TEST(DistanceTest, PaddedDim) {
  EXPECT_EQ(PaddedDim(1), 16u);
  EXPECT_EQ(PaddedDim(16), 16u);
  EXPECT_EQ(PaddedDim(100), 112u);
  EXPECT_EQ(PaddedDim(128), 128u);
}

TEST(RecordArrayTest, RecordsNeverSpanSegmentsAndOffsetsMatchDivision) {
  auto dir = std::filesystem::path(::testing::TempDir()) / "record_array";
  std::filesystem::remove_all(dir);
  // 136-byte records (M=16 level-0 lists) in 4 KiB segments: 30 per segment, 16 bytes spare.
  auto array = RecordArray::Open(dir, "rec", 136, 4096);
  ASSERT_TRUE(array.ok()) << array.status();
  for (uint32_t i : {0u, 1u, 29u, 30u, 31u, 59u, 60u, 12345u, 4000000000u}) {
    const uint64_t seg = i / 30, within = i % 30;
    EXPECT_EQ((*array)->Offset(i), seg * 4096 + within * 136) << i;
  }
  ASSERT_TRUE((*array)->EnsureRecords(61).ok());
  EXPECT_EQ((*array)->records_capacity(), 90u);
  for (uint32_t i = 0; i < 90; ++i) {
    uint64_t off = (*array)->Offset(i);
    EXPECT_LE(off + 136, (*array)->file().ContiguousEnd(off));
  }
}

}  // namespace
}  // namespace engram::storage::vector
