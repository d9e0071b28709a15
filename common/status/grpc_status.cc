#include "common/status/grpc_status.h"

#include <optional>
#include <string>

#include "common/status/error_detail.h"

namespace engram::status {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  auto code = static_cast<grpc::StatusCode>(status.code());
  if (status.code() == absl::StatusCode::kInternal || status.code() == absl::StatusCode::kUnknown) {
    return grpc::Status(code, "internal error");
  }
  std::string message(status.message());
  std::optional<ErrorDetail> detail = GetDetail(status);
  if (!detail.has_value()) return grpc::Status(code, message);
  common::v1::RpcStatus rpc;
  rpc.set_code(static_cast<int>(code));
  rpc.set_message(message);
  rpc.add_details()->PackFrom(*detail);
  return grpc::Status(code, message, rpc.SerializeAsString());
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  if (status.error_details().empty()) return out;
  common::v1::RpcStatus rpc;
  if (!rpc.ParseFromString(status.error_details())) return out;
  for (const auto& any : rpc.details()) {
    ErrorDetail detail;
    if (any.Is<ErrorDetail>() && any.UnpackTo(&detail)) return WithDetail(std::move(out), detail);
  }
  return out;
}

}  // namespace engram::status
