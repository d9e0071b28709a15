// Correlation ids over gRPC: metadata key "x-correlation-id".
//
// Server side, at the top of every handler (sync or callback API):
//
//   grpc::ServerUnaryReactor* EngramService::Learn(grpc::CallbackServerContext* context,
//                                                  const LearnRequest* request,
//                                                  LearnResponse* response) {
//     engram::grpcutil::RpcScope scope(context);   // log lines below carry the id
//     ...
//   }
//
// Client side, for every downstream call:
//
//   grpc::ClientContext context;
//   engram::grpcutil::PrepareClientContext(&context, absl::Seconds(2));  // id + deadline
//   stub->Get(&context, request, &response);
#pragma once

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "common/logging/correlation.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"

namespace engram::grpcutil {

inline constexpr char kCorrelationIdMetadataKey[] = "x-correlation-id";

// The caller's correlation id from the request metadata when present and valid (see
// logging::IsValidCorrelationId), otherwise a new one. When ServerRunner's interceptor is
// installed it has already put an id into the metadata, so every call returns the same id.
std::string CorrelationIdFrom(const grpc::ServerContextBase& context);

// RAII for the synchronous part of a handler: takes the id (CorrelationIdFrom), installs it as
// the thread's logging::ScopedCorrelationId, and adds it to the response's initial metadata.
// Create exactly one per RPC, on the handler's thread, before the response is started. Work that
// continues on another thread installs its own logging::ScopedCorrelationId(scope.id()).
class RpcScope {
 public:
  explicit RpcScope(grpc::ServerContextBase* context);
  RpcScope(const RpcScope&) = delete;
  RpcScope& operator=(const RpcScope&) = delete;

  const std::string& id() const { return scope_.id(); }
  // Spelling kept for readers who think of it as the correlation id.
  const std::string& correlation_id() const { return scope_.id(); }

 private:
  logging::ScopedCorrelationId scope_;
};

// Prepares a downstream call: sets the deadline to now + `timeout` (no deadline for
// absl::InfiniteDuration()) and forwards the calling thread's correlation id, if any.
void PrepareClientContext(grpc::ClientContext* context, absl::Duration timeout);
// Same, with an explicit id (e.g. from RpcScope::id() on a continuation thread).
void PrepareClientContext(grpc::ClientContext* context, absl::Duration timeout,
                          std::string_view correlation_id);

}  // namespace engram::grpcutil
