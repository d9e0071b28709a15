// Distance kernels for vector search, with runtime CPU dispatch.
//
// The project compiles without -march, so the kernels are built for several instruction sets
// (AVX-512F, AVX2+FMA, baseline SSE2 via the compiler) and the best one the CPU supports is chosen
// once, at first use. All kernels work on vectors padded with zeros to a multiple of
// kDimAlignment floats (VectorStore stores them that way; queries are padded by the caller), so
// they have no scalar tails.
//
// Thread-safety: the functions are pure; the dispatch table is initialised thread-safely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace engram::storage::vector {

// Vectors are padded to a multiple of this many floats (64 bytes, one AVX-512 register).
inline constexpr size_t kDimAlignment = 16;

inline constexpr size_t PaddedDim(size_t dim) {
  return (dim + kDimAlignment - 1) / kDimAlignment * kDimAlignment;
}

// How similarity is measured. Scores are "higher is better": cosine similarity, negative squared
// Euclidean distance, or the dot product.
enum class Metric : uint32_t { kCosine = 0, kL2 = 1, kInnerProduct = 2 };

std::string_view MetricName(Metric metric);

// `padded_dim` must be a positive multiple of kDimAlignment.
using DistanceKernel = float (*)(const float* a, const float* b, size_t padded_dim);

// The kernel of quantized search (see ScalarQuantizer): sum v[i] * code[i] of an int16 query
// table (|v[i]| <= kMaxCodeQueryValue) and uint8 codes, both padded to `padded_dim` (a multiple
// of kDimAlignment, at most 4096; padding is 0). Integer products summed in int32 lanes (no
// overflow within those bounds), returned as float.
inline constexpr int kMaxCodeQueryValue = 16383;
using CodeDotKernel = float (*)(const int16_t* v, const uint8_t* code, size_t padded_dim);

struct DistanceKernels {
  DistanceKernel dot;      // sum a[i] * b[i]
  DistanceKernel l2_sqr;   // sum (a[i] - b[i])^2
  CodeDotKernel code_dot;  // sum v[i] * code[i]
  const char* isa;         // "avx512f", "avx2+fma" or "sse2"; code_dot needs avx512bw too
};

// The kernels for this CPU (chosen once).
const DistanceKernels& Kernels();

// The baseline kernels (no runtime dispatch), for tests that compare implementations.
const DistanceKernels& BaselineKernels();

}  // namespace engram::storage::vector
