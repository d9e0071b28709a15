#include "services/hybrid/service/namespace_cache.h"

#include <vector>

namespace engram::hybrid {

NamespaceCache::NamespaceCache(NamespaceCacheOptions options) : options_(std::move(options)) {}

std::optional<NamespaceCache::Entry> NamespaceCache::Get(const std::string& name) {
  const absl::Time now = Now();
  sync::MutexLock lock(&mu_);
  auto it = slots_.find(name);
  if (it == slots_.end() || now - it->second.fetched >= options_.ttl || now < it->second.fetched) {
    // Expired (or the clock went backwards): drop it so size() counts live entries only.
    if (it != slots_.end()) slots_.erase(it);
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  return it->second.entry;
}

void NamespaceCache::Put(const std::string& name, Entry entry) {
  if (options_.capacity == 0 || options_.ttl <= absl::ZeroDuration()) return;
  const absl::Time now = Now();
  sync::MutexLock lock(&mu_);
  if (!slots_.contains(name) && slots_.size() >= options_.capacity) {
    std::vector<std::string> expired;
    for (const auto& [key, slot] : slots_) {
      if (now - slot.fetched >= options_.ttl) expired.push_back(key);
    }
    for (const auto& key : expired) slots_.erase(key);
    if (slots_.size() >= options_.capacity) {
      auto oldest = slots_.begin();
      for (auto it = slots_.begin(); it != slots_.end(); ++it) {
        if (it->second.fetched < oldest->second.fetched ||
            (it->second.fetched == oldest->second.fetched && it->first < oldest->first)) {
          oldest = it;
        }
      }
      slots_.erase(oldest);
    }
  }
  slots_.insert_or_assign(name, Slot{std::move(entry), now});
}

void NamespaceCache::Invalidate(const std::string& name) {
  sync::MutexLock lock(&mu_);
  slots_.erase(name);
}

size_t NamespaceCache::size() const {
  sync::MutexLock lock(&mu_);
  return slots_.size();
}

uint64_t NamespaceCache::hits() const {
  sync::MutexLock lock(&mu_);
  return hits_;
}

uint64_t NamespaceCache::misses() const {
  sync::MutexLock lock(&mu_);
  return misses_;
}

}  // namespace engram::hybrid
