#include "common/http/router.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::http {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

using TestRouter = Router<std::string>;  // The "handler" is a name we can compare.

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(router_.Add("GET", "/v1/namespaces", "list").ok());
    ASSERT_TRUE(router_.Add("POST", "/v1/namespaces", "create").ok());
    ASSERT_TRUE(router_.Add("GET", "/v1/namespaces/{namespace}", "get_ns").ok());
    ASSERT_TRUE(router_.Add("POST", "/v1/namespaces/{namespace}/concepts", "learn").ok());
    ASSERT_TRUE(router_.Add("POST", "/v1/namespaces/{namespace}/concepts:batch", "batch").ok());
    ASSERT_TRUE(router_.Add("GET", "/v1/namespaces/{namespace}/concepts/{id}", "get").ok());
    ASSERT_TRUE(router_.Add("DELETE", "/v1/namespaces/{namespace}/concepts/{id}", "del").ok());
    ASSERT_TRUE(
        router_.Add("GET", "/v1/namespaces/{namespace}/concepts/{id}/neighbors", "nbr").ok());
    ASSERT_TRUE(router_.Add("POST", "/v1/things/{id}:undelete", "undelete").ok());
    ASSERT_TRUE(router_.Add("POST", "/v1/things/{id}", "thing").ok());
  }

  TestRouter router_;
};

TEST_F(RouterTest, LiteralRoute) {
  TestRouter::Result result = router_.Route("GET", "/v1/namespaces");
  ASSERT_EQ(result.outcome, TestRouter::Outcome::kFound);
  EXPECT_EQ(*result.handler, "list");
  EXPECT_EQ(result.pattern, "/v1/namespaces");
  EXPECT_TRUE(result.params.empty());
  EXPECT_EQ(*router_.Route("POST", "/v1/namespaces").handler, "create");
}

TEST_F(RouterTest, ParamsAreExtractedAndDecoded) {
  TestRouter::Result result = router_.Route("GET", "/v1/namespaces/news/concepts/a%2Fb%20c");
  ASSERT_EQ(result.outcome, TestRouter::Outcome::kFound);
  EXPECT_EQ(*result.handler, "get");
  EXPECT_EQ(result.pattern, "/v1/namespaces/{namespace}/concepts/{id}");
  EXPECT_THAT(result.params, UnorderedElementsAre(Pair("namespace", "news"), Pair("id", "a/b c")));
}

TEST_F(RouterTest, CustomMethodSuffixDoesNotCollide) {
  TestRouter::Result batch = router_.Route("POST", "/v1/namespaces/default/concepts:batch");
  ASSERT_EQ(batch.outcome, TestRouter::Outcome::kFound);
  EXPECT_EQ(*batch.handler, "batch");
  EXPECT_THAT(batch.params, ElementsAre(Pair("namespace", "default")));

  TestRouter::Result learn = router_.Route("POST", "/v1/namespaces/default/concepts");
  ASSERT_EQ(learn.outcome, TestRouter::Outcome::kFound);
  EXPECT_EQ(*learn.handler, "learn");

  TestRouter::Result get = router_.Route("GET", "/v1/namespaces/default/concepts/batch");
  ASSERT_EQ(get.outcome, TestRouter::Outcome::kFound);
  EXPECT_EQ(*get.handler, "get");
  EXPECT_EQ(get.params.at("id"), "batch");

  // A suffix pattern beats a bare parameter for the same segment...
  TestRouter::Result undelete = router_.Route("POST", "/v1/things/x1:undelete");
  ASSERT_EQ(undelete.outcome, TestRouter::Outcome::kFound);
  EXPECT_EQ(*undelete.handler, "undelete");
  EXPECT_EQ(undelete.params.at("id"), "x1");
  // ...and a segment without the suffix goes to the bare parameter.
  TestRouter::Result thing = router_.Route("POST", "/v1/things/x1");
  ASSERT_EQ(thing.outcome, TestRouter::Outcome::kFound);
  EXPECT_EQ(*thing.handler, "thing");
  // The parameter before a suffix must be non-empty.
  EXPECT_EQ(*router_.Route("POST", "/v1/things/:undelete").handler, "thing");
}

TEST_F(RouterTest, NotFound) {
  EXPECT_EQ(router_.Route("GET", "/v2/namespaces").outcome, TestRouter::Outcome::kNotFound);
  EXPECT_EQ(router_.Route("GET", "/v1/namespaces/").outcome, TestRouter::Outcome::kNotFound);
  EXPECT_EQ(router_.Route("GET", "/v1/namespaces/a/b").outcome, TestRouter::Outcome::kNotFound);
  EXPECT_EQ(router_.Route("GET", "").outcome, TestRouter::Outcome::kNotFound);
  EXPECT_EQ(router_.Route("GET", "v1/namespaces").outcome, TestRouter::Outcome::kNotFound);
}

TEST_F(RouterTest, MethodNotAllowedListsAllowedMethods) {
  TestRouter::Result result = router_.Route("PUT", "/v1/namespaces/x/concepts/y");
  EXPECT_EQ(result.outcome, TestRouter::Outcome::kMethodNotAllowed);
  EXPECT_THAT(result.allowed_methods, ElementsAre("DELETE", "GET"));
  EXPECT_EQ(result.handler, nullptr);
}

TEST_F(RouterTest, BadPercentEncodingInParam) {
  EXPECT_EQ(router_.Route("GET", "/v1/namespaces/x/concepts/bad%zz").outcome,
            TestRouter::Outcome::kBadPath);
}

TEST(RouterAddTest, RejectsBadPatternsAndDuplicates) {
  TestRouter router;
  EXPECT_TRUE(router.Add("GET", "/", "root").ok());
  EXPECT_EQ(*router.Route("GET", "/").handler, "root");
  EXPECT_EQ(router.Add("GET", "no-slash", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router.Add("GET", "/a/{unclosed", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router.Add("GET", "/a/{}", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router.Add("GET", "/a/{1x}", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router.Add("GET", "/a/{x}/{x}", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router.Add("GET", "/a/pre{x}", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router.Add("GET", "/a//b", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(router.Add("GET", "/a/{x}", "x").ok());
  EXPECT_EQ(router.Add("GET", "/a/{x}", "again").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(router.Add("POST", "/a/{x}", "post").ok());
}

}  // namespace
}  // namespace engram::http
