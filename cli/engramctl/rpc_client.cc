#include "cli/engramctl/rpc_client.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/status/grpc_status.h"

namespace engram::cli {
namespace {

constexpr char kCorrelationKey[] = "x-correlation-id";

std::string EchoedId(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  auto it = metadata.find(kCorrelationKey);
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

void RpcClient::Prepare(grpc::ClientContext* context, absl::Duration timeout) const {
  if (timeout != absl::InfiniteDuration()) {
    context->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  }
  if (!settings_.api_key.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", settings_.api_key));
  }
  if (!settings_.correlation_id.empty()) {
    context->AddMetadata(kCorrelationKey, settings_.correlation_id);
  }
}

absl::Status RpcClient::Finish(const grpc::ClientContext& context,
                               const grpc::Status& status) const {
  if (status.ok()) return absl::OkStatus();
  absl::Status result = status::FromGrpcStatus(status);
  // The server echoes the id in its initial metadata, which an error response usually folds into
  // the trailers. Initial metadata is not read: ClientContext asserts it was received, which a
  // stub that never ran a call (gMock) has not done. Valid ids come back unchanged anyway.
  std::string id = EchoedId(context.GetServerTrailingMetadata());
  if (id.empty()) id = settings_.correlation_id;
  SetCorrelationId(&result, id);
  return result;
}

}  // namespace engram::cli
