// WorkQueue and CallWithRetry: the concurrency behind bulk imports.
//
//   WorkQueue queue(/*threads=*/4, /*capacity=*/4);
//   for (...) queue.Submit([=] { client.Call(...); });   // blocks while `capacity` tasks wait
//   queue.Wait();                                          // every submitted task has finished
//
// A fixed set of worker threads runs the tasks in submission order; Submit blocks while the
// queue is full, so a fast reader never buffers a whole file ahead of slow RPCs (memory stays
// bounded by threads + capacity tasks). Tasks must not throw. Thread-safe; the destructor waits
// for every submitted task.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/sync/mutex.h"

namespace engram::cli {

class WorkQueue {
 public:
  WorkQueue(int threads, size_t capacity);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Submit(std::function<void()> task);
  // Returns when every task submitted so far has finished.
  void Wait();

 private:
  void Work();

  const size_t capacity_;
  sync::Mutex mu_;
  sync::CondVar changed_;  // queue_, running_ or stopping_ changed
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

// Retries of idempotent calls refused for load (RESOURCE_EXHAUSTED) or by an unreachable server
// (UNAVAILABLE): exponential backoff from `initial_backoff`, doubling up to `max_backoff`.
struct RetryPolicy {
  int max_attempts = 6;  // >= 1; 1 means no retry
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(5);
};

bool IsRetryable(const absl::Status& status);

// Runs `call` until it succeeds, fails with a non-retryable code or runs out of attempts; returns
// the last status. `sleep` waits between attempts (injected so tests do not wait).
absl::Status CallWithRetry(const std::function<absl::Status()>& call, const RetryPolicy& policy,
                           const std::function<void(absl::Duration)>& sleep);

}  // namespace engram::cli
