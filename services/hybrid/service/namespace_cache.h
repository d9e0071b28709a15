// NamespaceCache: a small, bounded cache of namespace configurations (GetNamespace answers) with
// a short time-to-live, so that HybridCore does not ask engram-storage for the namespace on
// every request.
//
//   NamespaceCache cache({.capacity = 1024, .ttl = absl::Seconds(5)});
//   if (auto hit = cache.Get("default")) { ... hit->config ... }
//   cache.Put("default", config, embedder);
//   cache.Invalidate("default");  // storage said the namespace is NOT_FOUND
//
// Staleness: a namespace deleted and re-created with another dimension or embedder is seen by a
// replica at most `ttl` late; storage still checks every vector's dimension, so a stale entry
// can fail a request (INVALID_ARGUMENT) but never store a wrong vector. A NOT_FOUND answer for
// the namespace invalidates the entry at once (HybridCore does that).
// Bounded: at most `capacity` entries; inserting into a full cache first drops expired entries,
// then the entry fetched longest ago.
// The clock is injected (tests move time by hand). Thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/sync/mutex.h"
#include "engram/storage/v1/storage.pb.h"
#include "services/hybrid/embed/embedder.h"

namespace engram::hybrid {

struct NamespaceCacheOptions {
  size_t capacity = 1024;                   // entries; 0 disables the cache
  absl::Duration ttl = absl::Seconds(5);    // <= 0 disables the cache
  std::function<absl::Time()> clock;        // null: absl::Now
};

class NamespaceCache {
 public:
  struct Entry {
    storage::v1::NamespaceConfig config;
    std::shared_ptr<const Embedder> embedder;  // resolved for config (never null when cached)
  };

  explicit NamespaceCache(NamespaceCacheOptions options);

  // The entry for `name` if present and younger than ttl.
  std::optional<Entry> Get(const std::string& name);
  void Put(const std::string& name, Entry entry);
  void Invalidate(const std::string& name);

  size_t size() const;
  uint64_t hits() const;
  uint64_t misses() const;

 private:
  struct Slot {
    Entry entry;
    absl::Time fetched;
  };
  absl::Time Now() const { return options_.clock ? options_.clock() : absl::Now(); }

  const NamespaceCacheOptions options_;
  mutable sync::Mutex mu_;
  absl::flat_hash_map<std::string, Slot> slots_ ABSL_GUARDED_BY(mu_);
  uint64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t misses_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace engram::hybrid
