#include "services/api/policy/rate_limiter.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status/error_detail.h"
#include "common/sync/mutex.h"
#include "common/text/absl_view.h"

namespace engram::api {
namespace {

constexpr size_t kShards = 16;

struct Bucket {
  double tokens = 0;
  absl::Time refilled_at;
};

// One kind of bucket (per key or per namespace): its limit and its sharded map.
class BucketSet {
 public:
  BucketSet(double rate, double burst)
      : rate_(rate), burst_(burst < 1 ? std::max(1.0, rate) : burst) {}

  bool enabled() const { return rate_ > 0; }
  double rate() const { return rate_; }

  struct Shard {
    // sync::Mutex (std::mutex) rather than absl::Mutex: Debian's Abseil is not TSAN-instrumented.
    sync::Mutex mu;
    std::unordered_map<std::string, Bucket> buckets ABSL_GUARDED_BY(mu);
  };

  Shard& ShardFor(std::string_view name) {
    return shards_[std::hash<std::string_view>{}(name) % kShards];
  }

  // The bucket of `name` refilled up to `now`, created full. The bucket stays guarded by shard.mu.
  Bucket& Refilled(Shard& shard, std::string_view name, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
    auto [it, created] = shard.buckets.try_emplace(std::string(name));
    Bucket& bucket = it->second;
    if (created) {
      count_.fetch_add(1, std::memory_order_relaxed);
      bucket.tokens = burst_;
    } else {
      // A clock that steps back refills nothing.
      const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - bucket.refilled_at));
      bucket.tokens = std::min(burst_, bucket.tokens + elapsed * rate_);
    }
    bucket.refilled_at = std::max(bucket.refilled_at, now);
    return bucket;
  }

  // Seconds until `bucket` holds one token.
  double SecondsUntilToken(const Bucket& bucket) const {
    return bucket.tokens >= 1 ? 0 : (1 - bucket.tokens) / rate_;
  }

  // Drops buckets that would be full by now: a dropped bucket is recreated full, so this changes
  // no answer. Locks one shard at a time; the caller holds no shard lock.
  void Sweep(absl::Time now) {
    for (Shard& shard : shards_) {
      sync::MutexLock lock(&shard.mu);
      for (auto it = shard.buckets.begin(); it != shard.buckets.end();) {
        const Bucket& bucket = it->second;
        const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - bucket.refilled_at));
        if (bucket.tokens + elapsed * rate_ >= burst_) {
          it = shard.buckets.erase(it);
          count_.fetch_sub(1, std::memory_order_relaxed);
        } else {
          ++it;
        }
      }
    }
  }

  // Buckets held, without locking (for deciding when to sweep).
  size_t approximate_size() const { return count_.load(std::memory_order_relaxed); }

  size_t size() {
    size_t total = 0;
    for (Shard& shard : shards_) {
      sync::MutexLock lock(&shard.mu);
      total += shard.buckets.size();
    }
    return total;
  }

 private:
  const double rate_;
  const double burst_;
  std::array<Shard, kShards> shards_;
  std::atomic<size_t> count_{0};
};

// `scope` is "key" or "namespace" (the ErrorDetail's scope); the wait is rounded up to a second.
absl::Status Refusal(std::string_view scope, std::string message, double seconds) {
  const int whole = seconds >= 3600 ? 3600 : static_cast<int>(std::ceil(seconds));
  return status::WithDetail(absl::ResourceExhaustedError(std::move(message)),
                            status::RateLimitedDetail(scope, whole));
}

}  // namespace

class RateLimiter::Impl {
 public:
  Impl(RateLimits limits, Clock clock)
      : clock_(std::move(clock)),
        keys_(limits.key_rate, limits.key_burst),
        namespaces_(limits.namespace_rate, limits.namespace_burst) {}

  absl::Status Acquire(std::string_view key_name, std::string_view ns) {
    const bool limit_key = keys_.enabled();
    const bool limit_ns = namespaces_.enabled() && !ns.empty();
    if (!limit_key && !limit_ns) return absl::OkStatus();
    const absl::Time now = clock_();

    // Key shards are always locked before namespace shards, so two locks never deadlock. One
    // branch per combination, so that every lock is a scoped one the analysis can follow.
    absl::Status result;
    if (limit_key && limit_ns) {
      BucketSet::Shard& key_shard = keys_.ShardFor(key_name);
      BucketSet::Shard& ns_shard = namespaces_.ShardFor(ns);
      sync::MutexLock key_lock(&key_shard.mu);
      sync::MutexLock ns_lock(&ns_shard.mu);
      result = ChargeBoth(key_name, &keys_.Refilled(key_shard, key_name, now), ns,
                          &namespaces_.Refilled(ns_shard, ns, now));
    } else if (limit_key) {
      BucketSet::Shard& key_shard = keys_.ShardFor(key_name);
      sync::MutexLock key_lock(&key_shard.mu);
      result = ChargeBoth(key_name, &keys_.Refilled(key_shard, key_name, now), ns, nullptr);
    } else {
      BucketSet::Shard& ns_shard = namespaces_.ShardFor(ns);
      sync::MutexLock ns_lock(&ns_shard.mu);
      result = ChargeBoth(key_name, nullptr, ns, &namespaces_.Refilled(ns_shard, ns, now));
    }
    MaybeSweep(now);
    return result;
  }

  size_t bucket_count() { return keys_.size() + namespaces_.size(); }

 private:
  // Takes one token from each given bucket, or none when either is empty. Requires the buckets'
  // shard locks.
  absl::Status ChargeBoth(std::string_view key_name, Bucket* key_bucket, std::string_view ns,
                          Bucket* ns_bucket) {
    const double key_wait = key_bucket ? keys_.SecondsUntilToken(*key_bucket) : 0;
    const double ns_wait = ns_bucket ? namespaces_.SecondsUntilToken(*ns_bucket) : 0;
    if (key_wait > 0 || ns_wait > 0) {
      const double wait = std::max(key_wait, ns_wait);  // both must have a token again
      if (key_wait > 0) {
        std::string who = key_name.empty() ? std::string("anonymous callers")
                                           : absl::StrCat("key '", AbslView(key_name), "'");
        return Refusal("key", absl::StrCat("rate limit of ", who, " exceeded (", keys_.rate(), "/s)"),
                       wait);
      }
      return Refusal("namespace", absl::StrCat("rate limit of namespace '", AbslView(ns), "' exceeded (",
                                  namespaces_.rate(), "/s)"),
                     wait);
    }
    if (key_bucket) key_bucket->tokens -= 1;
    if (ns_bucket) ns_bucket->tokens -= 1;
    return absl::OkStatus();
  }

  // Sweeps both bucket sets once as many acquisitions have passed as buckets are held (at least
  // kMinSweepInterval): amortised O(1) per call, and memory stays within a small multiple of the
  // buckets active during one interval. One caller sweeps; the others go on.
  void MaybeSweep(absl::Time now) {
    static constexpr uint64_t kMinSweepInterval = 1024;
    const uint64_t interval = std::max<uint64_t>(
        kMinSweepInterval, keys_.approximate_size() + namespaces_.approximate_size());
    uint64_t seen = acquires_since_sweep_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (seen < interval) return;
    if (!acquires_since_sweep_.compare_exchange_strong(seen, 0, std::memory_order_relaxed)) return;
    keys_.Sweep(now);
    namespaces_.Sweep(now);
  }

  const Clock clock_;
  BucketSet keys_;
  BucketSet namespaces_;
  std::atomic<uint64_t> acquires_since_sweep_{0};
};

RateLimiter::RateLimiter(RateLimits limits, Clock clock)
    : impl_(std::make_unique<Impl>(limits, std::move(clock))) {}

RateLimiter::~RateLimiter() = default;

absl::Status RateLimiter::Acquire(std::string_view key_name, std::string_view ns) {
  return impl_->Acquire(key_name, ns);
}

size_t RateLimiter::bucket_count() const { return impl_->bucket_count(); }

}  // namespace engram::api
