// IdTable: a hash index from 64-bit key hashes to 32-bit values with lock-free reads.
//
// One writer inserts; any number of readers look up concurrently without locks. Open addressing
// with linear probing at load <= 1/2.
//
// Growth is incremental, so no insert stalls the writer for a whole rehash (a one-shot rehash of
// 4M entries took 0.87 s): a full table starts a doubled one, and each later insert moves
// kMigrateSlots slots of the old table into it; new keys go only into the new table. Readers load
// one immutable View {current, draining} and probe current, then draining: a key inserted before
// the view was published is in one of them (the draining table is never modified, and is dropped
// from the view only after every one of its keys was moved). Replaced tables and views are
// retired, not freed, until the IdTable is destroyed (their total size is bounded by the live
// table's), so a reader never touches freed memory.
//
// Hashes may collide: Find() calls `match(value)` to confirm each candidate.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <vector>

namespace engram::storage {

class IdTable {
 public:
  // Slots of the draining table moved per insert. A doubled table fills from 1/4 to 1/2 load in
  // (old capacity / 2) inserts, by which time (old capacity / kMigrateSlots) of them have moved
  // every slot; kMigrateSlots >= 2 is enough, 8 keeps migrations short.
  static constexpr size_t kMigrateSlots = 8;

  explicit IdTable(size_t initial_capacity = 1024) {
    size_t cap = 16;
    while (cap < initial_capacity * 2) cap <<= 1;
    Publish(NewTable(cap), nullptr);
  }

  template <typename Match>
  std::optional<uint32_t> Find(uint64_t hash, Match&& match) const {
    const View* v = view_.load(std::memory_order_acquire);
    const uint64_t tag = Tag(hash);
    if (std::optional<uint32_t> found = FindIn(*v->current, tag, match)) return found;
    if (v->draining != nullptr) return FindIn(*v->draining, tag, match);
    return std::nullopt;
  }

  // Starts loading the slot a Find or Insert of `hash` probes first, so that several lookups'
  // cache misses overlap (the tables outgrow the caches).
  void Prefetch(uint64_t hash) const {
    const View* v = view_.load(std::memory_order_acquire);
    const uint64_t tag = Tag(hash);
    __builtin_prefetch(&v->current->slots[tag & v->current->mask]);
    // A key not yet moved, or absent, is looked for there too.
    if (v->draining != nullptr) __builtin_prefetch(&v->draining->slots[tag & v->draining->mask]);
  }

  // Writer only. The caller guarantees no matching entry exists.
  void Insert(uint64_t hash, uint32_t value) {
    if (draining_ != nullptr) MigrateSome(kMigrateSlots);
    Table* t = current_;
    PrepareNext();
    if ((size_ + 1) * 2 > t->mask + 1) {
      // Full. Normally the previous migration finished long ago; finish it if not (only when
      // Reserve() sized a table that later inserts outgrew during its own migration).
      if (draining_ != nullptr) MigrateSome(SIZE_MAX);
      Table* bigger = TakeNext((t->mask + 1) * 2);
      draining_ = t;
      migrated_ = 0;
      Publish(bigger, t);
      t = bigger;
    }
    InsertInto(t, Tag(hash), value);
    ++size_;
  }

  // Writer only: makes room for `n` entries in all at once (recovery, before readers), finishing
  // any migration, so that no insert up to n grows the table.
  void Reserve(size_t n) {
    reserved_ = std::max(reserved_, n);
    if (draining_ != nullptr) MigrateSome(SIZE_MAX);
    size_t cap = current_->mask + 1;
    if (cap >= n * 2) return;
    while (cap < n * 2) cap <<= 1;
    Table* old = current_;
    Table* bigger = TakeNext(cap);
    for (size_t i = 0; i <= old->mask; ++i) {
      if (old->slots[i].tag != 0) InsertInto(bigger, old->slots[i].tag, old->slots[i].value);
    }
    Publish(bigger, nullptr);
  }

  size_t size() const { return size_; }
  size_t memory_bytes() const {
    size_t total = 0;
    for (const auto& t : tables_) total += (t->mask + 1) * sizeof(Slot);
    return total;
  }
  // Whether a doubled table is still being filled from the old one (tests).
  bool migrating() const { return draining_ != nullptr; }

 private:
  // Plain words read and written through std::atomic_ref, so that a table is calloc'ed: the
  // kernel's zero pages, faulted in as they are written, instead of an up-front zeroing pass
  // (see PrepareNext for when).
  struct Slot {
    uint64_t tag;  // 0: empty
    uint32_t value;
  };
  struct FreeDeleter {
    void operator()(Slot* p) const { std::free(p); }
  };
  struct Table {
    size_t mask;
    std::unique_ptr<Slot[], FreeDeleter> slots;
  };
  struct View {
    const Table* current;
    const Table* draining;  // null when no migration runs
  };

  static uint64_t Tag(uint64_t hash) { return hash == 0 ? 1 : hash; }

  static uint64_t LoadTag(const Slot& s) {
    return std::atomic_ref<const uint64_t>(s.tag).load(std::memory_order_acquire);
  }

  template <typename Match>
  static std::optional<uint32_t> FindIn(const Table& t, uint64_t tag, Match& match) {
    for (size_t i = tag & t.mask;; i = (i + 1) & t.mask) {
      const uint64_t s = LoadTag(t.slots[i]);
      if (s == 0) return std::nullopt;
      if (s == tag) {
        const uint32_t v =
            std::atomic_ref<const uint32_t>(t.slots[i].value).load(std::memory_order_relaxed);
        if (match(v)) return v;
      }
    }
  }

  static void InsertInto(Table* t, uint64_t tag, uint32_t value) {
    for (size_t i = tag & t->mask;; i = (i + 1) & t->mask) {
      Slot& s = t->slots[i];
      if (std::atomic_ref<uint64_t>(s.tag).load(std::memory_order_relaxed) == 0) {
        std::atomic_ref<uint32_t>(s.value).store(value, std::memory_order_relaxed);
        std::atomic_ref<uint64_t>(s.tag).store(tag, std::memory_order_release);
        return;
      }
    }
  }

  Table* NewTable(size_t capacity) {
    void* raw = std::calloc(capacity, sizeof(Slot));
    if (raw == nullptr) throw std::bad_alloc();
    tables_.push_back(std::make_unique<Table>(
        Table{capacity - 1, std::unique_ptr<Slot[], FreeDeleter>(static_cast<Slot*>(raw))}));
    return tables_.back().get();
  }

  // The table the next doubling will take is made when the current one is 3/8 full, and each
  // insert until the doubling writes a zero into its next page. Its pages are then present
  // before any lookup reads them: a calloc'ed page that a lookup reads first maps the shared zero
  // page, and the insert's write to it then takes a second, copy-on-write fault that flushes the
  // TLB on every core (the keyword thread's most frequent fault at batch ingest). A page holds
  // 256 slots: the 2C slots' pages take C/128 inserts, the C/8 before the doubling are plenty.
  static constexpr size_t kPageSlots = 4096 / sizeof(Slot);
  void PrepareNext() {
    const size_t cap = current_->mask + 1;
    if (next_ == nullptr) {
      // Not while a Reserve()d load (recovery) fills the table: that is sized to hold it, and a
      // table prepared then would be resident at startup for writes that may not come.
      if (size_ * 8 < cap * 3 || size_ < reserved_) return;
      next_ = NewTable(cap * 2);
      next_touched_ = 0;
    }
    if (next_touched_ > next_->mask) return;
    // Not yet published: no reader sees it. The store of zero over zero only faults the page in.
    std::atomic_ref<uint64_t>(next_->slots[next_touched_].tag).store(0, std::memory_order_relaxed);
    next_touched_ += kPageSlots;
  }
  // A table of `capacity` slots: the prepared one if it has that size, else a new one.
  Table* TakeNext(size_t capacity) {
    Table* t = next_ != nullptr && next_->mask + 1 == capacity ? next_ : NewTable(capacity);
    next_ = nullptr;
    return t;
  }

  void Publish(Table* current, Table* draining) {
    current_ = current;
    views_.push_back(std::make_unique<View>(View{current, draining}));
    view_.store(views_.back().get(), std::memory_order_release);
  }

  // Moves up to `slots` slots of the draining table into the current one; publishes the view
  // without it once every slot has moved.
  void MigrateSome(size_t slots) {
    const Table* old = draining_;
    const size_t end = old->mask + 1;
    for (size_t n = 0; n < slots && migrated_ < end; ++n, ++migrated_) {
      const Slot& s = old->slots[migrated_];
      if (s.tag != 0) InsertInto(current_, s.tag, s.value);
    }
    if (migrated_ == end) {
      draining_ = nullptr;
      Publish(current_, nullptr);
    }
  }

  std::atomic<const View*> view_{nullptr};
  // Writer only.
  std::vector<std::unique_ptr<Table>> tables_;  // every table ever made (retired, not freed)
  std::vector<std::unique_ptr<View>> views_;    // likewise
  Table* current_ = nullptr;
  const Table* draining_ = nullptr;
  size_t migrated_ = 0;  // slots of draining_ moved so far
  Table* next_ = nullptr;    // made by PrepareNext, not yet published
  size_t next_touched_ = 0;  // the first slot of next_ whose page has not been written yet
  size_t reserved_ = 0;      // the largest Reserve(n)
  size_t size_ = 0;
};

}  // namespace engram::storage
