// Deterministic test data for the vector tests: gaussian clusters and recall against brute force.
#pragma once

#include <cstdint>
#include <vector>

#include "storage-server/vector/search.h"

namespace engram::storage::vector::testing {

// n x dim floats: `clusters` gaussian blobs (centres uniform in [-1, 1], sigma `spread`).
std::vector<float> ClusteredVectors(uint32_t n, uint32_t dim, uint32_t clusters, float spread,
                                    uint64_t seed);

// Fraction of `exact`'s slots found in `approx` (recall@|exact|).
double Recall(const SearchResults& approx, const SearchResults& exact);

}  // namespace engram::storage::vector::testing
