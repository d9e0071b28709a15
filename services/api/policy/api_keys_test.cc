#include "services/api/policy/api_keys.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::api {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kReaderKey[] = "ek_reader_0123456789abcdef";
constexpr char kWriterKey[] = "ek_writer_0123456789abcdef";
constexpr char kAdminKey[] = "ek_admin__0123456789abcdef";

constexpr char kGoodFile[] = R"({"keys": [
  {"name": "dashboard", "key": "ek_reader_0123456789abcdef", "role": "reader", "namespaces": ["products", "docs"]},
  {"name": "ingest-job", "key": "ek_writer_0123456789abcdef", "role": "writer", "namespaces": ["products"]},
  {"name": "ops", "key": "ek_admin__0123456789abcdef", "role": "admin", "namespaces": ["*"]}
]})";

TEST(RoleNameTest, NamesEveryRole) {
  EXPECT_EQ(RoleName(Role::kReader), "reader");
  EXPECT_EQ(RoleName(Role::kWriter), "writer");
  EXPECT_EQ(RoleName(Role::kAdmin), "admin");
}

TEST(ApiKeyStoreTest, ParsesAGoodFile) {
  absl::StatusOr<ApiKeyStore> store = ApiKeyStore::Parse(kGoodFile);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(store->size(), 3u);
  absl::StatusOr<const ApiKey*> ingest = store->Authenticate(kWriterKey);
  ASSERT_TRUE(ingest.ok()) << ingest.status();
  EXPECT_EQ((*ingest)->name, "ingest-job");
  EXPECT_EQ((*ingest)->role, Role::kWriter);
  EXPECT_EQ((*ingest)->namespaces, std::vector<std::string>{"products"});
}

struct MalformedCase {
  std::string label;
  std::string json;
  std::string message;  // expected substring
};

class MalformedFileTest : public ::testing::TestWithParam<MalformedCase> {};

// A valid entry with one field replaced, for the per-field cases.
std::string Entry(std::string name, std::string key, std::string role, std::string namespaces) {
  return "{\"keys\": [{\"name\": \"first\", \"key\": \"ek_first_0123456789abcdef\", \"role\": "
         "\"reader\", \"namespaces\": [\"*\"]}, {" +
         name + key + role + namespaces + "}]}";
}
const std::string kName = "\"name\": \"second\", ";
const std::string kKey = "\"key\": \"ek_second_0123456789abcdef\", ";
const std::string kRole = "\"role\": \"writer\", ";
const std::string kNamespaces = "\"namespaces\": [\"a\"]";

TEST_P(MalformedFileTest, IsRejectedNamingTheField) {
  absl::StatusOr<ApiKeyStore> store = ApiKeyStore::Parse(GetParam().json);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(GetParam().message));
  // No message ever quotes key material.
  EXPECT_THAT(std::string(store.status().message()), Not(HasSubstr("0123456789")));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedFileTest,
    ::testing::Values(
        MalformedCase{"not_json", "{\"keys\": [{\"key\": ek_0123456789abcdef", "not valid JSON"},
        MalformedCase{"not_object", "[]", "expected an object"},
        MalformedCase{"unknown_top_field", R"({"keys": [], "kyes": []})", "kyes: unknown field"},
        MalformedCase{"no_keys", "{}", "keys: missing"},
        MalformedCase{"keys_not_array", R"({"keys": {}})", "keys: expected an array"},
        MalformedCase{"keys_empty", R"({"keys": []})", "keys: empty"},
        MalformedCase{"entry_not_object", R"({"keys": ["ek_0123456789abcdef"]})",
                      "keys[0]: expected an object"},
        MalformedCase{"unknown_field", Entry(kName, kKey, kRole, kNamespaces + ", \"nmae\": 1"),
                      "keys[1].nmae: unknown field"},
        MalformedCase{"name_missing", Entry("", kKey, kRole, kNamespaces), "keys[1].name: missing"},
        MalformedCase{"name_not_string", Entry("\"name\": 7, ", kKey, kRole, kNamespaces),
                      "keys[1].name: expected a string"},
        MalformedCase{"name_empty", Entry("\"name\": \"\", ", kKey, kRole, kNamespaces),
                      "keys[1].name: must not be empty"},
        MalformedCase{"name_duplicate", Entry("\"name\": \"first\", ", kKey, kRole, kNamespaces),
                      "keys[1].name: duplicate name 'first' (also keys[0])"},
        MalformedCase{"key_missing", Entry(kName, "", kRole, kNamespaces), "keys[1].key: missing"},
        MalformedCase{"key_not_string",
                      Entry(kName, "\"key\": 12345678901234567890, ", kRole, kNamespaces),
                      "keys[1].key: expected a string"},
        MalformedCase{"key_short", Entry(kName, "\"key\": \"ek_012345678\", ", kRole, kNamespaces),
                      "keys[1].key: too short (at least 16 bytes)"},
        MalformedCase{"key_with_space",
                      Entry(kName, "\"key\": \"ek_0123456789 abcdef\", ", kRole, kNamespaces),
                      "keys[1].key: must be printable ASCII"},
        MalformedCase{"key_duplicate",
                      Entry(kName, "\"key\": \"ek_first_0123456789abcdef\", ", kRole, kNamespaces),
                      "keys[1].key: duplicate key (same as keys[0])"},
        MalformedCase{"role_missing", Entry(kName, kKey, "", kNamespaces), "keys[1].role: missing"},
        MalformedCase{"role_unknown", Entry(kName, kKey, "\"role\": \"boss\", ", kNamespaces),
                      "keys[1].role: unknown role 'boss' (reader, writer, admin)"},
        MalformedCase{"role_wrong_case", Entry(kName, kKey, "\"role\": \"Admin\", ", kNamespaces),
                      "keys[1].role: unknown role 'Admin'"},
        MalformedCase{"namespaces_missing",
                      "{\"keys\": [{\"name\": \"a\", \"key\": \"ek_0123456789abcdef\", "
                      "\"role\": \"reader\"}]}",
                      "keys[0].namespaces: missing"},
        MalformedCase{"namespaces_not_array",
                      Entry(kName, kKey, kRole, "\"namespaces\": \"products\""),
                      "keys[1].namespaces: expected an array"},
        MalformedCase{"namespaces_empty", Entry(kName, kKey, kRole, "\"namespaces\": []"),
                      "keys[1].namespaces: must list at least one namespace"},
        MalformedCase{"namespace_not_string",
                      Entry(kName, kKey, kRole, "\"namespaces\": [\"a\", 3]"),
                      "keys[1].namespaces[1]: expected a non-empty string"},
        MalformedCase{"namespace_empty", Entry(kName, kKey, kRole, "\"namespaces\": [\"\"]"),
                      "keys[1].namespaces[0]: expected a non-empty string"}),
    [](const ::testing::TestParamInfo<MalformedCase>& info) { return info.param.label; });

// Found by api_keys_fuzz: a number too large for a double is nlohmann's out_of_range, which the
// parser did not catch, so a keys file (or a rotated Secret) holding one ended the process.
TEST(ApiKeyStoreTest, ANumberOutOfRangeIsInvalidArgumentNotAnException) {
  for (const char* json : {R"({"keys": [763456712e329)", R"({"keys": [{"name": 1e400}]})",
                           R"({"keys": -1e99999})"}) {
    absl::StatusOr<ApiKeyStore> store = ApiKeyStore::Parse(json);
    EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument) << json;
    EXPECT_THAT(std::string(store.status().message()), HasSubstr("not valid JSON")) << json;
  }
}

TEST(ApiKeyStoreTest, AuthenticatesRightWrongAndMissingKeys) {
  absl::StatusOr<ApiKeyStore> store = ApiKeyStore::Parse(kGoodFile);
  ASSERT_TRUE(store.ok()) << store.status();

  for (const char* key : {kReaderKey, kWriterKey, kAdminKey}) {
    absl::StatusOr<const ApiKey*> who = store->Authenticate(key);
    ASSERT_TRUE(who.ok()) << who.status();
    EXPECT_EQ((*who)->key, key);
  }

  const std::string wrong[] = {
      "ek_reader_0123456789abcdeF",   // last byte differs
      "ek_reader_0123456789abcde",    // prefix of a key
      "ek_reader_0123456789abcdef0",  // a key plus one byte
      "x",
  };
  for (const std::string& key : wrong) {
    absl::StatusOr<const ApiKey*> who = store->Authenticate(key);
    ASSERT_FALSE(who.ok()) << key;
    EXPECT_EQ(who.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(who.status().message(), "invalid API key");
  }

  absl::StatusOr<const ApiKey*> missing = store->Authenticate("");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(missing.status().message(), "missing API key");
}

TEST(ApiKeyStoreTest, AuthenticatesTheLastAndFirstOfManyKeys) {
  std::vector<ApiKey> keys;
  for (int i = 0; i < 100; ++i) {
    keys.push_back(
        {absl::StrCat("k", i), absl::StrCat("ek_many_keys_", 1000 + i), Role::kReader, {"*"}});
  }
  ApiKeyStore store(std::move(keys));
  for (int i : {0, 1, 57, 99}) {
    absl::StatusOr<const ApiKey*> who = store.Authenticate(absl::StrCat("ek_many_keys_", 1000 + i));
    ASSERT_TRUE(who.ok()) << who.status();
    EXPECT_EQ((*who)->name, absl::StrCat("k", i));
  }
}

TEST(ApiKeyStoreTest, RoleOrdering) {
  const ApiKey reader{"r", kReaderKey, Role::kReader, {"*"}};
  const ApiKey writer{"w", kWriterKey, Role::kWriter, {"*"}};
  const ApiKey admin{"a", kAdminKey, Role::kAdmin, {"*"}};
  struct Case {
    const ApiKey* key;
    Role needed;
    bool allowed;
  };
  const Case cases[] = {
      {&reader, Role::kReader, true}, {&reader, Role::kWriter, false},
      {&reader, Role::kAdmin, false}, {&writer, Role::kReader, true},
      {&writer, Role::kWriter, true}, {&writer, Role::kAdmin, false},
      {&admin, Role::kReader, true},  {&admin, Role::kWriter, true},
      {&admin, Role::kAdmin, true},
  };
  for (const Case& c : cases) {
    absl::Status status = ApiKeyStore::Authorize(*c.key, c.needed, "products");
    EXPECT_EQ(status.ok(), c.allowed) << c.key->name << " needs " << RoleName(c.needed);
    if (!c.allowed) {
      EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
    }
  }
  absl::Status denied = ApiKeyStore::Authorize(reader, Role::kWriter, "products");
  EXPECT_EQ(denied.message(), "key 'r' (reader) may not write (needs writer)");
  EXPECT_THAT(std::string(denied.message()), Not(HasSubstr(kReaderKey)));
}

TEST(ApiKeyStoreTest, NamespaceScoping) {
  const ApiKey scoped{"ingest-job", kWriterKey, Role::kWriter, {"products", "docs"}};
  const ApiKey everywhere{"ops", kAdminKey, Role::kAdmin, {"*"}};
  EXPECT_TRUE(ApiKeyStore::Authorize(scoped, Role::kWriter, "products").ok());
  EXPECT_TRUE(ApiKeyStore::Authorize(scoped, Role::kReader, "docs").ok());
  absl::Status other = ApiKeyStore::Authorize(scoped, Role::kReader, "secrets");
  EXPECT_EQ(other.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(other.message(), "key 'ingest-job' (writer) may not use namespace 'secrets'");
  // Names are compared exactly.
  EXPECT_FALSE(ApiKeyStore::Authorize(scoped, Role::kReader, "Products").ok());
  EXPECT_FALSE(ApiKeyStore::Authorize(scoped, Role::kReader, "products2").ok());
  // "*" allows every namespace.
  EXPECT_TRUE(ApiKeyStore::Authorize(everywhere, Role::kAdmin, "secrets").ok());
  EXPECT_TRUE(everywhere.AllowsNamespace("anything"));
  // A call naming no namespace (stats, list) only checks the role.
  EXPECT_TRUE(ApiKeyStore::Authorize(scoped, Role::kReader, "").ok());
  EXPECT_FALSE(ApiKeyStore::Authorize(scoped, Role::kAdmin, "").ok());
}

TEST(BearerTokenTest, ParsesTheScheme) {
  struct Case {
    std::string header;
    std::string token;
  };
  const Case cases[] = {
      {"Bearer ek_abc", "ek_abc"},
      {"bearer ek_abc", "ek_abc"},
      {"BEARER ek_abc", "ek_abc"},
      {"  Bearer   ek_abc  ", "ek_abc"},
      {"Bearer\tek_abc", "ek_abc"},
      {"Basic dXNlcjpwYXNz", ""},
      {"Bearerek_abc", ""},
      {"Bearer", ""},
      {"Bearer   ", ""},
      {"", ""},
      {"ek_abc", ""},
  };
  for (const Case& c : cases) EXPECT_EQ(BearerToken(c.header), c.token) << "'" << c.header << "'";
}

class TempFile {
 public:
  explicit TempFile(const std::string& text)
      : path_(std::filesystem::temp_directory_path() /
              ("api_keys_test_" + std::to_string(::getpid()) + ".json")) {
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

TEST(ApiKeyStoreTest, LoadFile) {
  {
    TempFile file(kGoodFile);
    absl::StatusOr<ApiKeyStore> store = ApiKeyStore::LoadFile(file.path());
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(store->size(), 3u);
  }
  {
    TempFile file(
        R"({"keys": [{"name": "a", "key": "short", "role": "reader", "namespaces": ["*"]}]})");
    absl::StatusOr<ApiKeyStore> store = ApiKeyStore::LoadFile(file.path());
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(store.status().message()), HasSubstr(file.path()));
    EXPECT_THAT(std::string(store.status().message()), HasSubstr("keys[0].key: too short"));
  }
  absl::StatusOr<ApiKeyStore> absent = ApiKeyStore::LoadFile("/nonexistent/engram/keys.json");
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(absent.status().message()), HasSubstr("/nonexistent/engram/keys.json"));
}

TEST(ApiKeyRingTest, ReloadReplacesKeysOnlyWithAGoodChangedFile) {
  TempFile file(kGoodFile);
  ApiKeyRing ring(file.path());
  EXPECT_EQ(ring.Current()->size(), 0u);  // nothing before the first load
  absl::StatusOr<bool> changed = ring.Reload();
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  EXPECT_TRUE(ring.Current()->Authenticate(kReaderKey).ok());
  changed = ring.Reload();
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_FALSE(*changed);  // same content: nothing to do

  // A call that started before the reload keeps the keys it authenticated with.
  std::shared_ptr<const ApiKeyStore> before = ring.Current();
  absl::StatusOr<const ApiKey*> reader = before->Authenticate(kReaderKey);
  ASSERT_TRUE(reader.ok());

  // Rotation: the reader key is replaced by a new one.
  constexpr char kNewKey[] = "ek_rotated_0123456789abcdef";
  std::ofstream(file.path(), std::ios::trunc)
      << absl::StrCat(R"({"keys": [{"name": "dashboard", "key": ")", kNewKey,
                      R"(", "role": "reader", "namespaces": ["*"]}]})");
  changed = ring.Reload();
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  EXPECT_TRUE(ring.Current()->Authenticate(kNewKey).ok());
  EXPECT_EQ(ring.Current()->Authenticate(kReaderKey).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*reader)->name, "dashboard");  // still valid: `before` holds the old store

  // A malformed, an empty and a missing file are errors and leave the keys in force.
  for (const char* bad : {R"({"keys": [{"name": "x"}]})", R"({"keys": []})", "not json"}) {
    std::ofstream(file.path(), std::ios::trunc) << bad;
    changed = ring.Reload();
    ASSERT_FALSE(changed.ok()) << bad;
    EXPECT_THAT(std::string(changed.status().message()), HasSubstr(file.path()));
    EXPECT_TRUE(ring.Current()->Authenticate(kNewKey).ok()) << bad;
  }
  std::filesystem::remove(file.path());
  changed = ring.Reload();
  ASSERT_FALSE(changed.ok());
  EXPECT_EQ(changed.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(ring.Current()->Authenticate(kNewKey).ok());

  // Fixed keys have no file to reload.
  ApiKeyRing fixed(ApiKeyStore(std::vector<ApiKey>{}));
  EXPECT_EQ(fixed.Reload().status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace engram::api
