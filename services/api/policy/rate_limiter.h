// Token-bucket rate limits per API key and per namespace.
//
//   RateLimiter limiter({.key_rate = 1000, .key_burst = 2000, .namespace_rate = 5000,
//                        .namespace_burst = 10000}, clock);
//   if (absl::Status s = limiter.Acquire("ingest-job", "products"); !s.ok()) return s;
//
// A request costs one token from its key's bucket and one from its namespace's bucket; both must
// have a token or neither is charged. Rate 0 disables that limit. When refused, the status is
// RESOURCE_EXHAUSTED "rate limit of key 'ingest-job' exceeded (1000/s)" carrying a RATE_LIMITED
// ErrorDetail (common/status/error_detail.h): the scope that refused ("key" or "namespace") and the
// seconds until a token is available (rounded up, 1..3600).
// Buckets are created on first use; idle full buckets are dropped so memory stays bounded by the
// active keys and namespaces.
//
// Thread-safety: thread-safe (sharded mutexes). The clock is injected for tests.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace engram::api {

struct RateLimits {
  double key_rate = 0;        // tokens per second per key; 0: unlimited
  double key_burst = 0;       // bucket size; < 1 means max(1, key_rate)
  double namespace_rate = 0;  // tokens per second per namespace; 0: unlimited
  double namespace_burst = 0;
};

class RateLimiter {
 public:
  using Clock = std::function<absl::Time()>;
  explicit RateLimiter(RateLimits limits, Clock clock = [] { return absl::Now(); });
  ~RateLimiter();

  // `key_name` "" (auth disabled) uses one shared anonymous bucket; `ns` "" skips the namespace
  // bucket.
  absl::Status Acquire(std::string_view key_name, std::string_view ns);

  // Buckets currently held (key and namespace buckets), for metrics and tests.
  size_t bucket_count() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace engram::api
