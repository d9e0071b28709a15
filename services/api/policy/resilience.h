// Resilience for downstream calls: a circuit breaker per dependency and jittered retries.
//
//   CircuitBreaker breaker("storage", {});
//   RetryPolicy retry({.max_attempts = 3});
//   absl::Status s = CallWithResilience(breaker, retry, deadline, /*idempotent=*/true,
//       [&](absl::Time attempt_deadline) -> absl::Status { ...one gRPC call...; });
//
// CircuitBreaker: closed -> open after `failure_threshold` consecutive failures counted as
// dependency failures (UNAVAILABLE, DEADLINE_EXCEEDED of the attempt, INTERNAL from the transport);
// while open, calls fail fast with UNAVAILABLE "<name> unavailable (circuit open)"; after
// `open_duration` one probe call is let through (half-open): success closes, failure re-opens.
// Answers such as NOT_FOUND or INVALID_ARGUMENT are successes for the breaker.
//
// RetryPolicy: only when `idempotent`, only UNAVAILABLE is retried, with full-jitter exponential
// backoff (initial_backoff * 2^n, capped by max_backoff), never past the deadline. Writes are
// never retried: their outcome is unknown after a failure.
//
// CallWithResilienceAsync is the same policy for asynchronous attempts: each attempt reports its
// outcome through a callback (on any thread), the backoff is a timer (`schedule`), and `done`
// runs once with the final status. CallWithResilience runs it with synchronous attempts and a
// sleeping `schedule`, so both share one implementation.
//
// Thread-safety: thread-safe. Clock and sleep are injected for tests.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/sync/mutex.h"

namespace engram::api {

struct CircuitBreakerOptions {
  int failure_threshold = 5;
  absl::Duration open_duration = absl::Seconds(2);
};

class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };
  using Clock = std::function<absl::Time()>;
  CircuitBreaker(std::string name, CircuitBreakerOptions options,
                 Clock clock = [] { return absl::Now(); });

  // OK when a call may go ahead (in half-open, only the first caller gets OK).
  absl::Status Allow();
  // Reports the outcome of an allowed call.
  void Record(const absl::Status& outcome);
  State state() const;
  // The injected clock's time (CallWithResilience measures the deadline with it).
  absl::Time Now() const { return clock_(); }
  const std::string& name() const { return name_; }

 private:
  const std::string name_;
  const CircuitBreakerOptions options_;
  const Clock clock_;
  mutable sync::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kClosed;
  int consecutive_failures_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time opened_at_ ABSL_GUARDED_BY(mu_);
  bool probe_in_flight_ ABSL_GUARDED_BY(mu_) = false;
};

// Whether `status` means the dependency failed (as opposed to answering).
bool IsDependencyFailure(const absl::Status& status);

struct RetryOptions {
  int max_attempts = 3;  // including the first
  absl::Duration initial_backoff = absl::Milliseconds(20);
  absl::Duration max_backoff = absl::Milliseconds(500);
};

using SleepFn = std::function<void(absl::Duration)>;

// Runs `attempt` through `breaker`, retrying per the rules above. `attempt` receives the deadline
// of the attempt (the overall deadline).
absl::Status CallWithResilience(CircuitBreaker& breaker, const RetryOptions& retry,
                                absl::Time deadline, bool idempotent,
                                const std::function<absl::Status(absl::Time)>& attempt,
                                const SleepFn& sleep = [](absl::Duration d) { absl::SleepFor(d); });

using StatusDone = absl::AnyInvocable<void(absl::Status) &&>;
// One attempt: starts it with the deadline and calls `done` exactly once with its outcome.
using AsyncAttemptFn = std::function<void(absl::Time deadline, StatusDone done)>;
// Runs `fn` once `delay` has passed (e.g. grpcutil::RunOnQueue).
using ScheduleFn = std::function<void(absl::Duration delay, absl::AnyInvocable<void() &&> fn)>;

// The asynchronous form: `done` runs exactly once with the final status — inline when no attempt
// was started (deadline passed, circuit open), otherwise from the last attempt's callback. The
// breaker must outlive the call.
void CallWithResilienceAsync(CircuitBreaker& breaker, const RetryOptions& retry,
                             absl::Time deadline, bool idempotent, AsyncAttemptFn attempt,
                             ScheduleFn schedule, StatusDone done);

}  // namespace engram::api
