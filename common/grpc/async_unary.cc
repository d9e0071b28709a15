#include "common/grpc/async_unary.h"

#include "absl/strings/str_cat.h"
#include "grpc/support/time.h"

namespace engram::grpcutil {

void CqExecutor::Post(absl::AnyInvocable<void() &&> fn) {
  {
    sync::MutexLock lock(&mu_);
    pending_.push_back(std::move(fn));
    if (armed_) return;  // the queue's thread has not taken the last wake-up yet
    armed_ = true;
  }
  // A deadline in the past: the alarm's event goes onto the queue at once (from this thread).
  alarm_.Set(cq_, gpr_time_0(GPR_CLOCK_MONOTONIC), static_cast<CqTag*>(this));
}

void CqExecutor::Proceed(bool /*ok*/) {
  std::vector<absl::AnyInvocable<void() &&>> batch;
  {
    sync::MutexLock lock(&mu_);
    batch.swap(pending_);
    armed_ = false;  // the alarm has fired: it may be set again
  }
  for (auto& fn : batch) std::move(fn)();
}

void CqExecutor::DrainStreams() {
  // A stream may finish (and leave the set) while draining; drain a copy.
  const std::vector<DrainableCall*> streams(streams_.begin(), streams_.end());
  for (DrainableCall* call : streams) call->Drain();
}

void AsyncUnaryServer::BeginDrain() {
  std::vector<CqExecutor*> executors;
  {
    sync::MutexLock lock(&mu_);
    draining_ = true;
    for (const auto& executor : executors_) executors.push_back(executor.get());
  }
  for (CqExecutor* executor : executors) {
    executor->Post([executor] { executor->DrainStreams(); });
  }
}

bool AsyncUnaryServer::draining() {
  sync::MutexLock lock(&mu_);
  return draining_;
}

void AsyncUnaryServer::Arm(grpc::ServerCompletionQueue* cq) {
  CqExecutor* executor;
  {
    sync::MutexLock lock(&mu_);
    executors_.push_back(std::make_unique<CqExecutor>(cq));
    executor = executors_.back().get();
  }
  for (auto& arm : arms_) arm(cq, executor);
}

void AsyncUnaryServer::Quiesce() {
  sync::MutexLock lock(&mu_);
  quiescing_ = true;
  while (active_ > 0) idle_cv_.Wait(&mu_);
}

AsyncUnaryServer::Admission AsyncUnaryServer::CallArrived() {
  sync::MutexLock lock(&mu_);
  if (quiescing_) return Admission::kDrop;
  ++active_;
  if (max_calls_ > 0 && handling_ >= max_calls_) return Admission::kRefuse;
  ++handling_;
  return Admission::kHandle;
}

void AsyncUnaryServer::CallDone(bool handled) {
  sync::MutexLock lock(&mu_);
  if (handled) --handling_;
  if (--active_ == 0) idle_cv_.SignalAll();
}

grpc::Status AsyncUnaryServer::Busy() const {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      absl::StrCat("server busy: ", max_calls_,
                                   " calls in progress; retry with backoff"));
}

}  // namespace engram::grpcutil
