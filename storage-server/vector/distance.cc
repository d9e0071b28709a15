#include "storage-server/vector/distance.h"

#include <immintrin.h>

// GCC 12's AVX-512 intrinsics read _mm512_undefined_*() values and trip -Wuninitialized inside
// its own headers (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace engram::storage::vector {

std::string_view MetricName(Metric metric) {
  switch (metric) {
    case Metric::kCosine:
      return "cosine";
    case Metric::kL2:
      return "l2";
    case Metric::kInnerProduct:
      return "inner_product";
  }
  return "unknown";
}

namespace {

// Baseline x86-64 (SSE2): the compiler vectorises these 4 lanes at a time; four independent
// accumulators per 16 floats keep the adds from serialising.
float DotBaseline(const float* a, const float* b, size_t n) {
  float acc[kDimAlignment] = {};
  for (size_t i = 0; i < n; i += kDimAlignment) {
    for (size_t j = 0; j < kDimAlignment; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float sum = 0;
  for (float x : acc) sum += x;
  return sum;
}

float L2SqrBaseline(const float* a, const float* b, size_t n) {
  float acc[kDimAlignment] = {};
  for (size_t i = 0; i < n; i += kDimAlignment) {
    for (size_t j = 0; j < kDimAlignment; ++j) {
      float d = a[i + j] - b[i + j];
      acc[j] += d * d;
    }
  }
  float sum = 0;
  for (float x : acc) sum += x;
  return sum;
}

__attribute__((target("avx2,fma"))) inline float HorizontalSum256(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma"))) float DotAvx2(const float* a, const float* b, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  for (size_t i = 0; i < n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  return HorizontalSum256(_mm256_add_ps(s0, s1));
}

__attribute__((target("avx2,fma"))) float L2SqrAvx2(const float* a, const float* b, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  for (size_t i = 0; i < n; i += 16) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    s0 = _mm256_fmadd_ps(d0, d0, s0);
    s1 = _mm256_fmadd_ps(d1, d1, s1);
  }
  return HorizontalSum256(_mm256_add_ps(s0, s1));
}

// Two accumulators: 128-d vectors are 8 iterations, and a dependency chain of 8 FMAs at 4 cycles
// each would dominate otherwise.
__attribute__((target("avx512f"))) float DotAvx512(const float* a, const float* b, size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  if (i < n) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx512f"))) float L2SqrAvx512(const float* a, const float* b, size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    s0 = _mm512_fmadd_ps(d0, d0, s0);
    s1 = _mm512_fmadd_ps(d1, d1, s1);
  }
  if (i < n) {
    __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    s0 = _mm512_fmadd_ps(d, d, s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

// Code kernels. A 32-bit lane gets at most padded_dim / 32 (AVX-512) or padded_dim / 32 (AVX2,
// two accumulators) pairs of products, each pair <= 2 * 255 * 16383 < 2^24: no overflow up to
// 4096 dimensions.
float CodeDotBaseline(const int16_t* v, const uint8_t* code, size_t n) {
  int64_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += int32_t{v[i]} * code[i];
  return static_cast<float>(sum);
}

__attribute__((target("avx2"))) float CodeDotAvx2(const int16_t* v, const uint8_t* code, size_t n) {
  __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i c0 =
        _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(code + i)));
    const __m256i c1 =
        _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(code + i + 16)));
    s0 = _mm256_add_epi32(
        s0, _mm256_madd_epi16(c0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + i))));
    s1 = _mm256_add_epi32(
        s1,
        _mm256_madd_epi16(c1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + i + 16))));
  }
  if (i < n) {
    const __m256i c =
        _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(code + i)));
    s0 = _mm256_add_epi32(
        s0, _mm256_madd_epi16(c, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + i))));
  }
  const __m256 f = _mm256_add_ps(_mm256_cvtepi32_ps(s0), _mm256_cvtepi32_ps(s1));
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

// 32 codes per step: widen to int16 (vpmovzxbw), multiply-add pairs into int32 (vpmaddwd).
__attribute__((target("avx512f,avx512bw"))) float CodeDotAvx512(const int16_t* v,
                                                                const uint8_t* code, size_t n) {
  __m512i s = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512i c =
        _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(code + i)));
    s = _mm512_add_epi32(s, _mm512_madd_epi16(c, _mm512_loadu_si512(v + i)));
  }
  if (i < n) {
    const __m256i c =
        _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(code + i)));
    const __m256i p =
        _mm256_madd_epi16(c, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + i)));
    s = _mm512_add_epi32(s, _mm512_zextsi256_si512(p));
  }
  return _mm512_reduce_add_ps(_mm512_cvtepi32_ps(s));
}

DistanceKernels Select() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    return {DotAvx512, L2SqrAvx512,
            __builtin_cpu_supports("avx512bw") ? CodeDotAvx512
            : __builtin_cpu_supports("avx2")   ? CodeDotAvx2
                                               : CodeDotBaseline,
            "avx512f"};
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return {DotAvx2, L2SqrAvx2, CodeDotAvx2, "avx2+fma"};
  }
  return {DotBaseline, L2SqrBaseline, CodeDotBaseline, "sse2"};
}

}  // namespace

const DistanceKernels& Kernels() {
  static const DistanceKernels kernels = Select();
  return kernels;
}

const DistanceKernels& BaselineKernels() {
  static const DistanceKernels kernels{DotBaseline, L2SqrBaseline, CodeDotBaseline, "sse2"};
  return kernels;
}

}  // namespace engram::storage::vector
