// CallCanceller: cancels the downstream gRPC calls of one request when its caller goes away.
//
//   auto canceller = std::make_shared<grpcutil::CallCanceller>();
//   // On the thread making a call:
//   grpc::ClientContext context;
//   grpcutil::CallCanceller::Tracked tracked = canceller->Track(&context);
//   stub->Neighbors(&context, request, &response);   // CANCELLED once Cancel() runs
//   // On the thread that learns the client has gone (e.g. polling ServerContext::IsCancelled):
//   canceller->Cancel();
//
// Cancel() calls TryCancel() on every context tracked at that moment, and Track() cancels a
// context at once when Cancel() already ran, so no call of the request outlives the cancellation
// by more than gRPC's own unwinding. Work between calls asks cancelled().
//
// Thread-safe. A Tracked must be destroyed before its context (declare it after the context).
#pragma once

#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/sync/mutex.h"
#include "grpcpp/client_context.h"

namespace engram::grpcutil {

class CallCanceller {
 public:
  CallCanceller() = default;
  CallCanceller(const CallCanceller&) = delete;
  CallCanceller& operator=(const CallCanceller&) = delete;

  // Keeps one context tracked while alive; movable.
  class Tracked {
   public:
    Tracked() = default;
    Tracked(Tracked&& other) noexcept : owner_(other.owner_), context_(other.context_) {
      other.owner_ = nullptr;
    }
    Tracked& operator=(Tracked&& other) noexcept;
    Tracked(const Tracked&) = delete;
    Tracked& operator=(const Tracked&) = delete;
    ~Tracked() { Release(); }

   private:
    friend class CallCanceller;
    Tracked(CallCanceller* owner, grpc::ClientContext* context) : owner_(owner), context_(context) {}
    void Release();
    CallCanceller* owner_ = nullptr;
    grpc::ClientContext* context_ = nullptr;
  };

  [[nodiscard]] Tracked Track(grpc::ClientContext* context);
  void Cancel();
  bool cancelled() const;

 private:
  mutable sync::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<grpc::ClientContext*> contexts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace engram::grpcutil
