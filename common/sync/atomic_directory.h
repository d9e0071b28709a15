// AtomicDirectory<T>: an array of atomic T* that one writer grows and any thread reads without
// locks, sized by what it holds rather than by its largest possible size.
//
//   AtomicDirectory<char> segments;      // starts with room for 8 pointers
//   segments.Set(0, base);               // writer: grows the array when 0 is past its end
//   char* p = segments.Get(0);           // any thread, for an index it saw published
//
// Growing copies the pointers into an array twice as large (or large enough for the index) and
// publishes it with release semantics. The arrays it replaced stay allocated until the directory
// is destroyed, because a reader may still be reading one (their total is below the final array's
// size), and every pointer set before a replacement is in both. A read is two dependent loads, the
// array and the entry, as with a fixed array behind a pointer. Capacities are whole cache lines
// (8 pointers).
//
// Thread-safety: Set, ForEach and capacity are writer-only. Get(i) is safe from any thread for an
// index whose Set the reader has observed through the caller's own release/acquire publication
// (for example a size stored after Set): the array it then loads holds that pointer. Get of an
// index never set, or past the current array, is undefined.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <new>
#include <vector>

namespace engram::sync {

template <typename T>
class AtomicDirectory {
 public:
  explicit AtomicDirectory(size_t initial_capacity = 8) { Grow(std::max<size_t>(initial_capacity, 1)); }
  AtomicDirectory(const AtomicDirectory&) = delete;
  AtomicDirectory& operator=(const AtomicDirectory&) = delete;

  T* Get(size_t i) const {
    return current_.load(std::memory_order_acquire)[i].load(std::memory_order_acquire);
  }

  // Writer only.
  void Set(size_t i, T* p) {
    if (i >= capacity_) Grow(std::max(2 * capacity_, i + 1));
    current_.load(std::memory_order_relaxed)[i].store(p, std::memory_order_release);
  }
  size_t capacity() const { return capacity_; }

  // Writer only: the pointers set so far, in index order (nullptr where none was set).
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    const std::atomic<T*>* entries = current_.load(std::memory_order_relaxed);
    for (size_t i = 0; i < capacity_; ++i) fn(i, entries[i].load(std::memory_order_relaxed));
  }

 private:
  // Arrays are whole cache lines of their own: a reader's line is never shared with data another
  // thread writes (a small array from the general heap could be, and each write would then evict
  // it from every reader's cache).
  static constexpr size_t kLine = 64;
  struct FreeArray {
    void operator()(std::atomic<T*>* a) const { ::operator delete[](a, std::align_val_t{kLine}); }
  };
  using Array = std::unique_ptr<std::atomic<T*>[], FreeArray>;

  void Grow(size_t capacity) {
    constexpr size_t kPerLine = kLine / sizeof(std::atomic<T*>);
    capacity = (capacity + kPerLine - 1) / kPerLine * kPerLine;
    Array grown(static_cast<std::atomic<T*>*>(
        ::operator new[](capacity * sizeof(std::atomic<T*>), std::align_val_t{kLine})));
    const std::atomic<T*>* old = arrays_.empty() ? nullptr : arrays_.back().get();
    for (size_t i = 0; i < capacity; ++i) {
      new (&grown[i]) std::atomic<T*>(i < capacity_ ? old[i].load(std::memory_order_relaxed) : nullptr);
    }
    current_.store(grown.get(), std::memory_order_release);
    arrays_.push_back(std::move(grown));
    capacity_ = capacity;
  }

  // Read by every Get: on a line of its own, away from the writer-only fields below.
  alignas(kLine) std::atomic<std::atomic<T*>*> current_{nullptr};
  alignas(kLine) size_t capacity_ = 0;  // writer only
  std::vector<Array> arrays_;           // writer only; the last is current_
};

}  // namespace engram::sync
