// StableArray<T>: an append-grown array whose elements never move.
//
// Elements live in fixed-size chunks reached through a directory of atomic chunk pointers
// (sync::AtomicDirectory, sized by the chunks allocated), so a reference stays valid while the
// single writer grows the array. Readers may access index i once they have observed (with acquire)
// a size published by the writer that covers i. T is default-constructed; it is typically a struct
// of std::atomic fields. An empty array costs a few hundred bytes (the directory used to be a fixed
// 2 MB table for the largest possible array, zeroed for each of a namespace's arrays).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "common/sync/atomic_directory.h"

namespace engram::storage {

template <typename T, int kChunkBits = 14>
class StableArray {
 public:
  static constexpr size_t kChunkSize = size_t{1} << kChunkBits;

  StableArray() = default;
  ~StableArray() {
    chunks_.ForEach([](size_t, T* chunk) { delete[] chunk; });
  }
  StableArray(const StableArray&) = delete;
  StableArray& operator=(const StableArray&) = delete;

  T& operator[](size_t i) const { return chunks_.Get(i >> kChunkBits)[i & (kChunkSize - 1)]; }

  // Writer only: makes indexes [0, n) addressable.
  void EnsureSize(size_t n) {
    while (allocated_ < n) {
      chunks_.Set(allocated_ >> kChunkBits, new T[kChunkSize]());
      allocated_ += kChunkSize;
    }
  }
  size_t allocated() const { return allocated_; }

 private:
  sync::AtomicDirectory<T> chunks_;
  size_t allocated_ = 0;  // writer only
};

// The first index in [0, n) for which `pred` is false, where `pred` holds on a prefix of the
// indexes and not after it (std::partition_point over indexes, for arrays without iterators).
template <typename Pred>
uint32_t PartitionPoint(uint32_t n, Pred pred) {
  uint32_t lo = 0, hi = n;  // the answer lies in [lo, hi]
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo) / 2;
    if (pred(mid)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

}  // namespace engram::storage
