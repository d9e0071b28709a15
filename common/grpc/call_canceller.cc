#include "common/grpc/call_canceller.h"

#include <algorithm>

namespace engram::grpcutil {

CallCanceller::Tracked& CallCanceller::Tracked::operator=(Tracked&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = other.owner_;
    context_ = other.context_;
    other.owner_ = nullptr;
  }
  return *this;
}

void CallCanceller::Tracked::Release() {
  if (owner_ == nullptr) return;
  sync::MutexLock lock(&owner_->mu_);
  auto& contexts = owner_->contexts_;
  contexts.erase(std::find(contexts.begin(), contexts.end(), context_));
  owner_ = nullptr;
}

CallCanceller::Tracked CallCanceller::Track(grpc::ClientContext* context) {
  sync::MutexLock lock(&mu_);
  if (cancelled_) context->TryCancel();
  contexts_.push_back(context);
  return Tracked(this, context);
}

void CallCanceller::Cancel() {
  sync::MutexLock lock(&mu_);
  if (cancelled_) return;
  cancelled_ = true;
  for (grpc::ClientContext* context : contexts_) context->TryCancel();
}

bool CallCanceller::cancelled() const {
  sync::MutexLock lock(&mu_);
  return cancelled_;
}

}  // namespace engram::grpcutil
