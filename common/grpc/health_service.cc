#include "common/grpc/health_service.h"

#include <chrono>

namespace engram::grpcutil {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

namespace {
// A sync server cannot be told that a client cancelled a Watch; it looks this often.
constexpr auto kCancelCheckInterval = std::chrono::milliseconds(500);
}  // namespace

HealthService::~HealthService() {
  // The server (which owns the calls) must be shut down before the service is destroyed; by then
  // every Watch has returned. Wait for stragglers rather than leave them with a dangling `this`.
  std::unique_lock lock(mu_);
  shut_down_ = true;
  changed_.notify_all();
  watchers_gone_.wait(lock, [this] { return watchers_ == 0; });
}

void HealthService::SetStatus(const std::string& service, ServingStatus status) {
  std::lock_guard lock(mu_);
  if (shut_down_) return;
  statuses_[service] = status;
  changed_.notify_all();
}

HealthService::ServingStatus HealthService::StatusLocked(const std::string& service) const {
  auto it = statuses_.find(service);
  return it == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN : it->second;
}

HealthService::ServingStatus HealthService::GetStatus(const std::string& service) const {
  std::lock_guard lock(mu_);
  return StatusLocked(service);
}

void HealthService::Shutdown() {
  std::lock_guard lock(mu_);
  if (shut_down_) return;
  shut_down_ = true;
  for (auto& [unused, status] : statuses_) status = HealthCheckResponse::NOT_SERVING;
  changed_.notify_all();
}

grpc::Status HealthService::Check(grpc::ServerContext* /*context*/, const HealthCheckRequest* request,
                                  HealthCheckResponse* response) {
  const ServingStatus status = GetStatus(request->service());
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service");
  }
  response->set_status(status);
  return grpc::Status::OK;
}

grpc::Status HealthService::Watch(grpc::ServerContext* context, const HealthCheckRequest* request,
                                  grpc::ServerWriter<HealthCheckResponse>* writer) {
  std::unique_lock lock(mu_);
  ++watchers_;
  grpc::Status result;
  bool sent = false;
  ServingStatus last = HealthCheckResponse::UNKNOWN;
  while (true) {
    const ServingStatus now = StatusLocked(request->service());
    if (!sent || now != last) {
      HealthCheckResponse response;
      response.set_status(now);
      lock.unlock();  // never hold the lock across a write to the network
      const bool ok = writer->Write(response);
      lock.lock();
      if (!ok) {
        result = grpc::Status::CANCELLED;  // the client is gone
        break;
      }
      sent = true;
      last = now;
      continue;  // the status may have changed while writing
    }
    if (shut_down_) {
      result = grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down");
      break;
    }
    if (context->IsCancelled()) {
      result = grpc::Status::CANCELLED;
      break;
    }
    changed_.wait_for(lock, kCancelCheckInterval);
  }
  if (--watchers_ == 0) watchers_gone_.notify_all();
  return result;
}

}  // namespace engram::grpcutil
