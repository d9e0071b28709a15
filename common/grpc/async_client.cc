#include "common/grpc/async_client.h"

#include "grpc/support/time.h"

namespace engram::grpcutil {
namespace {

class QueueTimer final : public CqTag {
 public:
  explicit QueueTimer(absl::AnyInvocable<void(bool) &&> fn) : fn_(std::move(fn)) {}
  void Set(grpc::CompletionQueue* cq, absl::Time when) {
    if (when <= absl::Now()) {
      alarm_.Set(cq, gpr_time_0(GPR_CLOCK_MONOTONIC), static_cast<CqTag*>(this));
    } else {
      alarm_.Set(cq, absl::ToChronoTime(when), static_cast<CqTag*>(this));
    }
  }
  void Proceed(bool ok) override {
    absl::AnyInvocable<void(bool) &&> fn = std::move(fn_);
    delete this;
    std::move(fn)(ok);
  }

 private:
  grpc::Alarm alarm_;
  absl::AnyInvocable<void(bool) &&> fn_;
};

}  // namespace

void RunOnQueue(grpc::CompletionQueue* cq, absl::Time when, absl::AnyInvocable<void(bool) &&> fn) {
  (new QueueTimer(std::move(fn)))->Set(cq, when);
}

LocalQueue::~LocalQueue() {
  cq_.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq_.Next(&tag, &ok)) static_cast<CqTag*>(tag)->Proceed(ok);
}

}  // namespace engram::grpcutil
