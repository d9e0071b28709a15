// EmbeddingCache: a bounded-bytes, sharded LRU cache of embeddings, keyed by
// (embedder name, text). CachingEmbedder puts it in front of any Embedder.
//
// Usage:
//   EmbeddingCache cache(/*capacity_bytes=*/256 << 20);
//   CachingEmbedder cached(embedder, &cache);
//   ASSIGN_OR_RETURN(std::vector<float> v, cached.Embed(text));  // hit or computed + inserted
//   metrics.Set("embed_cache_hits_total", cache.hits());
//
// Memory bound: every entry is charged EntryBytes() (the full key, the vector and a fixed
// per-entry overhead); each of the `shards` shards holds at most capacity_bytes / shards and
// evicts its least recently used entries to make room. An entry larger than a shard is not
// cached. Keys keep the whole text (not a hash of it), so distinct texts never share an entry.
//
// Thread-safe: each shard has its own mutex; the counters are atomic.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "common/sync/mutex.h"
#include "services/hybrid/embed/embedder.h"

namespace engram::hybrid {

class EmbeddingCache {
 public:
  using Vector = std::shared_ptr<const std::vector<float>>;

  // Fixed bytes charged per entry on top of key and vector (list node, index slot, control).
  static constexpr size_t kEntryOverheadBytes = 128;

  // shards >= 1 (clamped). capacity_bytes == 0 disables caching (every lookup misses).
  explicit EmbeddingCache(size_t capacity_bytes, int shards = 16);
  EmbeddingCache(const EmbeddingCache&) = delete;
  EmbeddingCache& operator=(const EmbeddingCache&) = delete;

  // The cached vector, or nullptr. Counts a hit or a miss; a hit makes the entry most recent.
  Vector Lookup(std::string_view embedder, std::string_view text);

  // Inserts or replaces the entry, evicting least recently used entries of its shard.
  void Insert(std::string_view embedder, std::string_view text, Vector vector);

  // Bytes charged for one entry.
  static size_t EntryBytes(std::string_view embedder, std::string_view text, size_t dimension);

  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }
  size_t capacity_bytes() const { return capacity_bytes_; }
  size_t bytes() const;  // currently charged
  size_t entries() const;

 private:
  struct Entry {
    std::string key;
    Vector vector;
    size_t bytes;
  };
  struct Shard {
    // sync::Mutex (std::mutex) rather than absl::Mutex: Debian's Abseil is not TSAN-instrumented.
    mutable sync::Mutex mu;
    std::list<Entry> lru ABSL_GUARDED_BY(mu);  // most recent first
    // Keys point into Entry::key.
    absl::flat_hash_map<std::string_view, std::list<Entry>::iterator> index ABSL_GUARDED_BY(mu);
    size_t bytes ABSL_GUARDED_BY(mu) = 0;
  };

  static std::string MakeKey(std::string_view embedder, std::string_view text);
  Shard& ShardFor(std::string_view key);

  // Constant after construction.
  const size_t capacity_bytes_;
  const size_t shard_capacity_;
  std::vector<std::unique_ptr<Shard>> shards_;

  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  std::atomic<uint64_t> evictions_{0};
};

// An Embedder that answers from an EmbeddingCache and fills it. Same name and dimension as the
// wrapped embedder. Cache keys use "<name>@<dimension>", so one cache can serve several
// embedders, including the hashing embedder at several namespace dimensions.
// `cache` is not owned and must outlive this object. Thread-safe.
class CachingEmbedder final : public Embedder {
 public:
  CachingEmbedder(std::shared_ptr<const Embedder> inner, EmbeddingCache* cache);

  const std::string& name() const override { return inner_->name(); }
  int dimension() const override { return inner_->dimension(); }
  bool cheap() const override { return inner_->cheap(); }
  absl::StatusOr<std::vector<float>> Embed(std::string_view text) const override;
  // Looks every text up, then embeds the misses in one inner EmbedBatch call.
  absl::StatusOr<std::vector<std::vector<float>>> EmbedBatch(
      absl::Span<const std::string_view> texts) const override;

 private:
  const std::shared_ptr<const Embedder> inner_;
  EmbeddingCache* const cache_;
  const std::string cache_name_;  // "<name>@<dimension>"
};

}  // namespace engram::hybrid
