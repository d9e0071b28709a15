#include "common/status/grpc_status.h"

#include <optional>
#include <string>

#include "common/status/error_detail.h"

namespace engram::status {

common::v1::RpcStatus ToRpcStatus(const absl::Status& status) {
  common::v1::RpcStatus rpc;
  if (status.ok()) return rpc;
  rpc.set_code(static_cast<int>(status.code()));
  if (status.code() == absl::StatusCode::kInternal || status.code() == absl::StatusCode::kUnknown) {
    rpc.set_message("internal error");  // the details stay in the server's logs
    return rpc;
  }
  rpc.set_message(std::string(status.message()));
  if (std::optional<ErrorDetail> detail = GetDetail(status)) rpc.add_details()->PackFrom(*detail);
  return rpc;
}

absl::Status FromRpcStatus(const common::v1::RpcStatus& rpc) {
  if (rpc.code() == 0) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(rpc.code()), rpc.message());
  for (const auto& any : rpc.details()) {
    ErrorDetail detail;
    if (any.Is<ErrorDetail>() && any.UnpackTo(&detail)) return WithDetail(std::move(out), detail);
  }
  return out;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const common::v1::RpcStatus rpc = ToRpcStatus(status);
  const auto code = static_cast<grpc::StatusCode>(rpc.code());
  if (rpc.details().empty()) return grpc::Status(code, rpc.message());
  return grpc::Status(code, rpc.message(), rpc.SerializeAsString());
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  common::v1::RpcStatus rpc;
  if (status.error_details().empty() || !rpc.ParseFromString(status.error_details())) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  }
  // The status's own code and message win over the trailer's copies.
  rpc.set_code(static_cast<int>(status.error_code()));
  rpc.set_message(status.error_message());
  return FromRpcStatus(rpc);
}

}  // namespace engram::status
