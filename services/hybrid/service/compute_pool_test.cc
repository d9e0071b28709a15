#include "services/hybrid/service/compute_pool.h"

#include <gtest/gtest.h>

#include <future>

namespace engram::hybrid {
namespace {

TEST(ComputePoolTest, RunsWorkAndReturnsItsResult) {
  ComputePool pool(2, 4);
  auto r = pool.Run<int>([] { return absl::StatusOr<int>(42); }, absl::InfiniteFuture());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 42);
  auto e = pool.Run<int>([] { return absl::StatusOr<int>(absl::InvalidArgumentError("x")); },
                         absl::InfiniteFuture());
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ComputePoolTest, FullQueueIsResourceExhausted) {
  ComputePool pool(1, 1);
  std::promise<void> started, release;
  std::shared_future<void> release_f = release.get_future().share();
  ASSERT_TRUE(pool.Submit([&started, release_f](bool) {
                    started.set_value();
                    release_f.wait();
                  }).ok());
  started.get_future().wait();                       // the only worker is busy
  ASSERT_TRUE(pool.Submit([](bool) {}).ok());        // fills the queue
  absl::Status full = pool.Submit([](bool) {});
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  auto run = pool.Run<int>([] { return absl::StatusOr<int>(1); }, absl::InfiniteFuture());
  EXPECT_EQ(run.status().code(), absl::StatusCode::kResourceExhausted);
  release.set_value();
}

TEST(ComputePoolTest, QueuedWorkPastItsDeadlineIsDropped) {
  ComputePool pool(1, 4);
  std::promise<void> started, release;
  std::shared_future<void> release_f = release.get_future().share();
  ASSERT_TRUE(pool.Submit([&started, release_f](bool) {
                    started.set_value();
                    release_f.wait();
                  }).ok());
  started.get_future().wait();
  bool ran = false;
  // Already past its deadline: never waits, never runs.
  auto r = pool.Run<int>([&ran] { ran = true; return absl::StatusOr<int>(1); }, absl::Now() - absl::Seconds(1));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  release.set_value();
  // Runs after the dropped task has been skipped.
  auto next = pool.Run<int>([] { return absl::StatusOr<int>(2); }, absl::InfiniteFuture());
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(ran);
}

// A Run returns only after its worker is idle again, so one caller's back-to-back Runs never
// find the pool full because of its own previous task (1 thread, no queue).
TEST(ComputePoolTest, SequentialRunsNeverSeeTheirOwnPreviousTask) {
  ComputePool pool(1, 0);
  for (int i = 0; i < 2000; ++i) {
    auto r = pool.Run<int>([i] { return absl::StatusOr<int>(i); }, absl::InfiniteFuture());
    ASSERT_TRUE(r.ok()) << "run " << i << ": " << r.status();
    ASSERT_EQ(pool.busy(), 0u);
  }
}

TEST(ComputePoolTest, QueueZeroAdmitsOnePerIdleThread) {
  ComputePool pool(2, 0);
  std::promise<void> release;
  std::shared_future<void> release_f = release.get_future().share();
  std::promise<void> a_started, b_started;
  ASSERT_TRUE(pool.Submit([&a_started, release_f](bool) { a_started.set_value(); release_f.wait(); }).ok());
  ASSERT_TRUE(pool.Submit([&b_started, release_f](bool) { b_started.set_value(); release_f.wait(); }).ok());
  EXPECT_EQ(pool.Submit([](bool) {}).code(), absl::StatusCode::kResourceExhausted);
  a_started.get_future().wait();
  b_started.get_future().wait();
  EXPECT_EQ(pool.busy(), 2u);
  EXPECT_EQ(pool.queued(), 0u);
  release.set_value();
}

}  // namespace
}  // namespace engram::hybrid
