#include "services/api/policy/resilience.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status/error_detail.h"

namespace engram::api {
namespace {

// A uniformly random duration in [0, cap] (full jitter).
absl::Duration Jitter(absl::Duration cap) {
  thread_local std::mt19937_64 random(std::random_device{}());
  const int64_t cap_ns = absl::ToInt64Nanoseconds(cap);
  if (cap_ns <= 0) return absl::ZeroDuration();
  return absl::Nanoseconds(std::uniform_int_distribution<int64_t>(0, cap_ns)(random));
}

// initial * 2^retry, capped by max_backoff (absl::Duration arithmetic saturates, no overflow).
absl::Duration BackoffCap(const RetryOptions& retry, int retry_index) {
  absl::Duration cap = retry.initial_backoff;
  for (int i = 0; i < retry_index && cap < retry.max_backoff; ++i) cap *= 2;
  return std::min(cap, retry.max_backoff);
}

}  // namespace

CircuitBreaker::CircuitBreaker(std::string name, CircuitBreakerOptions options, Clock clock)
    : name_(std::move(name)), options_(options), clock_(std::move(clock)) {}

absl::Status CircuitBreaker::Allow() {
  sync::MutexLock lock(&mu_);
  switch (state_) {
    case State::kClosed:
      return absl::OkStatus();
    case State::kOpen:
      if (clock_() - opened_at_ < options_.open_duration) break;
      state_ = State::kHalfOpen;
      probe_in_flight_ = true;
      opened_at_ = clock_();  // in half-open: when the probe started
      return absl::OkStatus();
    case State::kHalfOpen:
      // One probe at a time; a probe whose outcome never came back (its caller vanished without
      // Record) is replaced after another open_duration, so the breaker cannot stick half-open.
      if (probe_in_flight_ && clock_() - opened_at_ < options_.open_duration) break;
      probe_in_flight_ = true;
      opened_at_ = clock_();
      return absl::OkStatus();
  }
  return status::WithDetail(absl::UnavailableError(absl::StrCat(name_, " unavailable (circuit open)")),
                            status::DependencyDetail(name_));
}

void CircuitBreaker::Record(const absl::Status& outcome) {
  const bool failed = IsDependencyFailure(outcome);
  sync::MutexLock lock(&mu_);
  switch (state_) {
    case State::kClosed:
      if (!failed) {
        consecutive_failures_ = 0;
      } else if (++consecutive_failures_ >= std::max(1, options_.failure_threshold)) {
        state_ = State::kOpen;
        opened_at_ = clock_();
      }
      return;
    case State::kHalfOpen:
      probe_in_flight_ = false;
      consecutive_failures_ = 0;
      if (failed) {
        state_ = State::kOpen;
        opened_at_ = clock_();
      } else {
        state_ = State::kClosed;
      }
      return;
    case State::kOpen:
      // The outcome of a call let through before the circuit opened: the probe decides.
      return;
  }
}

CircuitBreaker::State CircuitBreaker::state() const {
  sync::MutexLock lock(&mu_);
  return state_;
}

bool IsDependencyFailure(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kInternal:
      return true;
    default:
      return false;
  }
}

namespace {

// One call's attempts. Deletes itself when it reports the final status.
class ResilientCall {
 public:
  ResilientCall(CircuitBreaker& breaker, const RetryOptions& retry, absl::Time deadline,
                bool idempotent, AsyncAttemptFn attempt, ScheduleFn schedule, StatusDone done)
      : breaker_(breaker),
        retry_(retry),
        deadline_(deadline),
        max_attempts_(idempotent ? std::max(1, retry.max_attempts) : 1),
        attempt_(std::move(attempt)),
        schedule_(std::move(schedule)),
        done_(std::move(done)) {}

  void Start(int attempt_index) {
    if (breaker_.Now() >= deadline_) {
      return Finish(absl::DeadlineExceededError(
          absl::StrCat("deadline exceeded before calling ", breaker_.name())));
    }
    if (absl::Status allowed = breaker_.Allow(); !allowed.ok()) return Finish(std::move(allowed));
    attempt_(deadline_, [this, attempt_index](absl::Status outcome) {
      breaker_.Record(outcome);
      if (outcome.ok() || outcome.code() != absl::StatusCode::kUnavailable ||
          attempt_index + 1 >= max_attempts_) {
        return Finish(std::move(outcome));
      }
      const absl::Duration backoff = Jitter(BackoffCap(retry_, attempt_index));
      // A retry that could only start at or after the deadline is pointless: answer now.
      if (breaker_.Now() + backoff >= deadline_) return Finish(std::move(outcome));
      schedule_(backoff, [this, attempt_index] { Start(attempt_index + 1); });
    });
  }

 private:
  void Finish(absl::Status status) {
    StatusDone done = std::move(done_);
    delete this;
    std::move(done)(std::move(status));
  }

  CircuitBreaker& breaker_;
  const RetryOptions retry_;
  const absl::Time deadline_;
  const int max_attempts_;
  const AsyncAttemptFn attempt_;
  const ScheduleFn schedule_;
  StatusDone done_;
};

}  // namespace

void CallWithResilienceAsync(CircuitBreaker& breaker, const RetryOptions& retry,
                             absl::Time deadline, bool idempotent, AsyncAttemptFn attempt,
                             ScheduleFn schedule, StatusDone done) {
  (new ResilientCall(breaker, retry, deadline, idempotent, std::move(attempt), std::move(schedule),
                     std::move(done)))
      ->Start(0);
}

absl::Status CallWithResilience(CircuitBreaker& breaker, const RetryOptions& retry,
                                absl::Time deadline, bool idempotent,
                                const std::function<absl::Status(absl::Time)>& attempt,
                                const SleepFn& sleep) {
  // Attempts and backoffs run inline, so every callback below has run when this returns.
  absl::Status result;
  CallWithResilienceAsync(
      breaker, retry, deadline, idempotent,
      [&attempt](absl::Time attempt_deadline, StatusDone done) {
        std::move(done)(attempt(attempt_deadline));
      },
      [&sleep](absl::Duration delay, absl::AnyInvocable<void() &&> fn) {
        sleep(delay);
        std::move(fn)();
      },
      [&result](absl::Status s) { result = std::move(s); });
  return result;
}

}  // namespace engram::api
