#include "services/api/core/page_token.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/text/fields.h"

namespace engram::api {
namespace {

uint64_t Fnv1a(uint64_t hash, absl::string_view bytes) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace

uint64_t ListingDigest(absl::string_view ns,
                       const google::protobuf::Map<std::string, std::string>& filter) {
  std::vector<std::pair<std::string, std::string>> sorted(filter.begin(), filter.end());
  std::sort(sorted.begin(), sorted.end());
  uint64_t hash = Fnv1a(14695981039346656037ull, ns);
  for (const auto& [key, value] : sorted) {
    hash = Fnv1a(hash, absl::string_view("\0", 1));
    hash = Fnv1a(hash, key);
    hash = Fnv1a(hash, absl::string_view("\0", 1));
    hash = Fnv1a(hash, value);
  }
  return hash;
}

std::string EncodePageToken(absl::Time issued, uint64_t digest, absl::string_view storage_token) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("1|", absl::ToUnixSeconds(issued), "|", absl::Hex(digest), "|", storage_token));
}

absl::StatusOr<std::string> DecodePageToken(absl::string_view token, uint64_t digest,
                                            absl::Time now, absl::Duration ttl) {
  std::string raw;
  const absl::Status malformed = text::InvalidField(
      "pageToken", "malformed (pass the nextPageToken of the previous page unchanged)");
  if (!absl::WebSafeBase64Unescape(token, &raw)) return malformed;
  std::vector<std::string> parts = absl::StrSplit(raw, absl::MaxSplits('|', 3));
  int64_t issued = 0;
  uint64_t token_digest = 0;
  if (parts.size() != 4 || parts[0] != "1" || !absl::SimpleAtoi(parts[1], &issued) ||
      !absl::SimpleHexAtoi(parts[2], &token_digest) || parts[3].empty()) {
    return malformed;
  }
  if (token_digest != digest) {
    return text::InvalidField("pageToken",
                        "issued for another namespace or attribute filter (a listing keeps its "
                        "namespace and filter across pages)");
  }
  const absl::Duration age = now - absl::FromUnixSeconds(issued);
  if (age > ttl) {
    return text::InvalidField("pageToken",
                        absl::StrCat("expired (page tokens are valid for ",
                                     absl::FormatDuration(ttl),
                                     "; start the listing again without a token)"));
  }
  return parts[3];
}

}  // namespace engram::api
