// JobQueue: one named background thread that runs posted jobs one at a time, in the order posted,
// while the poster does other work. The engine uses one for each group's fdatasync, one for the
// keyword-index updates of the group being applied, and one for the derived-state files.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "common/sync/mutex.h"

namespace engram::storage {

// Names the calling thread for `top -H`, perf and gdb (at most 15 characters; the kernel ignores
// longer names).
void NameThisThread(const char* name);

// A thread that names itself `name`, then runs `fn`.
template <typename Fn>
std::thread NamedThread(const char* name, Fn fn) {
  return std::thread([name, fn = std::move(fn)]() mutable {
    NameThisThread(name);
    fn();
  });
}

class JobQueue {
 public:
  explicit JobQueue(const char* thread_name);
  // Runs what is queued, then joins.
  ~JobQueue();
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  // Everything the poster wrote before Post() is visible to the job, and everything the job
  // wrote is visible to the poster after the Drain() that waited for it.
  void Post(std::function<void()> job);
  // Blocks until every job posted before the call has run.
  void Drain();

 private:
  void Loop();
  sync::Mutex mu_;
  sync::CondVar cv_;
  std::deque<std::function<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  uint64_t posted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t done_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace engram::storage
