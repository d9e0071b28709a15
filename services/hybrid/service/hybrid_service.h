// HybridService: the gRPC adapter (sync API) of engram.hybrid.v1.Hybrid over HybridCore.
// Each handler installs the correlation id (RpcScope), passes the call's deadline on and maps
// the absl::Status with status::ToGrpcStatus. CPU work runs on HybridCore's compute pool, not on
// the handler thread; a full pool is RESOURCE_EXHAUSTED to the client.
#pragma once

#include "engram/hybrid/v1/hybrid.grpc.pb.h"
#include "services/hybrid/service/hybrid_core.h"

namespace engram::hybrid {

class HybridService final : public v1::Hybrid::Service {
 public:
  explicit HybridService(const HybridCore* core) : core_(core) {}

  grpc::Status Embed(grpc::ServerContext* context, const v1::EmbedRequest* request,
                     v1::EmbedResponse* response) override;
  grpc::Status Learn(grpc::ServerContext* context, const v1::LearnRequest* request,
                     v1::LearnResponse* response) override;
  grpc::Status Search(grpc::ServerContext* context, const v1::SearchRequest* request,
                      v1::SearchResponse* response) override;
  grpc::Status Reason(grpc::ServerContext* context, const v1::ReasonRequest* request,
                      v1::ReasonResponse* response) override;
  // Writes the events on the handler thread as the reasoning (a compute-pool task) produces
  // them; a client that goes away (IsCancelled, or a failed Write) stops the reasoning.
  grpc::Status ReasonStream(grpc::ServerContext* context, const v1::ReasonRequest* request,
                            grpc::ServerWriter<v1::ReasonEvent>* writer) override;

 private:
  const HybridCore* const core_;
};

}  // namespace engram::hybrid
