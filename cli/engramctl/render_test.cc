#include "cli/engramctl/render.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "google/protobuf/text_format.h"

namespace engram::cli {
namespace {

using ::testing::HasSubstr;

template <typename T>
T FromText(const std::string& text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

constexpr char kReasonConfident[] = R"pb(
  answer { id: "mammal" content: "mammal" }
  best_guess { id: "mammal" content: "mammal" }
  confident: true
  confidence { graph: 0.77 semantic: 0.9 consensus: 0.1 final: 0.72 }
  paths {
    concept_ids: [ "dog", "mammal", "animal" ]
    hops { source: "dog" target: "mammal" type: HIERARCHICAL confidence: 0.9 }
    hops { source: "mammal" target: "animal" type: HIERARCHICAL confidence: 1.0 }
    confidence: 0.77
  }
  paths {
    concept_ids: [ "dog", "bone", "mammal" ]
    hops { source: "dog" target: "bone" type: SEMANTIC confidence: 0.5 }
    hops { source: "mammal" target: "bone" type: CAUSAL confidence: 0.7 }
    confidence: 0.25
  }
  support { id: "dog" score: 0.9123 content: "A dog is a mammal" }
  explanation: "dog is a kind of mammal."
  path_concepts { id: "dog" content: "dog" }
  path_concepts { id: "mammal" content: "mammal" }
  path_concepts { id: "animal" content: "animal" }
)pb";

TEST(RenderTest, ReasonPrettyPrintsAnswerConfidencePathsSupportExplanation) {
  auto response = FromText<engram::v1::ReasonResponse>(kReasonConfident);
  EXPECT_EQ(RenderReason(response),
            "Answer: mammal (mammal)\n"
            "Confidence: 0.72 (graph 0.77, semantic 0.90, consensus 0.10)\n"
            "Paths:\n"
            "  1. (0.77) dog --HIERARCHICAL(0.90)--> mammal --HIERARCHICAL(1.00)--> animal\n"
            "  2. (0.25) dog --SEMANTIC(0.50)--> bone <--CAUSAL(0.70)-- mammal\n"
            "Support:\n"
            "  1. [0.9123] dog  A dog is a mammal\n"
            "Explanation: dog is a kind of mammal.\n");
}

TEST(RenderTest, ReasonWithoutConfidenceSaysIDontKnowWithTheBestGuess) {
  auto response = FromText<engram::v1::ReasonResponse>(R"pb(
    confident: false
    best_guess { id: "cat" content: "a cat" }
    confidence { final: 0.12 }
    explanation: "I don't know."
  )pb");
  std::string text = RenderReason(response);
  EXPECT_THAT(text, testing::StartsWith("I don't know. Best guess: a cat (cat)\n"));
  EXPECT_THAT(text, HasSubstr("Confidence: 0.12"));
  EXPECT_THAT(text, testing::Not(HasSubstr("Paths:")));

  EXPECT_THAT(RenderReason(engram::v1::ReasonResponse()), testing::StartsWith("I don't know.\n"));
}

TEST(RenderTest, ReasonWithSeveralAnswersListsEach) {
  auto response = FromText<engram::v1::ReasonResponse>(R"pb(
    answer { id: "canine" content: "canine, canid" }
    answers { id: "canine" content: "canine, canid" }
    answers { id: "pet" content: "domestic animal" }
    confident: true
    confidence { final: 0.85 }
  )pb");
  EXPECT_THAT(RenderReason(response), testing::StartsWith("Answers:\n"
                                                          "  canine, canid (canine)\n"
                                                          "  domestic animal (pet)\n"
                                                          "Confidence: 0.85"));
}

TEST(RenderTest, PathLabelsFallBackToIdsAndShortenLongContent) {
  auto response = FromText<engram::v1::ReasonResponse>(R"pb(
    paths {
      concept_ids: [ "a", "b" ]
      hops { source: "a" target: "b" type: CAUSAL confidence: 0.5 }
      confidence: 0.42
    }
    path_concepts {
      id: "a"
      content: "an extremely long piece of content that goes on and on well past sixty characters"
    }
  )pb");
  EXPECT_THAT(RenderReason(response),
              HasSubstr("1. (0.42) an extremely long piece of content that goes on and on we... "
                        "--CAUSAL(0.50)--> b\n"));
}

TEST(RenderTest, TermDefinitionContentIsLabelledByItsTerm) {
  auto response = FromText<engram::v1::ReasonResponse>(R"pb(
    paths {
      concept_ids: [ "wn-n-02084071", "wn-n-02083346" ]
      hops { source: "wn-n-02084071" target: "wn-n-02083346" type: HIERARCHICAL confidence: 1 }
      confidence: 0.85
    }
    path_concepts { id: "wn-n-02084071" content: "dog, domestic dog: a member of the genus Canis" }
    path_concepts { id: "wn-n-02083346" content: "canine, canid: any of various fissiped mammals" }
  )pb");
  EXPECT_THAT(RenderReason(response),
              HasSubstr("1. (0.85) dog, domestic dog --HIERARCHICAL(1.00)--> canine, canid\n"));
}

TEST(RenderTest, Shorten) {
  EXPECT_EQ(Shorten("short", 10), "short");
  EXPECT_EQ(Shorten("exactly10!", 10), "exactly10!");
  EXPECT_EQ(Shorten("more than ten", 10), "more th...");
  EXPECT_EQ(Shorten("ééééééééééé", 6), "ééé...");  // counts characters, not bytes
}

TEST(RenderTest, PathsNeighborsAndAssociations) {
  auto paths = FromText<engram::v1::FindPathsResponse>(R"pb(
    paths {
      concept_ids: [ "x", "y" ]
      hops { source: "y" target: "x" type: TEMPORAL confidence: 0.8 }
      confidence: 0.68
    }
  )pb");
  EXPECT_EQ(RenderPaths(paths), "1. (0.68) x <--TEMPORAL(0.80)-- y\n");
  EXPECT_EQ(RenderPaths(engram::v1::FindPathsResponse()), "no paths\n");

  auto neighbors = FromText<engram::v1::NeighborsResponse>(R"pb(
    neighbors {
      node { id: "mammal" content: "a mammal" }
      association { source: "dog" target: "mammal" type: HIERARCHICAL confidence: 0.9 }
    }
    neighbors {
      node { id: "puppy" }
      association { source: "puppy" target: "dog" type: HIERARCHICAL confidence: 1 }
    }
  )pb");
  EXPECT_EQ(RenderNeighbors("dog", neighbors),
            "--HIERARCHICAL(0.90)--> mammal  a mammal\n"
            "<--HIERARCHICAL(1.00)-- puppy\n");
  EXPECT_EQ(RenderNeighbors("dog", engram::v1::NeighborsResponse()), "no neighbors of dog\n");

  auto association = FromText<engram::v1::Association>(
      R"pb(source: "rain" target: "wet" type: CAUSAL confidence: 0.75 weight: 2)pb");
  EXPECT_EQ(RenderAssociation(association), "rain --CAUSAL(0.75)--> wet\n");
}

TEST(RenderTest, SearchLearnConceptNamespacesStats) {
  auto search = FromText<engram::v1::SearchResponse>(R"pb(
    results {
      id: "a"
      score: 0.5
      content: "alpha"
      attributes { key: "k" value: "v" }
    }
    results { id: "b" score: 0.25 content: "beta" }
    results { id: "c" score: 0.03 content: "gamma" scores { vector: 0.75 keyword: 2.5 } }
  )pb");
  EXPECT_EQ(RenderSearch(search),
            "1. [0.5000] a  alpha\n   k=v\n2. [0.2500] b  beta\n3. [0.0300] c  gamma\n"
            "   vector 0.7500, keyword 2.5000\n");
  EXPECT_EQ(RenderSearch(engram::v1::SearchResponse()), "no results\n");

  auto learn = FromText<engram::v1::LearnResponse>(R"pb(
    id: "c1"
    created: true
    associations { source: "c1" target: "c0" type: SEMANTIC confidence: 0.81 }
  )pb");
  EXPECT_EQ(RenderLearn(learn),
            "learned c1 (created), 1 associations\n  c1 --SEMANTIC(0.81)--> c0\n");

  auto concept_message = FromText<engram::v1::Concept>(R"pb(
    id: "c1"
    content: "hello"
    strength: 1
    confidence: 0.5
    attributes { key: "b" value: "2" }
    attributes { key: "a" value: "1" }
    create_time { seconds: 1700000000 }
    vector: [ 0.5, -1 ]
  )pb");
  std::string text = RenderConcept(concept_message);
  EXPECT_THAT(text, HasSubstr("id:            c1\n"));
  EXPECT_THAT(text, HasSubstr("content:       hello\n"));
  EXPECT_THAT(text, HasSubstr("created:       2023-11-14T22:13:20Z\n"));
  EXPECT_THAT(text, HasSubstr("updated:       -\n"));
  EXPECT_THAT(text, HasSubstr("attributes:\n  a: 1\n  b: 2\n"));
  EXPECT_THAT(text, HasSubstr("vector:        2 dimensions\n  [0.5, -1]\n"));

  auto list = FromText<engram::v1::ListNamespacesResponse>(R"pb(
    namespaces {
      name: "default"
      dimension: 384
      metric: COSINE
      embedder: "hashing"
      concept_count: 3
    }
  )pb");
  std::string table = RenderNamespaces(list);
  EXPECT_THAT(table, testing::StartsWith("NAME "));
  EXPECT_THAT(table, testing::ContainsRegex("default +384 COSINE +hashing +3 +0\n"));

  auto stats = FromText<engram::v1::Stats>(R"pb(concepts: 12 sync_mode: "always")pb");
  EXPECT_THAT(RenderStats(stats), HasSubstr("concepts:      12\n"));
  EXPECT_THAT(RenderStats(stats), HasSubstr("sync mode:     always\n"));
}

TEST(RenderTest, JsonIsOneObjectInTheProtobufMapping) {
  auto neighbors = FromText<engram::v1::NeighborsResponse>(R"pb(
    neighbors {
      node { id: "m" }
      association { source: "d" target: "m" type: HIERARCHICAL confidence: 0.5 }
    }
  )pb");
  std::string json = ToJson(neighbors);
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_THAT(json, HasSubstr("\"concept\":{\"id\":\"m\""));  // json_name of the node field
  EXPECT_THAT(json, HasSubstr("\"type\":\"HIERARCHICAL\""));
  EXPECT_THAT(ToJson(engram::v1::LearnResponse()), HasSubstr("\"created\":false"));
  EXPECT_THAT(ToJson(FromText<engram::v1::Namespace>("concept_count: 5")),
              HasSubstr("\"conceptCount\":\"5\""));
}

}  // namespace
}  // namespace engram::cli
