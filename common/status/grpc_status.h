// The one mapping between absl::Status and grpc::Status.
//
// Codes map one to one (Abseil's codes are gRPC's canonical codes). Messages pass through, except
// for INTERNAL and UNKNOWN, whose details stay in the server's logs: clients get a generic message.
// A typed ErrorDetail (common/status/error_detail.h) crosses the wire in grpc-status-details-bin,
// as an engram.common.v1.RpcStatus (wire-compatible with google.rpc.Status) holding it in an Any.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "engram/common/v1/error.pb.h"

namespace engram::status {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// The same mapping for an error carried in a message (a stream's per-item answer): code, message
// (generic for INTERNAL and UNKNOWN) and the ErrorDetail in `details`. OK maps to code 0.
common::v1::RpcStatus ToRpcStatus(const absl::Status& status);
absl::Status FromRpcStatus(const common::v1::RpcStatus& rpc);

}  // namespace engram::status
