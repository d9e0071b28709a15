#include "services/control/server/session.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <deque>
#include <map>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"

namespace engram::control {

namespace {

std::string Hex(const unsigned char* data, size_t n) {
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(data), n));
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

SessionCodec::SessionCodec(std::string secret, absl::Duration ttl)
    : secret_(std::move(secret)), ttl_(ttl) {}

std::string SessionCodec::Sign(std::string_view payload) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), mac, &len);
  return Hex(mac, len);
}

std::string SessionCodec::Csrf(std::string_view nonce) const {
  return Sign(absl::StrCat("csrf|", std::string(nonce))).substr(0, 32);
}

std::string SessionCodec::Issue(std::string_view key_name, absl::Time now) const {
  unsigned char nonce_bytes[16];
  RAND_bytes(nonce_bytes, sizeof(nonce_bytes));
  const std::string payload =
      absl::StrCat("v1.", absl::WebSafeBase64Escape(std::string(key_name)), ".",
                   absl::ToUnixSeconds(now + ttl_), ".", Hex(nonce_bytes, sizeof(nonce_bytes)));
  return absl::StrCat(payload, ".", Sign(payload));
}

absl::StatusOr<Session> SessionCodec::Verify(std::string_view token, absl::Time now) const {
  const size_t dot = token.rfind('.');
  if (dot == std::string_view::npos) return absl::UnauthenticatedError("malformed session");
  const std::string_view payload = token.substr(0, dot);
  if (!ConstantTimeEquals(Sign(payload), token.substr(dot + 1))) {
    return absl::UnauthenticatedError("session not valid (signed by other keys; log in again)");
  }
  std::vector<std::string> parts = absl::StrSplit(std::string(payload), '.');
  int64_t expiry = 0;
  std::string key_name;
  if (parts.size() != 4 || parts[0] != "v1" || !absl::SimpleAtoi(parts[2], &expiry) ||
      !absl::WebSafeBase64Unescape(parts[1], &key_name) || key_name.empty()) {
    return absl::UnauthenticatedError("malformed session");
  }
  const absl::Time expires = absl::FromUnixSeconds(expiry);
  if (now >= expires) return absl::UnauthenticatedError("session expired; log in again");
  return Session{.key_name = std::move(key_name), .expires = expires, .csrf_token = Csrf(parts[3])};
}

bool SessionCodec::CsrfMatches(const Session& session, std::string_view presented) const {
  return !presented.empty() && ConstantTimeEquals(session.csrf_token, presented);
}

std::string SessionCookie(std::string_view token, absl::Duration max_age, std::string_view path,
                          bool secure) {
  return absl::StrCat(std::string(kSessionCookie), "=", std::string(token), "; Path=", std::string(path),
                      "; Max-Age=", absl::ToInt64Seconds(max_age),
                      "; HttpOnly; SameSite=Strict", secure ? "; Secure" : "");
}

std::string ClearedSessionCookie(std::string_view path, bool secure) {
  return absl::StrCat(std::string(kSessionCookie), "=; Path=", std::string(path), "; Max-Age=0; HttpOnly; SameSite=Strict",
                      secure ? "; Secure" : "");
}

std::string_view SessionCookieValue(std::string_view cookie_header) {
  absl::string_view header(cookie_header.data(), cookie_header.size());
  const absl::string_view name(kSessionCookie.data(), kSessionCookie.size());
  for (absl::string_view part : absl::StrSplit(header, ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, name) && absl::ConsumePrefix(&part, "=")) {
      return std::string_view(part.data(), part.size());
    }
  }
  return {};
}

class LoginLimiter::Impl {
 public:
  Impl(int per_client, int total, absl::Duration window)
      : per_client_(per_client), total_(total), window_(window) {}

  absl::Status Check(std::string_view client, absl::Time now, int64_t* retry_after_s) {
    absl::MutexLock lock(&mu_);
    Expire(now);
    auto it = failures_.find(std::string(client));
    absl::Time retry_at = absl::InfinitePast();
    if (it != failures_.end() && static_cast<int>(it->second.size()) >= per_client_) {
      retry_at = it->second.front() + window_;
    }
    if (static_cast<int>(all_.size()) >= total_) retry_at = std::max(retry_at, all_.front() + window_);
    if (retry_at == absl::InfinitePast()) return absl::OkStatus();
    const int64_t seconds =
        std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(retry_at - now, absl::Seconds(1))));
    if (retry_after_s != nullptr) *retry_after_s = seconds;
    return absl::ResourceExhaustedError(
        absl::StrCat("too many failed logins; retry in ", seconds, " s"));
  }

  void RecordFailure(std::string_view client, absl::Time now) {
    absl::MutexLock lock(&mu_);
    Expire(now);
    failures_[std::string(client)].push_back(now);
    all_.push_back(now);
  }

 private:
  void Expire(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (!all_.empty() && all_.front() + window_ <= now) all_.pop_front();
    for (auto it = failures_.begin(); it != failures_.end();) {
      while (!it->second.empty() && it->second.front() + window_ <= now) it->second.pop_front();
      it = it->second.empty() ? failures_.erase(it) : std::next(it);
    }
  }

  const int per_client_;
  const int total_;
  const absl::Duration window_;
  absl::Mutex mu_;
  std::map<std::string, std::deque<absl::Time>, std::less<>> failures_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::Time> all_ ABSL_GUARDED_BY(mu_);
};

LoginLimiter::LoginLimiter(int max_failures_per_client, int max_failures_total, absl::Duration window)
    : impl_(std::make_shared<Impl>(max_failures_per_client, max_failures_total, window)) {}

absl::Status LoginLimiter::Check(std::string_view client, absl::Time now, int64_t* retry_after_s) {
  return impl_->Check(client, now, retry_after_s);
}

void LoginLimiter::RecordFailure(std::string_view client, absl::Time now) {
  impl_->RecordFailure(client, now);
}

}  // namespace engram::control
