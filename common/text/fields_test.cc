#include "common/text/fields.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace engram::text {
namespace {

TEST(FieldsTest, IndexedFieldNamesTheItem) {
  EXPECT_EQ(IndexedField("concepts", 3), "concepts[3]");
  EXPECT_EQ(IndexedField("concepts", 3, "id"), "concepts[3].id");
}

TEST(FieldsTest, InvalidFieldIsInvalidArgumentNamingTheField) {
  absl::Status s = InvalidField("items[2].content", "empty");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "items[2].content: empty");
}

TEST(FieldsTest, ValidateName) {
  EXPECT_TRUE(ValidateName("name", "books_2024.v-1").ok());
  EXPECT_EQ(ValidateName("name", "").message(), "name: required");
  EXPECT_EQ(ValidateName("name", std::string(65, 'a')).message(), "name: 65 characters, at most 64");
  EXPECT_TRUE(ValidateName("name", std::string(64, 'a')).ok());
  EXPECT_EQ(ValidateName("name", "a/b").message(), "name: must match [a-zA-Z0-9_.-]{1,64}");
  EXPECT_EQ(ValidateName("name", "..").message(), "name: must not be '.' or '..'");
  EXPECT_EQ(ValidateName("name", ".").message(), "name: must not be '.' or '..'");
}

TEST(FieldsTest, ValidateId) {
  EXPECT_TRUE(ValidateId("id", "c-\xC3\xA9t\xC3\xA9", 128).ok());
  EXPECT_EQ(ValidateId("id", "", 128).message(), "id: required");
  EXPECT_EQ(ValidateId("id", std::string(129, 'x'), 128).message(), "id: 129 bytes, at most 128");
  EXPECT_EQ(ValidateId("id", "bad\xFF", 128).message(), "id: not valid UTF-8");
  EXPECT_EQ(ValidateId("id", "tab\there", 128).message(), "id: contains a control character");
  EXPECT_EQ(ValidateId("id", "del\x7F", 128).message(), "id: contains a control character");
}

TEST(FieldsTest, ValidateVector) {
  const std::vector<float> ok = {0.5f, -1.0f, 0.0f};
  EXPECT_TRUE(ValidateVector("vector", ok, 3).ok());
  EXPECT_EQ(ValidateVector("vector", ok, 4).message(), "vector: dimension 3 != namespace dimension 4");
  const std::vector<float> nan = {0.5f, std::nanf(""), 1.0f};
  EXPECT_EQ(ValidateVector("vector", nan, 3).message(), "vector[1]: not finite");
  const std::vector<float> inf = {std::numeric_limits<float>::infinity()};
  EXPECT_EQ(ValidateFinite("v", inf).message(), "v[0]: not finite");
}

}  // namespace
}  // namespace engram::text
