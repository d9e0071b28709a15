#include "services/hybrid/service/hybrid_service.h"

#include "absl/time/clock.h"
#include "common/grpc/correlation.h"
#include "common/status/grpc_status.h"

namespace engram::hybrid {

namespace {

CallContext ContextOf(grpc::ServerContext* context, const grpcutil::RpcScope& scope) {
  CallContext call;
  call.correlation_id = scope.id();
  auto deadline = context->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) call.deadline = absl::FromChrono(deadline);
  return call;
}

template <typename Response, typename Fn>
grpc::Status Run(grpc::ServerContext* context, Response* response, Fn&& fn) {
  grpcutil::RpcScope scope(context);
  absl::StatusOr<Response> result = fn(ContextOf(context, scope));
  if (!result.ok()) return status::ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

}  // namespace

HybridService::HybridService(const HybridCore* core) : core_(core) {
  using SearchCall = grpcutil::AsyncUnaryCall<v1::SearchRequest, v1::SearchResponse>;
  async_.AddMethod<v1::SearchRequest, v1::SearchResponse>(
      [this](grpc::ServerContext* c, v1::SearchRequest* r,
             grpc::ServerAsyncResponseWriter<v1::SearchResponse>* w, grpc::ServerCompletionQueue* cq,
             void* tag) { RequestSearch(c, r, w, cq, cq, tag); },
      [this](SearchCall* call) {
        grpcutil::RpcScope scope(call->context());
        core_->SearchAsync(ContextOf(call->context(), scope), call->request(), call->queue(),
                           [call](absl::StatusOr<v1::SearchResponse> result) {
                             call->FinishWith(std::move(result), status::ToGrpcStatus);
                           });
      });
}

grpc::Status HybridService::Embed(grpc::ServerContext* context, const v1::EmbedRequest* request,
                                  v1::EmbedResponse* response) {
  return Run(context, response, [&](const CallContext& c) { return core_->Embed(c, *request); });
}

grpc::Status HybridService::Learn(grpc::ServerContext* context, const v1::LearnRequest* request,
                                  v1::LearnResponse* response) {
  return Run(context, response, [&](const CallContext& c) { return core_->Learn(c, *request); });
}

grpc::Status HybridService::Reason(grpc::ServerContext* context, const v1::ReasonRequest* request,
                                   v1::ReasonResponse* response) {
  return Run(context, response, [&](const CallContext& c) { return core_->Reason(c, *request); });
}

grpc::Status HybridService::ReasonStream(grpc::ServerContext* context,
                                         const v1::ReasonRequest* request,
                                         grpc::ServerWriter<v1::ReasonEvent>* writer) {
  grpcutil::RpcScope scope(context);
  absl::Status s = core_->ReasonStream(
      ContextOf(context, scope), *request,
      [writer](v1::ReasonEvent event) { return writer->Write(event); },
      [context] { return context->IsCancelled(); });
  return status::ToGrpcStatus(s);
}

}  // namespace engram::hybrid
