#include "common/status/grpc_status.h"

#include <gtest/gtest.h>

#include "common/status/status_macros.h"

namespace engram::status {
namespace {

TEST(GrpcStatusTest, CodesMapOneToOne) {
  for (int c = 0; c <= 16; ++c) {
    absl::Status s(static_cast<absl::StatusCode>(c), c == 0 ? "" : "msg");
    grpc::Status g = ToGrpcStatus(s);
    EXPECT_EQ(static_cast<int>(g.error_code()), c);
    EXPECT_EQ(FromGrpcStatus(g).code(), s.code());
  }
}

TEST(GrpcStatusTest, InternalDetailsAreHidden) {
  grpc::Status g = ToGrpcStatus(absl::InternalError("mmap failed at /secret/path"));
  EXPECT_EQ(g.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(g.error_message(), "internal error");
  grpc::Status inv = ToGrpcStatus(absl::InvalidArgumentError("k: must be <= 1000"));
  EXPECT_EQ(inv.error_message(), "k: must be <= 1000");
}

absl::StatusOr<int> Half(int x) {
  if (x % 2) return absl::InvalidArgumentError("x: odd");
  return x / 2;
}

absl::Status UseMacros(int x, int* out) {
  ASSIGN_OR_RETURN(int h, Half(x));
  RETURN_IF_ERROR(h > 10 ? absl::OutOfRangeError("too big") : absl::OkStatus());
  *out = h;
  return absl::OkStatus();
}

TEST(StatusMacrosTest, PropagatesErrorsAndValues) {
  int out = 0;
  EXPECT_TRUE(UseMacros(8, &out).ok());
  EXPECT_EQ(out, 4);
  EXPECT_EQ(UseMacros(7, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UseMacros(40, &out).code(), absl::StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace engram::status
