#include "services/api/core/page_token.h"

#include <string>

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"

namespace engram::api {
namespace {

google::protobuf::Map<std::string, std::string> Filter(
    std::initializer_list<std::pair<const std::string, std::string>> kv) {
  google::protobuf::Map<std::string, std::string> m;
  for (const auto& [k, v] : kv) m[k] = v;
  return m;
}

const absl::Time kIssued = absl::FromUnixSeconds(1'800'000'000);
const absl::Duration kTtl = absl::Hours(1);

TEST(PageTokenTest, RoundTripsTheStorageToken) {
  const uint64_t digest = ListingDigest("docs", Filter({{"lang", "en"}}));
  const std::string token = EncodePageToken(kIssued, digest, "storage|token|with|bars");
  absl::StatusOr<std::string> back = DecodePageToken(token, digest, kIssued + absl::Minutes(5), kTtl);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, "storage|token|with|bars");
}

TEST(PageTokenTest, DigestIgnoresFilterOrderButNotContent) {
  EXPECT_EQ(ListingDigest("docs", Filter({{"a", "1"}, {"b", "2"}})),
            ListingDigest("docs", Filter({{"b", "2"}, {"a", "1"}})));
  EXPECT_NE(ListingDigest("docs", {}), ListingDigest("other", {}));
  EXPECT_NE(ListingDigest("docs", Filter({{"a", "1"}})), ListingDigest("docs", Filter({{"a", "2"}})));
  // Separators keep ("ab","c") and ("a","bc") apart.
  EXPECT_NE(ListingDigest("docs", Filter({{"ab", "c"}})), ListingDigest("docs", Filter({{"a", "bc"}})));
}

TEST(PageTokenTest, AnotherListingIsRefused) {
  const std::string token = EncodePageToken(kIssued, ListingDigest("docs", {}), "s");
  absl::Status s = DecodePageToken(token, ListingDigest("other", {}), kIssued, kTtl).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "pageToken: issued for another namespace or attribute filter (a listing keeps its "
            "namespace and filter across pages)");
}

TEST(PageTokenTest, ExpiredIsRefused) {
  const uint64_t digest = ListingDigest("docs", {});
  const std::string token = EncodePageToken(kIssued, digest, "s");
  EXPECT_TRUE(DecodePageToken(token, digest, kIssued + kTtl, kTtl).ok());
  absl::Status s = DecodePageToken(token, digest, kIssued + kTtl + absl::Seconds(1), kTtl).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().substr(0, 19), "pageToken: expired ");
}

TEST(PageTokenTest, MalformedIsRefused) {
  const uint64_t digest = ListingDigest("docs", {});
  for (const std::string& raw : {std::string("not base64 !!"),
                                 absl::WebSafeBase64Escape("2|1|0|s"),
                                 absl::WebSafeBase64Escape("1|x|0|s"),
                                 absl::WebSafeBase64Escape("1|1|zz|s"),
                                 absl::WebSafeBase64Escape("1|1|0|"),
                                 absl::WebSafeBase64Escape("1|1|0")}) {
    absl::Status s = DecodePageToken(raw, digest, kIssued, kTtl).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << raw;
    EXPECT_EQ(s.message(),
              "pageToken: malformed (pass the nextPageToken of the previous page unchanged)")
        << raw;
  }
}

}  // namespace
}  // namespace engram::api
