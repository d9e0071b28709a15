// libFuzzer target: the API keys file parser (ApiKeyStore::Parse; the file is a Kubernetes Secret
// an operator edits) and the bearer-token parsing of the Authorization header every request sends.
// A malformed file must be INVALID_ARGUMENT; a store that loads must authenticate each of its own
// keys and authorize as its roles say.
//
// Input: up to the first NUL byte, an Authorization header value; after it, the keys file.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "services/api/policy/api_keys.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view header = input.substr(0, nul);
  const std::string_view json = nul == std::string_view::npos ? input : input.substr(nul + 1);

  const std::string_view bearer = engram::api::BearerToken(header);
  if (bearer.size() > header.size()) __builtin_trap();

  absl::StatusOr<engram::api::ApiKeyStore> store = engram::api::ApiKeyStore::Parse(json);
  if (!store.ok()) {
    if (store.status().code() != absl::StatusCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  (void)store->Authenticate(bearer);
  for (const char* name : {"ops", "ingest-job", ""}) {
    const engram::api::ApiKey* key = store->FindByName(name);
    if (key == nullptr) continue;
    absl::StatusOr<const engram::api::ApiKey*> who = store->Authenticate(key->key);
    if (!who.ok()) __builtin_trap();
    (void)engram::api::ApiKeyStore::Authorize(**who, engram::api::Role::kWriter, "products");
  }
  return 0;
}
