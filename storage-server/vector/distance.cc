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

float CodeDotBaseline(const float* w, const uint8_t* code, size_t n) {
  float acc[kDimAlignment] = {};
  for (size_t i = 0; i < n; i += kDimAlignment) {
    for (size_t j = 0; j < kDimAlignment; ++j) acc[j] += w[i + j] * float(code[i + j]);
  }
  float sum = 0;
  for (float x : acc) sum += x;
  return sum;
}

float CodeL2Baseline(const float* t, const float* w, const uint8_t* code, size_t n) {
  float acc[kDimAlignment] = {};
  for (size_t i = 0; i < n; i += kDimAlignment) {
    for (size_t j = 0; j < kDimAlignment; ++j) {
      float d = t[i + j] - float(code[i + j]);
      acc[j] += w[i + j] * d * d;
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

// 16 codes per iteration: widen 8 bytes at a time to int32, convert, multiply-add.
__attribute__((target("avx2,fma"))) float CodeDotAvx2(const float* w, const uint8_t* code,
                                                      size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  for (size_t i = 0; i < n; i += 16) {
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(code + i));
    const __m256 c0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c));
    const __m256 c1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(c, c)));
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), c0, s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), c1, s1);
  }
  return HorizontalSum256(_mm256_add_ps(s0, s1));
}

__attribute__((target("avx2,fma"))) float CodeL2Avx2(const float* t, const float* w,
                                                     const uint8_t* code, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  for (size_t i = 0; i < n; i += 16) {
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(code + i));
    const __m256 c0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c));
    const __m256 c1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(c, c)));
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(t + i), c0);
    const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(t + i + 8), c1);
    s0 = _mm256_fmadd_ps(_mm256_mul_ps(d0, d0), _mm256_loadu_ps(w + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_mul_ps(d1, d1), _mm256_loadu_ps(w + i + 8), s1);
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

__attribute__((target("avx512f"))) float CodeDotAvx512(const float* w, const uint8_t* code,
                                                        size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 c0 = _mm512_cvtepi32_ps(
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(code + i))));
    const __m512 c1 = _mm512_cvtepi32_ps(
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(code + i + 16))));
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), c0, s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), c1, s1);
  }
  if (i < n) {
    const __m512 c = _mm512_cvtepi32_ps(
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(code + i))));
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), c, s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx512f"))) float CodeL2Avx512(const float* t, const float* w,
                                                       const uint8_t* code, size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 d0 = _mm512_sub_ps(
        _mm512_loadu_ps(t + i),
        _mm512_cvtepi32_ps(
            _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(code + i)))));
    const __m512 d1 = _mm512_sub_ps(
        _mm512_loadu_ps(t + i + 16),
        _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(code + i + 16)))));
    s0 = _mm512_fmadd_ps(_mm512_mul_ps(d0, d0), _mm512_loadu_ps(w + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_mul_ps(d1, d1), _mm512_loadu_ps(w + i + 16), s1);
  }
  if (i < n) {
    const __m512 d = _mm512_sub_ps(
        _mm512_loadu_ps(t + i),
        _mm512_cvtepi32_ps(
            _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(code + i)))));
    s0 = _mm512_fmadd_ps(_mm512_mul_ps(d, d), _mm512_loadu_ps(w + i), s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

DistanceKernels Select() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return {DotAvx512, L2SqrAvx512, CodeDotAvx512, CodeL2Avx512, "avx512f"};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return {DotAvx2, L2SqrAvx2, CodeDotAvx2, CodeL2Avx2, "avx2+fma"};
  }
  return {DotBaseline, L2SqrBaseline, CodeDotBaseline, CodeL2Baseline, "sse2"};
}

}  // namespace

const DistanceKernels& Kernels() {
  static const DistanceKernels kernels = Select();
  return kernels;
}

const DistanceKernels& BaselineKernels() {
  static const DistanceKernels kernels{DotBaseline, L2SqrBaseline, CodeDotBaseline,
                                       CodeL2Baseline, "sse2"};
  return kernels;
}

}  // namespace engram::storage::vector
