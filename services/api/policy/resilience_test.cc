#include "services/api/policy/resilience.h"

#include <deque>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::api {
namespace {

using State = CircuitBreaker::State;

class FakeClock {
 public:
  absl::Time Now() const { return now_; }
  void Advance(absl::Duration d) { now_ += d; }
  CircuitBreaker::Clock AsFunction() {
    return [this] { return now_; };
  }

 private:
  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
};

// Records the requested sleeps and advances the fake clock by them instead of sleeping.
struct FakeSleep {
  FakeClock* clock;
  std::vector<absl::Duration> sleeps;
  SleepFn AsFunction() {
    return [this](absl::Duration d) {
      sleeps.push_back(d);
      clock->Advance(d);
    };
  }
};

const absl::Status kUnavailable = absl::UnavailableError("connection refused");

TEST(IsDependencyFailureTest, ClassifiesCodes) {
  EXPECT_TRUE(IsDependencyFailure(absl::UnavailableError("")));
  EXPECT_TRUE(IsDependencyFailure(absl::DeadlineExceededError("")));
  EXPECT_TRUE(IsDependencyFailure(absl::InternalError("")));
  EXPECT_FALSE(IsDependencyFailure(absl::OkStatus()));
  EXPECT_FALSE(IsDependencyFailure(absl::NotFoundError("")));
  EXPECT_FALSE(IsDependencyFailure(absl::InvalidArgumentError("")));
  EXPECT_FALSE(IsDependencyFailure(absl::AlreadyExistsError("")));
  EXPECT_FALSE(IsDependencyFailure(absl::ResourceExhaustedError("")));
}

TEST(CircuitBreakerTest, ClosedOpenHalfOpenClosed) {
  FakeClock clock;
  CircuitBreaker breaker("storage", {.failure_threshold = 3, .open_duration = absl::Seconds(2)},
                         clock.AsFunction());
  EXPECT_EQ(breaker.state(), State::kClosed);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(breaker.Allow().ok());
    breaker.Record(kUnavailable);
  }
  EXPECT_EQ(breaker.state(), State::kClosed);
  ASSERT_TRUE(breaker.Allow().ok());
  breaker.Record(absl::DeadlineExceededError("slow"));
  EXPECT_EQ(breaker.state(), State::kOpen);

  absl::Status fast = breaker.Allow();
  EXPECT_EQ(fast.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(fast.message(), "storage unavailable (circuit open)");
  clock.Advance(absl::Milliseconds(1999));
  EXPECT_FALSE(breaker.Allow().ok());

  clock.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(breaker.Allow().ok());  // the probe
  EXPECT_EQ(breaker.state(), State::kHalfOpen);
  EXPECT_FALSE(breaker.Allow().ok());  // only one probe at a time
  breaker.Record(absl::OkStatus());
  EXPECT_EQ(breaker.state(), State::kClosed);
  EXPECT_TRUE(breaker.Allow().ok());
}

TEST(CircuitBreakerTest, HalfOpenFailureReopens) {
  FakeClock clock;
  CircuitBreaker breaker("hybrid", {.failure_threshold = 1, .open_duration = absl::Seconds(2)},
                         clock.AsFunction());
  ASSERT_TRUE(breaker.Allow().ok());
  breaker.Record(kUnavailable);
  ASSERT_EQ(breaker.state(), State::kOpen);
  clock.Advance(absl::Seconds(2));
  ASSERT_TRUE(breaker.Allow().ok());
  breaker.Record(kUnavailable);
  EXPECT_EQ(breaker.state(), State::kOpen);
  // Open again for a full open_duration from the failed probe.
  clock.Advance(absl::Seconds(1));
  EXPECT_FALSE(breaker.Allow().ok());
  clock.Advance(absl::Seconds(1));
  EXPECT_TRUE(breaker.Allow().ok());
}

TEST(CircuitBreakerTest, SuccessResetsTheFailureCount) {
  FakeClock clock;
  CircuitBreaker breaker("storage", {.failure_threshold = 2}, clock.AsFunction());
  for (int i = 0; i < 10; ++i) {
    breaker.Record(kUnavailable);
    breaker.Record(absl::OkStatus());
  }
  EXPECT_EQ(breaker.state(), State::kClosed);
}

TEST(CircuitBreakerTest, AnswersCountAsSuccess) {
  FakeClock clock;
  CircuitBreaker breaker("storage", {.failure_threshold = 2}, clock.AsFunction());
  for (int i = 0; i < 10; ++i) {
    breaker.Record(kUnavailable);
    breaker.Record(absl::NotFoundError("no concept 'x'"));
    breaker.Record(absl::InvalidArgumentError("k: too large"));
  }
  EXPECT_EQ(breaker.state(), State::kClosed);

  // NOT_FOUND from the half-open probe closes the circuit: the dependency answered.
  breaker.Record(kUnavailable);
  breaker.Record(kUnavailable);
  ASSERT_EQ(breaker.state(), State::kOpen);
  clock.Advance(absl::Seconds(2));
  ASSERT_TRUE(breaker.Allow().ok());
  breaker.Record(absl::NotFoundError("no concept 'x'"));
  EXPECT_EQ(breaker.state(), State::kClosed);
}

TEST(CircuitBreakerTest, LostProbeIsReplacedAfterOpenDuration) {
  FakeClock clock;
  CircuitBreaker breaker("storage", {.failure_threshold = 1, .open_duration = absl::Seconds(2)},
                         clock.AsFunction());
  breaker.Record(kUnavailable);
  clock.Advance(absl::Seconds(2));
  ASSERT_TRUE(breaker.Allow().ok());  // a probe whose outcome is never recorded
  clock.Advance(absl::Seconds(1));
  EXPECT_FALSE(breaker.Allow().ok());
  clock.Advance(absl::Seconds(1));
  EXPECT_TRUE(breaker.Allow().ok());
}

// An attempt function that returns scripted outcomes and counts calls.
struct Script {
  std::deque<absl::Status> outcomes;
  int calls = 0;
  std::vector<absl::Time> deadlines;
  std::function<absl::Status(absl::Time)> AsFunction() {
    return [this](absl::Time deadline) {
      ++calls;
      deadlines.push_back(deadline);
      absl::Status s = outcomes.front();
      if (outcomes.size() > 1) outcomes.pop_front();
      return s;
    };
  }
};

TEST(CallWithResilienceTest, RetriesOnlyIdempotentUnavailable) {
  struct Case {
    std::string label;
    bool idempotent;
    absl::Status first;
    int expected_calls;
    absl::StatusCode expected;
  };
  const Case cases[] = {
      {"idempotent unavailable", true, kUnavailable, 2, absl::StatusCode::kOk},
      {"write unavailable", false, kUnavailable, 1, absl::StatusCode::kUnavailable},
      {"idempotent deadline", true, absl::DeadlineExceededError("slow"), 1,
       absl::StatusCode::kDeadlineExceeded},
      {"idempotent internal", true, absl::InternalError("rst"), 1, absl::StatusCode::kInternal},
      {"idempotent not found", true, absl::NotFoundError("x"), 1, absl::StatusCode::kNotFound},
      {"idempotent ok", true, absl::OkStatus(), 1, absl::StatusCode::kOk},
  };
  for (const Case& c : cases) {
    FakeClock clock;
    FakeSleep sleep{&clock};
    CircuitBreaker breaker("storage", {}, clock.AsFunction());
    Script script{{c.first, absl::OkStatus()}};
    absl::Status s =
        CallWithResilience(breaker, {.max_attempts = 3}, clock.Now() + absl::Seconds(5),
                           c.idempotent, script.AsFunction(), sleep.AsFunction());
    EXPECT_EQ(s.code(), c.expected) << c.label;
    EXPECT_EQ(script.calls, c.expected_calls) << c.label;
    EXPECT_EQ(sleep.sleeps.size(), static_cast<size_t>(c.expected_calls - 1)) << c.label;
  }
}

TEST(CallWithResilienceTest, StopsAfterMaxAttemptsWithJitteredExponentialBackoff) {
  FakeClock clock;
  FakeSleep sleep{&clock};
  CircuitBreaker breaker("storage", {.failure_threshold = 100}, clock.AsFunction());
  Script script{{kUnavailable}};
  const RetryOptions retry{.max_attempts = 5,
                           .initial_backoff = absl::Milliseconds(20),
                           .max_backoff = absl::Milliseconds(50)};
  const absl::Time deadline = clock.Now() + absl::Seconds(10);
  absl::Status s =
      CallWithResilience(breaker, retry, deadline, true, script.AsFunction(), sleep.AsFunction());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(script.calls, 5);
  ASSERT_EQ(sleep.sleeps.size(), 4u);
  const absl::Duration caps[] = {absl::Milliseconds(20), absl::Milliseconds(40),
                                 absl::Milliseconds(50), absl::Milliseconds(50)};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_GE(sleep.sleeps[i], absl::ZeroDuration()) << i;
    EXPECT_LE(sleep.sleeps[i], caps[i]) << i;
  }
  // Every attempt gets the overall deadline.
  for (absl::Time d : script.deadlines) EXPECT_EQ(d, deadline);
}

TEST(CallWithResilienceTest, BackoffNeverPassesTheDeadline) {
  // Whatever the jitter draws, the total time slept stays before the deadline and no attempt
  // starts at or after it.
  for (int run = 0; run < 200; ++run) {
    FakeClock clock;
    FakeSleep sleep{&clock};
    CircuitBreaker breaker("storage", {.failure_threshold = 1000}, clock.AsFunction());
    const absl::Time start = clock.Now();
    const absl::Time deadline = start + absl::Milliseconds(30);
    std::vector<absl::Time> attempt_times;
    absl::Status s = CallWithResilience(
        breaker,
        {.max_attempts = 50,
         .initial_backoff = absl::Milliseconds(10),
         .max_backoff = absl::Milliseconds(100)},
        deadline, true,
        [&](absl::Time) {
          attempt_times.push_back(clock.Now());
          return kUnavailable;
        },
        sleep.AsFunction());
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
    EXPECT_LT(clock.Now(), deadline);
    for (absl::Time t : attempt_times) EXPECT_LT(t, deadline);
  }
}

TEST(CallWithResilienceTest, ExpiredDeadlineMakesNoCall) {
  FakeClock clock;
  FakeSleep sleep{&clock};
  CircuitBreaker breaker("storage", {}, clock.AsFunction());
  Script script{{absl::OkStatus()}};
  absl::Status s =
      CallWithResilience(breaker, {}, clock.Now(), true, script.AsFunction(), sleep.AsFunction());
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(script.calls, 0);
}

TEST(CallWithResilienceTest, OpenCircuitFailsFastWithoutCalling) {
  FakeClock clock;
  FakeSleep sleep{&clock};
  CircuitBreaker breaker("hybrid", {.failure_threshold = 2}, clock.AsFunction());
  Script script{{kUnavailable}};
  // Two failed attempts open the circuit; the third attempt is refused by the breaker.
  absl::Status s = CallWithResilience(breaker, {.max_attempts = 5}, clock.Now() + absl::Seconds(10),
                                      true, script.AsFunction(), sleep.AsFunction());
  EXPECT_EQ(script.calls, 2);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "hybrid unavailable (circuit open)");
  EXPECT_EQ(breaker.state(), State::kOpen);

  s = CallWithResilience(breaker, {}, clock.Now() + absl::Seconds(1), true, script.AsFunction(),
                         sleep.AsFunction());
  EXPECT_EQ(script.calls, 2);
  EXPECT_EQ(s.message(), "hybrid unavailable (circuit open)");
}

TEST(CallWithResilienceTest, NotFoundKeepsTheCircuitClosed) {
  FakeClock clock;
  FakeSleep sleep{&clock};
  CircuitBreaker breaker("storage", {.failure_threshold = 1}, clock.AsFunction());
  Script script{{absl::NotFoundError("no concept 'x'")}};
  for (int i = 0; i < 5; ++i) {
    absl::Status s = CallWithResilience(breaker, {}, clock.Now() + absl::Seconds(1), true,
                                        script.AsFunction(), sleep.AsFunction());
    EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  }
  EXPECT_EQ(script.calls, 5);
  EXPECT_EQ(breaker.state(), State::kClosed);
}

// The asynchronous form with attempts that answer later and a backoff that is a pending timer:
// nothing runs until the test runs the pending work, and `done` runs exactly once, at the end.
TEST(CallWithResilienceAsyncTest, AttemptsAndBackoffsContinueFromTheirCallbacks) {
  FakeClock clock;
  CircuitBreaker breaker("hybrid", {.failure_threshold = 100}, clock.AsFunction());
  std::deque<absl::AnyInvocable<void() &&>> pending;  // answers and timers not yet run
  std::vector<absl::Duration> delays;
  const absl::Status outcomes[] = {kUnavailable, kUnavailable, absl::NotFoundError("gone")};
  int attempts = 0;
  int done_calls = 0;
  absl::Status result;
  CallWithResilienceAsync(
      breaker, {.max_attempts = 5}, clock.Now() + absl::Seconds(10), /*idempotent=*/true,
      [&](absl::Time, StatusDone done) {
        const absl::Status outcome = outcomes[attempts++];
        pending.push_back([done = std::move(done), outcome]() mutable { std::move(done)(outcome); });
      },
      [&](absl::Duration delay, absl::AnyInvocable<void() &&> fn) {
        delays.push_back(delay);
        pending.push_back([&clock, delay, fn = std::move(fn)]() mutable {
          clock.Advance(delay);
          std::move(fn)();
        });
      },
      [&](absl::Status s) {
        ++done_calls;
        result = std::move(s);
      });
  EXPECT_EQ(attempts, 1);  // started, not answered
  EXPECT_EQ(done_calls, 0);
  while (!pending.empty()) {
    auto next = std::move(pending.front());
    pending.pop_front();
    std::move(next)();
  }
  EXPECT_EQ(attempts, 3);  // unavailable, unavailable, then an answer: no more retries
  EXPECT_EQ(delays.size(), 2u);
  EXPECT_EQ(done_calls, 1);
  EXPECT_EQ(result.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(breaker.state(), State::kClosed);
}

TEST(CallWithResilienceAsyncTest, AnOpenCircuitAnswersInlineWithoutAnAttempt) {
  FakeClock clock;
  CircuitBreaker breaker("storage", {.failure_threshold = 1}, clock.AsFunction());
  breaker.Record(kUnavailable);
  ASSERT_EQ(breaker.state(), State::kOpen);
  int attempts = 0;
  absl::Status result;
  CallWithResilienceAsync(
      breaker, {}, clock.Now() + absl::Seconds(1), true,
      [&](absl::Time, StatusDone done) {
        ++attempts;
        std::move(done)(absl::OkStatus());
      },
      [](absl::Duration, absl::AnyInvocable<void() &&> fn) { std::move(fn)(); },
      [&](absl::Status s) { result = std::move(s); });
  EXPECT_EQ(attempts, 0);
  EXPECT_EQ(result.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(result.message(), "storage unavailable (circuit open)");
}

}  // namespace
}  // namespace engram::api
