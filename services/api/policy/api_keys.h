// API keys: who may call, with which role, on which namespaces.
//
// The keys file (--api_keys_file; a Kubernetes Secret in production) is JSON:
//   {"keys": [
//     {"name": "ingest-job", "key": "ek_...", "role": "writer", "namespaces": ["products"]},
//     {"name": "ops",        "key": "ek_...", "role": "admin",  "namespaces": ["*"]}
//   ]}
// name: for logs and metrics (the key itself is never logged); key: >= 16 bytes, unique;
// role: reader (reads, search, reason) < writer (+ learn, associate, delete concepts)
// < admin (+ create/delete namespaces); namespaces: the namespaces the key may touch, "*" = all.
// A malformed file is an INVALID_ARGUMENT naming the entry and field ("keys[2].role: ...").
//
//   ASSIGN_OR_RETURN(ApiKeyStore keys, ApiKeyStore::LoadFile(path));
//   ASSIGN_OR_RETURN(const ApiKey* who, keys.Authenticate(bearer));        // UNAUTHENTICATED
//   RETURN_IF_ERROR(ApiKeyStore::Authorize(*who, Role::kWriter, "products"));  // PERMISSION_DENIED
//
// Authenticate compares against every key in constant time (no early exit on the first match or
// the first differing byte), so timing reveals neither which key nor how much of it matched.
// Thread-safety: const methods are thread-safe; the store is immutable after loading.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/sync/mutex.h"

namespace engram::api {

enum class Role { kReader = 0, kWriter = 1, kAdmin = 2 };
std::string_view RoleName(Role role);  // "reader", "writer", "admin"

struct ApiKey {
  std::string name;
  std::string key;
  Role role = Role::kReader;
  std::vector<std::string> namespaces;  // {"*"} for every namespace
  bool AllowsNamespace(std::string_view ns) const;
  bool AllNamespaces() const;  // "*" is in `namespaces`
};

class ApiKeyStore {
 public:
  static absl::StatusOr<ApiKeyStore> Parse(std::string_view json);
  static absl::StatusOr<ApiKeyStore> LoadFile(const std::string& path);
  explicit ApiKeyStore(std::vector<ApiKey> keys);

  // UNAUTHENTICATED "missing API key" for "", "invalid API key" when no key matches.
  absl::StatusOr<const ApiKey*> Authenticate(std::string_view presented) const;
  // PERMISSION_DENIED "key '<name>' (reader) may not <...>" when the role is below `needed` or the
  // namespace is not allowed. `ns` empty: a call that names no namespace (stats, list).
  static absl::Status Authorize(const ApiKey& key, Role needed, std::string_view ns);

  size_t size() const { return keys_.size(); }
  // The key named `name`, or null. For sessions that name their key (engram-control).
  const ApiKey* FindByName(std::string_view name) const;

 private:
  std::vector<ApiKey> keys_;
  std::vector<std::array<unsigned char, 32>> digests_;  // SHA-256 of keys_[i].key
};

// The keys in force, replaceable while calls still use the previous set: the keys file (a
// Kubernetes Secret, updated in place when the Secret changes) is re-read by Reload(), and a bad
// new file never replaces good keys.
//
//   ApiKeyRing ring("/etc/engram/api-keys.json");
//   RETURN_IF_ERROR(ring.Reload().status());                    // at startup: must succeed
//   std::shared_ptr<const ApiKeyStore> keys = ring.Current();  // per call; keep it while using
//                                                               // an ApiKey* from it
// Thread-safe.
class ApiKeyRing {
 public:
  // Fixed keys (no file; Reload() is FAILED_PRECONDITION).
  explicit ApiKeyRing(ApiKeyStore store);
  // Keys from `path`; none until the first successful Reload().
  explicit ApiKeyRing(std::string path);

  std::shared_ptr<const ApiKeyStore> Current() const;
  // Reads the file. true: its content changed and the new keys are in force; false: unchanged.
  // An error (unreadable, malformed, no keys; the message names the file and entry) leaves the
  // current keys in force.
  absl::StatusOr<bool> Reload();

 private:
  const std::string path_;
  mutable sync::Mutex mu_;
  std::shared_ptr<const ApiKeyStore> current_ ABSL_GUARDED_BY(mu_);
  std::string loaded_text_ ABSL_GUARDED_BY(mu_);
  bool loaded_once_ ABSL_GUARDED_BY(mu_) = false;
};

// Parses the bearer credential from an Authorization header / metadata value
// ("Bearer <key>", scheme case-insensitive). "" when absent or another scheme.
std::string_view BearerToken(std::string_view authorization);

}  // namespace engram::api
