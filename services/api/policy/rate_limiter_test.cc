#include "services/api/policy/rate_limiter.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status/error_detail.h"

namespace engram::api {
namespace {

class FakeClock {
 public:
  absl::Time Now() const { return now_; }
  void Advance(absl::Duration d) { now_ += d; }
  RateLimiter::Clock AsFunction() {
    return [this] { return now_; };
  }

 private:
  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
};

// How many Acquire calls succeed in a row before the first refusal.
int AcquireUntilRefused(RateLimiter& limiter, std::string_view key, std::string_view ns,
                        int limit = 100000) {
  for (int i = 0; i < limit; ++i) {
    if (!limiter.Acquire(key, ns).ok()) return i;
  }
  return limit;
}

TEST(RateLimiterTest, ZeroRatesAreUnlimited) {
  FakeClock clock;
  RateLimiter limiter({}, clock.AsFunction());
  EXPECT_EQ(AcquireUntilRefused(limiter, "k", "ns", 10000), 10000);
  EXPECT_EQ(limiter.bucket_count(), 0u);
}

TEST(RateLimiterTest, BurstThenRefillOverInjectedTime) {
  FakeClock clock;
  RateLimiter limiter({.key_rate = 10, .key_burst = 20}, clock.AsFunction());
  EXPECT_EQ(AcquireUntilRefused(limiter, "k", ""), 20);  // the whole burst at once

  clock.Advance(absl::Milliseconds(100));  // one token at 10/s
  EXPECT_EQ(AcquireUntilRefused(limiter, "k", ""), 1);
  clock.Advance(absl::Milliseconds(50));  // half a token
  EXPECT_EQ(AcquireUntilRefused(limiter, "k", ""), 0);
  clock.Advance(absl::Milliseconds(50));
  EXPECT_EQ(AcquireUntilRefused(limiter, "k", ""), 1);

  clock.Advance(absl::Hours(1));  // refills only up to the burst
  EXPECT_EQ(AcquireUntilRefused(limiter, "k", ""), 20);
}

TEST(RateLimiterTest, BurstBelowOneMeansTheRate) {
  struct Case {
    double rate;
    double burst;
    int expected_burst;
  };
  const Case cases[] = {{5, 0, 5}, {0.5, 0, 1}, {5, 0.5, 5}, {5, 2, 2}};
  for (const Case& c : cases) {
    FakeClock clock;
    RateLimiter limiter({.key_rate = c.rate, .key_burst = c.burst}, clock.AsFunction());
    EXPECT_EQ(AcquireUntilRefused(limiter, "k", ""), c.expected_burst)
        << "rate " << c.rate << " burst " << c.burst;
  }
}

TEST(RateLimiterTest, KeysAndNamespacesHaveTheirOwnBuckets) {
  FakeClock clock;
  RateLimiter limiter({.key_rate = 1, .key_burst = 3, .namespace_rate = 1, .namespace_burst = 5},
                      clock.AsFunction());
  EXPECT_EQ(AcquireUntilRefused(limiter, "a", "n1"), 3);  // key a's burst
  EXPECT_EQ(AcquireUntilRefused(limiter, "b", "n1"), 2);  // n1's remaining 2
  EXPECT_EQ(AcquireUntilRefused(limiter, "b", "n2"), 1);  // key b's remaining 1
  EXPECT_EQ(AcquireUntilRefused(limiter, "c", ""), 3);    // "" skips the namespace bucket
}

TEST(RateLimiterTest, ChargesBothBucketsOrNeither) {
  FakeClock clock;
  RateLimiter limiter({.key_rate = 1, .key_burst = 2, .namespace_rate = 1, .namespace_burst = 1},
                      clock.AsFunction());
  ASSERT_TRUE(limiter.Acquire("k", "a").ok());  // key 1 left, a 0 left
  // Refused by the namespace: the key bucket must keep its token.
  absl::Status refused = limiter.Acquire("k", "a");
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.message(), "rate limit of namespace 'a' exceeded (1/s)");
  EXPECT_EQ(status::GetDetail(refused)->scope(), "namespace");
  ASSERT_TRUE(limiter.Acquire("k", "b").ok());  // key 0 left, b 0 left
  // Refused by the key: the namespace bucket of c must keep its token.
  refused = limiter.Acquire("k", "c");
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.message(), "rate limit of key 'k' exceeded (1/s)");
  EXPECT_EQ(status::GetDetail(refused)->scope(), "key");
  EXPECT_TRUE(limiter.Acquire("other", "c").ok());
}

TEST(RateLimiterTest, RetryAfterPayloadIsWholeSecondsAtLeastOne) {
  struct Case {
    double rate;
    absl::Duration advance;  // after draining the one-token bucket
    int retry_after;
  };
  const Case cases[] = {
      {1000, absl::ZeroDuration(), 1},  // 1 ms rounds up to 1 s
      {1, absl::ZeroDuration(), 1},     // exactly 1 s
      {0.1, absl::ZeroDuration(), 10},  // 10 s
      {0.1, absl::Seconds(2.5), 8},     // 7.5 s rounds up
      {0.001, absl::ZeroDuration(), 1000},
      {0.0001, absl::ZeroDuration(), 3600},  // capped at an hour
  };
  for (const Case& c : cases) {
    FakeClock clock;
    RateLimiter limiter({.key_rate = c.rate, .key_burst = 1}, clock.AsFunction());
    ASSERT_TRUE(limiter.Acquire("k", "").ok());
    clock.Advance(c.advance);
    absl::Status refused = limiter.Acquire("k", "");
    ASSERT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << c.rate;
    std::optional<status::ErrorDetail> detail = status::GetDetail(refused);
    ASSERT_TRUE(detail.has_value());
    EXPECT_EQ(detail->reason(), status::ErrorDetail::RATE_LIMITED);
    EXPECT_EQ(detail->scope(), "key");
    EXPECT_EQ(detail->retry_after_seconds(), c.retry_after) << "rate " << c.rate;
    EXPECT_EQ(status::RetryAfterSeconds(refused), c.retry_after);
  }
}

TEST(RateLimiterTest, RetryAfterWaitsForTheSlowerBucket) {
  FakeClock clock;
  RateLimiter limiter({.key_rate = 1, .key_burst = 1, .namespace_rate = 0.2, .namespace_burst = 1},
                      clock.AsFunction());
  ASSERT_TRUE(limiter.Acquire("k", "n").ok());
  absl::Status refused = limiter.Acquire("k", "n");
  EXPECT_EQ(status::RetryAfterSeconds(refused), 5);
}

TEST(RateLimiterTest, AnonymousCallersShareOneBucket) {
  FakeClock clock;
  RateLimiter limiter({.key_rate = 1, .key_burst = 2}, clock.AsFunction());
  EXPECT_EQ(AcquireUntilRefused(limiter, "", "x"), 2);
  absl::Status refused = limiter.Acquire("", "y");
  EXPECT_EQ(refused.message(), "rate limit of anonymous callers exceeded (1/s)");
}

TEST(RateLimiterTest, IdleFullBucketsAreDropped) {
  FakeClock clock;
  RateLimiter limiter(
      {.key_rate = 100, .key_burst = 100, .namespace_rate = 100, .namespace_burst = 100},
      clock.AsFunction());
  for (int i = 0; i < 5000; ++i) {
    ASSERT_TRUE(limiter.Acquire("key" + std::to_string(i), "ns" + std::to_string(i)).ok());
  }
  EXPECT_GE(limiter.bucket_count(), 5000u);
  clock.Advance(absl::Seconds(2));  // every bucket is full again
  // One busy key keeps being charged; the sweeps drop every idle full bucket.
  for (int i = 0; i < 50000; ++i) {
    ASSERT_TRUE(limiter.Acquire("busy", "").ok()) << i;
    clock.Advance(absl::Milliseconds(10));
    ASSERT_TRUE(limiter.Acquire("key" + std::to_string(100000 + i % 16), "").ok());
  }
  EXPECT_LT(limiter.bucket_count(), 100u);
  // A dropped bucket comes back full: the answer is the same as if it had been kept.
  EXPECT_EQ(AcquireUntilRefused(limiter, "key7", "ns7"), 100);
}

TEST(RateLimiterTest, ConcurrentCallersShareTheBurstExactly) {
  // Time stands still: exactly the burst is granted, however the threads interleave.
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  RateLimiter limiter(
      {.key_rate = 1, .key_burst = 1000, .namespace_rate = 1, .namespace_burst = 600},
      [now] { return now; });
  std::atomic<int> granted_a{0};
  std::atomic<int> granted_b{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (limiter.Acquire("k", "a").ok()) granted_a.fetch_add(1);
        if (limiter.Acquire("k", "b").ok()) granted_b.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  // Namespace a and b each allow 600, the key 1000 in all: never more than either bucket holds.
  EXPECT_EQ(granted_a.load() + granted_b.load(), 1000);
  EXPECT_LE(granted_a.load(), 600);
  EXPECT_LE(granted_b.load(), 600);
}

}  // namespace
}  // namespace engram::api
