#include "common/grpc/health_service.h"

#include <utility>

namespace engram::grpcutil {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// One open Watch call. Deletes itself in OnDone(), after deregistering from the service.
//
// State changes happen under mu_; the gRPC operations they decide on (StartWrite, Finish) run
// after mu_ is released, so that OnDone (and the delete) can never race with a held lock.
class HealthService::WatchReactor final : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  WatchReactor(HealthService* service, std::string watched)
      : service_(service), watched_(std::move(watched)) {}

  const std::string& watched() const { return watched_; }

  // Queues `status` for sending; only the latest unsent status matters.
  void Send(ServingStatus status) {
    Action action;
    {
      std::lock_guard lock(mu_);
      if (finished_ || finish_requested_) return;
      latest_ = status;
      has_latest_ = true;
      action = NextActionLocked();
    }
    Run(std::move(action));
  }

  // Sends whatever is queued, then ends the stream with `status`.
  void FinishAfterPending(grpc::Status status) {
    Action action;
    {
      std::lock_guard lock(mu_);
      if (finished_ || finish_requested_) return;
      finish_requested_ = true;
      finish_status_ = std::move(status);
      action = NextActionLocked();
    }
    Run(std::move(action));
  }

  void OnWriteDone(bool ok) override {
    Action action;
    {
      std::lock_guard lock(mu_);
      write_in_flight_ = false;
      if (!ok) cancelled_ = true;  // The call is broken (cancelled, client gone).
      action = NextActionLocked();
    }
    Run(std::move(action));
  }

  void OnCancel() override {
    Action action;
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
      action = NextActionLocked();
    }
    Run(std::move(action));
  }

  void OnDone() override {
    // gRPC runs OnDone after every other reaction; taking the lock once more also makes that
    // ordering visible to ThreadSanitizer, which cannot see gRPC's own synchronization.
    { std::lock_guard lock(mu_); }
    service_->RemoveWatcher(this);
    delete this;
  }

 private:
  struct Action {
    enum Kind { kNone, kWrite, kFinish } kind = kNone;
    grpc::Status status;
  };

  Action NextActionLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (write_in_flight_ || finished_) return {};
    if (cancelled_) {
      finished_ = true;
      return {Action::kFinish, grpc::Status::CANCELLED};
    }
    if (has_latest_ && (!has_sent_ || latest_ != sent_)) {
      response_.set_status(latest_);
      sent_ = latest_;
      has_sent_ = true;
      write_in_flight_ = true;
      return {Action::kWrite, {}};
    }
    if (finish_requested_) {
      finished_ = true;
      return {Action::kFinish, finish_status_};
    }
    return {};
  }

  // `response_` is only modified while no write is in flight, so it is safe to read here.
  void Run(Action action) {
    if (action.kind == Action::kWrite) StartWrite(&response_);
    if (action.kind == Action::kFinish) Finish(std::move(action.status));
  }

  HealthService* const service_;
  const std::string watched_;

  std::mutex mu_;
  HealthCheckResponse response_;
  ServingStatus latest_ ABSL_GUARDED_BY(mu_) = HealthCheckResponse::UNKNOWN;
  ServingStatus sent_ ABSL_GUARDED_BY(mu_) = HealthCheckResponse::UNKNOWN;
  bool has_latest_ ABSL_GUARDED_BY(mu_) = false;
  bool has_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

HealthService::~HealthService() {
  // The server (which owns the calls) must be shut down before the service is destroyed; by then
  // every watcher has run OnDone. Wait for stragglers rather than leave dangling pointers.
  std::unique_lock lock(mu_);
  watchers_gone_.wait(lock, [this] { return watchers_.empty(); });
}

void HealthService::SetStatus(const std::string& service, ServingStatus status) {
  std::lock_guard lock(mu_);
  if (shut_down_) return;
  statuses_[service] = status;
  for (WatchReactor* watcher : watchers_) {
    if (watcher->watched() == service) watcher->Send(status);
  }
}

HealthService::ServingStatus HealthService::GetStatus(const std::string& service) const {
  std::lock_guard lock(mu_);
  auto it = statuses_.find(service);
  return it == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN : it->second;
}

void HealthService::Shutdown() {
  std::lock_guard lock(mu_);
  if (shut_down_) return;
  shut_down_ = true;
  for (auto& [unused, status] : statuses_) status = HealthCheckResponse::NOT_SERVING;
  for (WatchReactor* watcher : watchers_) {
    watcher->Send(HealthCheckResponse::NOT_SERVING);
    watcher->FinishAfterPending(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
  }
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* context,
                                               const HealthCheckRequest* request,
                                               HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const ServingStatus status = GetStatus(request->service());
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service"));
  } else {
    response->set_status(status);
    reactor->Finish(grpc::Status::OK);
  }
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext* context, const HealthCheckRequest* request) {
  auto* watcher = new WatchReactor(this, request->service());
  std::lock_guard lock(mu_);
  watchers_.insert(watcher);
  auto it = statuses_.find(request->service());
  watcher->Send(it == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN : it->second);
  if (shut_down_) {
    watcher->FinishAfterPending(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
  }
  return watcher;
}

void HealthService::RemoveWatcher(WatchReactor* watcher) {
  std::lock_guard lock(mu_);
  watchers_.erase(watcher);
  watchers_gone_.notify_all();
}

}  // namespace engram::grpcutil
