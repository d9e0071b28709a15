#include "storage-server/engine/job_queue.h"

#include <pthread.h>

namespace engram::storage {

void NameThisThread(const char* name) { pthread_setname_np(pthread_self(), name); }

JobQueue::JobQueue(const char* thread_name) : thread_(NamedThread(thread_name, [this] { Loop(); })) {}

JobQueue::~JobQueue() {
  {
    sync::MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  thread_.join();
}

void JobQueue::Post(std::function<void()> job) {
  {
    sync::MutexLock lock(&mu_);
    jobs_.push_back(std::move(job));
    ++posted_;
  }
  cv_.SignalAll();
}

void JobQueue::Drain() {
  sync::MutexLock lock(&mu_);
  const uint64_t target = posted_;
  while (done_ < target) cv_.Wait(&mu_);
}

void JobQueue::Loop() {
  sync::MutexLock lock(&mu_);
  while (true) {
    while (jobs_.empty() && !stop_) cv_.Wait(&mu_);
    if (jobs_.empty()) return;  // stopping, and everything posted ran
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.Unlock();
    job();
    lock.Lock();
    ++done_;
    cv_.SignalAll();
  }
}

}  // namespace engram::storage
