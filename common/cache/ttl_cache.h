// TtlCache<Value>: a small, bounded map from string keys to values that expire after a time to
// live. Engram's services cache namespace configurations with it, so they do not ask
// engram-storage for the namespace on every request.
//
//   TtlCache<NamespaceConfig> cache({.capacity = 1024, .ttl = absl::Seconds(5)});
//   if (std::optional<NamespaceConfig> hit = cache.Get("default")) { ... }
//   cache.Put("default", config);
//   cache.Invalidate("default");  // e.g. storage said the namespace is NOT_FOUND
//
// Staleness is bounded by `ttl`: an entry exactly ttl old is a miss, as is one "from the future"
// (the clock went backwards). Bounded: at most `capacity` entries; inserting into a full cache
// first drops the expired entries, then the entry fetched longest ago. capacity 0 or ttl <= 0
// caches nothing.
//
// Thread-safety: thread-safe (one mutex; Get returns a copy). The clock is injected (tests move
// time by hand).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/sync/mutex.h"

namespace engram::cache {

struct TtlCacheOptions {
  size_t capacity = 1024;                 // entries; 0 disables the cache
  absl::Duration ttl = absl::Seconds(5);  // <= 0 disables the cache
  std::function<absl::Time()> clock;      // null: absl::Now
};

template <typename Value>
class TtlCache {
 public:
  using Entry = Value;

  explicit TtlCache(TtlCacheOptions options) : options_(std::move(options)) {}
  TtlCache(const TtlCache&) = delete;
  TtlCache& operator=(const TtlCache&) = delete;

  // The value for `key` if present and younger than ttl.
  std::optional<Value> Get(const std::string& key) {
    const absl::Time now = Now();
    sync::MutexLock lock(&mu_);
    auto it = slots_.find(key);
    if (it == slots_.end() || !Fresh(it->second, now)) {
      // Expired: drop it so size() counts live entries only.
      if (it != slots_.end()) slots_.erase(it);
      ++misses_;
      return std::nullopt;
    }
    ++hits_;
    return it->second.value;
  }

  void Put(const std::string& key, Value value) {
    if (options_.capacity == 0 || options_.ttl <= absl::ZeroDuration()) return;
    const absl::Time now = Now();
    sync::MutexLock lock(&mu_);
    if (!slots_.contains(key) && slots_.size() >= options_.capacity) MakeRoom(now);
    slots_.insert_or_assign(key, Slot{std::move(value), now});
  }

  void Invalidate(const std::string& key) {
    sync::MutexLock lock(&mu_);
    slots_.erase(key);
  }

  size_t size() const {
    sync::MutexLock lock(&mu_);
    return slots_.size();
  }
  uint64_t hits() const {
    sync::MutexLock lock(&mu_);
    return hits_;
  }
  uint64_t misses() const {
    sync::MutexLock lock(&mu_);
    return misses_;
  }

 private:
  struct Slot {
    Value value;
    absl::Time fetched;
  };

  absl::Time Now() const { return options_.clock ? options_.clock() : absl::Now(); }
  bool Fresh(const Slot& slot, absl::Time now) const {
    return now >= slot.fetched && now - slot.fetched < options_.ttl;
  }

  // Drops the expired entries, then (if still full) the one fetched longest ago.
  void MakeRoom(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<std::string> expired;
    for (const auto& [key, slot] : slots_) {
      if (!Fresh(slot, now)) expired.push_back(key);
    }
    for (const auto& key : expired) slots_.erase(key);
    if (slots_.size() < options_.capacity) return;
    auto oldest = slots_.begin();
    for (auto it = slots_.begin(); it != slots_.end(); ++it) {
      if (it->second.fetched < oldest->second.fetched ||
          (it->second.fetched == oldest->second.fetched && it->first < oldest->first)) {
        oldest = it;
      }
    }
    slots_.erase(oldest);
  }

  const TtlCacheOptions options_;
  mutable sync::Mutex mu_;
  absl::flat_hash_map<std::string, Slot> slots_ ABSL_GUARDED_BY(mu_);
  uint64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t misses_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace engram::cache
