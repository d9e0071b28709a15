// A server interceptor for every Engram gRPC server (installed by ServerRunner):
//   * correlation ids: reads "x-correlation-id" from the client metadata; when absent or invalid,
//     generates one and puts it into the request metadata the handler sees (so
//     CorrelationIdFrom/RpcScope agree with it); sends it back in the response's initial metadata
//     unless the handler already did (RpcScope does).
//   * metrics, when a registry is given:
//       grpc_server_handled_total{service,method,code}    (code: "OK", "NOT_FOUND", ...)
//       grpc_server_handling_seconds{service,method}      (histogram, DefaultLatencyBuckets)
//
// The interceptor does not install the id as the thread's logging scope: with the callback API,
// interceptors and handlers run on different threads. Handlers use RpcScope.
//
// Thread-safety: the factory is thread-safe; each interceptor belongs to one call.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "grpcpp/support/server_interceptor.h"

namespace engram::metrics {
class Registry;
}  // namespace engram::metrics

namespace engram::grpcutil {

class RpcInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `registry` may be null (no metrics); not owned, must outlive every server using this.
  // `active_calls`, when given, counts the calls whose interceptor exists (received and not yet
  // finished), for ServerRunner's shutdown.
  explicit RpcInterceptorFactory(metrics::Registry* registry,
                                 std::shared_ptr<std::atomic<int64_t>> active_calls = nullptr);
  ~RpcInterceptorFactory() override;

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

  struct Metrics;  // Implementation detail.

 private:
  std::shared_ptr<Metrics> metrics_;
  std::shared_ptr<std::atomic<int64_t>> active_calls_;
};

}  // namespace engram::grpcutil
