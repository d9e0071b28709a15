// ScalarQuantizer: per-dimension 8-bit scalar quantization of vectors, the HNSW traversal copy of
// an INT8 namespace (the peer feature is Qdrant's scalar quantization, which uses one quantile
// range for all dimensions; this one keeps a range per dimension).
//
// Dimension i maps [lo_i, hi_i] onto the codes 0..255 in steps of step_i = (hi_i - lo_i) / 255:
// code = round((x - lo_i) / step_i), clipped to 0..255. lo_i and hi_i are the kClipQuantile and
// 1 - kClipQuantile quantiles of dimension i over the training vectors, so a few outliers do not
// stretch the range for everyone; a value outside is clipped (the traversal sees it at the range
// edge, and the float re-rank of the candidates gives it its exact score back).
//
// Distances keep the query at 14-bit precision (an int16 table with its own scale) and the
// stored vector at 8 bits, so the query adds almost nothing to the codes' own error, and the
// inner loop is integer multiply-adds of widened bytes (kernels().code_dot, K = sum v_i c_i):
//   <q, x^>    = sum_i q_i lo_i + sum_i (q_i step_i) c_i                   = offset + scale * K
//   |q - x^|^2 = sum_i (q_i - lo_i)^2 - 2 sum_i (q_i - lo_i) step_i c_i + sum_i step_i^2 c_i^2
//              = offset + scale * K + L2Term(c)         (L2Term stored beside each code)
//
// Usage:
//   ScalarQuantizer sq = ScalarQuantizer::Train(dim, padded_dim, n, [&](uint32_t i) { ... });
//   sq.Encode(x, code);                                  // x: padded_dim floats
//   sq.PrepareDot(q, v.data(), &scale, &offset);         // per query, then per stored vector:
//   float dot = offset + scale * Kernels().code_dot(v.data(), code, padded_dim);
//
// Thread-safety: immutable after construction; every method is const and thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace engram::storage::vector {

class ScalarQuantizer {
 public:
  static constexpr double kClipQuantile = 0.001;

  // Trains on `n` >= 1 vectors; row(i) returns vector i (padded_dim floats, zeros past dim).
  static ScalarQuantizer Train(uint32_t dim, uint32_t padded_dim, uint32_t n,
                               const std::function<const float*(uint32_t)>& row);

  // The inverse of Serialize(); InvalidArgument if `bytes` does not hold dim/padded_dim ranges.
  static absl::StatusOr<ScalarQuantizer> Parse(std::string_view bytes, uint32_t dim,
                                               uint32_t padded_dim);
  // lo[padded_dim] then step[padded_dim], as little-endian floats.
  std::string Serialize() const;

  // x: padded_dim floats; code: padded_dim bytes (the padding encodes to 0).
  void Encode(const float* x, uint8_t* code) const;
  // code: padded_dim bytes; x: padded_dim floats.
  void Decode(const uint8_t* code, float* x) const;

  // Query tables for kernels().code_dot; q holds padded_dim floats, v padded_dim int16.
  void PrepareDot(const float* q, int16_t* v, float* scale, float* offset) const;
  void PrepareL2(const float* q, int16_t* v, float* scale, float* offset) const;
  // sum_i step_i^2 code_i^2: the per-vector term of the L2 distance.
  float L2Term(const uint8_t* code) const;

  uint32_t dim() const { return dim_; }
  uint32_t padded_dim() const { return padded_dim_; }
  float lo(uint32_t i) const { return lo_[i]; }
  float step(uint32_t i) const { return step_[i]; }

 private:
  ScalarQuantizer(uint32_t dim, uint32_t padded_dim, std::vector<float> lo,
                  std::vector<float> step);

  uint32_t dim_;
  uint32_t padded_dim_;
  std::vector<float> lo_, step_, inv_step_;  // padded_dim each; 0 in the padding
};

}  // namespace engram::storage::vector
