// IdTable: a hash index from 64-bit key hashes to 32-bit values with lock-free reads.
//
// One writer inserts; any number of readers look up concurrently without locks. Open addressing
// with linear probing at load <= 1/2. Growth builds a doubled table and publishes it with a single
// pointer store; replaced tables are retired, not freed, until the IdTable is destroyed (their
// total size is bounded by the live table's), so a reader that loaded an older table never reads
// freed memory. Any key inserted before a reader's snapshot was published is present in whichever
// table that reader loads (the writer inserts only into the current table).
//
// Hashes may collide: Find() calls `match(value)` to confirm each candidate.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace engram::storage {

class IdTable {
 public:
  explicit IdTable(size_t initial_capacity = 1024) {
    size_t cap = 16;
    while (cap < initial_capacity * 2) cap <<= 1;
    tables_.push_back(std::make_unique<Table>(cap));
    current_.store(tables_.back().get(), std::memory_order_release);
  }

  template <typename Match>
  std::optional<uint32_t> Find(uint64_t hash, Match&& match) const {
    const Table* t = current_.load(std::memory_order_acquire);
    uint64_t tag = Tag(hash);
    for (size_t i = tag & t->mask;; i = (i + 1) & t->mask) {
      uint64_t s = t->slots[i].tag.load(std::memory_order_acquire);
      if (s == 0) return std::nullopt;
      if (s == tag) {
        uint32_t v = t->slots[i].value.load(std::memory_order_relaxed);
        if (match(v)) return v;
      }
    }
  }

  // Writer only. The caller guarantees no matching entry exists.
  void Insert(uint64_t hash, uint32_t value) {
    Table* t = tables_.back().get();
    if ((size_ + 1) * 2 > t->mask + 1) t = Grow();
    InsertInto(t, Tag(hash), value);
    ++size_;
  }

  // Writer only: grows the table once so that `n` entries in all fit without further growth.
  void Reserve(size_t n) {
    size_t cap = tables_.back()->mask + 1;
    if (cap >= n * 2) return;
    while (cap < n * 2) cap <<= 1;
    GrowTo(cap);
  }

  size_t size() const { return size_; }
  size_t memory_bytes() const {
    size_t total = 0;
    for (const auto& t : tables_) total += (t->mask + 1) * sizeof(Slot);
    return total;
  }

 private:
  struct Slot {
    std::atomic<uint64_t> tag{0};
    std::atomic<uint32_t> value{0};
  };
  struct Table {
    explicit Table(size_t cap) : mask(cap - 1), slots(new Slot[cap]) {}
    size_t mask;
    std::unique_ptr<Slot[]> slots;
  };

  static uint64_t Tag(uint64_t hash) { return hash == 0 ? 1 : hash; }

  static void InsertInto(Table* t, uint64_t tag, uint32_t value) {
    for (size_t i = tag & t->mask;; i = (i + 1) & t->mask) {
      if (t->slots[i].tag.load(std::memory_order_relaxed) == 0) {
        t->slots[i].value.store(value, std::memory_order_relaxed);
        t->slots[i].tag.store(tag, std::memory_order_release);
        return;
      }
    }
  }

  Table* Grow() { return GrowTo((tables_.back()->mask + 1) * 2); }

  Table* GrowTo(size_t capacity) {
    Table* old = tables_.back().get();
    auto bigger = std::make_unique<Table>(capacity);
    for (size_t i = 0; i <= old->mask; ++i) {
      uint64_t tag = old->slots[i].tag.load(std::memory_order_relaxed);
      if (tag != 0) InsertInto(bigger.get(), tag, old->slots[i].value.load(std::memory_order_relaxed));
    }
    tables_.push_back(std::move(bigger));
    current_.store(tables_.back().get(), std::memory_order_release);
    return tables_.back().get();
  }

  std::atomic<Table*> current_{nullptr};
  std::vector<std::unique_ptr<Table>> tables_;  // writer only; back() is current
  size_t size_ = 0;                             // writer only
};

}  // namespace engram::storage
