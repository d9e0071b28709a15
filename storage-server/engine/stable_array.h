// StableArray<T>: an append-grown array whose elements never move.
//
// Elements live in fixed-size chunks reached through a fixed directory of atomic pointers, so a
// reference stays valid while the single writer grows the array. Readers may access index i once
// they have observed (with acquire) a size published by the writer that covers i. T is
// default-constructed; it is typically a struct of std::atomic fields.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

namespace engram::storage {

template <typename T, int kChunkBits = 14>
class StableArray {
 public:
  static constexpr size_t kChunkSize = size_t{1} << kChunkBits;
  static constexpr size_t kMaxChunks = size_t{1} << 18;

  StableArray() : chunks_(new std::atomic<T*>[kMaxChunks]) {
    for (size_t i = 0; i < kMaxChunks; ++i) chunks_[i].store(nullptr, std::memory_order_relaxed);
  }
  ~StableArray() {
    for (size_t i = 0; i < kMaxChunks; ++i) delete[] chunks_[i].load(std::memory_order_relaxed);
  }
  StableArray(const StableArray&) = delete;
  StableArray& operator=(const StableArray&) = delete;

  T& operator[](size_t i) const {
    return chunks_[i >> kChunkBits].load(std::memory_order_acquire)[i & (kChunkSize - 1)];
  }

  // Writer only: makes indexes [0, n) addressable.
  void EnsureSize(size_t n) {
    while (allocated_ < n) {
      chunks_[allocated_ >> kChunkBits].store(new T[kChunkSize](), std::memory_order_release);
      allocated_ += kChunkSize;
    }
  }
  size_t allocated() const { return allocated_; }

 private:
  std::unique_ptr<std::atomic<T*>[]> chunks_;
  size_t allocated_ = 0;  // writer only
};

}  // namespace engram::storage
