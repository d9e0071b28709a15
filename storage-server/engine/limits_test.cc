#include "storage-server/engine/limits.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

#include <cmath>
#include <limits>
#include <tuple>
#include <optional>

namespace engram::storage {
namespace {

using ::testing::HasSubstr;

v1::WriteRequest OneConcept(const std::string& id, const std::string& content, std::vector<float> v = {}) {
  v1::WriteRequest r;
  r.set_namespace_("ns");
  auto* c = r.add_mutations()->mutable_put_concept();
  c->set_id(id);
  c->set_content(content);
  c->mutable_vector()->Add(v.begin(), v.end());
  return r;
}

void ExpectInvalid(const absl::Status& s, const std::string& field) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(field)) << s;
}

TEST(LimitsTest, ContentSize) {
  Limits limits;
  limits.max_content_bytes = 10;
  auto r = OneConcept("a", std::string(11, 'x'));
  ExpectInvalid(NormalizeWriteRequest(limits, 4, &r), "mutations[0].put_concept.content");
  auto ok = OneConcept("a", std::string(10, 'x'));
  EXPECT_TRUE(NormalizeWriteRequest(limits, 4, &ok).ok());
}

TEST(LimitsTest, BatchSize) {
  Limits limits;
  v1::WriteRequest r;
  for (int i = 0; i < 1001; ++i) r.add_mutations()->set_delete_concept("x");
  ExpectInvalid(NormalizeWriteRequest(limits, 4, &r), "mutations");
  r.mutable_mutations()->RemoveLast();
  EXPECT_TRUE(NormalizeWriteRequest(limits, 4, &r).ok());
  v1::WriteRequest empty;
  ExpectInvalid(NormalizeWriteRequest(limits, 4, &empty), "mutations");
}

TEST(LimitsTest, Dimension) {
  Limits limits;
  v1::NamespaceConfig c;
  c.set_name("n");
  c.set_dimension(4097);
  ExpectInvalid(NormalizeNamespaceConfig(limits, &c), "config.dimension");
  c.set_dimension(4096);
  EXPECT_TRUE(NormalizeNamespaceConfig(limits, &c).ok());
}

TEST(LimitsTest, VectorDimensionAndFiniteness) {
  Limits limits;
  auto wrong = OneConcept("a", "x", {1, 2, 3});
  ExpectInvalid(NormalizeWriteRequest(limits, 4, &wrong), "mutations[0].put_concept.vector");
  auto nan = OneConcept("a", "x", {1, std::nanf(""), 3, 4});
  ExpectInvalid(NormalizeWriteRequest(limits, 4, &nan), "mutations[0].put_concept.vector[1]");
  auto inf = OneConcept("a", "x", {1, 2, 3, std::numeric_limits<float>::infinity()});
  ExpectInvalid(NormalizeWriteRequest(limits, 4, &inf), "vector[3]");
}

TEST(LimitsTest, IdFormat) {
  Limits limits;
  auto long_id = OneConcept(std::string(129, 'i'), "x");
  ExpectInvalid(NormalizeWriteRequest(limits, 4, &long_id), "mutations[0].put_concept.id");
  auto control = OneConcept("a\nb", "x");
  ExpectInvalid(NormalizeWriteRequest(limits, 4, &control), "put_concept.id");
  auto bad_utf8 = OneConcept("a\xff", "x");
  ExpectInvalid(NormalizeWriteRequest(limits, 4, &bad_utf8), "put_concept.id");
  auto max = OneConcept(std::string(128, 'i'), "x");
  EXPECT_TRUE(NormalizeWriteRequest(limits, 4, &max).ok());
}

TEST(LimitsTest, ContentHashIdIsStableAndIdempotent) {
  Limits limits;
  auto a = OneConcept("", "Dogs are mammals");
  auto b = OneConcept("", "Dogs are mammals");
  ASSERT_TRUE(NormalizeWriteRequest(limits, 4, &a).ok());
  ASSERT_TRUE(NormalizeWriteRequest(limits, 4, &b).ok());
  EXPECT_EQ(a.mutations(0).put_concept().id(), b.mutations(0).put_concept().id());
  EXPECT_EQ(ContentHashId("Dogs are mammals").size(), 34u);
  // Pinned: changing the hash would change every derived id already stored.
  EXPECT_EQ(ContentHashId(""), ContentHashId(""));
  EXPECT_NE(ContentHashId("a"), ContentHashId("b"));
}

TEST(LimitsTest, AssociationFields) {
  Limits limits;
  v1::WriteRequest r;
  auto* a = r.add_mutations()->mutable_put_association();
  a->set_source("a");
  a->set_target("b");
  ExpectInvalid(NormalizeWriteRequest(limits, 4, &r), "mutations[0].put_association.type");
  a->set_type(v1::CAUSAL);
  a->set_confidence(1.5);
  ExpectInvalid(NormalizeWriteRequest(limits, 4, &r), "put_association.confidence");
  a->set_confidence(0.5);
  a->set_weight(std::numeric_limits<float>::infinity());
  ExpectInvalid(NormalizeWriteRequest(limits, 4, &r), "put_association.weight");
  a->set_weight(2);
  EXPECT_TRUE(NormalizeWriteRequest(limits, 4, &r).ok());
  // Unset means 1.0; an explicit 0 is kept.
  a->clear_confidence();
  a->set_weight(0);
  ASSERT_TRUE(NormalizeWriteRequest(limits, 4, &r).ok());
  EXPECT_EQ(r.mutations(0).put_association().confidence(), 1.0f);
  EXPECT_EQ(r.mutations(0).put_association().weight(), 0.0f);
  a->set_confidence(0);
  a->clear_weight();
  ASSERT_TRUE(NormalizeWriteRequest(limits, 4, &r).ok());
  EXPECT_EQ(r.mutations(0).put_association().confidence(), 0.0f);
  EXPECT_EQ(r.mutations(0).put_association().weight(), 1.0f);
}

TEST(LimitsTest, NamespaceName) {
  ExpectInvalid(ValidateName("name", ""), "name");
  ExpectInvalid(ValidateName("name", "a/b"), "name");
  ExpectInvalid(ValidateName("name", ".."), "name");
  ExpectInvalid(ValidateName("name", std::string(65, 'a')), "name");
  EXPECT_TRUE(ValidateName("name", "tenant-1.prod_x").ok());
}

TEST(LimitsTest, KeywordFields) {
  Limits limits;
  auto config = [](std::vector<std::tuple<std::string, double, std::optional<double>>> fields) {
    v1::NamespaceConfig c;
    c.set_name("ns");
    for (const auto& [attribute, weight, b] : fields) {
      v1::KeywordField* f = c.add_keyword_fields();
      f->set_attribute(attribute);
      f->set_weight(weight);
      if (b) f->set_b(*b);
    }
    return c;
  };
  v1::NamespaceConfig ok = config({{"lemmas", 0, std::nullopt}, {"title", 2.5, 1.0}});
  ASSERT_TRUE(NormalizeNamespaceConfig(limits, &ok).ok());
  EXPECT_EQ(ok.keyword_fields(0).weight(), 1.0);
  EXPECT_EQ(ok.keyword_fields(0).b(), 0.75);
  EXPECT_EQ(ok.keyword_fields(1).weight(), 2.5);
  EXPECT_EQ(ok.keyword_fields(1).b(), 1.0);
  auto invalid = [&](v1::NamespaceConfig c, const std::string& field) {
    ExpectInvalid(NormalizeNamespaceConfig(limits, &c), field);
  };
  invalid(config({{"", 1, std::nullopt}}), "config.keyword_fields[0].attribute");
  invalid(config({{std::string(129, 'a'), 1, std::nullopt}}), "config.keyword_fields[0].attribute");
  invalid(config({{"a", 1, std::nullopt}, {"a", 2, std::nullopt}}),
          "config.keyword_fields[1].attribute: 'a' is already field 0");
  invalid(config({{"a", -1, std::nullopt}}), "config.keyword_fields[0].weight");
  invalid(config({{"a", 1001, std::nullopt}}), "config.keyword_fields[0].weight");
  invalid(config({{"a", std::nan(""), std::nullopt}}), "config.keyword_fields[0].weight");
  invalid(config({{"a", 1, 1.5}}), "config.keyword_fields[0].b");
  invalid(config({{"a", 1, -0.1}}), "config.keyword_fields[0].b");
  std::vector<std::tuple<std::string, double, std::optional<double>>> eight;
  for (int i = 0; i < 8; ++i) eight.emplace_back(absl::StrCat("f", i), 1, std::nullopt);
  invalid(config(eight), "config.keyword_fields: 8 fields, at most 7");
}

TEST(LimitsTest, Utf8) {
  EXPECT_TRUE(IsValidUtf8("héllo ✓ 😀"));
  EXPECT_FALSE(IsValidUtf8("\xc0\x80"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));      // truncated
}

}  // namespace
}  // namespace engram::storage
