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
  sync::MutexLock lock(&mu_);
  shut_down_ = true;
  changed_.SignalAll();
  while (watchers_ != 0) watchers_gone_.Wait(&mu_);
}

void HealthService::SetStatus(const std::string& service, ServingStatus status) {
  sync::MutexLock lock(&mu_);
  if (shut_down_) return;
  statuses_[service] = status;
  changed_.SignalAll();
}

HealthService::ServingStatus HealthService::StatusLocked(const std::string& service) const {
  auto it = statuses_.find(service);
  return it == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN : it->second;
}

HealthService::ServingStatus HealthService::GetStatus(const std::string& service) const {
  sync::MutexLock lock(&mu_);
  return StatusLocked(service);
}

void HealthService::Shutdown() {
  sync::MutexLock lock(&mu_);
  if (shut_down_) return;
  shut_down_ = true;
  for (auto& [unused, status] : statuses_) status = HealthCheckResponse::NOT_SERVING;
  changed_.SignalAll();
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
  sync::MutexLock lock(&mu_);
  ++watchers_;
  grpc::Status result;
  bool sent = false;
  ServingStatus last = HealthCheckResponse::UNKNOWN;
  while (true) {
    const ServingStatus now = StatusLocked(request->service());
    if (!sent || now != last) {
      HealthCheckResponse response;
      response.set_status(now);
      lock.Unlock();  // never hold the lock across a write to the network
      const bool ok = writer->Write(response);
      lock.Lock();
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
    changed_.WaitFor(&mu_, kCancelCheckInterval);
  }
  if (--watchers_ == 0) watchers_gone_.SignalAll();
  return result;
}

}  // namespace engram::grpcutil
