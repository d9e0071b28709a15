// ListConcepts page tokens.
//
// The public token is web-safe base64 of "1|<issued unix seconds>|<scope digest>|<storage token>".
// The digest (FNV-1a 64 of the namespace and the sorted attribute filter, stable across replicas and
// versions) ties a token to the listing it belongs to, and the issue time bounds its life, so a
// token cannot be replayed against another namespace or filter, or forever.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/map.h"

namespace engram::api {

uint64_t ListingDigest(absl::string_view ns,
                       const google::protobuf::Map<std::string, std::string>& filter);

std::string EncodePageToken(absl::Time issued, uint64_t digest, absl::string_view storage_token);

// The storage token inside `token`, or INVALID_ARGUMENT naming pageToken: malformed, issued for
// another listing (digest differs), or older than `ttl` at `now`.
absl::StatusOr<std::string> DecodePageToken(absl::string_view token, uint64_t digest,
                                            absl::Time now, absl::Duration ttl);

}  // namespace engram::api
