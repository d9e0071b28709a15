#include "services/hybrid/service/compute_pool.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace engram::hybrid {

ComputePool::ComputePool(int threads, size_t queue_capacity) : capacity_(std::max<size_t>(1, queue_capacity)) {
  threads = std::max(1, threads);
  workers_.reserve(threads);
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
}

ComputePool::~ComputePool() {
  std::deque<std::function<void(bool)>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  cv_.notify_all();
  for (auto& task : dropped) task(false);
  for (auto& w : workers_) w.join();
}

absl::Status ComputePool::Submit(std::function<void(bool)> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::CancelledError("compute pool stopped");
    if (queue_.size() >= capacity_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("compute pool full (", workers_.size(), " threads, ", capacity_,
                       " queued); retry with backoff"));
    }
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return absl::OkStatus();
}

size_t ComputePool::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void ComputePool::Work() {
  for (;;) {
    std::function<void(bool)> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task(true);
  }
}

}  // namespace engram::hybrid
