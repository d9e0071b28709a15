// Learn's storage-free steps: request checks, ids and vectors, relations, the association set,
// the Write request and the response.
#include "services/hybrid/service/learn_pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "common/status/error_detail.h"

namespace engram::hybrid {
namespace {

namespace sv1 = storage::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// An embedder other than "none"; LearnItems::From never calls it.
class FakeEmbedder final : public Embedder {
 public:
  const std::string& name() const override { return name_; }
  int dimension() const override { return 2; }
  absl::StatusOr<std::vector<float>> Embed(std::string_view) const override {
    return std::vector<float>{1, 0};
  }

 private:
  const std::string name_ = "fake";
};

v1::LearnRequest Request(const std::vector<std::string>& contents) {
  v1::LearnRequest request;
  request.set_namespace_("ns");
  for (const auto& c : contents) request.add_items()->set_content(c);
  return request;
}

TEST(ContentHashIdTest, IsStableAndPrefixed) {
  const std::string id = ContentHashId("dog");
  EXPECT_EQ(id.size(), 2u + 32u);
  EXPECT_EQ(id.substr(0, 2), "c-");
  EXPECT_EQ(id, ContentHashId("dog"));
  EXPECT_NE(id, ContentHashId("Dog"));
}

TEST(CheckLearnRequestTest, DefaultsAndLimits) {
  v1::LearnRequest request = Request({"a"});
  auto settings = CheckLearnRequest(request, 2);
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->semantic_links, 10u);
  EXPECT_FLOAT_EQ(settings->semantic_threshold, 0.5f);

  request.mutable_options()->mutable_semantic_links()->set_value(0);
  request.mutable_options()->mutable_semantic_threshold()->set_value(1.0f);
  settings = CheckLearnRequest(request, 2);
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->semantic_links, 0u);
  EXPECT_FLOAT_EQ(settings->semantic_threshold, 1.0f);

  EXPECT_THAT(CheckLearnRequest(Request({}), 2).status().message(), HasSubstr("items: 1..2"));
  EXPECT_THAT(CheckLearnRequest(Request({"a", "b", "c"}), 2).status().message(),
              HasSubstr("items: 1..2"));
  EXPECT_THAT(CheckLearnRequest(Request({"a", ""}), 2).status().message(),
              HasSubstr("items[1].content: empty"));
  request.mutable_options()->mutable_semantic_links()->set_value(101);
  EXPECT_THAT(CheckLearnRequest(request, 2).status().message(), HasSubstr("semantic_links"));
  request.mutable_options()->mutable_semantic_links()->set_value(100);
  request.mutable_options()->mutable_semantic_threshold()->set_value(
      std::numeric_limits<float>::quiet_NaN());
  EXPECT_THAT(CheckLearnRequest(request, 2).status().message(), HasSubstr("semantic_threshold"));
}

TEST(LearnItemsTest, IdsAndGivenVectors) {
  v1::LearnRequest request = Request({"A dog is a mammal.", "given", "with vector"});
  request.mutable_items(1)->set_id("my-id");
  for (float x : {0.0f, 1.0f}) request.mutable_items(2)->add_vector(x);
  const NoneEmbedder none(2);
  auto items = LearnItems::From(request, 2, none);
  ASSERT_FALSE(items.ok());  // items 0 and 1 need an embedder
  EXPECT_EQ(items.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(items.status().message(), HasSubstr("items[0].vector: required"));

  const FakeEmbedder fake;
  items = LearnItems::From(request, 2, fake);
  ASSERT_TRUE(items.ok()) << items.status();
  EXPECT_THAT(items->ids, ElementsAre(ContentHashId("A dog is a mammal."), "my-id",
                                      ContentHashId("with vector")));
  EXPECT_TRUE(items->id_set.contains("my-id"));
  EXPECT_THAT(items->vectors, ElementsAre(IsEmpty(), IsEmpty(), ElementsAre(0.0f, 1.0f)));
  EXPECT_THAT(items->to_embed, ElementsAre("A dog is a mammal.", "given"));
  EXPECT_THAT(items->to_embed_index, ElementsAre(0, 1));

  request.mutable_items(2)->add_vector(2.0f);
  EXPECT_THAT(LearnItems::From(request, 2, fake).status().message(),
              HasSubstr("items[2].vector: 3 values, the namespace dimension is 2"));
  request.mutable_items(2)->clear_vector();
  request.mutable_items(2)->add_vector(std::numeric_limits<float>::infinity());
  request.mutable_items(2)->add_vector(0.0f);
  EXPECT_THAT(LearnItems::From(request, 2, fake).status().message(),
              HasSubstr("items[2].vector: not finite"));
}

TEST(LearnRelationsTest, EndpointsByContentHashInFirstMentionOrder) {
  v1::LearnRequest request =
      Request({"Smoking causes cancer.", "Dogs are mammals.", "Cancer is caused by smoking."});
  request.mutable_items(1)->mutable_extract_associations()->set_value(false);
  const RelationExtractor extractor;
  const LearnRelations relations = LearnRelations::Extract(extractor, request);
  ASSERT_EQ(relations.relations.size(), 2u);  // the dogs item does not extract
  EXPECT_EQ(relations.relations[0].source, ContentHashId("smoking"));
  EXPECT_EQ(relations.relations[0].target, ContentHashId("cancer"));
  EXPECT_EQ(relations.relations[0].type, AssociationType::kCausal);
  EXPECT_FLOAT_EQ(relations.relations[0].confidence, 0.85f);
  EXPECT_THAT(relations.relation_ids,
              ElementsAre(ContentHashId("smoking"), ContentHashId("cancer")));
  EXPECT_EQ(relations.relation_content.at(ContentHashId("cancer")), "cancer");
  EXPECT_THAT(relations.key_vectors, IsEmpty());
  EXPECT_THAT(relations.EndpointsOutside({ContentHashId("smoking")}),
              ElementsAre(ContentHashId("cancer")));
}

TEST(AssociationSetTest, DeduplicatesClampsAndDropsSelfLinksAndZero) {
  AssociationSet set;
  set.Add("a", "b", AssociationType::kCausal, 0.5f);
  set.Add("a", "b", AssociationType::kCausal, 0.7f);     // raises
  set.Add("a", "b", AssociationType::kCausal, 0.6f);     // keeps 0.7
  set.Add("a", "b", AssociationType::kTemporal, 2.0f);   // another type, clamped to 1
  set.Add("a", "a", AssociationType::kCausal, 0.9f);     // self-link
  set.Add("b", "a", AssociationType::kSemantic, 0.0f);   // would mean 1.0 to storage
  set.Add("b", "a", AssociationType::kSemantic, -1.0f);  // clamped to 0
  ASSERT_EQ(set.list().size(), 2u);
  EXPECT_EQ(set.list()[0].type(), sv1::CAUSAL);
  EXPECT_FLOAT_EQ(set.list()[0].confidence(), 0.7f);
  EXPECT_FLOAT_EQ(set.list()[0].weight(), 1.0f);
  EXPECT_EQ(set.list()[1].type(), sv1::TEMPORAL);
  EXPECT_FLOAT_EQ(set.list()[1].confidence(), 1.0f);
}

TEST(SemanticLinkSearchesTest, OneSearchPerLinkingItemWithAVector) {
  v1::LearnRequest request = Request({"a", "b", "c"});
  request.mutable_items(1)->mutable_extract_associations()->set_value(false);
  LearnItems items;
  items.ids = {"a", "b", "c"};
  items.vectors = {{1, 0}, {0, 1}, {0, 0}};  // c embeds to zero: nothing to search with
  LearnSettings settings;
  settings.semantic_links = 2;
  settings.semantic_threshold = 0.5f;
  const SemanticLinkSearches searches = SemanticLinkSearches::For(request, items, settings);
  EXPECT_THAT(searches.item_index, ElementsAre(0));
  ASSERT_EQ(searches.requests.size(), 1u);
  EXPECT_EQ(searches.requests[0].namespace_(), "ns");
  EXPECT_EQ(searches.requests[0].k(), 3u);

  std::vector<sv1::SearchResponse> found(1);
  for (const auto& [id, score] : std::vector<std::pair<std::string, float>>{
           {"a", 1.0f}, {"x", 0.9f}, {"low", 0.4f}, {"y", 0.8f}, {"z", 0.7f}}) {
    auto* hit = found[0].add_results();
    hit->mutable_node()->set_id(id);
    hit->set_score(score);
  }
  AssociationSet associations;
  searches.AddLinks(found, items, settings, &associations);
  ASSERT_EQ(associations.list().size(), 2u);  // itself and the low score skipped, at most 2
  EXPECT_EQ(associations.list()[0].target(), "x");
  EXPECT_EQ(associations.list()[1].target(), "y");
  EXPECT_EQ(associations.list()[1].type(), sv1::SEMANTIC);
  EXPECT_FLOAT_EQ(associations.list()[1].confidence(), 0.8f);
}

TEST(BuildLearnWriteTest, ItemsThenRelationConceptsThenAssociations) {
  v1::LearnRequest request = Request({"zero", "given zero"});
  (*request.mutable_items(0)->mutable_attributes())["k"] = "v";
  for (float x : {0.0f, 0.0f}) request.mutable_items(1)->add_vector(x);
  LearnItems items;
  items.ids = {"i0", "i1"};
  items.vectors = {{0, 0}, {0, 0}};
  LearnRelations relations;
  relations.relation_ids = {"r0", "r1"};
  relations.relation_content = {{"r0", "smoking"}, {"r1", "cancer"}};
  relations.key_vectors = {{"r0", {0.6f, 0.8f}}, {"r1", {0, 0}}};
  AssociationSet associations;
  associations.Add("r0", "r1", AssociationType::kCausal, 0.85f);

  auto write = BuildLearnWrite(request, items, relations, {"r0", "r1"}, associations);
  ASSERT_TRUE(write.ok()) << write.status();
  EXPECT_EQ(write->namespace_(), "ns");
  ASSERT_EQ(write->mutations_size(), 5);
  const sv1::Concept& embedded_zero = write->mutations(0).put_concept();
  EXPECT_EQ(embedded_zero.id(), "i0");
  EXPECT_EQ(embedded_zero.vector_size(), 0);  // an embedding of zero is left out
  EXPECT_EQ(embedded_zero.attributes().at("k"), "v");
  EXPECT_EQ(write->mutations(1).put_concept().vector_size(), 2);  // a given vector is kept
  const sv1::Concept& key = write->mutations(2).put_concept();
  EXPECT_EQ(key.content(), "smoking");
  EXPECT_THAT(key.vector(), ElementsAre(0.6f, 0.8f));
  EXPECT_EQ(key.attributes().at("engram.origin"), "relation");
  EXPECT_EQ(write->mutations(3).put_concept().vector_size(), 0);
  EXPECT_EQ(write->mutations(4).put_association().source(), "r0");

  for (int i = 0; i < 998; ++i) {
    associations.Add("r0", "t" + std::to_string(i), AssociationType::kCausal, 0.5f);
  }
  const absl::Status too_large =
      BuildLearnWrite(request, items, relations, {"r0", "r1"}, associations).status();
  EXPECT_EQ(too_large.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_large.message(), HasSubstr("this call needs 1003 storage mutations"));
  // Clients tell it from other bad input by its reason, not its text: smaller batches can succeed.
  EXPECT_TRUE(status::HasReason(too_large, status::ErrorDetail::WRITE_TOO_LARGE)) << too_large;
  EXPECT_EQ(status::FieldOf(too_large), "items");
}

TEST(BuildLearnResponseTest, CreatedFlagsAndCountsByType) {
  LearnItems items;
  items.ids = {"i0", "i1"};
  LearnRelations relations;
  relations.relation_ids = {"i1", "r0", "r1"};  // an endpoint may be an item of the call
  AssociationSet associations;
  associations.Add("r0", "r1", AssociationType::kCausal, 0.8f);
  associations.Add("i0", "r1", AssociationType::kSemantic, 0.6f);
  associations.Add("r1", "r0", AssociationType::kCausal, 0.7f);
  sv1::WriteResponse written;
  for (bool created : {true, false, true, false}) written.add_results()->set_created(created);
  // + the association results, which the response does not read
  for (int i = 0; i < 3; ++i) written.add_results();

  const v1::LearnResponse response =
      BuildLearnResponse(items, relations, {"r0", "r1"}, associations, written);
  ASSERT_EQ(response.results_size(), 2);
  EXPECT_TRUE(response.results(0).created());
  EXPECT_FALSE(response.results(1).created());
  ASSERT_EQ(response.relation_concepts_size(), 3);
  EXPECT_FALSE(response.relation_concepts(0).created());  // an item, not put as a relation
  EXPECT_TRUE(response.relation_concepts(1).created());
  EXPECT_FALSE(response.relation_concepts(2).created());
  EXPECT_EQ(response.associations_size(), 3);
  EXPECT_EQ(response.associations_created(), 3u);
  ASSERT_EQ(response.associations_by_type_size(), 2);  // by type number: SEMANTIC, CAUSAL
  EXPECT_EQ(response.associations_by_type(0).type(), sv1::SEMANTIC);
  EXPECT_EQ(response.associations_by_type(0).count(), 1u);
  EXPECT_EQ(response.associations_by_type(1).type(), sv1::CAUSAL);
  EXPECT_EQ(response.associations_by_type(1).count(), 2u);
}

}  // namespace
}  // namespace engram::hybrid
