#include "services/hybrid/service/compute_pool.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace engram::hybrid {

namespace {
// The pool whose worker this thread is (null elsewhere).
thread_local const ComputePool* current_pool = nullptr;
}  // namespace

ComputePool::ComputePool(int threads, size_t queue_capacity) : capacity_(queue_capacity) {
  threads = std::max(1, threads);
  idle_ = static_cast<size_t>(threads);  // counted from the start, so admission never races startup
  workers_.reserve(threads);
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
}

ComputePool::~ComputePool() {
  std::deque<Task> dropped;
  {
    sync::MutexLock lock(&mu_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  cv_.SignalAll();
  for (auto& task : dropped) {
    task.run(false);
    if (task.done) task.done();
  }
  for (auto& w : workers_) w.join();
}

absl::Status ComputePool::Submit(std::function<void(bool)> task, std::function<void()> done) {
  return SubmitTask({.run = std::move(task), .done = std::move(done)});
}

absl::Status ComputePool::SubmitTask(Task task) {
  {
    sync::MutexLock lock(&mu_);
    if (stopping_) return absl::CancelledError("compute pool stopped");
    // Tasks already queued take the idle workers first.
    if (queue_.size() >= capacity_ + idle_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("compute pool full (", workers_.size(), " threads busy, ", capacity_,
                       " queued); retry with backoff"));
    }
    queue_.push_back(std::move(task));
  }
  cv_.Signal();
  return absl::OkStatus();
}

bool ComputePool::OnWorkerThread() const { return current_pool == this; }

size_t ComputePool::queued() const {
  sync::MutexLock lock(&mu_);
  // Tasks an idle worker is about to take are not waiting for capacity.
  return queue_.size() > idle_ ? queue_.size() - idle_ : 0;
}

size_t ComputePool::busy() const {
  sync::MutexLock lock(&mu_);
  return busy_;
}

void ComputePool::Work() {
  current_pool = this;
  sync::MutexLock lock(&mu_);
  for (;;) {
    while (!stopping_ && queue_.empty()) cv_.Wait(&mu_);
    if (queue_.empty()) return;  // stopping
    Task task = std::move(queue_.front());
    queue_.pop_front();
    --idle_;
    ++busy_;
    lock.Unlock();
    task.run(true);
    lock.Lock();
    --busy_;
    ++idle_;
    if (task.done) {
      lock.Unlock();
      task.done();
      lock.Lock();
    }
  }
}

}  // namespace engram::hybrid
