// EngramService: the gRPC adapter of engram.v1.Engram over an ApiCore.
//
// Search, the hot read, is an async method (common/grpc/async_unary.h) served on ServerRunner's
// completion-queue threads: the core starts its downstream call on the call's own queue
// (ApiCore::SearchAsync) and the answer finishes the call from that queue's thread, so no thread
// waits on a search. Every other method is a sync method on gRPC's pool.
//
// Each handler, in one place (engram_service.cc, Run):
//   * installs the call's correlation id (grpcutil::RpcScope; echoed in the initial metadata),
//   * builds the RequestContext: api_key = BearerToken of the "authorization" metadata,
//     correlation_id, deadline = the client's deadline (InfiniteFuture when none),
//   * calls the core and converts the status with status::ToGrpcStatus (INTERNAL details hidden);
//     RESOURCE_EXHAUSTED also carries the trailing metadata "retry-after" (seconds, decimal).
//
//   EngramService service(&core);
//   runner.AddAsyncService(&service, service.async_driver());   // grpcutil::ServerRunner
//
// Thread-safety: handlers run concurrently on gRPC's threads; the core must be thread-safe.
// Ownership: `core` is not owned and must outlive the service.
#pragma once

#include "common/grpc/async_unary.h"
#include "engram/v1/engram.grpc.pb.h"
#include "services/api/core/api_core.h"

namespace engram::api {

class EngramService final : public v1::Engram::WithAsyncMethod_Search<v1::Engram::Service> {
 public:
  explicit EngramService(ApiCore* core);
  // Serves Search; register with ServerRunner::AddAsyncService(this, async_driver()).
  grpcutil::AsyncServiceDriver* async_driver() { return &async_; }

  grpc::Status CreateNamespace(grpc::ServerContext* context,
                               const v1::CreateNamespaceRequest* request,
                               v1::Namespace* response) override;
  grpc::Status ListNamespaces(grpc::ServerContext* context,
                              const v1::ListNamespacesRequest* request,
                              v1::ListNamespacesResponse* response) override;
  grpc::Status GetNamespace(grpc::ServerContext* context, const v1::GetNamespaceRequest* request,
                            v1::Namespace* response) override;
  grpc::Status DeleteNamespace(grpc::ServerContext* context,
                               const v1::DeleteNamespaceRequest* request,
                               v1::DeleteNamespaceResponse* response) override;
  grpc::Status Learn(grpc::ServerContext* context, const v1::LearnRequest* request,
                     v1::LearnResponse* response) override;
  grpc::Status LearnBatch(grpc::ServerContext* context, const v1::LearnBatchRequest* request,
                          v1::LearnBatchResponse* response) override;
  grpc::Status GetConcept(grpc::ServerContext* context, const v1::GetConceptRequest* request,
                          v1::Concept* response) override;
  grpc::Status DeleteConcept(grpc::ServerContext* context, const v1::DeleteConceptRequest* request,
                             v1::DeleteConceptResponse* response) override;
  grpc::Status ListConcepts(grpc::ServerContext* context, const v1::ListConceptsRequest* request,
                            v1::ListConceptsResponse* response) override;
  grpc::Status UpdateConcept(grpc::ServerContext* context, const v1::UpdateConceptRequest* request,
                             v1::Concept* response) override;
  grpc::Status Associate(grpc::ServerContext* context, const v1::AssociateRequest* request,
                         v1::Association* response) override;
  grpc::Status AssociateBatch(grpc::ServerContext* context,
                              const v1::AssociateBatchRequest* request,
                              v1::AssociateBatchResponse* response) override;
  grpc::Status DeleteAssociation(grpc::ServerContext* context,
                                 const v1::DeleteAssociationRequest* request,
                                 v1::DeleteAssociationResponse* response) override;
  grpc::Status Neighbors(grpc::ServerContext* context, const v1::NeighborsRequest* request,
                         v1::NeighborsResponse* response) override;
  grpc::Status FindPaths(grpc::ServerContext* context, const v1::FindPathsRequest* request,
                         v1::FindPathsResponse* response) override;
  grpc::Status Reason(grpc::ServerContext* context, const v1::ReasonRequest* request,
                      v1::ReasonResponse* response) override;
  // Streams (v1.1): written on the handler thread; IsCancelled tells the core the client left.
  grpc::Status ReasonStream(grpc::ServerContext* context, const v1::ReasonRequest* request,
                            grpc::ServerWriter<v1::ReasonEvent>* writer) override;
  grpc::Status ExportNamespace(grpc::ServerContext* context,
                               const v1::ExportNamespaceRequest* request,
                               grpc::ServerWriter<v1::ExportChunk>* writer) override;
  grpc::Status GetStats(grpc::ServerContext* context, const v1::GetStatsRequest* request,
                        v1::Stats* response) override;

 private:
  ApiCore* const core_;
  grpcutil::AsyncUnaryServer async_;
};

}  // namespace engram::api
