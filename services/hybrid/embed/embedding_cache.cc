#include "services/hybrid/embed/embedding_cache.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "xxhash.h"

namespace engram::hybrid {

EmbeddingCache::EmbeddingCache(size_t capacity_bytes, int shards)
    : capacity_bytes_(capacity_bytes),
      shard_capacity_(capacity_bytes / static_cast<size_t>(std::max(shards, 1))) {
  shards_.reserve(std::max(shards, 1));
  for (int i = 0; i < std::max(shards, 1); ++i) shards_.push_back(std::make_unique<Shard>());
}

std::string EmbeddingCache::MakeKey(std::string_view embedder, std::string_view text) {
  // Embedder names hold no NUL, so the key is unambiguous.
  std::string key;
  key.reserve(embedder.size() + 1 + text.size());
  key.append(embedder).push_back('\0');
  key.append(text);
  return key;
}

size_t EmbeddingCache::EntryBytes(std::string_view embedder, std::string_view text,
                                  size_t dimension) {
  return embedder.size() + 1 + text.size() + dimension * sizeof(float) + kEntryOverheadBytes;
}

EmbeddingCache::Shard& EmbeddingCache::ShardFor(std::string_view key) {
  return *shards_[XXH3_64bits(key.data(), key.size()) % shards_.size()];
}

EmbeddingCache::Vector EmbeddingCache::Lookup(std::string_view embedder, std::string_view text) {
  const std::string key = MakeKey(embedder, text);
  Shard& shard = ShardFor(key);
  {
    sync::MutexLock lock(&shard.mu);
    auto it = shard.index.find(key);
    if (it != shard.index.end()) {
      shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
      hits_.fetch_add(1, std::memory_order_relaxed);
      return it->second->vector;
    }
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

void EmbeddingCache::Insert(std::string_view embedder, std::string_view text, Vector vector) {
  if (vector == nullptr) return;
  const size_t bytes = EntryBytes(embedder, text, vector->size());
  if (bytes > shard_capacity_) return;
  std::string key = MakeKey(embedder, text);
  Shard& shard = ShardFor(key);
  uint64_t evicted = 0;
  {
    sync::MutexLock lock(&shard.mu);
    auto it = shard.index.find(key);
    if (it != shard.index.end()) {
      shard.bytes -= it->second->bytes;
      shard.lru.erase(it->second);
      shard.index.erase(it);
    }
    while (!shard.lru.empty() && shard.bytes + bytes > shard_capacity_) {
      Entry& last = shard.lru.back();
      shard.bytes -= last.bytes;
      shard.index.erase(last.key);
      shard.lru.pop_back();
      ++evicted;
    }
    shard.lru.push_front(Entry{std::move(key), std::move(vector), bytes});
    shard.index.emplace(shard.lru.front().key, shard.lru.begin());
    shard.bytes += bytes;
  }
  if (evicted > 0) evictions_.fetch_add(evicted, std::memory_order_relaxed);
}

size_t EmbeddingCache::bytes() const {
  size_t total = 0;
  for (const auto& shard : shards_) {
    sync::MutexLock lock(&shard->mu);
    total += shard->bytes;
  }
  return total;
}

size_t EmbeddingCache::entries() const {
  size_t total = 0;
  for (const auto& shard : shards_) {
    sync::MutexLock lock(&shard->mu);
    total += shard->lru.size();
  }
  return total;
}

CachingEmbedder::CachingEmbedder(std::shared_ptr<const Embedder> inner, EmbeddingCache* cache)
    : inner_(std::move(inner)),
      cache_(cache),
      cache_name_(absl::StrCat(inner_->name(), "@", inner_->dimension())) {}

absl::StatusOr<std::vector<float>> CachingEmbedder::Embed(std::string_view text) const {
  if (EmbeddingCache::Vector hit = cache_->Lookup(cache_name_, text)) return *hit;
  absl::StatusOr<std::vector<float>> vector = inner_->Embed(text);
  if (vector.ok())
    cache_->Insert(cache_name_, text, std::make_shared<const std::vector<float>>(*vector));
  return vector;
}

absl::StatusOr<std::vector<std::vector<float>>> CachingEmbedder::EmbedBatch(
    absl::Span<const std::string_view> texts) const {
  std::vector<std::vector<float>> out(texts.size());
  std::vector<size_t> miss_positions;
  std::vector<std::string_view> miss_texts;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (EmbeddingCache::Vector hit = cache_->Lookup(cache_name_, texts[i])) {
      out[i] = *hit;
    } else {
      miss_positions.push_back(i);
      miss_texts.push_back(texts[i]);
    }
  }
  if (miss_texts.empty()) return out;
  absl::StatusOr<std::vector<std::vector<float>>> computed = inner_->EmbedBatch(miss_texts);
  if (!computed.ok()) return computed.status();
  for (size_t j = 0; j < miss_positions.size(); ++j) {
    cache_->Insert(cache_name_, miss_texts[j],
                   std::make_shared<const std::vector<float>>((*computed)[j]));
    out[miss_positions[j]] = std::move((*computed)[j]);
  }
  return out;
}

}  // namespace engram::hybrid
