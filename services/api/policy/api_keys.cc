#include "services/api/policy/api_keys.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/text/absl_view.h"
#include "common/crypto/sha256.h"
#include "common/status/status_macros.h"
#include "nlohmann/json.hpp"

namespace engram::api {
namespace {

using Json = nlohmann::json;

// Debian's Abseil: absl::string_view is not std::string_view.
constexpr size_t kMinKeyBytes = 16;

std::array<unsigned char, crypto::kSha256Bytes> Digest(std::string_view text) {
  return crypto::Sha256Digest(text);
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role role : {Role::kReader, Role::kWriter, Role::kAdmin}) {
    if (RoleName(role) == name) return role;
  }
  return std::nullopt;
}

// What a role may do, for PERMISSION_DENIED messages.
std::string_view RoleAction(Role needed) {
  switch (needed) {
    case Role::kReader:
      return "read";
    case Role::kWriter:
      return "write";
    case Role::kAdmin:
      return "administer namespaces";
  }
  return "do this";
}

// Bearer keys travel in HTTP headers and gRPC metadata: visible ASCII, no spaces.
bool IsTokenText(std::string_view key) {
  for (unsigned char c : key) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

absl::Status FieldError(size_t index, std::string_view field, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("keys[", index, "]", field.empty() ? "" : ".",
                                                 AbslView(field), ": ", AbslView(message)));
}

absl::StatusOr<std::string> RequiredString(const Json& entry, size_t index, const char* field) {
  auto it = entry.find(field);
  if (it == entry.end()) return FieldError(index, field, "missing");
  if (!it->is_string()) return FieldError(index, field, "expected a string");
  std::string value = it->get<std::string>();
  if (value.empty()) return FieldError(index, field, "must not be empty");
  return value;
}

absl::StatusOr<ApiKey> ParseEntry(const Json& entry, size_t index) {
  if (!entry.is_object()) return FieldError(index, "", "expected an object");
  for (const auto& [field, value] : entry.items()) {
    if (field != "name" && field != "key" && field != "role" && field != "namespaces") {
      return FieldError(index, field, "unknown field (name, key, role, namespaces)");
    }
  }
  ApiKey key;
  absl::StatusOr<std::string> name = RequiredString(entry, index, "name");
  if (!name.ok()) return name.status();
  key.name = *std::move(name);

  // Messages about `key` describe it and never quote it.
  absl::StatusOr<std::string> secret = RequiredString(entry, index, "key");
  if (!secret.ok()) return secret.status();
  if (secret->size() < kMinKeyBytes) {
    return FieldError(index, "key", absl::StrCat("too short (at least ", kMinKeyBytes, " bytes)"));
  }
  if (!IsTokenText(*secret)) {
    return FieldError(index, "key", "must be printable ASCII without spaces");
  }
  key.key = *std::move(secret);

  absl::StatusOr<std::string> role_name = RequiredString(entry, index, "role");
  if (!role_name.ok()) return role_name.status();
  std::optional<Role> role = ParseRole(*role_name);
  if (!role) {
    return FieldError(index, "role",
                      absl::StrCat("unknown role '", *role_name, "' (reader, writer, admin)"));
  }
  key.role = *role;

  auto namespaces = entry.find("namespaces");
  if (namespaces == entry.end()) return FieldError(index, "namespaces", "missing");
  if (!namespaces->is_array()) return FieldError(index, "namespaces", "expected an array");
  if (namespaces->empty()) {
    return FieldError(index, "namespaces", "must list at least one namespace (\"*\" for all)");
  }
  for (size_t i = 0; i < namespaces->size(); ++i) {
    const Json& ns = (*namespaces)[i];
    const std::string field = absl::StrCat("namespaces[", i, "]");
    if (!ns.is_string() || ns.get_ref<const std::string&>().empty()) {
      return FieldError(index, field, "expected a non-empty string");
    }
    key.namespaces.push_back(ns.get<std::string>());
  }
  return key;
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kReader:
      return "reader";
    case Role::kWriter:
      return "writer";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

bool ApiKey::AllNamespaces() const {
  return std::find(namespaces.begin(), namespaces.end(), "*") != namespaces.end();
}

bool ApiKey::AllowsNamespace(std::string_view ns) const {
  for (const std::string& allowed : namespaces) {
    if (allowed == "*" || allowed == ns) return true;
  }
  return false;
}

absl::StatusOr<ApiKeyStore> ApiKeyStore::Parse(std::string_view json) {
  Json root;
  try {
    root = Json::parse(json.begin(), json.end());
  } catch (const Json::parse_error& e) {
    // e.what() quotes the text around the error, which may be key material: report the offset.
    return absl::InvalidArgumentError(
        absl::StrCat("keys file: not valid JSON (error at byte ", e.byte, ")"));
  } catch (const Json::exception& e) {
    // A number too large for a double ("1e400") is out_of_range, not a parse_error (found by
    // api_keys_fuzz: it escaped and ended the process, on a rotated Secret too). No text quoted.
    return absl::InvalidArgumentError("keys file: not valid JSON (a number out of range)");
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError("keys file: expected an object {\"keys\": [...]}");
  }
  for (const auto& [field, value] : root.items()) {
    if (field != "keys") return absl::InvalidArgumentError(absl::StrCat(field, ": unknown field"));
  }
  auto entries = root.find("keys");
  if (entries == root.end()) return absl::InvalidArgumentError("keys: missing");
  if (!entries->is_array()) return absl::InvalidArgumentError("keys: expected an array");
  if (entries->empty()) {
    return absl::InvalidArgumentError("keys: empty (no caller could authenticate)");
  }

  std::vector<ApiKey> keys;
  keys.reserve(entries->size());
  std::map<std::string, size_t> index_by_name;
  std::map<std::array<unsigned char, crypto::kSha256Bytes>, size_t> index_by_digest;
  for (size_t i = 0; i < entries->size(); ++i) {
    absl::StatusOr<ApiKey> key = ParseEntry((*entries)[i], i);
    if (!key.ok()) return key.status();
    if (auto [it, added] = index_by_name.emplace(key->name, i); !added) {
      return FieldError(
          i, "name",
          absl::StrCat("duplicate name '", key->name, "' (also keys[", it->second, "])"));
    }
    if (auto [it, added] = index_by_digest.emplace(Digest(key->key), i); !added) {
      return FieldError(i, "key", absl::StrCat("duplicate key (same as keys[", it->second, "])"));
    }
    keys.push_back(*std::move(key));
  }
  return ApiKeyStore(std::move(keys));
}

namespace {

absl::StatusOr<std::string> ReadKeysFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    return absl::Status(error != 0 ? absl::ErrnoToStatusCode(error) : absl::StatusCode::kNotFound,
                        absl::StrCat("api keys file '", path, "': cannot open: ",
                                     error != 0 ? std::strerror(error) : "unknown error"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat("api keys file '", path, "': read failed"));
  }
  return text.str();
}

absl::StatusOr<ApiKeyStore> ParseKeysFile(const std::string& path, std::string_view text) {
  absl::StatusOr<ApiKeyStore> store = ApiKeyStore::Parse(text);
  if (!store.ok()) {
    return absl::Status(store.status().code(),
                        absl::StrCat("api keys file '", path, "': ", store.status().message()));
  }
  return store;
}

}  // namespace

absl::StatusOr<ApiKeyStore> ApiKeyStore::LoadFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadKeysFile(path));
  return ParseKeysFile(path, text);
}

ApiKeyRing::ApiKeyRing(ApiKeyStore store)
    : current_(std::make_shared<const ApiKeyStore>(std::move(store))) {}

ApiKeyRing::ApiKeyRing(std::string path)
    : path_(std::move(path)), current_(std::make_shared<const ApiKeyStore>(std::vector<ApiKey>{})) {}

std::shared_ptr<const ApiKeyStore> ApiKeyRing::Current() const {
  sync::MutexLock lock(&mu_);
  return current_;
}

absl::StatusOr<bool> ApiKeyRing::Reload() {
  if (path_.empty()) return absl::FailedPreconditionError("api keys: no file to reload from");
  ASSIGN_OR_RETURN(std::string text, ReadKeysFile(path_));
  {
    sync::MutexLock lock(&mu_);
    if (loaded_once_ && text == loaded_text_) return false;
  }
  ASSIGN_OR_RETURN(ApiKeyStore store, ParseKeysFile(path_, text));
  if (store.size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("api keys file '", path_, "': no keys (every call would be refused)"));
  }
  auto fresh = std::make_shared<const ApiKeyStore>(std::move(store));
  sync::MutexLock lock(&mu_);
  current_ = std::move(fresh);
  loaded_text_ = std::move(text);
  loaded_once_ = true;
  return true;
}

ApiKeyStore::ApiKeyStore(std::vector<ApiKey> keys) : keys_(std::move(keys)) {
  digests_.reserve(keys_.size());
  for (const ApiKey& key : keys_) digests_.push_back(Digest(key.key));
}

absl::StatusOr<const ApiKey*> ApiKeyStore::Authenticate(std::string_view presented) const {
  if (presented.empty()) return absl::UnauthenticatedError("missing API key");
  // Digests have a fixed length whatever the presented length; every stored digest is compared
  // with CRYPTO_memcmp and the match is selected with masks, so the work does not depend on
  // which key matched or how much of it did.
  const auto digest = Digest(presented);
  size_t match = 0;
  size_t found = 0;  // all ones when some key matched
  for (size_t i = 0; i < digests_.size(); ++i) {
    const size_t equal =
        static_cast<size_t>(CRYPTO_memcmp(digest.data(), digests_[i].data(), digest.size()) == 0);
    const size_t mask = ~(equal - 1);  // all ones when equal
    match = (match & ~mask) | (i & mask);
    found |= mask;
  }
  if (found == 0) return absl::UnauthenticatedError("invalid API key");
  return &keys_[match];
}

absl::Status ApiKeyStore::Authorize(const ApiKey& key, Role needed, std::string_view ns) {
  if (static_cast<int>(key.role) < static_cast<int>(needed)) {
    return absl::PermissionDeniedError(
        absl::StrCat("key '", key.name, "' (", AbslView(RoleName(key.role)), ") may not ",
                     AbslView(RoleAction(needed)), " (needs ", AbslView(RoleName(needed)), ")"));
  }
  if (!ns.empty() && !key.AllowsNamespace(ns)) {
    return absl::PermissionDeniedError(
        absl::StrCat("key '", key.name, "' (", AbslView(RoleName(key.role)),
                     ") may not use namespace '", AbslView(ns), "'"));
  }
  return absl::OkStatus();
}

std::string_view BearerToken(std::string_view authorization) {
  auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  while (!authorization.empty() && is_space(authorization.front())) authorization.remove_prefix(1);
  while (!authorization.empty() && is_space(authorization.back())) authorization.remove_suffix(1);
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() || !is_space(authorization[kScheme.size()]) ||
      !absl::EqualsIgnoreCase(AbslView(authorization.substr(0, kScheme.size())),
                              AbslView(kScheme))) {
    return {};
  }
  authorization.remove_prefix(kScheme.size());
  while (!authorization.empty() && is_space(authorization.front())) authorization.remove_prefix(1);
  return authorization;
}

const ApiKey* ApiKeyStore::FindByName(std::string_view name) const {
  for (const ApiKey& key : keys_) {
    if (key.name == name) return &key;
  }
  return nullptr;
}

}  // namespace engram::api
