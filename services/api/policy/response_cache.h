// A bounded (bytes) LRU cache of Search and Reason responses with a TTL, invalidated per
// namespace on writes.
//
//   ResponseCache cache({.max_bytes = 64 << 20, .ttl = absl::Seconds(30)});
//   std::string key = ResponseCache::Key("search", request);   // normalised request
//   if (auto hit = cache.Get(ns, key)) { ... *hit is the serialized response ... }
//   cache.Put(ns, key, response.SerializeAsString(), generation_before_the_call);
//   cache.Invalidate(ns);   // after every write to ns
//
// Invalidation is O(1): each namespace has a generation counter; entries remember the generation
// they were computed under and a lookup ignores older ones. Put takes the generation read *before*
// the downstream call, so a response computed concurrently with a write is never stored as fresh.
// Metrics: hits and misses (hit ratio) are exported by the caller through hits()/misses().
//
// Thread-safety: thread-safe. max_bytes 0 disables the cache (Get always misses).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"

namespace engram::api {

struct ResponseCacheOptions {
  size_t max_bytes = 64 << 20;
  absl::Duration ttl = absl::Seconds(30);
};

class ResponseCache {
 public:
  using Clock = std::function<absl::Time()>;
  explicit ResponseCache(ResponseCacheOptions options, Clock clock = [] { return absl::Now(); });
  ~ResponseCache();

  // A normalised key: `kind` + the request's deterministic serialization with the namespace
  // field cleared (text queries are normalised by the caller where meaning allows: trimmed).
  static std::string Key(std::string_view kind, const google::protobuf::Message& request);

  uint64_t Generation(std::string_view ns) const;
  std::optional<std::string> Get(std::string_view ns, const std::string& key);
  void Put(std::string_view ns, const std::string& key, std::string value, uint64_t generation);
  void Invalidate(std::string_view ns);

  uint64_t hits() const;
  uint64_t misses() const;
  size_t bytes() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace engram::api
