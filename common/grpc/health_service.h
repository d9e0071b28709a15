// Engram's implementation of the standard grpc.health.v1.Health service (Check and Watch), usable
// by Kubernetes gRPC probes, grpc_health_probe and gRPC client-side health checking.
//
// Unlike grpc::EnableDefaultHealthCheckService (which reports SERVING for "" the moment the
// server starts), statuses here are whatever the owner set before the server started, so a
// server is NOT_SERVING until it says otherwise. ServerRunner owns one of these; use it directly
// only when building a grpc::Server by hand.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace engram::grpcutil {

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  HealthService() = default;
  ~HealthService() override;

  // Sets the status reported for `service` ("" is the whole server) and notifies watchers.
  // Ignored after Shutdown().
  void SetStatus(const std::string& service, ServingStatus status);

  // The status of `service`, or SERVICE_UNKNOWN if it was never set.
  ServingStatus GetStatus(const std::string& service) const;

  // Marks every service NOT_SERVING, sends that to watchers and then ends their streams
  // (UNAVAILABLE), so open Watch calls do not hold up server shutdown. Later SetStatus calls are
  // ignored. Idempotent.
  void Shutdown();

  // grpc::health::v1::Health::CallbackService:
  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

 private:
  class WatchReactor;
  friend class WatchReactor;

  void RemoveWatcher(WatchReactor* watcher);

  mutable std::mutex mu_;
  std::map<std::string, ServingStatus> statuses_ ABSL_GUARDED_BY(mu_);
  std::set<WatchReactor*> watchers_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::condition_variable watchers_gone_;
};

}  // namespace engram::grpcutil
