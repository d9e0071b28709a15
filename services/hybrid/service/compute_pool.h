// ComputePool: a fixed set of worker threads with a bounded queue, for engram-hybrid's CPU work
// (embedding), so that it does not run on gRPC's threads and a full pool answers
// RESOURCE_EXHAUSTED instead of queueing without bound.
//
//   ComputePool pool(/*threads=*/4, /*queue_capacity=*/256);
//   absl::StatusOr<Vectors> v = pool.Run<Vectors>([&] { return embedder.EmbedBatch(texts); }, deadline);
//
// Run waits for the result. If the deadline passes while the work is still queued, the work is
// dropped and Run returns DEADLINE_EXCEEDED; once the work has started Run waits for it to
// finish (so `fn` may safely refer to the caller's data). Thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace engram::hybrid {

class ComputePool {
 public:
  // threads >= 1 and queue_capacity >= 1 (clamped). The queue holds work not yet started.
  ComputePool(int threads, size_t queue_capacity);
  // Stops the workers after the work already started; queued work is dropped (its Run callers
  // get CANCELLED).
  ~ComputePool();
  ComputePool(const ComputePool&) = delete;
  ComputePool& operator=(const ComputePool&) = delete;

  // Enqueues `task`: RESOURCE_EXHAUSTED when queue_capacity tasks are already waiting.
  // `task(true)` runs it; `task(false)` tells it that it was dropped.
  absl::Status Submit(std::function<void(bool run)> task);

  template <typename T>
  absl::StatusOr<T> Run(std::function<absl::StatusOr<T>()> fn, absl::Time deadline);

  size_t queued() const;
  int threads() const { return static_cast<int>(workers_.size()); }
  size_t queue_capacity() const { return capacity_; }

 private:
  void Work();

  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void(bool)>> queue_;  // guarded by mu_
  bool stopping_ = false;                        // guarded by mu_
  std::vector<std::thread> workers_;
};

template <typename T>
absl::StatusOr<T> ComputePool::Run(std::function<absl::StatusOr<T>()> fn, absl::Time deadline) {
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool started = false, done = false, abandoned = false;
    absl::StatusOr<T> result = absl::CancelledError("compute pool stopped");
  };
  auto state = std::make_shared<State>();
  absl::Status submitted = Submit([state, fn = std::move(fn)](bool run) {
    {
      std::lock_guard<std::mutex> lock(state->mu);
      if (state->abandoned || !run) {
        state->done = true;
        state->cv.notify_all();
        return;
      }
      state->started = true;
    }
    absl::StatusOr<T> result = fn();
    std::lock_guard<std::mutex> lock(state->mu);
    state->result = std::move(result);
    state->done = true;
    state->cv.notify_all();
  });
  if (!submitted.ok()) return submitted;
  std::unique_lock<std::mutex> lock(state->mu);
  const auto chrono_deadline = absl::ToChronoTime(deadline);
  while (!state->done) {
    if (deadline == absl::InfiniteFuture() || state->started) {
      state->cv.wait(lock);
    } else if (state->cv.wait_until(lock, chrono_deadline) == std::cv_status::timeout && !state->done &&
               !state->started) {
      state->abandoned = true;
      return absl::DeadlineExceededError("deadline exceeded while waiting for a compute thread");
    }
  }
  return std::move(state->result);
}

}  // namespace engram::hybrid
