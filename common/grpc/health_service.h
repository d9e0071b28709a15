// Engram's implementation of the standard grpc.health.v1.Health service (Check and Watch), usable
// by Kubernetes gRPC probes, grpc_health_probe and gRPC client-side health checking.
//
// Unlike grpc::EnableDefaultHealthCheckService (which reports SERVING for "" the moment the
// server starts), statuses here are whatever the owner set before the server started, so a
// server is NOT_SERVING until it says otherwise. ServerRunner owns one of these; use it directly
// only when building a grpc::Server by hand.
//
// A synchronous service on purpose: a callback service makes gRPC 1.51 start its "nexting"
// threads, which wait for work with a 1 s timeout and then sleep 100 ms; while one of them held
// the poller role, nobody read the sockets, and under light load every server stalled calls by
// ~100 ms once a second (measured: 1 request in ~1,500 at 100 ms, gone with this service sync).
// A Watch call holds one server thread for as long as it is open (Kubernetes probes use Check).
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "common/sync/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace engram::grpcutil {

class HealthService final : public grpc::health::v1::Health::Service {
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

  // grpc::health::v1::Health::Service:
  grpc::Status Check(grpc::ServerContext* context, const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override;
  // Sends the current status, then every change, until the client cancels or Shutdown().
  grpc::Status Watch(grpc::ServerContext* context, const grpc::health::v1::HealthCheckRequest* request,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>* writer) override;

 private:
  ServingStatus StatusLocked(const std::string& service) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable sync::Mutex mu_;
  std::map<std::string, ServingStatus> statuses_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  int watchers_ ABSL_GUARDED_BY(mu_) = 0;
  sync::CondVar changed_;        // a status changed, or Shutdown()
  sync::CondVar watchers_gone_;  // watchers_ reached 0
};

}  // namespace engram::grpcutil
