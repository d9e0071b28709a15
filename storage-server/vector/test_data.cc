#include "storage-server/vector/test_data.h"

#include <random>
#include <unordered_set>

namespace engram::storage::vector::testing {

std::vector<float> ClusteredVectors(uint32_t n, uint32_t dim, uint32_t clusters, float spread,
                                    uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::normal_distribution<float> normal(0.0f, spread);
  std::vector<float> centres(size_t{clusters} * dim);
  for (float& c : centres) c = uniform(rng);
  std::vector<float> out(size_t{n} * dim);
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t c = static_cast<uint32_t>(rng() % clusters);
    for (uint32_t d = 0; d < dim; ++d) {
      out[size_t{i} * dim + d] = centres[size_t{c} * dim + d] + normal(rng);
    }
  }
  return out;
}

double Recall(const SearchResults& approx, const SearchResults& exact) {
  if (exact.empty()) return 1.0;
  std::unordered_set<uint32_t> got;
  for (const auto& r : approx) got.insert(r.second);
  size_t hit = 0;
  for (const auto& r : exact) hit += got.count(r.second);
  return static_cast<double>(hit) / exact.size();
}

}  // namespace engram::storage::vector::testing
