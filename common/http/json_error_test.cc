#include "common/http/json_error.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace engram::http {
namespace {

using ::testing::Contains;
using ::testing::Pair;

TEST(HttpStatusFromCodeTest, MapsCanonicalCodes) {
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kDataLoss), 500);
}

TEST(JsonErrorResponseTest, BodyMatchesApiContract) {
  Response response = JsonErrorResponse(absl::InvalidArgumentError("k must be > 0"), "cid-1");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.content_type, "application/json");
  const nlohmann::json body = nlohmann::json::parse(response.body);
  EXPECT_EQ(body["error"]["code"], "INVALID_ARGUMENT");
  EXPECT_EQ(body["error"]["message"], "k must be > 0");
  EXPECT_EQ(body["error"]["correlationId"], "cid-1");
}

TEST(JsonErrorResponseTest, InternalDetailsAreHidden) {
  Response response = JsonErrorResponse(absl::InternalError("segment 7 checksum mismatch"), "c");
  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(nlohmann::json::parse(response.body)["error"]["message"], "internal error");
}

TEST(JsonErrorResponseTest, ResourceExhaustedHasRetryAfter) {
  Response response = JsonErrorResponse(absl::ResourceExhaustedError("writer saturated"), "");
  EXPECT_EQ(response.status, 429);
  EXPECT_THAT(response.headers, Contains(Pair("Retry-After", "1")));
  EXPECT_FALSE(nlohmann::json::parse(response.body)["error"].contains("correlationId"));
}

TEST(JsonErrorResponseTest, InvalidUtf8InMessageStillValidJson) {
  Response response = JsonErrorResponse(absl::InvalidArgumentError("bad id \xFF"), "c");
  EXPECT_NO_THROW(nlohmann::json::parse(response.body));
}

}  // namespace
}  // namespace engram::http
