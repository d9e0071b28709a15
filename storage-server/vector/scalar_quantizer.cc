#include "storage-server/vector/scalar_quantizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "storage-server/vector/distance.h"

namespace engram::storage::vector {

ScalarQuantizer::ScalarQuantizer(uint32_t dim, uint32_t padded_dim, std::vector<float> lo,
                                 std::vector<float> step)
    : dim_(dim),
      padded_dim_(padded_dim),
      lo_(std::move(lo)),
      step_(std::move(step)),
      inv_step_(padded_dim, 0.0f) {
  for (uint32_t i = 0; i < padded_dim_; ++i) {
    if (i >= dim_) lo_[i] = step_[i] = 0;
    inv_step_[i] = step_[i] > 0 ? 1.0f / step_[i] : 0.0f;
  }
}

ScalarQuantizer ScalarQuantizer::Train(uint32_t dim, uint32_t padded_dim, uint32_t n,
                                       const std::function<const float*(uint32_t)>& row) {
  std::vector<float> lo(padded_dim, 0.0f), step(padded_dim, 0.0f);
  std::vector<float> column(n);
  const size_t low_rank = static_cast<size_t>(kClipQuantile * (n - 1));
  const size_t high_rank = n - 1 - low_rank;
  for (uint32_t d = 0; d < dim; ++d) {
    for (uint32_t i = 0; i < n; ++i) column[i] = row(i)[d];
    std::nth_element(column.begin(), column.begin() + low_rank, column.end());
    const float l = column[low_rank];
    std::nth_element(column.begin(), column.begin() + high_rank, column.end());
    const float h = column[high_rank];
    lo[d] = l;
    step[d] = h > l ? (h - l) / 255.0f : 0.0f;
  }
  return ScalarQuantizer(dim, padded_dim, std::move(lo), std::move(step));
}

absl::StatusOr<ScalarQuantizer> ScalarQuantizer::Parse(std::string_view bytes, uint32_t dim,
                                                       uint32_t padded_dim) {
  const size_t want = size_t{padded_dim} * 2 * sizeof(float);
  if (bytes.size() != want) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantizer ranges: ", bytes.size(), " bytes, expected ", want));
  }
  std::vector<float> lo(padded_dim), step(padded_dim);
  std::memcpy(lo.data(), bytes.data(), padded_dim * sizeof(float));
  std::memcpy(step.data(), bytes.data() + padded_dim * sizeof(float), padded_dim * sizeof(float));
  for (uint32_t i = 0; i < padded_dim; ++i) {
    if (!std::isfinite(lo[i]) || !std::isfinite(step[i]) || step[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("quantizer ranges: bad range at ", i));
    }
  }
  return ScalarQuantizer(dim, padded_dim, std::move(lo), std::move(step));
}

std::string ScalarQuantizer::Serialize() const {
  std::string out(size_t{padded_dim_} * 2 * sizeof(float), '\0');
  std::memcpy(out.data(), lo_.data(), padded_dim_ * sizeof(float));
  std::memcpy(out.data() + padded_dim_ * sizeof(float), step_.data(), padded_dim_ * sizeof(float));
  return out;
}

void ScalarQuantizer::Encode(const float* x, uint8_t* code) const {
  for (uint32_t i = 0; i < padded_dim_; ++i) {
    const float c = std::nearbyint((x[i] - lo_[i]) * inv_step_[i]);
    code[i] = static_cast<uint8_t>(std::clamp(c, 0.0f, 255.0f));
  }
}

void ScalarQuantizer::Decode(const uint8_t* code, float* x) const {
  for (uint32_t i = 0; i < padded_dim_; ++i) x[i] = lo_[i] + step_[i] * code[i];
}

namespace {

// v_i = round(u(i) / scale), the largest |u(i)| at kMaxCodeQueryValue; returns scale. Two passes
// over u instead of a buffer: a warm search allocates nothing.
template <typename U>
float QuantizeTable(uint32_t n, U u, int16_t* v) {
  float max_abs = 0;
  for (uint32_t i = 0; i < n; ++i) max_abs = std::max(max_abs, std::abs(u(i)));
  if (max_abs == 0) {
    std::fill(v, v + n, int16_t{0});
    return 0;
  }
  const float inv = kMaxCodeQueryValue / max_abs;
  for (uint32_t i = 0; i < n; ++i) {
    const float r = std::nearbyint(u(i) * inv);
    v[i] =
        static_cast<int16_t>(std::clamp(r, float{-kMaxCodeQueryValue}, float{kMaxCodeQueryValue}));
  }
  return max_abs / kMaxCodeQueryValue;
}

}  // namespace

void ScalarQuantizer::PrepareDot(const float* q, int16_t* v, float* scale, float* offset) const {
  float sum = 0;
  for (uint32_t i = 0; i < padded_dim_; ++i) sum += q[i] * lo_[i];
  *offset = sum;
  *scale = QuantizeTable(
      padded_dim_, [&](uint32_t i) { return q[i] * step_[i]; }, v);
}

void ScalarQuantizer::PrepareL2(const float* q, int16_t* v, float* scale, float* offset) const {
  float sum = 0;
  for (uint32_t i = 0; i < padded_dim_; ++i) sum += (q[i] - lo_[i]) * (q[i] - lo_[i]);
  *offset = sum;
  *scale = -2 * QuantizeTable(
                    padded_dim_, [&](uint32_t i) { return (q[i] - lo_[i]) * step_[i]; }, v);
}

float ScalarQuantizer::L2Term(const uint8_t* code) const {
  float sum = 0;
  for (uint32_t i = 0; i < padded_dim_; ++i) {
    const float x = step_[i] * code[i];
    sum += x * x;
  }
  return sum;
}

}  // namespace engram::storage::vector
