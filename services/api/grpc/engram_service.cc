#include "services/api/grpc/engram_service.h"

#include <chrono>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/grpc/correlation.h"
#include "common/status/error_detail.h"
#include "common/status/grpc_status.h"
#include "services/api/policy/api_keys.h"

namespace engram::api {

namespace {

RequestContext ContextOf(grpc::ServerContext* context, const grpcutil::RpcScope& scope) {
  RequestContext ctx;
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    ctx.api_key = std::string(BearerToken(std::string_view(it->second.data(), it->second.size())));
  }
  ctx.correlation_id = scope.id();
  const auto deadline = context->deadline();
  if (deadline != std::chrono::system_clock::time_point::max())
    ctx.deadline = absl::FromChrono(deadline);
  return ctx;
}

grpc::Status ToGrpc(grpc::ServerContext* context, const absl::Status& status) {
  if (status.code() == absl::StatusCode::kResourceExhausted) {
    context->AddTrailingMetadata("retry-after", absl::StrCat(status::RetryAfterSeconds(status)));
  }
  return status::ToGrpcStatus(status);
}

template <typename Response, typename Fn>
grpc::Status Run(grpc::ServerContext* context, Response* response, Fn&& fn) {
  grpcutil::RpcScope scope(context);
  absl::StatusOr<Response> result = fn(ContextOf(context, scope));
  if (!result.ok()) return ToGrpc(context, result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

// A server stream as a StreamSink.
template <typename T>
class WriterSink final : public StreamSink<T> {
 public:
  WriterSink(grpc::ServerContext* context, grpc::ServerWriter<T>* writer)
      : context_(context), writer_(writer) {}
  bool Write(const T& message) override { return writer_->Write(message); }
  bool ClientGone() override { return context_->IsCancelled(); }

 private:
  grpc::ServerContext* const context_;
  grpc::ServerWriter<T>* const writer_;
};

template <typename T, typename Fn>
grpc::Status RunStream(grpc::ServerContext* context, grpc::ServerWriter<T>* writer, Fn&& fn) {
  grpcutil::RpcScope scope(context);
  WriterSink<T> sink(context, writer);
  return ToGrpc(context, fn(ContextOf(context, scope), &sink));
}

}  // namespace

EngramService::EngramService(ApiCore* core) : core_(core) {
  using SearchCall = grpcutil::AsyncUnaryCall<v1::SearchRequest, v1::SearchResponse>;
  async_.AddMethod<v1::SearchRequest, v1::SearchResponse>(
      [this](grpc::ServerContext* c, v1::SearchRequest* r,
             grpc::ServerAsyncResponseWriter<v1::SearchResponse>* w, grpc::ServerCompletionQueue* cq,
             void* tag) { RequestSearch(c, r, w, cq, cq, tag); },
      [this](SearchCall* call) {
        grpcutil::RpcScope scope(call->context());
        core_->SearchAsync(ContextOf(call->context(), scope), call->request(), call->queue(),
                           [call](absl::StatusOr<v1::SearchResponse> result) {
                             call->FinishWith(std::move(result), [call](const absl::Status& s) {
                               return ToGrpc(call->context(), s);
                             });
                           });
      });
}

grpc::Status EngramService::ReasonStream(grpc::ServerContext* context,
                                         const v1::ReasonRequest* request,
                                         grpc::ServerWriter<v1::ReasonEvent>* writer) {
  return RunStream(context, writer, [&](const RequestContext& ctx, StreamSink<v1::ReasonEvent>* sink) {
    return core_->ReasonStream(ctx, *request, sink);
  });
}

grpc::Status EngramService::ExportNamespace(grpc::ServerContext* context,
                                            const v1::ExportNamespaceRequest* request,
                                            grpc::ServerWriter<v1::ExportChunk>* writer) {
  return RunStream(context, writer, [&](const RequestContext& ctx, StreamSink<v1::ExportChunk>* sink) {
    return core_->ExportNamespace(ctx, *request, sink);
  });
}

#define ENGRAM_API_HANDLER(Method, Request, Response)                                          \
  grpc::Status EngramService::Method(grpc::ServerContext* context, const v1::Request* request, \
                                     v1::Response* response) {                                 \
    return Run(context, response,                                                              \
               [&](const RequestContext& ctx) { return core_->Method(ctx, *request); });       \
  }

ENGRAM_API_HANDLER(CreateNamespace, CreateNamespaceRequest, Namespace)
ENGRAM_API_HANDLER(ListNamespaces, ListNamespacesRequest, ListNamespacesResponse)
ENGRAM_API_HANDLER(GetNamespace, GetNamespaceRequest, Namespace)
ENGRAM_API_HANDLER(DeleteNamespace, DeleteNamespaceRequest, DeleteNamespaceResponse)
ENGRAM_API_HANDLER(Learn, LearnRequest, LearnResponse)
ENGRAM_API_HANDLER(LearnBatch, LearnBatchRequest, LearnBatchResponse)
ENGRAM_API_HANDLER(GetConcept, GetConceptRequest, Concept)
ENGRAM_API_HANDLER(DeleteConcept, DeleteConceptRequest, DeleteConceptResponse)
ENGRAM_API_HANDLER(ListConcepts, ListConceptsRequest, ListConceptsResponse)
ENGRAM_API_HANDLER(UpdateConcept, UpdateConceptRequest, Concept)
ENGRAM_API_HANDLER(Associate, AssociateRequest, Association)
ENGRAM_API_HANDLER(AssociateBatch, AssociateBatchRequest, AssociateBatchResponse)
ENGRAM_API_HANDLER(DeleteAssociation, DeleteAssociationRequest, DeleteAssociationResponse)
ENGRAM_API_HANDLER(Neighbors, NeighborsRequest, NeighborsResponse)
ENGRAM_API_HANDLER(FindPaths, FindPathsRequest, FindPathsResponse)
ENGRAM_API_HANDLER(Reason, ReasonRequest, ReasonResponse)
ENGRAM_API_HANDLER(GetStats, GetStatsRequest, Stats)

#undef ENGRAM_API_HANDLER

}  // namespace engram::api
