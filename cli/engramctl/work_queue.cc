#include "cli/engramctl/work_queue.h"

#include <algorithm>

namespace engram::cli {

WorkQueue::WorkQueue(int threads, size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {
  threads = std::max(threads, 1);
  workers_.reserve(threads);
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
}

WorkQueue::~WorkQueue() {
  Wait();
  {
    sync::MutexLock lock(&mu_);
    stopping_ = true;
  }
  changed_.SignalAll();
  for (std::thread& worker : workers_) worker.join();
}

void WorkQueue::Submit(std::function<void()> task) {
  sync::MutexLock lock(&mu_);
  while (queue_.size() >= capacity_) changed_.Wait(&mu_);
  queue_.push_back(std::move(task));
  changed_.SignalAll();
}

void WorkQueue::Wait() {
  sync::MutexLock lock(&mu_);
  while (!queue_.empty() || running_ != 0) changed_.Wait(&mu_);
}

void WorkQueue::Work() {
  sync::MutexLock lock(&mu_);
  while (true) {
    while (!stopping_ && queue_.empty()) changed_.Wait(&mu_);
    if (queue_.empty()) return;  // stopping
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    changed_.SignalAll();  // a slot is free for Submit
    lock.Unlock();
    task();
    lock.Lock();
    --running_;
    changed_.SignalAll();  // for Wait
  }
}

bool IsRetryable(const absl::Status& status) {
  return status.code() == absl::StatusCode::kResourceExhausted ||
         status.code() == absl::StatusCode::kUnavailable;
}

absl::Status CallWithRetry(const std::function<absl::Status()>& call, const RetryPolicy& policy,
                           const std::function<void(absl::Duration)>& sleep) {
  absl::Duration backoff = policy.initial_backoff;
  absl::Status status;
  for (int attempt = 1;; ++attempt) {
    status = call();
    if (status.ok() || !IsRetryable(status) || attempt >= policy.max_attempts) return status;
    sleep(backoff);
    backoff = std::min(backoff * 2, policy.max_backoff);
  }
}

}  // namespace engram::cli
