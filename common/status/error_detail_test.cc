#include "common/status/error_detail.h"

#include <gtest/gtest.h>

#include "common/status/grpc_status.h"

namespace engram::status {
namespace {

TEST(ErrorDetailTest, NamespaceNotFoundCarriesReasonAndName) {
  absl::Status s = NamespaceNotFound("books");
  EXPECT_TRUE(absl::IsNotFound(s));
  EXPECT_EQ(s.message(), "namespace 'books' not found");
  ASSERT_TRUE(GetDetail(s).has_value());
  EXPECT_EQ(GetDetail(s)->reason(), ErrorDetail::NAMESPACE_NOT_FOUND);
  EXPECT_EQ(GetDetail(s)->namespace_(), "books");
  EXPECT_TRUE(HasReason(s, ErrorDetail::NAMESPACE_NOT_FOUND));
}

TEST(ErrorDetailTest, MessageTextAloneMeansNothing) {
  // A NOT_FOUND that merely mentions a namespace is not a missing namespace.
  absl::Status s = absl::NotFoundError("namespace 'books' not found");
  EXPECT_FALSE(GetDetail(s).has_value());
  EXPECT_FALSE(HasReason(s, ErrorDetail::NAMESPACE_NOT_FOUND));
  EXPECT_EQ(DependencyOf(absl::UnavailableError("storage unavailable")), "");
}

TEST(ErrorDetailTest, WithDetailReplacesAndKeepsOk) {
  absl::Status s = WithDetail(absl::UnavailableError("x"), DependencyDetail("hybrid"));
  s = WithDetail(std::move(s), DependencyDetail("storage"));
  EXPECT_EQ(DependencyOf(s), "storage");
  EXPECT_TRUE(WithDetail(absl::OkStatus(), DependencyDetail("storage")).ok());
  EXPECT_FALSE(GetDetail(absl::OkStatus()).has_value());
}

TEST(ErrorDetailTest, AccessorsOnlyAnswerForTheirReason) {
  absl::Status field = WithDetail(absl::InvalidArgumentError("x"), FieldDetail("items[2].content"));
  EXPECT_EQ(FieldOf(field), "items[2].content");
  EXPECT_EQ(DependencyOf(field), "");
  absl::Status limited =
      WithDetail(absl::ResourceExhaustedError("slow down"), RateLimitedDetail("namespace", 7));
  EXPECT_EQ(GetDetail(limited)->scope(), "namespace");
  EXPECT_EQ(RetryAfterSeconds(limited), 7);
  EXPECT_EQ(FieldOf(limited), "");
  absl::Status too_large =
      WithDetail(absl::InvalidArgumentError("x"), WriteTooLargeDetail("items"));
  EXPECT_TRUE(HasReason(too_large, ErrorDetail::WRITE_TOO_LARGE));
  EXPECT_EQ(FieldOf(too_large), "items");
}

TEST(ErrorDetailTest, RetryAfterIsClampedAndDefaultsToOne) {
  EXPECT_EQ(RetryAfterSeconds(absl::ResourceExhaustedError("queue full")), 1);
  EXPECT_EQ(RetryAfterSeconds(WithDetail(absl::ResourceExhaustedError("x"),
                                         RateLimitedDetail("key", 0))), 1);
  EXPECT_EQ(RetryAfterSeconds(WithDetail(absl::ResourceExhaustedError("x"),
                                         RateLimitedDetail("key", 99999))), 3600);
}

TEST(ErrorDetailTest, GarbagePayloadIsNoDetail) {
  absl::Status s = absl::NotFoundError("x");
  s.SetPayload(absl::string_view(kErrorDetailUrl.data(), kErrorDetailUrl.size()),
               absl::Cord("\xff\xff\xff"));
  EXPECT_FALSE(GetDetail(s).has_value());
}

TEST(GrpcStatusDetailTest, DetailSurvivesTheWire) {
  absl::Status s = NamespaceNotFound("books");
  grpc::Status wire = ToGrpcStatus(s);
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(wire.error_message(), "namespace 'books' not found");
  EXPECT_FALSE(wire.error_details().empty());
  // What a generic client sees: a google.rpc.Status-shaped message with the same code and text.
  common::v1::RpcStatus rpc;
  ASSERT_TRUE(rpc.ParseFromString(wire.error_details()));
  EXPECT_EQ(rpc.code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_EQ(rpc.details(0).type_url(), kErrorDetailUrl);

  absl::Status back = FromGrpcStatus(wire);
  EXPECT_EQ(back.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(back.message(), s.message());
  EXPECT_TRUE(HasReason(back, ErrorDetail::NAMESPACE_NOT_FOUND));
  EXPECT_EQ(GetDetail(back)->namespace_(), "books");
}

TEST(GrpcStatusDetailTest, NoDetailNoTrailerAndBadTrailerIgnored) {
  EXPECT_TRUE(ToGrpcStatus(absl::NotFoundError("x")).error_details().empty());
  absl::Status back = FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "x", "\x0a\xff"));
  EXPECT_EQ(back.code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(GetDetail(back).has_value());
}

TEST(GrpcStatusDetailTest, InternalErrorsCarryNoDetail) {
  grpc::Status wire = ToGrpcStatus(WithDetail(absl::InternalError("disk"), FieldDetail("x")));
  EXPECT_EQ(wire.error_message(), "internal error");
  EXPECT_TRUE(wire.error_details().empty());
}

// A stream's per-item error (storage's WriteStream) carries the same code, text and detail as a
// call's status, and hides INTERNAL the same way.
TEST(GrpcStatusDetailTest, AnErrorInAMessageCarriesWhatACallStatusCarries) {
  absl::Status bad = WithDetail(absl::InvalidArgumentError("mutations[2].put_concept.id: empty"),
                                FieldDetail("mutations[2].put_concept.id"));
  common::v1::RpcStatus rpc = ToRpcStatus(bad);
  EXPECT_EQ(rpc.code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(rpc.message(), bad.message());
  absl::Status back = FromRpcStatus(rpc);
  EXPECT_EQ(back.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(back.message(), bad.message());
  EXPECT_EQ(FieldOf(back), "mutations[2].put_concept.id");

  EXPECT_EQ(ToRpcStatus(absl::OkStatus()).code(), 0);
  EXPECT_TRUE(FromRpcStatus(common::v1::RpcStatus()).ok());
  common::v1::RpcStatus internal = ToRpcStatus(WithDetail(absl::InternalError("disk"), FieldDetail("x")));
  EXPECT_EQ(internal.message(), "internal error");
  EXPECT_EQ(internal.details_size(), 0);
}

}  // namespace
}  // namespace engram::status
