#include "services/hybrid/reason/reasoner.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/hybrid/reason/in_memory_graph.h"

namespace engram::hybrid {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr AssociationType kHier = AssociationType::kHierarchical;
constexpr AssociationType kCausal = AssociationType::kCausal;

// The query is always e0; a concept added with similarity s gets a vector whose cosine with
// the query is exactly s (up to float rounding).
const std::vector<float> kQuery = {1, 0, 0, 0};

void Add(InMemoryGraph& g, const std::string& id, float similarity) {
  g.AddConcept(id, id, {similarity, std::sqrt(1 - similarity * similarity), 0, 0});
}

std::vector<std::vector<std::string>> PathIds(const ReasonResult& r) {
  std::vector<std::vector<std::string>> out;
  for (const ReasoningPath& p : r.paths) out.push_back(p.concept_ids);
  return out;
}

ReasonResult ReasonOrDie(InMemoryGraph& g, ReasonOptions options = {}, ReasonerConfig config = {}) {
  absl::StatusOr<ReasonResult> r = Reasoner(config).Reason(kQuery, options, g);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : ReasonResult{};
}

// dog (0.9) -> mammal -> animal, cat (0.3) -> mammal: "what is a dog?"
InMemoryGraph AnimalGraph() {
  InMemoryGraph g;
  Add(g, "dog", 0.9f);
  Add(g, "cat", 0.3f);
  Add(g, "mammal", 0.2f);
  Add(g, "animal", 0.1f);
  Add(g, "car", 0.0f);
  g.AddEdge("dog", "mammal", kHier, 0.9f);
  g.AddEdge("mammal", "animal", kHier, 0.9f);
  g.AddEdge("cat", "mammal", kHier, 0.9f);
  return g;
}

TEST(ReasonerTest, KnownAnswerAndPaths) {
  InMemoryGraph g = AnimalGraph();
  ReasonOptions options;
  options.k = 3;  // dog, cat, mammal
  const ReasonResult r = ReasonOrDie(g, options);

  ASSERT_TRUE(r.answer.has_value());
  EXPECT_EQ(r.answer->id, "mammal");
  EXPECT_TRUE(r.confident);
  // Two independent paths: dog->mammal (0.9 * 0.9 * 0.85) and cat->mammal (0.3 * 0.9 * 0.85).
  const double e1 = 0.9 * 0.9 * 0.85;
  const double e2 = 0.3 * 0.9 * 0.85;
  EXPECT_NEAR(r.confidence.semantic, 0.9, 1e-5);
  EXPECT_NEAR(r.confidence.graph, 0.9 * 0.85, 1e-5);
  EXPECT_NEAR(r.confidence.consensus, e2, 1e-5);
  EXPECT_NEAR(r.confidence.final_confidence, 1 - (1 - e1) * (1 - 0.25 * e2), 1e-5);  // w = 0.25

  // The answer's paths first (independent, by evidence), then the runner-ups' best paths; the
  // runner-ups animal and cat tie exactly and are ordered by id.
  EXPECT_THAT(PathIds(r), ElementsAre(ElementsAre("dog", "mammal"), ElementsAre("cat", "mammal"),
                                      ElementsAre("dog", "mammal", "animal"),
                                      ElementsAre("dog", "mammal", "cat")));
  ASSERT_EQ(r.paths[0].hops.size(), 1u);
  EXPECT_EQ(r.paths[0].hops[0], (Edge{"dog", "mammal", kHier, 0.9f, 1.0f}));
  EXPECT_NEAR(r.paths[0].confidence, 0.9 * 0.85, 1e-6);
  EXPECT_NEAR(r.paths[0].evidence, e1, 1e-6);
  EXPECT_TRUE(r.paths[0].supports_answer && r.paths[0].independent);
  EXPECT_TRUE(r.paths[1].supports_answer && r.paths[1].independent);
  EXPECT_FALSE(r.paths[2].supports_answer);
  EXPECT_NEAR(r.paths[2].confidence, 0.81 * 0.85 * 0.85, 1e-6);

  ASSERT_GE(r.candidates.size(), 3u);
  EXPECT_EQ(r.candidates[0].node.id, "mammal");
  EXPECT_EQ(r.candidates[0].independent_paths, 2u);
  EXPECT_EQ(r.candidates[1].node.id, "animal");
  EXPECT_EQ(r.candidates[2].node.id, "cat");
  for (const Candidate& c : r.candidates) EXPECT_NE(c.node.id, "dog");  // the top seed

  EXPECT_THAT(r.support.size(), 3u);
  EXPECT_EQ(r.support[0].node.id, "dog");
  EXPECT_THAT(r.path_concepts,
              ElementsAre(ConceptLite{"dog", "dog"}, ConceptLite{"mammal", "mammal"},
                          ConceptLite{"cat", "cat"}, ConceptLite{"animal", "animal"}));
  EXPECT_EQ(r.stats.seeds, 3u);
  EXPECT_FALSE(r.stats.truncated);

  EXPECT_THAT(r.explanation, StartsWith("Answer: \"mammal\" (confidence 0.71 >= 0.30)."));
  EXPECT_THAT(r.explanation, HasSubstr("Best path (evidence 0.69 = semantic 0.90 x graph 0.77): "
                                       "dog is a kind of mammal (HIERARCHICAL, 0.90)."));
  EXPECT_THAT(r.explanation, HasSubstr("1 more independent path add consensus 0.23: cat is a "
                                       "kind of mammal (HIERARCHICAL, 0.90)."));
  EXPECT_THAT(r.explanation, HasSubstr("Runner-up: \"animal\" (0.53)."));
}

// Records what a streaming caller would see.
class RecordingObserver : public ReasonObserver {
 public:
  bool Cancelled() override { return ++checks > cancel_after; }
  void OnSeeds(absl::Span<const SearchHit> support) override {
    events.push_back("seeds:" + std::to_string(support.size()));
  }
  void OnPath(const ReasoningPath& path, absl::Span<const ConceptLite> concepts) override {
    std::string e = "path:";
    for (const ConceptLite& c : concepts) e += c.id + "=" + c.content + " ";
    events.push_back(e);
    EXPECT_EQ(path.concept_ids.size(), concepts.size());
    EXPECT_EQ(path.hops.size() + 1, path.concept_ids.size());
    EXPECT_NEAR(path.evidence, path.seed_similarity * path.confidence, 1e-6);
  }
  int checks = 0;
  int cancel_after = 1 << 30;
  std::vector<std::string> events;
};

TEST(ReasonerTest, ObserverSeesSeedsThenEachNewlyReachedConceptOnce) {
  InMemoryGraph g = AnimalGraph();
  ReasonOptions options;
  options.k = 3;
  RecordingObserver observer;
  absl::StatusOr<ReasonResult> r = Reasoner().Reason(kQuery, options, g, &observer);
  ASSERT_TRUE(r.ok()) << r.status();
  // Seeds first; then the first path found to mammal, to animal and to cat; never to dog (the
  // top seed), and mammal only once although several paths reach it. The seeds are expanded in
  // one batch, so the first path to animal starts at the seed mammal, not at dog (its best path):
  // discovery order, as documented.
  EXPECT_THAT(observer.events,
              ElementsAre("seeds:3", "path:dog=dog mammal=mammal ",
                          "path:mammal=mammal animal=animal ", "path:mammal=mammal cat=cat "));
  // The answer is the one Reason gives without an observer.
  EXPECT_EQ(r->answer->id, ReasonOrDie(g, options).answer->id);

  // At most max_streamed_paths paths.
  ReasonerConfig config;
  config.max_streamed_paths = 1;
  RecordingObserver capped;
  ASSERT_TRUE(Reasoner(config).Reason(kQuery, options, g, &capped).ok());
  EXPECT_EQ(capped.events.size(), 2u);
}

TEST(ReasonerTest, CancelledObserverStopsBeforeTheNextGraphRead) {
  InMemoryGraph g = AnimalGraph();
  for (int after : {0, 1, 2}) {
    RecordingObserver observer;
    observer.cancel_after = after;
    ReasonOptions one_seed;  // dog only: a search, then one fetch per hop (dog, mammal, ...)
    one_seed.k = 1;
    absl::StatusOr<ReasonResult> r = Reasoner().Reason(kQuery, one_seed, g, &observer);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << after;
    EXPECT_EQ(observer.checks, after + 1) << "stopped at the first check that said cancelled";
  }
}

TEST(ReasonerTest, EdgesAreFollowedBackwards) {
  // "What causes cancer?" -- the question matches the effect; the answer is the cause.
  InMemoryGraph g;
  Add(g, "cancer", 0.9f);
  Add(g, "smoking", 0.1f);
  Add(g, "asbestos", 0.05f);
  g.AddEdge("smoking", "cancer", kCausal, 0.9f);
  g.AddEdge("asbestos", "cancer", kCausal, 0.6f);
  const ReasonResult r = ReasonOrDie(g);
  ASSERT_TRUE(r.answer.has_value());
  EXPECT_EQ(r.answer->id, "smoking");
  ASSERT_FALSE(r.paths.empty());
  EXPECT_THAT(r.paths[0].concept_ids, ElementsAre("cancer", "smoking"));
  EXPECT_EQ(r.paths[0].hops[0].source, "smoking");  // as stored
  EXPECT_EQ(r.paths[0].hops[0].target, "cancer");
  EXPECT_THAT(r.explanation, HasSubstr("smoking causes cancer (CAUSAL, 0.90)"));
}

// The graph of the consensus tests: the top seed "topic" (similarity 0.9) has one direct path to
// a of confidence `a_confidence`; b is reached by three independent paths: topic -> b (0.5) and
// from two weaker seeds s1 -> b and s2 -> b (similarity 0.6, confidence 0.8).
InMemoryGraph ConsensusGraph(float a_confidence) {
  InMemoryGraph g;
  Add(g, "topic", 0.9f);
  Add(g, "s1", 0.6f);
  Add(g, "s2", 0.6f);
  for (const char* id : {"a", "b"}) Add(g, id, 0.0f);
  g.AddEdge("topic", "a", kCausal, a_confidence);
  g.AddEdge("topic", "b", kCausal, 0.5f);
  g.AddEdge("s1", "b", kCausal, 0.8f);
  g.AddEdge("s2", "b", kCausal, 0.8f);
  return g;
}

constexpr double kBFromSeed = 0.6 * 0.8 * 0.85;
constexpr double kBDirect = 0.9 * 0.5 * 0.85;
constexpr double kBConsensus = 1 - (1 - kBFromSeed) * (1 - kBDirect);
// b's final with the default consensus weight 0.25: 1 - (1 - e*) * (1 - 0.25 * consensus).
constexpr double kBFinal = 1 - (1 - kBFromSeed) * (1 - 0.25 * kBConsensus);

TEST(ReasonerTest, MultiPathConsensusBeatsASlightlyStrongerSinglePath) {
  InMemoryGraph g = ConsensusGraph(0.6f);
  ReasonerConfig ranking_only;  // b wins narrowly: this checks the ranking, not the margin gate
  ranking_only.min_margin = 0;
  const ReasonResult r = ReasonOrDie(g, {}, ranking_only);

  const double a_single = 0.9 * 0.6 * 0.85;
  ASSERT_GT(a_single, kBFromSeed);  // a has the strongest single path...
  ASSERT_GT(kBFinal, a_single);     // ...but b is corroborated three times.

  ASSERT_TRUE(r.answer.has_value());
  EXPECT_EQ(r.answer->id, "b");
  EXPECT_NEAR(r.confidence.final_confidence, kBFinal, 1e-5);
  EXPECT_NEAR(r.confidence.semantic, 0.6, 1e-5);
  EXPECT_NEAR(r.confidence.graph, 0.8 * 0.85, 1e-5);
  EXPECT_NEAR(r.confidence.consensus, kBConsensus, 1e-5);
  EXPECT_EQ(r.candidates[0].independent_paths, 3u);
  // The paths from s1 and s2 tie; s1 sorts first.
  EXPECT_THAT(PathIds(r), ElementsAre(ElementsAre("s1", "b"), ElementsAre("s2", "b"),
                                      ElementsAre("topic", "b"), ::testing::_, ::testing::_));
  EXPECT_THAT(r.explanation, HasSubstr("2 more independent paths add consensus"));
  bool a_ranked = false;
  for (const Candidate& c : r.candidates) {
    if (c.node.id == "a") {
      a_ranked = true;
      EXPECT_NEAR(c.confidence.final_confidence, a_single, 1e-5);
      EXPECT_EQ(c.confidence.consensus, 0.0f);
    }
  }
  EXPECT_TRUE(a_ranked);
}

// Consensus is weighted (0.25) so that many weaker paths -- the many edges into a hub concept --
// do not outvote one much stronger path. With weight 1 (plain noisy-OR) b would win here
// (0.78 > 0.73); bench/reason_quality_bench measured what that does on WordNet.
TEST(ReasonerTest, ManyWeakerPathsDoNotBeatAMuchStrongerPath) {
  InMemoryGraph g = ConsensusGraph(0.95f);
  const ReasonResult r = ReasonOrDie(g);
  const double a_single = 0.9 * 0.95 * 0.85;
  ASSERT_GT(1 - (1 - kBFromSeed) * (1 - kBConsensus), a_single);  // noisy-OR would pick b
  ASSERT_TRUE(r.answer.has_value());
  EXPECT_EQ(r.answer->id, "a");
  EXPECT_NEAR(r.confidence.final_confidence, a_single, 1e-5);
  ASSERT_GE(r.candidates.size(), 2u);
  EXPECT_EQ(r.candidates[1].node.id, "b");
  EXPECT_NEAR(r.candidates[1].confidence.final_confidence, kBFinal, 1e-5);

  // The weight is configuration: at 1 the plain noisy-OR picks b.
  ReasonerConfig config;
  config.consensus_weight = 1.0f;
  const ReasonResult plain = ReasonOrDie(g, {}, config);
  ASSERT_TRUE(plain.best_guess.has_value());  // (the ranking, whatever the margin gate says)
  EXPECT_EQ(plain.best_guess->id, "b");
}

TEST(ReasonerTest, SharedEdgesDoNotCountTwice) {
  // Two paths to "z" through the same last association are not independent.
  InMemoryGraph g;
  Add(g, "top", 0.9f);
  Add(g, "s2", 0.8f);
  Add(g, "mid", 0.0f);
  Add(g, "z", 0.0f);
  g.AddEdge("top", "mid", kHier, 0.9f);
  g.AddEdge("s2", "mid", kHier, 0.9f);
  g.AddEdge("mid", "z", kHier, 0.9f);
  const ReasonResult r = ReasonOrDie(g);
  for (const Candidate& c : r.candidates) {
    if (c.node.id == "z") {
      EXPECT_EQ(c.independent_paths, 1u);
      EXPECT_GE(c.supporting_paths, 2u);
      EXPECT_EQ(c.confidence.consensus, 0.0f);
    }
  }
}

TEST(ReasonerTest, GateSaysItDoesNotKnowButReturnsWhatItFound) {
  InMemoryGraph g;
  Add(g, "vague", 0.3f);
  Add(g, "guess", 0.0f);
  g.AddEdge("vague", "guess", kCausal, 0.5f);
  const ReasonResult r = ReasonOrDie(g);
  EXPECT_FALSE(r.confident);
  EXPECT_FALSE(r.answer.has_value());
  ASSERT_TRUE(r.best_guess.has_value());
  EXPECT_EQ(r.best_guess->id, "guess");
  EXPECT_NEAR(r.confidence.final_confidence, 0.3 * 0.5 * 0.85, 1e-5);
  ASSERT_EQ(r.paths.size(), 1u);
  EXPECT_EQ(r.support.size(), 2u);
  EXPECT_THAT(r.explanation,
              StartsWith("Not confident: the best guess \"guess\" scores 0.13 < 0.30."));
  EXPECT_THAT(r.explanation, HasSubstr("vague causes guess (CAUSAL, 0.50)"));

  ReasonOptions lenient;
  lenient.min_confidence = 0.1f;
  const ReasonResult ok = ReasonOrDie(g, lenient);
  EXPECT_TRUE(ok.confident);
  EXPECT_EQ(ok.answer->id, "guess");
}

TEST(ReasonerTest, NoPathFallsBackToTheTopSeedAtHalfWeight) {
  InMemoryGraph g;
  Add(g, "lonely", 0.9f);
  Add(g, "other", 0.2f);
  const ReasonResult r = ReasonOrDie(g);
  ASSERT_TRUE(r.answer.has_value());
  EXPECT_EQ(r.answer->id, "lonely");
  EXPECT_EQ(r.confidence.graph, 0.0f);
  EXPECT_NEAR(r.confidence.semantic, 0.9, 1e-5);
  EXPECT_NEAR(r.confidence.final_confidence, 0.45, 1e-5);
  EXPECT_TRUE(r.paths.empty());
  EXPECT_THAT(r.explanation, HasSubstr("no association supports it"));

  InMemoryGraph weak;
  Add(weak, "meh", 0.5f);
  EXPECT_FALSE(ReasonOrDie(weak).confident);  // 0.25 < 0.3
}

TEST(ReasonerTest, NothingMatches) {
  InMemoryGraph empty;
  const ReasonResult r = ReasonOrDie(empty);
  EXPECT_FALSE(r.confident);
  EXPECT_FALSE(r.best_guess.has_value());
  EXPECT_EQ(r.explanation, "Nothing stored matches the question.");

  InMemoryGraph opposite;
  opposite.AddConcept("anti", "anti", {-1, 0, 0, 0});
  EXPECT_FALSE(ReasonOrDie(opposite).best_guess.has_value());
  EXPECT_EQ(ReasonOrDie(opposite).support.size(), 1u);
}

TEST(ReasonerTest, TypeFilterAndDepth) {
  InMemoryGraph g;
  Add(g, "cancer", 0.9f);
  Add(g, "smoking", 0.0f);
  Add(g, "tumor", 0.0f);
  g.AddEdge("smoking", "cancer", kCausal, 0.9f);
  g.AddEdge("cancer", "tumor", kHier, 0.95f);
  const ReasonResult all = ReasonOrDie(g);
  ASSERT_TRUE(all.best_guess.has_value());
  EXPECT_EQ(all.best_guess->id, "tumor");  // 0.73 vs smoking's 0.69: within the margin
  EXPECT_FALSE(all.confident);
  ReasonOptions causal;
  causal.types = {kCausal};
  const ReasonResult r = ReasonOrDie(g, causal);
  EXPECT_EQ(r.answer->id, "smoking");
  for (const ReasoningPath& p : r.paths) {
    for (const Edge& e : p.hops) EXPECT_EQ(e.type, kCausal);
  }

  InMemoryGraph animals = AnimalGraph();
  ReasonOptions shallow;
  shallow.max_depth = 1;
  for (const ReasoningPath& p : ReasonOrDie(animals, shallow).paths) {
    EXPECT_EQ(p.hops.size(), 1u);
  }
  ReasonOptions one_path;
  one_path.max_paths = 1;
  EXPECT_EQ(ReasonOrDie(animals, one_path).paths.size(), 1u);
}

// A graph with many exact ties: a complete graph of equal-confidence edges.
InMemoryGraph TiedGraph() {
  InMemoryGraph g;
  Add(g, "hub", 0.9f);
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(absl::StrCat("n", i));
    Add(g, ids.back(), 0.4f);
  }
  for (const std::string& a : ids) {
    g.AddEdge("hub", a, kHier, 0.8f);
    for (const std::string& b : ids) {
      if (a < b) g.AddEdge(a, b, AssociationType::kSemantic, 0.8f);
    }
  }
  return g;
}

TEST(ReasonerTest, DeterministicWhateverTheSourceOrder) {
  InMemoryGraph g1 = TiedGraph();
  InMemoryGraph g2 = TiedGraph();
  g2.set_reverse_neighbor_order(true);
  const ReasonResult a = ReasonOrDie(g1);
  const ReasonResult b = ReasonOrDie(g2);
  const ReasonResult c = ReasonOrDie(g1);
  EXPECT_EQ(PathIds(a), PathIds(b));
  EXPECT_EQ(PathIds(a), PathIds(c));
  EXPECT_EQ(a.explanation, b.explanation);
  ASSERT_EQ(a.candidates.size(), b.candidates.size());
  for (size_t i = 0; i < a.candidates.size(); ++i) {
    EXPECT_EQ(a.candidates[i].node.id, b.candidates[i].node.id);
    EXPECT_EQ(a.candidates[i].confidence.final_confidence,
              b.candidates[i].confidence.final_confidence);
  }
  EXPECT_EQ(a.best_guess->id, "n0");  // equal scores: smallest id
  // ... and a tie is no answer: the runner-up is as well supported (ReasonerConfig::min_margin).
  EXPECT_FALSE(a.confident);
  EXPECT_FALSE(a.answer.has_value());
  EXPECT_THAT(a.explanation, HasSubstr("hardly better supported than"));
  ReasonerConfig no_margin;
  no_margin.min_margin = 0;
  EXPECT_TRUE(ReasonOrDie(g1, {}, no_margin).confident);
}

// With targets (a "how is X related to Y" question) only they can be the answer; none reached
// within the depth is no answer, said plainly.
TEST(ReasonerTest, TargetsRestrictTheAnswer) {
  InMemoryGraph g = AnimalGraph();
  ReasonOptions options;
  options.targets = {"animal"};
  const ReasonResult r = ReasonOrDie(g, options);
  ASSERT_TRUE(r.best_guess.has_value());
  EXPECT_EQ(r.best_guess->id, "animal");
  ASSERT_FALSE(r.paths.empty());
  EXPECT_EQ(r.paths[0].concept_ids.back(), "animal");

  options.targets = {"no-such-concept"};
  const ReasonResult none = ReasonOrDie(g, options);
  EXPECT_FALSE(none.best_guess.has_value());
  EXPECT_FALSE(none.confident);
  EXPECT_THAT(none.explanation, HasSubstr("No path found"));
}

// A between-answer is weighed by how well its target matches Y: "mammal" is one hop from the
// seed and "animal" two, but when "animal" matches Y much better it wins; with equal relevance
// (or none given) the nearer target does.
TEST(ReasonerTest, TargetRelevanceWeighsTheBetweenAnswer) {
  InMemoryGraph g = AnimalGraph();
  ReasonOptions options;
  options.targets = {"mammal", "animal"};
  EXPECT_EQ(ReasonOrDie(g, options).best_guess->id, "mammal");
  options.target_relevance = {0.5f, 0.5f};
  EXPECT_EQ(ReasonOrDie(g, options).best_guess->id, "mammal");
  options.target_relevance = {0.5f, 1.0f};
  const ReasonResult r = ReasonOrDie(g, options);
  ASSERT_TRUE(r.best_guess.has_value());
  EXPECT_EQ(r.best_guess->id, "animal");
  ASSERT_GE(r.candidates.size(), 2u);
  EXPECT_EQ(r.candidates[1].node.id, "mammal");
  // mammal's confidence is halved (its target's relevance over the best).
  options.target_relevance = {1.0f, 1.0f};
  const ReasonResult unweighted = ReasonOrDie(g, options);
  float mammal = 0;
  for (const Candidate& c : unweighted.candidates) {
    if (c.node.id == "mammal") mammal = c.confidence.final_confidence;
  }
  EXPECT_NEAR(r.candidates[1].confidence.final_confidence, mammal * 0.5f, 1e-5);
}

// "How is a cup related to vessel?": a concept named "vessel" that the graph reaches is the
// answer, not "drinking vessel", although that matches the search best and is nearer -- even
// when no concept named "vessel" is among the search's best matches.
TEST(ReasonerTest, BetweenAnswersAreConceptsNamedY) {
  InMemoryGraph g;
  g.AddConcept("cup", "cup: a small open container", {0, 0, 0, 1});
  g.AddConcept("drinking-vessel", "drinking vessel: a vessel intended for drinking", {1, 0, 0, 0});
  g.AddConcept("container", "container: any object that can hold things", {0, 0, 1, 0});
  g.AddConcept("vessel-1", "vessel: an object used as a container", {0.8f, 0.6f, 0, 0});
  g.AddConcept("vessel-2", "vessel, watercraft: a craft for water transportation",
               {0.6f, 0.8f, 0, 0});
  g.AddEdge("cup", "drinking-vessel", kHier, 0.9f);
  g.AddEdge("drinking-vessel", "vessel-1", kHier, 0.9f);
  g.AddEdge("cup", "container", kHier, 0.9f);
  const std::vector<float> cup = {0, 0, 0, 1};
  auto ask = [&](std::string_view name, uint32_t k) -> ReasonResult {
    ReasonOptions options;
    EXPECT_TRUE(SetBetweenTargets(g, SeedQuery{kQuery, name}, name, &options, k).ok());
    absl::StatusOr<ReasonResult> r =
        Reasoner(ReasonerConfig{}).Reason(SeedQuery{cup, ""}, options, g);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : ReasonResult{};
  };
  for (uint32_t k : {1u, 3u}) {  // the search's best match alone is "drinking vessel"
    const ReasonResult r = ask("a vessel", k);
    ASSERT_TRUE(r.best_guess.has_value()) << k;
    EXPECT_EQ(r.best_guess->id, "vessel-1") << k;
    for (const Candidate& c : r.candidates) EXPECT_NE(c.node.id, "drinking-vessel") << k;
  }
  // Nothing named "boat" is reached: Y's best matches are the answers, the nearest wins.
  const ReasonResult fallback = ask("boat", 3);
  ASSERT_TRUE(fallback.best_guess.has_value());
  EXPECT_EQ(fallback.best_guess->id, "drinking-vessel");
}

TEST(ReasonerTest, BudgetAndBatching) {
  InMemoryGraph g = TiedGraph();
  ReasonerConfig tight;
  tight.max_expansions = 3;
  const ReasonResult r = ReasonOrDie(g, {}, tight);
  EXPECT_LE(r.stats.nodes_expanded, 3u);
  EXPECT_TRUE(r.stats.truncated);
  EXPECT_THAT(r.explanation, HasSubstr("budget ran out"));
  EXPECT_TRUE(r.best_guess.has_value());

  InMemoryGraph g2 = TiedGraph();
  const ReasonResult full = ReasonOrDie(g2);
  EXPECT_FALSE(full.stats.truncated);
  EXPECT_EQ(full.stats.nodes_expanded, 7u);  // every concept fetched once
  EXPECT_EQ(g2.neighbors_calls(), 7);
  EXPECT_LT(g2.batch_calls(), 7);  // fetched in batches
  EXPECT_EQ(g2.search_calls(), 1);

  InMemoryGraph g3 = TiedGraph();
  ReasonerConfig few_paths;
  few_paths.max_explored_paths = 5;
  const ReasonResult capped = ReasonOrDie(g3, {}, few_paths);
  EXPECT_EQ(capped.stats.paths_explored, 5u);
  EXPECT_TRUE(capped.stats.truncated);
}

// Returns a search hit for a concept that has been deleted since.
class StaleGraph : public InMemoryGraph {
 public:
  absl::StatusOr<std::vector<SearchHit>> Search(const SeedQuery& q, uint32_t k) override {
    auto hits = InMemoryGraph::Search(q, k);
    if (hits.ok()) hits->insert(hits->begin(), SearchHit{{"ghost", "deleted"}, 0.99f});
    return hits;
  }
};

TEST(ReasonerTest, StorageErrorsAndDeletedConcepts) {
  InMemoryGraph down = AnimalGraph();
  down.FailSearchWith(absl::UnavailableError("storage down"));
  EXPECT_EQ(Reasoner().Reason(kQuery, {}, down).status().code(), absl::StatusCode::kUnavailable);

  InMemoryGraph slow = AnimalGraph();
  slow.FailNeighborsWith(absl::DeadlineExceededError("deadline"));
  EXPECT_EQ(Reasoner().Reason(kQuery, {}, slow).status().code(),
            absl::StatusCode::kDeadlineExceeded);

  StaleGraph stale;
  Add(stale, "dog", 0.9f);
  Add(stale, "mammal", 0.1f);
  stale.AddEdge("dog", "mammal", kHier, 0.9f);
  const ReasonResult r = ReasonOrDie(stale);
  // "ghost" is the top seed but has no neighbors; the rest still reasons.
  EXPECT_EQ(r.support[0].node.id, "ghost");
  ASSERT_TRUE(r.answer.has_value());
  EXPECT_EQ(r.answer->id, "mammal");
}

TEST(ReasonerTest, MissingContentIsFetchedOnce) {
  InMemoryGraph g = AnimalGraph();
  g.set_omit_neighbor_content(true);
  ReasonOptions options;
  options.k = 1;  // only "dog" comes with content, from the search
  const ReasonResult r = ReasonOrDie(g, options);
  EXPECT_EQ(g.get_calls(), 1);
  for (const ConceptLite& c : r.path_concepts) EXPECT_EQ(c.content, c.id);
  EXPECT_EQ(r.answer->content, "mammal");
}

TEST(ReasonerTest, InvalidOptionsNameTheField) {
  InMemoryGraph g = AnimalGraph();
  const auto code_and_message = [&](ReasonOptions o, std::vector<float> v = kQuery) {
    return Reasoner().Reason(v, o, g).status();
  };
  ReasonOptions o;
  o.k = 0;
  EXPECT_THAT(std::string(code_and_message(o).message()), StartsWith("k:"));
  o = {};
  o.max_depth = 11;
  EXPECT_THAT(std::string(code_and_message(o).message()), StartsWith("max_depth:"));
  o = {};
  o.max_paths = 0;
  EXPECT_THAT(std::string(code_and_message(o).message()), StartsWith("max_paths:"));
  o = {};
  o.min_confidence = 1.5f;
  EXPECT_THAT(std::string(code_and_message(o).message()), StartsWith("min_confidence:"));
  o = {};
  o.types = {kHier, static_cast<AssociationType>(9)};
  EXPECT_THAT(std::string(code_and_message(o).message()), StartsWith("types[1]:"));
  EXPECT_EQ(code_and_message({}, {}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(code_and_message({}, {1, NAN, 0, 0}).message()),
              StartsWith("query_vector:"));
}

TEST(DescribeHopTest, SentencesPerType) {
  EXPECT_EQ(DescribeHop({"a", "b", kCausal, 0.904f}, "Smoking", "cancer"),
            "Smoking causes cancer (CAUSAL, 0.90)");
  EXPECT_EQ(DescribeHop({"a", "b", AssociationType::kCompositional, 1}, "wheel", "car"),
            "wheel is part of car (COMPOSITIONAL, 1.00)");
  EXPECT_EQ(DescribeHop({"a", "b", AssociationType::kTemporal, 0.5f}, "dawn", "noon"),
            "dawn comes before noon (TEMPORAL, 0.50)");
  EXPECT_EQ(DescribeHop({"a", "b", AssociationType::kSemantic, 0.5f}, "x", "y"),
            "x is related to y (SEMANTIC, 0.50)");
  const std::string long_text(200, 'z');
  EXPECT_EQ(DescribeHop({"a", "b", kHier, 0.5f}, long_text, "y"),
            std::string(80, 'z') + "... is a kind of y (HIERARCHICAL, 0.50)");
}

// "What is a yolk part of?": yolk is part of an egg, and also (more strongly) associated with
// yellow and a kind of food; only the asked relation, in the asked direction, answers it.
InMemoryGraph YolkGraph() {
  InMemoryGraph g;
  Add(g, "yolk", 0.9f);
  Add(g, "egg", 0.2f);
  Add(g, "yellow", 0.3f);
  Add(g, "food", 0.2f);
  Add(g, "albumen", 0.4f);
  g.AddEdge("yolk", "egg", AssociationType::kCompositional, 0.8f);
  g.AddEdge("yolk", "yellow", AssociationType::kSemantic, 0.95f);
  g.AddEdge("yolk", "food", kHier, 0.9f);
  g.AddEdge("albumen", "egg", AssociationType::kCompositional, 0.9f);
  return g;
}

TEST(ReasonerTest, TheAskedRelationAndDirectionDecideTheAnswer) {
  InMemoryGraph g = YolkGraph();
  ReasonOptions options;
  options.k = 1;
  EXPECT_EQ(ReasonOrDie(g, options).best_guess->id, "yellow");  // any relation: the strongest

  options.relation = AskedRelation{AssociationType::kCompositional, /*outward=*/true};
  ReasonResult part_of = ReasonOrDie(g, options);
  ASSERT_TRUE(part_of.answer.has_value());
  EXPECT_EQ(part_of.answer->id, "egg");
  EXPECT_NEAR(part_of.confidence.graph, 0.8 * 0.85, 1e-5);  // on the relation: nothing lost
  // The off-relation runner-up counts 0.25 per hop.
  ASSERT_GE(part_of.candidates.size(), 2u);
  EXPECT_EQ(part_of.candidates[1].node.id, "yellow");
  EXPECT_NEAR(part_of.candidates[1].confidence.graph, 0.95 * 0.85 * 0.25, 1e-5);

  options.relation = AskedRelation{kHier, /*outward=*/true};
  EXPECT_EQ(ReasonOrDie(g, options).answer->id, "food");  // "What is a yolk?"

  // "What is part of an egg?": compositional edges followed target -> source from the egg.
  InMemoryGraph eggs;
  Add(eggs, "egg", 0.9f);
  Add(eggs, "yolk", 0.2f);
  Add(eggs, "nest", 0.2f);
  Add(eggs, "omelette", 0.2f);
  eggs.AddEdge("yolk", "egg", AssociationType::kCompositional, 0.8f);
  eggs.AddEdge("egg", "nest", AssociationType::kCompositional, 0.9f);  // egg is part of a nest
  eggs.AddEdge("omelette", "egg", AssociationType::kSemantic, 0.95f);
  options.relation = AskedRelation{AssociationType::kCompositional, /*outward=*/false};
  EXPECT_EQ(ReasonOrDie(eggs, options).answer->id, "yolk");
  options.relation = AskedRelation{AssociationType::kCompositional, /*outward=*/true};
  EXPECT_EQ(ReasonOrDie(eggs, options).answer->id, "nest");
}

// A hub's neighbor list is cut at neighbor_limit, and its many incoming associations (members
// of a genus, all of confidence 1, ids sorting first) must not crowd out its one outgoing
// association, the hop a chain upwards needs: "How is an agelaius related to genus?" goes
// agelaius -> bird genus -> genus.
TEST(ReasonerTest, AHubsOutgoingAssociationsSurviveTheNeighborLimit) {
  InMemoryGraph g;
  Add(g, "agelaius", 0.9f);
  Add(g, "bird genus", 0.3f);
  Add(g, "genus", 0.2f);
  g.AddEdge("agelaius", "bird genus", kHier, 1.0f);
  g.AddEdge("bird genus", "genus", kHier, 1.0f);
  for (int i = 0; i < 10; ++i) {
    const std::string member = absl::StrCat("a", i, " genus");
    Add(g, member, 0.0f);
    g.AddEdge(member, "bird genus", kHier, 1.0f);
  }
  ReasonerConfig config;
  config.neighbor_limit = 4;
  ReasonOptions options;
  options.k = 1;
  options.targets = {"genus"};
  for (bool along_the_hierarchy : {false, true}) {
    if (along_the_hierarchy) options.relation = AskedRelation{kHier, /*outward=*/true};
    const ReasonResult r = ReasonOrDie(g, options, config);
    ASSERT_TRUE(r.best_guess.has_value()) << r.explanation;
    EXPECT_EQ(r.best_guess->id, "genus");
    ASSERT_FALSE(r.paths.empty());
    EXPECT_THAT(r.paths[0].concept_ids, ElementsAre("agelaius", "bird genus", "genus"));
    EXPECT_EQ(r.stats.hubs_refetched, 1u);  // bird genus (agelaius has one association)
  }
  // Asked along another relation, the hub's outgoing hierarchy is not what is fetched again.
  options.relation = AskedRelation{kCausal, /*outward=*/true};
  EXPECT_FALSE(ReasonOrDie(g, options, config).best_guess.has_value());
}

TEST(ReasonerTest, SharesANameReadsTheLeadingNames) {
  EXPECT_TRUE(
      SharesAName("egg, eggs: oval reproductive body of a fowl", "egg: animal reproductive body"));
  EXPECT_TRUE(SharesAName("Eggs: food", "egg, eggs: oval reproductive body"));
  EXPECT_FALSE(SharesAName("egg white: the white part of an egg", "egg: animal reproductive body"));
  EXPECT_FALSE(SharesAName("egg: an egg", ""));
  EXPECT_FALSE(SharesAName("", ""));
}

// "What is a yolk part of?": two senses of "egg" nearly tie; either is the answer "egg", so the
// margin that makes an answer confident is to the best concept of another name.
TEST(ReasonerTest, TheMarginIsToTheBestAnswerOfAnotherName) {
  auto graph = [](const char* third_name) {
    InMemoryGraph g;
    g.AddConcept("yolk", "yolk: the yellow part of an egg", {1, 0, 0, 0});
    g.AddConcept("egg-food", "egg, eggs: oval reproductive body of a fowl used as food",
                 {0, 1, 0, 0});
    g.AddConcept("egg-bio", "egg: animal reproductive body consisting of an ovum", {0, 1, 0, 0});
    g.AddConcept("third", third_name, {0, 1, 0, 0});
    g.AddEdge("yolk", "egg-food", AssociationType::kCompositional, 1.0f);
    g.AddEdge("yolk", "egg-bio", AssociationType::kCompositional, 0.97f);
    g.AddEdge("yolk", "third", AssociationType::kCompositional, 0.6f);
    return g;
  };
  ReasonOptions options;
  options.k = 1;
  options.relation = AskedRelation{AssociationType::kCompositional, /*outward=*/true};
  InMemoryGraph g = graph("ingredient: food that is a component of a mixture");
  const ReasonResult r = ReasonOrDie(g, options);
  ASSERT_TRUE(r.answer.has_value()) << r.explanation;
  EXPECT_EQ(r.answer->id, "egg-food");
  EXPECT_THAT(r.explanation, HasSubstr("Runner-up: \"egg: animal reproductive body"));
  // "How is a yolk related to egg?": which sense of egg is the relation is what is asked.
  ReasonOptions between = options;
  between.target_name = "egg";
  const ReasonResult which = ReasonOrDie(g, between);
  EXPECT_FALSE(which.confident) << which.explanation;
  EXPECT_THAT(which.explanation, HasSubstr("hardly better supported than \"egg: animal"));
  EXPECT_EQ(r.answers.size(), 1u);  // the other egg is the same answer
  // A runner-up of another name as close is still a coin toss when it is another sense of "yolk"
  // that states it.
  InMemoryGraph close = graph("ingredient: food that is a component of a mixture");
  close.AddConcept("yolk-2", "yolk: the yellow part of a seed", {1, 0, 0, 0});
  close.AddEdge("yolk", "egg-bio", AssociationType::kCompositional, 0.5f);
  close.AddEdge("yolk-2", "third", AssociationType::kCompositional, 0.97f);
  options.k = 2;
  const ReasonResult tossed = ReasonOrDie(close, options);
  EXPECT_FALSE(tossed.confident) << tossed.explanation;
  EXPECT_THAT(tossed.explanation, HasSubstr("hardly better supported than \"ingredient"));
}

// "What is a dog?": the sense that answers states two kinds directly, equally strongly. Both are
// the answer, confidently; not a coin toss between them. A third kind as close but stated by
// another sense, or only further up, is still a runner-up that makes it one.
// "domestic animal" is stated by `pet_source` ("dog", or "dog-2", another sense), as `pet_type`.
InMemoryGraph DogKindsGraph(const std::string& pet_source = "dog",
                            AssociationType pet_type = kHier) {
  InMemoryGraph g;
  g.AddConcept("dog", "dog, domestic dog: a member of the genus Canis", {1, 0, 0, 0});
  g.AddConcept("dog-2", "dog: a dull unattractive person", {1, 0, 0, 0});
  g.AddConcept("pet", "domestic animal: an animal tamed for use", {0, 1, 0, 0});
  g.AddConcept("canine", "canine, canid: a fissiped mammal", {0, 1, 0, 0});
  g.AddConcept("carnivore", "carnivore: a flesh-eating mammal", {0, 1, 0, 0});
  g.AddEdge(pet_source, "pet", pet_type, 0.9f);
  g.AddEdge("dog", "canine", kHier, 0.9f);
  g.AddEdge("canine", "carnivore", kHier, 0.9f);
  return g;
}

// "What is a <x>?": the hierarchy upwards from the concepts named x, 3 seeds.
ReasonOptions WhatIsA(const std::string& x) {
  ReasonOptions options;
  options.k = 3;
  options.relation = AskedRelation{kHier, /*outward=*/true};
  options.source_name = x;
  return options;
}

ReasonOptions WhatIsADog() { return WhatIsA("dog"); }

TEST(ReasonerTest, WhatOneSenseStatesDirectlyAnswersTogether) {
  InMemoryGraph g = DogKindsGraph();
  const ReasonResult r = ReasonOrDie(g, WhatIsADog());
  ASSERT_TRUE(r.answer.has_value()) << r.explanation;
  EXPECT_TRUE(r.confident);
  EXPECT_TRUE(r.decided);
  EXPECT_EQ(r.answer->id, "canine");  // tied: the lower id leads
  ASSERT_EQ(r.answers.size(), 2u) << r.explanation;
  EXPECT_EQ(r.answers[0].id, "canine");
  EXPECT_EQ(r.answers[1].id, "pet");
  EXPECT_EQ(r.answers[1].content, "domestic animal: an animal tamed for use");
  EXPECT_THAT(r.explanation, StartsWith("Answers: \"canine, canid: a fissiped mammal\" (confidence "
                                        "0.76 >= 0.30) and \"domestic animal: an animal tamed for "
                                        "use\" (0.76), each stated directly of \"dog\"."));
  EXPECT_THAT(r.explanation, HasSubstr("And: dog, domestic dog: a member of the genus Canis is a "
                                       "kind of domestic animal"));
  EXPECT_THAT(r.explanation, HasSubstr("Runner-up: \"carnivore"));
  // Both answers' paths are shown, the answer's first.
  ASSERT_GE(r.paths.size(), 2u);
  EXPECT_EQ(r.paths[0].concept_ids, (std::vector<std::string>{"dog", "canine"}));
  EXPECT_EQ(r.paths[1].concept_ids, (std::vector<std::string>{"dog", "pet"}));

  // Not for a yes/no question, which asks about one kind.
  ReasonOptions yes_no = WhatIsADog();
  yes_no.yes_no = true;
  const ReasonResult asked = ReasonOrDie(g, yes_no);
  EXPECT_FALSE(asked.confident) << asked.explanation;
  EXPECT_TRUE(asked.answers.empty());

  // A kind stated by another sense of "dog" as strongly is a coin toss.
  InMemoryGraph senses = DogKindsGraph("dog-2");
  const ReasonResult tossed = ReasonOrDie(senses, WhatIsADog());
  EXPECT_FALSE(tossed.confident) << tossed.explanation;
  EXPECT_FALSE(tossed.decided);
  EXPECT_TRUE(tossed.answers.empty());
  EXPECT_THAT(tossed.explanation, HasSubstr("hardly better supported than \"domestic animal"));

  // A kind stated along another relation is not a co-answer either.
  InMemoryGraph other = DogKindsGraph("dog", AssociationType::kSemantic);
  const ReasonResult semantic = ReasonOrDie(other, WhatIsADog());
  ASSERT_TRUE(semantic.answer.has_value()) << semantic.explanation;
  EXPECT_EQ(semantic.answer->id, "canine");
  EXPECT_EQ(semantic.answers.size(), 1u);
}

// "What is a kennel?": the verb "kennel" matches the question better (a shorter text, a closer
// vector) than the noun, but the question prefers neither sense of the word.
// Two senses of "kennel": the verb matches the question's vector better than the noun. The noun is
// a kind of outbuilding (`noun_edge`: HIERARCHICAL, or another type).
InMemoryGraph KennelGraph(bool with_the_noun, float noun_strength = 1.0f,
                          AssociationType noun_edge = kHier) {
  InMemoryGraph g;
  g.AddConcept("kennel-v", "kennel: put up in a kennel", {0.95f, 0.31224990f, 0, 0});
  g.AddConcept("shelter-v", "shelter: provide shelter for", {0, 0, 1, 0});
  g.AddEdge("kennel-v", "shelter-v", kHier, 0.9f);
  if (with_the_noun) {
    g.AddConcept("kennel-n", "kennel, doghouse: outbuilding that serves as a shelter for a dog",
                 {0.6f, 0.8f, 0, 0}, noun_strength);
    g.AddConcept("outbuilding", "outbuilding: a building subordinate to a main one", {0, 0, 1, 0});
    g.AddEdge("kennel-n", "outbuilding", noun_edge, 0.9f);
  }
  // Matches best, but is not named kennel: not a seed.
  g.AddConcept("kennel club", "kennel club: an association of breeders", {0.97f, 0.2431049f, 0, 0});
  g.AddConcept("club", "club: a formal association of people", {0, 0, 1, 0});
  g.AddEdge("kennel club", "club", kHier, 0.95f);
  return g;
}

ReasonOptions WhatIsAKennel() { return WhatIsA("kennel"); }

TEST(ReasonerTest, EverySenseOfXSeedsAlike) {
  const ReasonOptions options = WhatIsAKennel();
  InMemoryGraph g = KennelGraph(/*with_the_noun=*/true);
  const ReasonResult r = ReasonOrDie(g, options);
  // Only the concepts named kennel seed, both at the better one's relevance.
  ASSERT_EQ(r.support.size(), 2u);
  EXPECT_EQ(r.support[0].node.id, "kennel-v");
  EXPECT_EQ(r.support[1].node.id, "kennel-n");
  EXPECT_FLOAT_EQ(r.support[1].score, r.support[0].score);
  // Each sense supports its own answer as well as the other does: a coin toss, and said so.
  EXPECT_FALSE(r.confident) << r.explanation;
  ASSERT_GE(r.candidates.size(), 2u);
  EXPECT_FLOAT_EQ(r.candidates[0].confidence.final_confidence,
                  r.candidates[1].confidence.final_confidence);
  EXPECT_THAT(r.explanation, HasSubstr("hardly better supported"));
  // With one sense, its answer is confident.
  InMemoryGraph one_sense = KennelGraph(/*with_the_noun=*/false);
  const ReasonResult one = ReasonOrDie(one_sense, options);
  ASSERT_TRUE(one.answer.has_value()) << one.explanation;
  EXPECT_EQ(one.answer->id, "shelter-v");
}

// Of the senses of X that answer along the asked relation, the one held more strongly (as the
// WordNet import learns the more frequent one) is what X most likely means: each answer keeps its
// seed's share of the strongest such strength, whatever the search's order. Its answer leads,
// confidently; the weaker sense's stays a candidate at 1/43 of its support.
TEST(ReasonerTest, AStrongerSenseOfXLeads) {
  InMemoryGraph alike = KennelGraph(/*with_the_noun=*/true);
  const ReasonResult base = ReasonOrDie(alike, WhatIsAKennel());
  ASSERT_GE(base.candidates.size(), 2u);
  InMemoryGraph g = KennelGraph(/*with_the_noun=*/true, /*noun_strength=*/43.0f);
  const ReasonResult r = ReasonOrDie(g, WhatIsAKennel());
  ASSERT_EQ(r.support.size(), 2u);
  EXPECT_FLOAT_EQ(r.support[1].score, r.support[0].score);  // the seeds themselves stay alike
  ASSERT_TRUE(r.answer.has_value()) << r.explanation;
  EXPECT_EQ(r.answer->id, "outbuilding");
  EXPECT_TRUE(r.confident);
  ASSERT_GE(r.candidates.size(), 2u);
  EXPECT_EQ(r.candidates[1].node.id, "shelter-v");
  EXPECT_FLOAT_EQ(r.candidates[1].confidence.final_confidence,
                  base.candidates[0].confidence.final_confidence / 43.0f);
}

// "What is a cat?": the synset "guy, cat, hombre, bozo" is the stronger concept (its "guy" is
// common) but "cat" hardly ever means it; the feline is what "cat" means. A concept's strengths
// per name (attributes "strength:<name>") weigh as the name asked; a name they do not list is 1.
TEST(ReasonerTest, TheStrengthOfTheNameAskedWeighsNotTheConcepts) {
  auto graph = [](bool per_name) {
    InMemoryGraph g;
    g.AddConcept("cat-animal", "cat, true cat: feline mammal", {1, 0, 0, 0}, 19.0f);
    g.AddConcept("cat-guy", "guy, cat, hombre, bozo: an informal term for a man", {1, 0, 0, 0},
                 34.0f);
    g.AddConcept("feline", "feline, felid: any of various lithe-bodied mammals", {0, 1, 0, 0});
    g.AddConcept("man", "man, adult male: an adult male person", {0, 1, 0, 0});
    g.AddEdge("cat-animal", "feline", kHier, 1.0f);
    g.AddEdge("cat-guy", "man", kHier, 1.0f);
    if (per_name) {
      g.SetNameStrength("cat-animal", "cat", 19.0f);
      g.SetNameStrength("cat-guy", "guy", 34.0f);  // "cat" not listed: 1
    }
    return g;
  };
  InMemoryGraph by_concept = graph(false);
  const ReasonResult wrong = ReasonOrDie(by_concept, WhatIsA("cat"));
  ASSERT_TRUE(wrong.best_guess.has_value()) << wrong.explanation;
  EXPECT_EQ(wrong.best_guess->id, "man");
  InMemoryGraph by_name = graph(true);
  const ReasonResult r = ReasonOrDie(by_name, WhatIsA("cat"));
  ASSERT_TRUE(r.answer.has_value()) << r.explanation;
  EXPECT_EQ(r.answer->id, "feline");
  ASSERT_GE(r.candidates.size(), 2u);
  EXPECT_FLOAT_EQ(r.candidates[1].confidence.final_confidence,
                  r.candidates[0].confidence.final_confidence / 19.0f);
  // When no sense lists the name asked, the concepts' strengths weigh: without the feline's
  // "strength:cat", "guy, cat, hombre, bozo" (34) leads the feline (19) again.
  InMemoryGraph unlisted = graph(false);
  unlisted.SetNameStrength("cat-guy", "guy", 34.0f);
  const ReasonResult fallback = ReasonOrDie(unlisted, WhatIsA("cat"));
  ASSERT_TRUE(fallback.best_guess.has_value()) << fallback.explanation;
  EXPECT_EQ(fallback.best_guess->id, "man");
  // "What is a guy?" is the man, at full strength.
  const ReasonResult guy = ReasonOrDie(by_name, WhatIsA("guy"));
  ASSERT_TRUE(guy.answer.has_value()) << guy.explanation;
  EXPECT_EQ(guy.answer->id, "man");
}

// The same candidates, in the same order, with the same final confidences.
void ExpectSameCandidates(const ReasonResult& r, const ReasonResult& base) {
  ASSERT_EQ(r.candidates.size(), base.candidates.size());
  for (size_t i = 0; i < r.candidates.size(); ++i) {
    EXPECT_EQ(r.candidates[i].node.id, base.candidates[i].node.id);
    EXPECT_FLOAT_EQ(r.candidates[i].confidence.final_confidence,
                    base.candidates[i].confidence.final_confidence);
  }
}

// "How is a plane related to machine?" names both ends: what joins them tells which sense of X is
// meant, so the strengths of X's senses weigh nothing. The tool's one hop to "machine" (a device)
// beats the aircraft's two to "machine" (a car), although the aircraft is 43 times stronger.
TEST(ReasonerTest, ABetweenQuestionIsNotWeighedByTheStrengthOfXsSenses) {
  auto graph = [](float aircraft_strength) {
    InMemoryGraph g;
    g.AddConcept("plane-a", "plane, airplane: an aircraft", {1, 0, 0, 0}, aircraft_strength);
    g.AddConcept("plane-t", "plane: a carpenter's tool", {1, 0, 0, 0});
    g.AddConcept("vehicle", "vehicle: a conveyance", {0, 1, 0, 0});
    g.AddConcept("machine-c", "machine, car: a motor vehicle", {0, 0, 1, 0});
    g.AddConcept("machine-d", "machine: any mechanical device", {0, 0, 1, 0});
    g.AddEdge("plane-a", "vehicle", kHier, 0.9f);
    g.AddEdge("machine-c", "vehicle", kHier, 0.9f);
    g.AddEdge("plane-t", "machine-d", kHier, 0.9f);
    return g;
  };
  ReasonOptions options;
  options.k = 3;
  options.source_name = "plane";
  options.target_name = "machine";
  options.named_targets = {{"machine-c", "machine, car: a motor vehicle"},
                           {"machine-d", "machine: any mechanical device"}};
  options.targets = {"machine-c", "machine-d"};
  InMemoryGraph alike = graph(1.0f);
  InMemoryGraph strong = graph(43.0f);
  const ReasonResult base = ReasonOrDie(alike, options);
  const ReasonResult r = ReasonOrDie(strong, options);
  ASSERT_TRUE(r.best_guess.has_value()) << r.explanation;
  EXPECT_EQ(r.best_guess->id, "machine-d") << r.explanation;
  ExpectSameCandidates(r, base);
}

// Strength weighs only the senses of the word asked about: when no concept is named X, the seeds
// are whatever the search found, and their strengths weigh nothing.
TEST(ReasonerTest, StrengthWeighsNothingWhenNoConceptIsNamedX) {
  ReasonOptions options = WhatIsAKennel();
  options.source_name = "doghouse shed";  // no concept is named so
  InMemoryGraph alike = KennelGraph(/*with_the_noun=*/true);
  InMemoryGraph strong = KennelGraph(/*with_the_noun=*/true, /*noun_strength=*/43.0f);
  const ReasonResult base = ReasonOrDie(alike, options);
  const ReasonResult r = ReasonOrDie(strong, options);
  ASSERT_FALSE(r.candidates.empty()) << r.explanation;
  ExpectSameCandidates(r, base);
}

// A weaker sense that alone has the asked relation is not outweighed by a stronger one that lacks
// it: "What is a kennel?" with the noun (strength 43) only SEMANTIC to outbuilding is the verb's
// hypernym, confidently.
TEST(ReasonerTest, AStrongerSenseWithoutTheAskedRelationDoesNotOutweighOne) {
  InMemoryGraph g =
      KennelGraph(/*with_the_noun=*/true, /*noun_strength=*/43.0f, AssociationType::kSemantic);
  const ReasonResult r = ReasonOrDie(g, WhatIsAKennel());
  ASSERT_TRUE(r.answer.has_value()) << r.explanation;
  EXPECT_EQ(r.answer->id, "shelter-v");
  EXPECT_TRUE(r.confident);
}

// dog -> canine -> carnivore -> placental -> mammal along the hierarchy, and 30 stronger
// associations of dog's that a small expansion budget spends itself on.
InMemoryGraph FarGraph() {
  InMemoryGraph g;
  const std::vector<float> elsewhere = {0, 1, 0, 0};
  g.AddConcept("dog", "dog, domestic dog: a member of the genus Canis", {1, 0, 0, 0});
  for (const char* id : {"canine", "carnivore", "placental"}) g.AddConcept(id, id, elsewhere);
  g.AddConcept("mammal", "mammal, mammalian: a warm-blooded vertebrate", {0, 0, 1, 0});
  g.AddConcept("mammal genus", "mammal genus: a genus of mammals", {0, 0, 0.9f, 0.1f});
  g.AddEdge("dog", "canine", kHier, 0.9f);
  g.AddEdge("canine", "carnivore", kHier, 0.9f);
  g.AddEdge("carnivore", "placental", kHier, 0.9f);
  g.AddEdge("placental", "mammal", kHier, 0.9f);
  for (int i = 0; i < 30; ++i) {
    const std::string id = absl::StrCat("n", i);
    g.AddConcept(id, id, elsewhere);
    g.AddEdge("dog", id, AssociationType::kSemantic, 1.0f);
  }
  return g;
}

TEST(ReasonerTest, AFarTargetIsReachedFromBothEnds) {
  ReasonerConfig config;
  config.max_expansions = 8;  // dog and seven of its thirty strongest neighbours
  const std::vector<float> mammal = {0, 0, 1, 0};
  auto ask = [&](InMemoryGraph& g, ReasonOptions options, bool bridge) {
    options.k = 1;
    options.source_name = "dog";
    EXPECT_TRUE(SetBetweenTargets(g, SeedQuery{mammal, ""}, "mammal", &options).ok());
    EXPECT_THAT(options.named_targets,
                ElementsAre(ConceptLite{"mammal", "mammal, mammalian: a warm-blooded vertebrate"}));
    if (!bridge) options.named_targets.clear();
    absl::StatusOr<ReasonResult> r = Reasoner(config).Reason(kQuery, options, g);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : ReasonResult{};
  };
  {
    InMemoryGraph g = FarGraph();
    const ReasonResult alone = ask(g, {}, /*bridge=*/false);
    EXPECT_TRUE(alone.stats.truncated);
    EXPECT_FALSE(alone.answer.has_value()) << alone.explanation;
    EXPECT_NE(alone.best_guess.value_or(ConceptLite{}).id, "mammal") << alone.explanation;
    EXPECT_EQ(g.path_pairs(), 0);
  }
  {
    InMemoryGraph g = FarGraph();
    const ReasonResult r = ask(g, {}, /*bridge=*/true);
    ASSERT_TRUE(r.answer.has_value()) << r.explanation;
    EXPECT_EQ(r.answer->id, "mammal");
    EXPECT_EQ(r.stats.paths_bridged, 1u);
    EXPECT_EQ(r.stats.bridge_pairs, 1u);  // one seed, one concept named "mammal"
    EXPECT_EQ(g.path_pairs(), 1);
    ASSERT_FALSE(r.paths.empty());
    EXPECT_THAT(r.paths[0].concept_ids,
                ElementsAre("dog", "canine", "carnivore", "placental", "mammal"));
    EXPECT_NEAR(r.paths[0].confidence, std::pow(0.9 * 0.85, 4), 1e-5);
    EXPECT_THAT(r.explanation, HasSubstr("placental is a kind of mammal"));
  }
  {
    // "Is a dog a mammal?": the path is looked up along the hierarchy, outwards; asked about
    // another relation, the hierarchy's path is not one.
    InMemoryGraph g = FarGraph();
    ReasonOptions along;
    along.relation = AskedRelation{kHier, /*outward=*/true};
    const ReasonResult yes = ask(g, along, /*bridge=*/true);
    ASSERT_TRUE(yes.answer.has_value()) << yes.explanation;
    EXPECT_EQ(yes.answer->id, "mammal");
    along.relation = AskedRelation{kHier, /*outward=*/false};
    EXPECT_EQ(ask(g, along, /*bridge=*/true).stats.paths_bridged, 0u);
    along.relation = AskedRelation{kCausal, /*outward=*/true};
    EXPECT_EQ(ask(g, along, /*bridge=*/true).stats.paths_bridged, 0u);
  }
  {
    // With the budget to reach mammal on its own, the expansion answers and nothing is looked up.
    InMemoryGraph g = FarGraph();
    ReasonOptions options;
    options.k = 1;
    options.source_name = "dog";
    ASSERT_TRUE(SetBetweenTargets(g, SeedQuery{mammal, ""}, "mammal", &options).ok());
    const ReasonResult r = ReasonOrDie(g, options);
    EXPECT_FALSE(r.stats.truncated);
    ASSERT_TRUE(r.answer.has_value()) << r.explanation;
    EXPECT_EQ(r.answer->id, "mammal");
    EXPECT_EQ(r.stats.bridge_pairs, 0u);
    EXPECT_EQ(g.path_pairs(), 0);
  }
  {
    // Too deep for the question's max_depth: no path.
    InMemoryGraph g = FarGraph();
    ReasonOptions shallow;
    shallow.max_depth = 3;
    EXPECT_EQ(ask(g, shallow, /*bridge=*/true).stats.paths_bridged, 0u);
  }
}

// Answers PathsBetween with a path whose hops do not join its concepts.
class BrokenPathsGraph : public InMemoryGraph {
 public:
  absl::StatusOr<std::vector<std::optional<FoundPath>>> PathsBetween(
      absl::Span<const PathEnds> pairs, absl::Span<const AssociationType> types, uint32_t max_depth,
      EdgeDirection direction) override {
    std::vector<std::optional<FoundPath>> out;
    for (const PathEnds& ends : pairs) {
      out.push_back(FoundPath{{ends.source, ends.target}, {Edge{"x", "y", kHier, 1.0f}}});
    }
    return out;
  }
};

TEST(ReasonerTest, APathThatDoesNotJoinItsConceptsIsIgnored) {
  BrokenPathsGraph g;
  g.AddConcept("dog", "dog", {1, 0, 0, 0});
  g.AddConcept("mammal", "mammal", {0, 0, 1, 0});
  ReasonOptions options;
  options.named_targets = {{"mammal", "mammal"}};
  options.target_name = "mammal";
  options.targets = {"mammal"};
  const ReasonResult r = ReasonOrDie(g, options);
  EXPECT_EQ(r.stats.paths_bridged, 0u);
  EXPECT_FALSE(r.best_guess.has_value()) << r.explanation;
}

}  // namespace
}  // namespace engram::hybrid
