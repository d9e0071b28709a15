#include "common/grpc/correlation.h"

#include <chrono>

namespace engram::grpcutil {

std::string CorrelationIdFrom(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kCorrelationIdMetadataKey);
  if (it == metadata.end()) return logging::NewCorrelationId();
  return logging::CorrelationIdOrNew(std::string_view(it->second.data(), it->second.size()));
}

RpcScope::RpcScope(grpc::ServerContextBase* context) : scope_(CorrelationIdFrom(*context)) {
  context->AddInitialMetadata(kCorrelationIdMetadataKey, scope_.id());
}

void PrepareClientContext(grpc::ClientContext* context, absl::Duration timeout,
                          std::string_view correlation_id) {
  if (timeout != absl::InfiniteDuration()) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::system_clock::duration>(
                              absl::ToChronoNanoseconds(timeout)));
  }
  if (!correlation_id.empty()) {
    context->AddMetadata(kCorrelationIdMetadataKey, std::string(correlation_id));
  }
}

void PrepareClientContext(grpc::ClientContext* context, absl::Duration timeout) {
  PrepareClientContext(context, timeout, logging::CurrentCorrelationId());
}

}  // namespace engram::grpcutil
