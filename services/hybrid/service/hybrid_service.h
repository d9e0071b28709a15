// HybridService: the gRPC adapter of engram.hybrid.v1.Hybrid over HybridCore.
// Each handler installs the correlation id (RpcScope), passes the call's deadline on and maps
// the absl::Status with status::ToGrpcStatus. CPU work runs on HybridCore's compute pool, not on
// the handler thread; a full pool is RESOURCE_EXHAUSTED to the client.
//
// Search, the hot call, is an async method (common/grpc/async_unary.h) served on ServerRunner's
// completion-queue threads through HybridCore::SearchAsync: its storage call completes on the
// same queue and finishes the call there, so no thread waits on a search. The other methods are
// sync methods on gRPC's pool. Register with
// ServerRunner::AddAsyncService(&service, service.async_driver()).
#pragma once

#include "common/grpc/async_unary.h"
#include "engram/hybrid/v1/hybrid.grpc.pb.h"
#include "services/hybrid/service/hybrid_core.h"

namespace engram::hybrid {

class HybridService final : public v1::Hybrid::WithAsyncMethod_Search<v1::Hybrid::Service> {
 public:
  explicit HybridService(const HybridCore* core);
  grpcutil::AsyncServiceDriver* async_driver() { return &async_; }

  grpc::Status Embed(grpc::ServerContext* context, const v1::EmbedRequest* request,
                     v1::EmbedResponse* response) override;
  grpc::Status Learn(grpc::ServerContext* context, const v1::LearnRequest* request,
                     v1::LearnResponse* response) override;
  grpc::Status Reason(grpc::ServerContext* context, const v1::ReasonRequest* request,
                      v1::ReasonResponse* response) override;
  // Writes the events on the handler thread as the reasoning (a compute-pool task) produces
  // them; a client that goes away (IsCancelled, or a failed Write) stops the reasoning.
  grpc::Status ReasonStream(grpc::ServerContext* context, const v1::ReasonRequest* request,
                            grpc::ServerWriter<v1::ReasonEvent>* writer) override;

 private:
  const HybridCore* const core_;
  grpcutil::AsyncUnaryServer async_;
};

}  // namespace engram::hybrid
