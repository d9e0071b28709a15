// Sessions of the control UI: signed, stateless cookies that every control replica can check.
//
// Login exchanges an admin API key for a session token (the cookie value). The token names the
// key (never contains it), an expiry and a random nonce, signed with HMAC-SHA256 under a secret all
// replicas share (derived from the API keys file, so rotating the keys ends every session). The
// CSRF token is derived from the session nonce, so it needs no storage either.
//
//   SessionCodec codec(secret, absl::Hours(12));
//   std::string cookie = codec.Issue("ops", absl::Now());
//   ASSIGN_OR_RETURN(Session s, codec.Verify(cookie, absl::Now()));    // UNAUTHENTICATED
//   if (!codec.CsrfMatches(s, request.Header("X-CSRF-Token"))) ...     // 403
//
// Thread-safety: immutable after construction; all methods are const and thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace engram::control {

struct Session {
  std::string key_name;
  absl::Time expires;
  std::string csrf_token;
};

class SessionCodec {
 public:
  SessionCodec(std::string secret, absl::Duration ttl);

  std::string Issue(std::string_view key_name, absl::Time now) const;
  // UNAUTHENTICATED for a malformed, forged, or expired token (the message says which, without
  // echoing the token).
  absl::StatusOr<Session> Verify(std::string_view token, absl::Time now) const;
  // Constant-time comparison.
  bool CsrfMatches(const Session& session, std::string_view presented) const;
  absl::Duration ttl() const { return ttl_; }

 private:
  std::string Sign(std::string_view payload) const;
  std::string Csrf(std::string_view nonce) const;

  const std::string secret_;
  const absl::Duration ttl_;
};

// The cookie header value for a session, and the one that clears it. `path` is the UI's base path
// as the browser sees it (from X-Forwarded-Prefix or "/"); `secure` adds Secure (behind TLS).
std::string SessionCookie(std::string_view token, absl::Duration max_age, std::string_view path,
                          bool secure);
std::string ClearedSessionCookie(std::string_view path, bool secure);
// The value of the engram_session cookie in a Cookie header, "" when absent.
std::string_view SessionCookieValue(std::string_view cookie_header);

inline constexpr std::string_view kSessionCookie = "engram_session";

// Failed logins per client: after `max_failures` within `window`, further attempts from that
// client are refused until the window has passed (RESOURCE_EXHAUSTED with the seconds to wait).
// A global cap bounds guessing spread over many clients. Per replica (like engram-api's rate
// limits). Thread-safe.
class LoginLimiter {
 public:
  LoginLimiter(int max_failures_per_client, int max_failures_total, absl::Duration window);
  // OK, or RESOURCE_EXHAUSTED "too many failed logins; retry in N s" (N also in *retry_after_s).
  absl::Status Check(std::string_view client, absl::Time now, int64_t* retry_after_s = nullptr);
  void RecordFailure(std::string_view client, absl::Time now);

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace engram::control
