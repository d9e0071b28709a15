#include "common/sync/mutex.h"

#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace engram::sync {
namespace {

class Counter {
 public:
  void Add(int n) {
    MutexLock lock(&mu_);
    total_ += n;
    changed_.SignalAll();
  }
  int WaitForAtLeast(int at_least) {
    MutexLock lock(&mu_);
    while (total_ < at_least) changed_.Wait(&mu_);
    return total_;
  }
  bool WaitBriefly(int at_least) {
    MutexLock lock(&mu_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
    while (total_ < at_least) {
      if (changed_.WaitUntil(&mu_, deadline) == std::cv_status::timeout) return total_ >= at_least;
    }
    return true;
  }

 private:
  Mutex mu_;
  CondVar changed_;
  int total_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(MutexTest, CondVarWakesWaiters) {
  Counter counter;
  std::vector<std::thread> adders;
  for (int i = 0; i < 4; ++i) {
    adders.emplace_back([&] {
      for (int j = 0; j < 1000; ++j) counter.Add(1);
    });
  }
  EXPECT_GE(counter.WaitForAtLeast(4000), 4000);
  for (auto& t : adders) t.join();
}

TEST(MutexTest, TimedWaitTimesOut) {
  Counter counter;
  EXPECT_FALSE(counter.WaitBriefly(1));
  counter.Add(1);
  EXPECT_TRUE(counter.WaitBriefly(1));
}

struct Guarded {
  Mutex mu;
  int value ABSL_GUARDED_BY(mu) = 0;
};

TEST(MutexTest, MutexLockReleasesAndRetakes) {
  Guarded g;
  MutexLock lock(&g.mu);
  g.value = 1;
  lock.Unlock();
  std::thread other([&] {
    MutexLock inner(&g.mu);
    g.value = 2;
  });
  other.join();
  lock.Lock();
  EXPECT_EQ(g.value, 2);
}

struct SharedGuarded {
  SharedMutex mu;
  int value ABSL_GUARDED_BY(mu) = 0;
};

TEST(MutexTest, ReadersShareWritersExclude) {
  SharedGuarded g;
  {
    ReaderMutexLock a(&g.mu);
    int seen = -1;
    std::thread other([&] {
      ReaderMutexLock b(&g.mu);  // a second reader while the first holds it
      seen = g.value;
    });
    other.join();
    EXPECT_EQ(seen, 0);
  }
  {
    WriterMutexLock w(&g.mu);
    g.value = 1;
  }
  ReaderMutexLock r(&g.mu);
  EXPECT_EQ(g.value, 1);
}

}  // namespace
}  // namespace engram::sync
