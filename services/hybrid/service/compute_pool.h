// ComputePool: a fixed set of worker threads with a bounded queue, for engram-hybrid's CPU work
// (embedding, relation extraction, reasoning), so that it does not run on gRPC's threads and a
// full pool answers RESOURCE_EXHAUSTED instead of queueing without bound.
//
//   ComputePool pool(/*threads=*/4, /*queue_capacity=*/256);
//   absl::StatusOr<Vectors> v = pool.Run<Vectors>([&] { return embedder.EmbedBatch(texts); }, deadline);
//
// Admission: a task is accepted when a worker is idle or fewer than queue_capacity tasks wait;
// so with queue_capacity 0 the pool holds exactly `threads` tasks and refuses the next one.
// Accounting is exact (under one mutex), not timing-dependent: with 1 thread and queue 0, a
// second Submit while the first task runs is always refused.
//
// Run waits for the result, and returns only after the worker that ran it counts itself idle
// again: a caller that issues Runs one after another never sees its own previous task occupy the
// pool (with 1 thread and queue 0, sequential Runs always succeed). If the deadline passes while the work is still queued, the work is
// dropped and Run returns DEADLINE_EXCEEDED; once the work has started Run waits for it to
// finish (so `fn` may safely refer to the caller's data). Work that must stop at the deadline
// checks it itself (HybridCore's storage calls all carry it).
//
// Nesting: Run called from one of this pool's own workers runs `fn` inline on that worker
// instead of queueing it. A task that waited for another task of the same pool could otherwise
// deadlock a pool whose workers are all busy waiting (1 thread: always). Tasks must not wait for
// work of this pool by other means (Submit + wait) for the same reason.
//
// Thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/sync/mutex.h"

namespace engram::hybrid {

class ComputePool {
 public:
  // threads >= 1 (clamped). queue_capacity: tasks that may wait for a busy worker (0 allowed).
  ComputePool(int threads, size_t queue_capacity);
  // Stops the workers after the work already started; queued work is dropped (its Run callers
  // get CANCELLED).
  ~ComputePool();
  ComputePool(const ComputePool&) = delete;
  ComputePool& operator=(const ComputePool&) = delete;

  // Enqueues `task`: RESOURCE_EXHAUSTED when no worker is idle and queue_capacity tasks are
  // already waiting; CANCELLED once the pool is stopping.
  // `task(true)` runs it; `task(false)` tells it that it was dropped. `done` (may be empty)
  // runs after that, once the worker counts itself idle again (as Run's caller sees it).
  absl::Status Submit(std::function<void(bool run)> task, std::function<void()> done = nullptr);

  template <typename T>
  absl::StatusOr<T> Run(std::function<absl::StatusOr<T>()> fn, absl::Time deadline);

  // True on one of this pool's worker threads.
  bool OnWorkerThread() const;

  size_t queued() const;  // accepted, not yet started
  size_t busy() const;    // running now
  int threads() const { return static_cast<int>(workers_.size()); }
  size_t queue_capacity() const { return capacity_; }

 private:
  struct Task {
    std::function<void(bool)> run;
    std::function<void()> done;  // after the worker is counted idle again; may be empty
  };
  absl::Status SubmitTask(Task task);
  void Work();

  const size_t capacity_;
  mutable sync::Mutex mu_;
  sync::CondVar cv_;  // a task was queued, or stopping_
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;  // workers waiting for a task
  size_t busy_ ABSL_GUARDED_BY(mu_) = 0;  // workers running a task
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

template <typename T>
absl::StatusOr<T> ComputePool::Run(std::function<absl::StatusOr<T>()> fn, absl::Time deadline) {
  if (OnWorkerThread()) return fn();
  struct State {
    sync::Mutex mu;
    sync::CondVar cv;  // done
    bool started ABSL_GUARDED_BY(mu) = false;
    bool done ABSL_GUARDED_BY(mu) = false;
    bool abandoned ABSL_GUARDED_BY(mu) = false;
    absl::StatusOr<T> result ABSL_GUARDED_BY(mu) = absl::CancelledError("compute pool stopped");
  };
  auto state = std::make_shared<State>();
  auto finish = [state] {
    sync::MutexLock lock(&state->mu);
    state->done = true;
    state->cv.SignalAll();
  };
  absl::Status submitted = SubmitTask(
      {.run =
           [state, fn = std::move(fn)](bool run) {
             {
               sync::MutexLock lock(&state->mu);
               if (state->abandoned || !run) return;
               state->started = true;
             }
             absl::StatusOr<T> result = fn();
             sync::MutexLock lock(&state->mu);
             state->result = std::move(result);
           },
       .done = finish});
  if (!submitted.ok()) return submitted;
  sync::MutexLock lock(&state->mu);
  const auto chrono_deadline = absl::ToChronoTime(deadline);
  while (!state->done) {
    if (deadline == absl::InfiniteFuture() || state->started) {
      state->cv.Wait(&state->mu);
    } else if (state->cv.WaitUntil(&state->mu, chrono_deadline) == std::cv_status::timeout && !state->done &&
               !state->started) {
      state->abandoned = true;
      return absl::DeadlineExceededError("deadline exceeded while waiting for a compute thread");
    }
  }
  return std::move(state->result);
}

}  // namespace engram::hybrid
