#include "services/control/server/session.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::control {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

TEST(SessionCodec, IssuedTokenVerifiesAndNamesTheKeyNotTheKey) {
  SessionCodec codec("secret", absl::Hours(1));
  const std::string token = codec.Issue("ops", kNow);
  EXPECT_THAT(token, ::testing::Not(HasSubstr("secret")));
  absl::StatusOr<Session> s = codec.Verify(token, kNow + absl::Minutes(59));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->key_name, "ops");
  EXPECT_EQ(s->expires, kNow + absl::Hours(1));
  EXPECT_EQ(s->csrf_token.size(), 32u);
  EXPECT_TRUE(codec.CsrfMatches(*s, s->csrf_token));
  EXPECT_FALSE(codec.CsrfMatches(*s, ""));
  EXPECT_FALSE(codec.CsrfMatches(*s, std::string(32, '0')));
}

TEST(SessionCodec, ExpiredForgedAndOtherSecretAreRefused) {
  SessionCodec codec("secret", absl::Hours(1));
  const std::string token = codec.Issue("ops", kNow);
  EXPECT_THAT(codec.Verify(token, kNow + absl::Hours(1)).status().message(), HasSubstr("expired"));
  std::string forged = token;
  forged[4] = forged[4] == 'a' ? 'b' : 'a';  // inside the key name
  EXPECT_EQ(codec.Verify(forged, kNow).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(SessionCodec("rotated", absl::Hours(1)).Verify(token, kNow).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(codec.Verify("garbage", kNow).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(codec.Verify("", kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(SessionCodec, EachLoginHasItsOwnCsrfToken) {
  SessionCodec codec("secret", absl::Hours(1));
  absl::StatusOr<Session> a = codec.Verify(codec.Issue("ops", kNow), kNow);
  absl::StatusOr<Session> b = codec.Verify(codec.Issue("ops", kNow), kNow);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->csrf_token, b->csrf_token);
  EXPECT_FALSE(codec.CsrfMatches(*a, b->csrf_token));
}

TEST(SessionCookie, AttributesAndParsing) {
  const std::string cookie = SessionCookie("tok", absl::Hours(2), "/control/", /*secure=*/true);
  EXPECT_EQ(cookie,
            "engram_session=tok; Path=/control/; Max-Age=7200; HttpOnly; SameSite=Strict; Secure");
  EXPECT_THAT(ClearedSessionCookie("/", false), HasSubstr("Max-Age=0"));
  EXPECT_EQ(SessionCookieValue("a=1; engram_session=v1.x.y; b=2"), "v1.x.y");
  EXPECT_EQ(SessionCookieValue("engram_sessionx=1"), "");
  EXPECT_EQ(SessionCookieValue(""), "");
}

TEST(LoginLimiter, RefusesAClientAfterRepeatedFailuresUntilTheWindowPasses) {
  LoginLimiter limiter(3, 100, absl::Minutes(1));
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(limiter.Check("10.0.0.1", kNow).ok());
    limiter.RecordFailure("10.0.0.1", kNow);
  }
  int64_t retry = 0;
  absl::Status s = limiter.Check("10.0.0.1", kNow + absl::Seconds(10), &retry);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(retry, 50);
  EXPECT_THAT(s.message(), HasSubstr("retry in 50 s"));
  EXPECT_TRUE(limiter.Check("10.0.0.2", kNow).ok());  // other clients are not affected
  EXPECT_TRUE(limiter.Check("10.0.0.1", kNow + absl::Minutes(1)).ok());
}

TEST(LoginLimiter, GlobalCapAcrossClients) {
  LoginLimiter limiter(100, 5, absl::Minutes(1));
  for (int i = 0; i < 5; ++i) limiter.RecordFailure("c" + std::to_string(i), kNow);
  EXPECT_EQ(limiter.Check("fresh", kNow).code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace engram::control
