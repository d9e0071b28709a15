// HybridCore against an in-process engram-storage (StorageServer on an ephemeral port).
#include "services/hybrid/service/hybrid_core.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "common/status/error_detail.h"
#include "common/status/grpc_status.h"
#include "services/hybrid/service/storage_graph_source.h"
#include "storage-server/engine/limits.h"
#include "storage-server/server/storage_server.h"

namespace engram::hybrid {
namespace {

namespace sv1 = storage::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ContentHashIdTest, MatchesStorage) {
  for (std::string_view s : {"", "dog", "A dog is a kind of mammal.", "\xc3\xa9t\xc3\xa9"}) {
    EXPECT_EQ(ContentHashId(s), storage::ContentHashId(absl::string_view(s.data(), s.size())));
  }
}

TEST(StorageErrorTest, MapsTransportFailures) {
  EXPECT_EQ(StorageError("Write", grpc::Status(grpc::StatusCode::UNAVAILABLE, "x")).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(StorageError("Write", grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "x")).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(StorageError("GetNamespace", grpc::Status(grpc::StatusCode::NOT_FOUND, "ns")).code(),
            absl::StatusCode::kNotFound);
  // Regression (chaos_bench): storage draining on SIGTERM cancels its in-flight calls; hybrid
  // passed that on as CANCELLED, which its clients never asked for. It is storage's outage.
  const absl::Status cancelled =
      StorageError("Read", grpc::Status(grpc::StatusCode::CANCELLED, "x"));
  EXPECT_EQ(cancelled.code(), absl::StatusCode::kUnavailable) << cancelled;
  EXPECT_EQ(status::DependencyOf(cancelled), "storage");
}

class HybridCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ =
        std::filesystem::path(::testing::TempDir()) / (std::string("hybrid_core.") + info->name());
    std::filesystem::remove_all(dir_);
    storage::StorageServerConfig config;
    config.engine.data_dir = dir_;
    config.host = {.listen_address = "127.0.0.1"};
    server_ = std::make_unique<storage::StorageServer>(config);
    ASSERT_TRUE(server_->Start().ok());
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = sv1::Storage::NewStub(channel_);
    core_ = CoreWith(Options(), &metrics_);
  }
  // A HybridCore over this fixture's storage, embedders and cache.
  std::unique_ptr<HybridCore> CoreWith(const HybridCoreOptions& options,
                                       metrics::Registry* metrics = nullptr) {
    return std::make_unique<HybridCore>(stub_.get(), &registry_, &cache_, metrics, options);
  }
  // Writes straight to storage (concepts and associations as given, no extraction).
  absl::Status StorageWrite(const sv1::WriteRequest& write) {
    sv1::WriteResponse written;
    grpc::ClientContext ctx;
    return status::FromGrpcStatus(stub_->Write(&ctx, write, &written));
  }
  HybridCoreOptions Options() {
    HybridCoreOptions o;
    o.namespace_cache.clock = [this] { return now_.load(); };
    return o;
  }
  absl::Status CreateNamespace(const std::string& name, uint32_t dim,
                               const std::string& embedder = "hashing") {
    sv1::CreateNamespaceRequest req;
    req.mutable_config()->set_name(name);
    req.mutable_config()->set_dimension(dim);
    req.mutable_config()->set_embedder(embedder);
    sv1::NamespaceInfo info;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->CreateNamespace(&ctx, req, &info);
    return s.ok() ? absl::OkStatus() : absl::InternalError(s.error_message());
  }
  absl::Status DeleteNamespace(const std::string& name) {
    sv1::DeleteNamespaceRequest req;
    req.set_name(name);
    sv1::DeleteNamespaceResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->DeleteNamespace(&ctx, req, &resp);
    return s.ok() ? absl::OkStatus() : absl::InternalError(s.error_message());
  }
  // Learns texts (with extraction) into `ns`.
  void LearnAll(const std::string& ns, const std::vector<std::string>& texts) {
    v1::LearnRequest req;
    req.set_namespace_(ns);
    for (const auto& t : texts) req.add_items()->set_content(t);
    auto r = core_->Learn(Call(), req);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  void TearDown() override {
    core_.reset();
    if (server_) server_->Shutdown();
    std::filesystem::remove_all(dir_);
  }
  CallContext Call() { return {.deadline = absl::Now() + absl::Seconds(30)}; }

  std::filesystem::path dir_;
  metrics::Registry metrics_;
  EmbedderRegistry registry_{EmbedderRegistryOptions{}};
  EmbeddingCache cache_{1 << 20};
  std::unique_ptr<storage::StorageServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<sv1::Storage::Stub> stub_;
  std::unique_ptr<HybridCore> core_;
  std::atomic<absl::Time> now_{absl::FromUnixSeconds(1'000'000)};
};

TEST_F(HybridCoreTest, ExtractionSwitchedOffStoresTheConceptAlone) {
  v1::LearnRequest req;
  req.set_namespace_("default");
  auto* item = req.add_items();
  item->set_content("Smoking causes cancer.");
  item->mutable_extract_associations()->set_value(false);
  auto r = core_->Learn(Call(), req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->associations_created(), 0u);
  EXPECT_EQ(r->relation_concepts_size(), 0);
  EXPECT_TRUE(r->results(0).created());
  EXPECT_EQ(r->results(0).id(), ContentHashId("Smoking causes cancer."));
}

TEST_F(HybridCoreTest, SemanticLinksRespectThresholdAndLimit) {
  v1::LearnRequest first;
  first.set_namespace_("default");
  first.add_items()->set_content("the quick brown fox jumps over the lazy dog");
  first.add_items()->set_content("the quick brown fox jumps over the lazy cat");
  first.add_items()->set_content("quantum chromodynamics of gluons");
  ASSERT_TRUE(core_->Learn(Call(), first).ok());

  v1::LearnRequest second;
  second.set_namespace_("default");
  second.add_items()->set_content("the quick brown fox jumps over the lazy dogs");
  second.mutable_options()->mutable_semantic_links()->set_value(1);
  auto r = core_->Learn(Call(), second);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->associations_created(), 1u);
  const auto& a = r->associations(0);
  EXPECT_EQ(a.type(), sv1::SEMANTIC);
  EXPECT_EQ(a.source(), r->results(0).id());
  EXPECT_EQ(a.target(), ContentHashId("the quick brown fox jumps over the lazy dog"));
  EXPECT_GE(a.confidence(), 0.5f);

  // A threshold no neighbour reaches: no link.
  second.mutable_items(0)->set_content("a quick brown fox jumped over lazy hounds");
  second.mutable_options()->mutable_semantic_threshold()->set_value(1.0f);
  r = core_->Learn(Call(), second);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->associations_created(), 0u);
}

TEST_F(HybridCoreTest, RejectsBadRequests) {
  v1::LearnRequest req;
  req.set_namespace_("default");
  EXPECT_EQ(core_->Learn(Call(), req).status().code(),
            absl::StatusCode::kInvalidArgument);  // no items
  auto* item = req.add_items();
  item->set_content("x");
  item->add_vector(1.0f);  // wrong dimension
  auto r = core_->Learn(Call(), req);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("items[0].vector"));
  req.set_namespace_("no-such-namespace");
  EXPECT_EQ(core_->Learn(Call(), req).status().code(), absl::StatusCode::kNotFound);
  v1::EmbedRequest embed;
  embed.set_embedder("none");
  embed.add_texts("x");
  EXPECT_EQ(core_->Embed(Call(), embed).status().code(), absl::StatusCode::kFailedPrecondition);
}

// A text search is HYBRID unless asked otherwise: BM25 finds the rare word the vectors blur, and
// every hit carries both component scores. KEYWORD embeds nothing; a namespace without an embedder
// searches by keyword by default and refuses the modes that need a vector.
TEST_F(HybridCoreTest, SearchModesRankByWordsVectorsOrBoth) {
  ASSERT_TRUE(CreateNamespace("modes", 64).ok());
  LearnAll("modes", {"A ptarmigan is a grouse of northern regions.", "Dogs are loyal animals.",
                     "A hen is a female chicken.", "Cats chase mice."});
  auto search = [&](const std::string& ns, sv1::SearchMode mode) {
    v1::SearchRequest req;
    req.set_namespace_(ns);
    req.set_text("What is a ptarmigan?");
    req.set_mode(mode);
    return core_->Search(Call(), req);
  };
  for (sv1::SearchMode mode :
       {sv1::SEARCH_MODE_UNSPECIFIED, sv1::SEARCH_MODE_HYBRID, sv1::SEARCH_MODE_KEYWORD}) {
    auto r = search("modes", mode);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_FALSE(r->results().empty());
    EXPECT_THAT(r->results(0).node().content(), HasSubstr("ptarmigan")) << mode;
    EXPECT_GT(r->results(0).keyword_score(), 0) << mode;
    EXPECT_EQ(r->results(0).has_vector_score(), mode != sv1::SEARCH_MODE_KEYWORD) << mode;
  }
  auto by_vector = search("modes", sv1::SEARCH_MODE_VECTOR);
  ASSERT_TRUE(by_vector.ok()) << by_vector.status();
  for (const auto& hit : by_vector->results()) {
    EXPECT_EQ(hit.score(), hit.vector_score());
    EXPECT_FALSE(hit.has_keyword_score());  // VECTOR does not run the keyword pass
  }

  ASSERT_TRUE(CreateNamespace("plain", 8, "none").ok());
  sv1::WriteRequest write;
  write.set_namespace_("plain");
  auto* c = write.add_mutations()->mutable_put_concept();
  c->set_id("p");
  c->set_content("A ptarmigan in winter plumage.");
  ASSERT_TRUE(StorageWrite(write).ok());
  auto keyword = search("plain", sv1::SEARCH_MODE_UNSPECIFIED);
  ASSERT_TRUE(keyword.ok()) << keyword.status();
  ASSERT_EQ(keyword->results_size(), 1);
  EXPECT_EQ(keyword->results(0).node().id(), "p");
  for (sv1::SearchMode mode : {sv1::SEARCH_MODE_VECTOR, sv1::SEARCH_MODE_HYBRID}) {
    auto refused = search("plain", mode);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << mode;
    EXPECT_THAT(refused.status().message(), HasSubstr("mode")) << mode;
  }
  EXPECT_EQ(search("modes", static_cast<sv1::SearchMode>(7)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(HybridCoreTest, StorageGoneIsUnavailable) {
  server_->Shutdown();
  v1::SearchRequest req;
  req.set_namespace_("default");
  req.set_text("dog");
  auto r = core_->Search(Call(), req);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
}

TEST_F(HybridCoreTest, NamespaceConfigIsCachedForItsTtl) {
  ASSERT_TRUE(CreateNamespace("cached", 64).ok());
  v1::EmbedRequest embed;
  embed.set_namespace_("cached");
  embed.add_texts("dog");
  const NamespaceCache& cache = core_->namespace_cache();
  ASSERT_TRUE(core_->Embed(Call(), embed).ok());
  EXPECT_EQ(cache.misses(), 1u);
  ASSERT_TRUE(core_->Embed(Call(), embed).ok());
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.misses(), 1u);
  now_ = now_.load() + absl::Seconds(5);  // the default ttl: asked again
  ASSERT_TRUE(core_->Embed(Call(), embed).ok());
  EXPECT_EQ(cache.misses(), 2u);
}

TEST_F(HybridCoreTest, StorageNotFoundForTheNamespaceDropsTheCachedConfig) {
  ASSERT_TRUE(CreateNamespace("recreated", 64).ok());
  LearnAll("recreated", {"Dogs are loyal animals."});
  ASSERT_EQ(core_->namespace_cache().size(), 1u);

  // Deleted behind the core's back: the cached config is still fresh, so the request reaches
  // storage's Write, whose NOT_FOUND for the namespace drops the entry.
  ASSERT_TRUE(DeleteNamespace("recreated").ok());
  v1::LearnRequest learn;
  learn.set_namespace_("recreated");
  learn.add_items()->set_content("Cats are independent animals.");
  auto r = core_->Learn(Call(), learn);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  EXPECT_EQ(core_->namespace_cache().size(), 0u);

  // Re-created with another dimension, with no clock movement: the next request sees it.
  ASSERT_TRUE(CreateNamespace("recreated", 32).ok());
  v1::EmbedRequest embed;
  embed.set_namespace_("recreated");
  embed.add_texts("cat");
  auto e = core_->Embed(Call(), embed);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->dimension(), 32);
  r = core_->Learn(Call(), learn);
  EXPECT_TRUE(r.ok()) << r.status();
}

TEST_F(HybridCoreTest, NotFoundOfAConceptKeepsTheNamespaceCached) {
  EXPECT_FALSE(IsNamespaceNotFound(absl::NotFoundError("concept 'x' not found")));
  EXPECT_TRUE(IsNamespaceNotFound(status::NamespaceNotFound("x")));
  // Decided by the typed detail storage attaches, not by the words of the message.
  EXPECT_FALSE(IsNamespaceNotFound(absl::NotFoundError("namespace 'x' not found")));
  EXPECT_FALSE(IsNamespaceNotFound(absl::InvalidArgumentError("namespace: bad")));
}

const std::vector<std::string> kAnimals = {
    "A dog is a kind of mammal.",   "A cat is a kind of mammal.",   "A mammal is a kind of animal.",
    "A sparrow is a kind of bird.", "A bird is a kind of animal.",  "A whale is a kind of mammal.",
    "Rain causes wet streets.",     "Wet streets cause accidents.", "A wheel is part of a car.",
    "An engine is part of a car.",  "A car is a kind of vehicle.",  "A dog chases a cat.",
};

TEST_F(HybridCoreTest, ConcurrentNeighborsBatchEqualsSequentialCalls) {
  LearnAll("default", kAnimals);
  std::vector<std::string> ids;
  for (std::string_view key :
       {"dog", "mammal", "cat", "animal", "bird", "car", "rain", "wet streets"}) {
    ids.push_back(ContentHashId(key));
  }
  ids.push_back("c-no-such-concept");  // missing: an empty list, not an error
  StorageGraphSource graph(core_.get(), Call(), "default");
  auto concurrent = graph.NeighborsBatch(ids, {}, 32, EdgeDirection::kBoth);
  auto sequential = graph.GraphSource::NeighborsBatch(ids, {}, 32, EdgeDirection::kBoth);
  ASSERT_TRUE(concurrent.ok()) << concurrent.status();
  ASSERT_TRUE(sequential.ok()) << sequential.status();
  ASSERT_EQ(concurrent->size(), ids.size());
  ASSERT_EQ(sequential->size(), ids.size());
  size_t total = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto& a = (*concurrent)[i];
    const auto& b = (*sequential)[i];
    ASSERT_EQ(a.size(), b.size()) << ids[i];
    for (size_t j = 0; j < a.size(); ++j) {
      EXPECT_EQ(a[j].node, b[j].node);
      EXPECT_EQ(a[j].edge, b[j].edge);
    }
    total += a.size();
  }
  EXPECT_GT((*concurrent)[1].size(), 2u);  // mammal: dog, cat, whale, animal
  EXPECT_TRUE(concurrent->back().empty());
  EXPECT_GT(total, 10u);

  // The namespace's own NOT_FOUND is an error, not an empty list.
  StorageGraphSource gone(core_.get(), Call(), "no-such-namespace");
  auto r = gone.NeighborsBatch(ids, {}, 32, EdgeDirection::kBoth);
  EXPECT_TRUE(IsNamespaceNotFound(r.status())) << r.status();
}

TEST_F(HybridCoreTest, PathsBetweenAreStoragesFewestHopsPaths) {
  LearnAll("default", kAnimals);
  const std::string dog = ContentHashId("dog"), mammal = ContentHashId("mammal"),
                    animal = ContentHashId("animal"), bird = ContentHashId("bird");
  StorageGraphSource graph(core_.get(), Call(), "default");
  const std::vector<PathEnds> pairs = {
      {dog, animal}, {dog, bird}, {animal, dog}, {dog, "c-no-such-concept"}};
  auto both = graph.PathsBetween(pairs, {}, 4, EdgeDirection::kBoth);
  ASSERT_TRUE(both.ok()) << both.status();
  ASSERT_EQ(both->size(), pairs.size());
  ASSERT_TRUE((*both)[0].has_value());
  EXPECT_THAT((*both)[0]->ids, ElementsAre(dog, mammal, animal));
  ASSERT_EQ((*both)[0]->hops.size(), 2u);
  EXPECT_EQ((*both)[0]->hops[0].source, dog);
  EXPECT_EQ((*both)[0]->hops[0].type, AssociationType::kHierarchical);
  ASSERT_TRUE((*both)[1].has_value());
  EXPECT_THAT((*both)[1]->ids, ElementsAre(dog, mammal, animal, bird));  // up, then down
  ASSERT_TRUE((*both)[2].has_value());
  EXPECT_FALSE((*both)[3].has_value());  // a missing concept: no path, not an error
  // Outwards only: up the hierarchy from dog, never down from animal; within the depth; the types.
  auto out = graph.PathsBetween(pairs, {}, 4, EdgeDirection::kOut);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE((*out)[0].has_value());
  EXPECT_FALSE((*out)[1].has_value());
  EXPECT_FALSE((*out)[2].has_value());
  auto shallow = graph.PathsBetween(pairs, {}, 2, EdgeDirection::kBoth);
  ASSERT_TRUE(shallow.ok()) << shallow.status();
  EXPECT_TRUE((*shallow)[0].has_value());
  EXPECT_FALSE((*shallow)[1].has_value());
  const std::vector<AssociationType> causal = {AssociationType::kCausal};
  auto typed = graph.PathsBetween(pairs, causal, 4, EdgeDirection::kBoth);
  ASSERT_TRUE(typed.ok()) << typed.status();
  EXPECT_FALSE((*typed)[0].has_value());

  StorageGraphSource gone(core_.get(), Call(), "no-such-namespace");
  EXPECT_TRUE(IsNamespaceNotFound(gone.PathsBetween(pairs, {}, 4, EdgeDirection::kBoth).status()));
}

// "How is a dog related to animal?" when the expansion's budget stops at dog's own neighbours:
// the path to animal comes from storage's search from both ends.
TEST_F(HybridCoreTest, ABetweenQuestionReachesYBeyondTheExpansionBudget) {
  LearnAll("default", kAnimals);
  HybridCoreOptions options = Options();
  options.reasoner.max_expansions = 1;
  for (uint32_t bridge_pairs : {0u, 32u}) {
    options.reasoner.max_bridge_pairs = bridge_pairs;
    const std::unique_ptr<HybridCore> core = CoreWith(options);
    v1::ReasonRequest req;
    req.set_namespace_("default");
    req.set_query("How is a dog related to animal?");
    auto r = core->Reason(Call(), req);
    ASSERT_TRUE(r.ok()) << r.status();
    if (bridge_pairs == 0) {
      EXPECT_NE(r->best_guess().id(), ContentHashId("animal")) << r->DebugString();
      continue;
    }
    EXPECT_TRUE(r->confident()) << r->DebugString();
    EXPECT_EQ(r->answer().id(), ContentHashId("animal")) << r->DebugString();
    ASSERT_GT(r->paths_size(), 0);
    EXPECT_THAT(
        r->paths(0).concept_ids(),
        ElementsAre(ContentHashId("dog"), ContentHashId("mammal"), ContentHashId("animal")));
  }
}

TEST_F(HybridCoreTest, ReasonIsTheSameWithOneOrManyStorageCallsInFlight) {
  LearnAll("default", kAnimals);
  HybridCoreOptions one = Options();
  one.max_concurrent_storage_calls = 1;
  const std::unique_ptr<HybridCore> sequential = CoreWith(one);
  for (std::string q :
       {"what kind of animal is a dog", "what happens when it rains", "what is a car made of"}) {
    v1::ReasonRequest req;
    req.set_namespace_("default");
    req.set_query(q);
    auto a = core_->Reason(Call(), req);
    auto b = sequential->Reason(Call(), req);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_GT(a->paths_size(), 0) << q;
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*a, *b))
        << q << "\n"
        << a->DebugString() << "\n"
        << b->DebugString();
  }
}

// The user story of issue 12: after a few dozen part-of facts, "What is a yolk part of?" must
// follow the yolk's part-of association, not whichever fact is nearest to the words "part of".
TEST_F(HybridCoreTest, AQuestionIsAnsweredAlongTheRelationItAsksFor) {
  std::vector<std::string> facts = {"A yolk is part of an egg.", "Yolk is yellow.",
                                    "A yolk is a kind of food."};
  for (const char* part :
       {"wheel", "engine", "door",  "keel", "mast",   "petal", "stem",   "leaf", "root", "branch",
        "blade", "handle", "spoke", "lens", "screen", "key",   "string", "page", "roof", "wall"}) {
    facts.push_back(absl::StrCat("A ", part, " is part of a ", part, "holder."));
  }
  LearnAll("default", facts);
  v1::ReasonRequest req;
  req.set_namespace_("default");
  req.set_query("What is a yolk part of?");
  auto r = core_->Reason(Call(), req);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_GT(r->paths_size(), 0);
  EXPECT_EQ(r->paths(0).concept_ids(0), ContentHashId("yolk")) << r->DebugString();
  EXPECT_EQ(r->best_guess().id(), ContentHashId("egg")) << r->DebugString();

  req.set_query("What is a yolk?");
  r = core_->Reason(Call(), req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->best_guess().id(), ContentHashId("food")) << r->DebugString();
}

// "How is X related to Y?": the answer is Y (one of its best matches) and the paths say how.
TEST_F(HybridCoreTest, AQuestionAboutTwoThingsIsAnsweredWithThePathsBetweenThem) {
  LearnAll("default", {"A dog is a kind of mammal.", "A wolf is a kind of mammal.",
                       "A trout is a kind of fish.", "A mammal is a kind of animal.",
                       "A fish is a kind of animal.", "Cats chase mice."});
  v1::ReasonRequest req;
  req.set_namespace_("default");
  req.set_query("How is a dog related to a wolf?");
  auto r = core_->Reason(Call(), req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->best_guess().id(), ContentHashId("wolf")) << r->DebugString();
  ASSERT_GT(r->paths_size(), 0);
  const auto& ids = r->paths(0).concept_ids();
  EXPECT_EQ(ids[0], ContentHashId("dog")) << r->DebugString();
  EXPECT_EQ(ids[ids.size() - 1], ContentHashId("wolf")) << r->DebugString();
  EXPECT_NE(std::find(ids.begin(), ids.end(), ContentHashId("mammal")), ids.end())
      << r->DebugString();
}

// The answer to "How is X related to Y?" is the concept named Y, not a nearer one that merely
// mentions Y: "drinking vessel" is one hop from the mug and matches "vessel" in a search, but the
// question asks about the vessel.
TEST_F(HybridCoreTest, ABetweenAnswerIsTheConceptNamedYNotOneThatMentionsY) {
  LearnAll("default",
           {"A mug is a kind of drinking vessel.", "A drinking vessel is a kind of vessel.",
            "A vessel is a kind of container.", "A mug is a kind of gift."});
  v1::ReasonRequest req;
  req.set_namespace_("default");
  req.set_query("How is a mug related to a vessel?");
  auto r = core_->Reason(Call(), req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->best_guess().id(), ContentHashId("vessel")) << r->DebugString();
  ASSERT_GT(r->paths_size(), 0);
  const auto& ids = r->paths(0).concept_ids();
  EXPECT_EQ(ids[0], ContentHashId("mug")) << r->DebugString();
  EXPECT_NE(std::find(ids.begin(), ids.end(), ContentHashId("drinking vessel")), ids.end())
      << r->DebugString();
}

// "Is X a Y?" is answered along the hierarchy from X: Y with the chain that makes X one, from X
// itself (not from "prairie dog", whose name only contains "dog" and whose chain to mammal is
// shorter), and no confident answer when the only way to Y leaves the hierarchy, as "is a whale a
// fish" reaches fish only down from animal. As an open question it was answered with whatever lay
// nearest.
TEST_F(HybridCoreTest, AnIsXAYQuestionIsAnsweredAlongTheHierarchy) {
  LearnAll("default", {"A prairie dog is a kind of rodent.", "A rodent is a kind of mammal.",
                       "A dog is a kind of canine.", "A canine is a kind of carnivore.",
                       "A carnivore is a kind of placental.", "A placental is a kind of mammal.",
                       "A mammal is a kind of animal.", "A fish is a kind of animal.",
                       "A whale is a kind of mammal.", "A dog is a kind of pet.",
                       "A pet is a kind of companion."});
  v1::ReasonRequest req;
  req.set_namespace_("default");
  req.set_query("Is a dog a mammal?");
  auto r = core_->Reason(Call(), req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->confident()) << r->DebugString();
  EXPECT_EQ(r->answer().id(), ContentHashId("mammal")) << r->DebugString();
  ASSERT_GT(r->paths_size(), 0);
  const auto& ids = r->paths(0).concept_ids();
  EXPECT_EQ(ids[0], ContentHashId("dog")) << r->DebugString();
  EXPECT_EQ(ids.size(), 5) << r->DebugString();
  for (const auto& hop : r->paths(0).hops()) EXPECT_EQ(hop.type(), sv1::HIERARCHICAL);
  EXPECT_THAT(r->explanation(), StartsWith("Yes: \"dog\" is a kind of \"mammal\" (confidence "));

  // Near misses: a path through a shared ancestor ("whale is a mammal, which is an animal, as a
  // fish is") relates them but is no "yes".
  for (const char* q : {"Is a whale a fish?", "Is a dog a rodent?", "Is a prairie dog a canine?"}) {
    req.set_query(q);
    r = core_->Reason(Call(), req);
    ASSERT_TRUE(r.ok()) << q << ": " << r.status();
    EXPECT_FALSE(r->confident()) << q << ": " << r->DebugString();
    EXPECT_THAT(r->explanation(), StartsWith("No confident yes")) << q;
  }
}

// A question about two things when nothing stored matches the second says so, not that the
// question had no words.
TEST_F(HybridCoreTest, ABetweenQuestionOverAnEmptyNamespaceSaysNothingMatchesY) {
  v1::ReasonRequest req;
  req.set_namespace_("default");
  req.set_query("How is a dog related to animal?");
  auto r = core_->Reason(Call(), req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->confident());
  EXPECT_EQ(r->explanation(), "Nothing stored matches \"animal\", the question's second subject.");
  req.set_query("Is a dog a mammal?");
  r = core_->Reason(Call(), req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->explanation(),
            "No confident yes: nothing stored matches \"mammal\", the question's second subject.");
}

// "What is a violin?" starts at the concept named violin, though BM25 ranks the short texts that
// only mention it ("violin lesson: a lesson in playing the violin") higher; from those the answer
// was "music lesson".
TEST_F(HybridCoreTest, ARelationQuestionStartsAtTheConceptNamedX) {
  sv1::WriteRequest write;
  write.set_namespace_("default");
  const std::pair<const char*, const char*> concepts[] = {
      {"violin",
       "violin, fiddle: bowed stringed instrument that is the highest member of the "
       "violin family; this instrument has four strings and a hollow body and an "
       "unfretted fingerboard and is played with a bow"},
      {"violin-lesson", "violin lesson: a lesson in playing the violin"},
      {"violin-maker", "violin maker: someone who makes violins"},
      {"music-lesson", "music lesson: a lesson in performing music"},
      {"maker", "maker, shaper: a person who makes things"},
      {"bowed",
       "bowed stringed instrument, string: stringed instruments that are played with a bow"}};
  for (const auto& [id, content] : concepts) {
    auto* c = write.add_mutations()->mutable_put_concept();
    c->set_id(id);
    c->set_content(content);
  }
  for (const auto& [source, target] :
       {std::pair<const char*, const char*>{"violin-lesson", "music-lesson"},
        {"violin-maker", "maker"},
        {"violin", "bowed"}}) {
    auto* a = write.add_mutations()->mutable_put_association();
    a->set_source(source);
    a->set_target(target);
    a->set_type(sv1::HIERARCHICAL);
  }
  ASSERT_TRUE(StorageWrite(write).ok());
  v1::ReasonRequest req;
  req.set_namespace_("default");
  req.set_query("What is a violin?");
  auto r = core_->Reason(Call(), req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->confident()) << r->DebugString();
  EXPECT_EQ(r->answer().id(), "bowed") << r->DebugString();
  ASSERT_GT(r->paths_size(), 0);
  EXPECT_THAT(r->paths(0).concept_ids(), ElementsAre("violin", "bowed"));
}

// Learned strengths reach the reasoner through storage's search: of two senses of "kennel", the
// one learned stronger answers "What is a kennel?" confidently; learned alike, neither does. A
// strength that is not finite and >= 0 is refused naming the item, and nothing is learned.
// "What is a horse?" when 120 shorter contents mention horses: the word search's best 100 miss
// "horse, Equus caballus: <a long gloss>", storage's name index does not (SearchNamed).
TEST_F(HybridCoreTest, WhatIsXSeedsFromEveryConceptNamedXHoweverManyMentionIt) {
  ASSERT_TRUE(CreateNamespace("horses", 384).ok());
  v1::LearnRequest req;
  req.set_namespace_("horses");
  auto add = [&](const std::string& id, const std::string& content) {
    v1::LearnItem* item = req.add_items();
    item->set_id(id);
    item->set_content(content);
    item->mutable_extract_associations()->set_value(false);
  };
  add("horse",
      "horse, Equus caballus: solid-hoofed herbivorous quadruped domesticated since "
      "prehistoric times, ridden, raced and used to pull loads and to plough fields");
  add("equine", "equine, equid: hoofed mammals having slender legs and a flat coat");
  for (int i = 0; i < 120; ++i)
    add(absl::StrCat("cart", i), absl::StrCat("horse cart ", i, ": a horse cart"));
  ASSERT_TRUE(core_->Learn(Call(), req).ok());
  sv1::WriteRequest write;
  write.set_namespace_("horses");
  auto* a = write.add_mutations()->mutable_put_association();
  a->set_source("horse");
  a->set_target("equine");
  a->set_type(sv1::HIERARCHICAL);
  ASSERT_TRUE(StorageWrite(write).ok());

  v1::SearchRequest search;  // the problem: a word search of the pool's size misses it
  search.set_namespace_("horses");
  search.set_text("What is a horse?");
  search.set_k(100);
  absl::StatusOr<v1::SearchResponse> found = core_->Search(Call(), search);
  ASSERT_TRUE(found.ok()) << found.status();
  for (const auto& r : found->results()) ASSERT_NE(r.node().id(), "horse");

  v1::ReasonRequest ask;
  ask.set_namespace_("horses");
  ask.set_query("What is a horse?");
  absl::StatusOr<v1::ReasonResponse> r = core_->Reason(Call(), ask);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->confident()) << r->DebugString();
  EXPECT_EQ(r->answer().id(), "equine") << r->DebugString();
  ASSERT_EQ(r->support_size(), 1) << r->DebugString();
  EXPECT_EQ(r->support(0).node().id(), "horse");
}

TEST_F(HybridCoreTest, TheSenseLearnedStrongerAnswersWhatIsX) {
  auto learn = [&](const std::string& ns, float noun_strength) {
    ASSERT_TRUE(CreateNamespace(ns, 384).ok());
    v1::LearnRequest req;
    req.set_namespace_(ns);
    const std::pair<const char*, const char*> items[] = {
        {"kennel-n", "kennel, doghouse: outbuilding that serves as a shelter for a dog"},
        {"kennel-v", "kennel: put up in a kennel"},
        {"outbuilding", "outbuilding: a building subordinate to a main building"},
        {"shelter", "shelter: provide shelter for"}};
    for (const auto& [id, content] : items) {
      v1::LearnItem* item = req.add_items();
      item->set_id(id);
      item->set_content(content);
      item->mutable_extract_associations()->set_value(false);
    }
    req.mutable_items(0)->mutable_strength()->set_value(noun_strength);
    ASSERT_TRUE(core_->Learn(Call(), req).ok());
    sv1::WriteRequest write;
    write.set_namespace_(ns);
    for (const auto& [source, target] :
         {std::pair<const char*, const char*>{"kennel-n", "outbuilding"},
          {"kennel-v", "shelter"}}) {
      auto* a = write.add_mutations()->mutable_put_association();
      a->set_source(source);
      a->set_target(target);
      a->set_type(sv1::HIERARCHICAL);
    }
    ASSERT_TRUE(StorageWrite(write).ok());
  };
  auto ask = [&](const std::string& ns) {
    v1::ReasonRequest req;
    req.set_namespace_(ns);
    req.set_query("What is a kennel?");
    absl::StatusOr<v1::ReasonResponse> r = core_->Reason(Call(), req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::ReasonResponse();
  };
  learn("strong", 43.0f);
  ASSERT_FALSE(HasFatalFailure());
  const v1::ReasonResponse strong = ask("strong");
  EXPECT_TRUE(strong.confident()) << strong.DebugString();
  EXPECT_EQ(strong.answer().id(), "outbuilding") << strong.DebugString();

  learn("alike", 1.0f);
  ASSERT_FALSE(HasFatalFailure());
  const v1::ReasonResponse alike = ask("alike");
  EXPECT_FALSE(alike.confident()) << alike.DebugString();

  v1::LearnRequest bad;
  bad.set_namespace_("alike");
  bad.add_items()->set_content("a concept never learned");
  bad.add_items()->set_content("nor this one");
  bad.mutable_items(1)->mutable_strength()->set_value(-1.0f);
  absl::StatusOr<v1::LearnResponse> refused = core_->Learn(Call(), bad);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("items[1].strength: -1: must be finite and >= 0"));
  v1::SearchRequest search;
  search.set_namespace_("alike");
  search.set_text("never learned");
  absl::StatusOr<v1::SearchResponse> found = core_->Search(Call(), search);
  ASSERT_TRUE(found.ok()) << found.status();
  for (const auto& hit : found->results()) {
    EXPECT_NE(hit.node().id(), ContentHashId("a concept never learned"));
  }
}

TEST_F(HybridCoreTest, ReasonStreamSendsSeedsPathsThenTheAnswerReasonGives) {
  LearnAll("default", kAnimals);
  ComputePool pool(2, 8);
  HybridCoreOptions options = Options();
  options.pool = &pool;
  const std::unique_ptr<HybridCore> core = CoreWith(options);
  v1::ReasonRequest req;
  req.set_namespace_("default");
  req.set_query("what kind of animal is a dog");
  std::vector<v1::ReasonEvent> events;
  absl::Status s = core->ReasonStream(
      Call(), req,
      [&](v1::ReasonEvent e) {
        events.push_back(std::move(e));
        return true;
      },
      [] { return false; });
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_GE(events.size(), 3u);
  EXPECT_TRUE(events.front().has_seeds());
  EXPECT_GT(events.front().seeds().support_size(), 0);
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    ASSERT_TRUE(events[i].has_path()) << i;
    const v1::ReasonPath& p = events[i].path();
    EXPECT_EQ(p.concepts_size(), p.path().concept_ids_size());
    EXPECT_EQ(p.path().hops_size() + 1, p.path().concept_ids_size());
  }
  ASSERT_TRUE(events.back().has_answer());
  auto unary = core->Reason(Call(), req);
  ASSERT_TRUE(unary.ok()) << unary.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(events.back().answer(), *unary))
      << events.back().answer().DebugString() << "\n"
      << unary->DebugString();
  EXPECT_EQ(pool.busy(), 0u);
}

TEST_F(HybridCoreTest, ReasonStreamStopsWhenTheClientGoesAway) {
  LearnAll("default", kAnimals);
  ComputePool pool(1, 0);
  HybridCoreOptions options = Options();
  options.pool = &pool;
  const std::unique_ptr<HybridCore> core = CoreWith(options);
  v1::ReasonRequest req;
  req.set_namespace_("default");
  req.set_query("what kind of animal is a dog");
  // The client takes the seeds and is gone: no answer is emitted, the call is CANCELLED and the
  // pool's one thread is free again (the next call is admitted).
  int emitted = 0;
  absl::Status s = core->ReasonStream(
      Call(), req,
      [&](v1::ReasonEvent) {
        ++emitted;
        return false;
      },
      [] { return false; });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_EQ(emitted, 1);
  // A client already gone before anything arrives: the same, without emitting.
  emitted = 0;
  s = core->ReasonStream(
      Call(), req,
      [&](v1::ReasonEvent) {
        ++emitted;
        return true;
      },
      [] { return true; });
  EXPECT_TRUE(s.code() == absl::StatusCode::kCancelled || s.ok()) << s;
  auto again = core->Reason(Call(), req);
  EXPECT_TRUE(again.ok()) << again.status();
  // Bad requests are refused before any work, naming the field.
  req.set_query("");
  s = core->ReasonStream(
      Call(), req, [](v1::ReasonEvent) { return true; }, [] { return false; });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("query"));
}

// Many requests at once through a small pool (run under ThreadSanitizer by scripts/tsan.sh).
TEST_F(HybridCoreTest, ConcurrentLearnAndReasonThroughThePool) {
  LearnAll("default", kAnimals);
  ComputePool pool(2, 64);
  HybridCoreOptions options = Options();
  options.pool = &pool;
  metrics::Registry registry;
  const std::unique_ptr<HybridCore> core = CoreWith(options, &registry);
  constexpr int kThreads = 4, kRounds = 6;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        v1::LearnRequest learn;
        learn.set_namespace_("default");
        learn.add_items()->set_content(absl::StrCat("A breed", t, "x", i, " is a kind of dog."));
        learn.add_items()->set_content(absl::StrCat("Storm", t, "x", i, " causes rain."));
        auto l = core->Learn(Call(), learn);
        v1::ReasonRequest reason;
        reason.set_namespace_("default");
        reason.set_query(absl::StrCat("what is a breed", t, "x", i));
        auto r = core->Reason(Call(), reason);
        v1::EmbedRequest embed;
        embed.set_namespace_("default");
        embed.add_texts(absl::StrCat("text ", t, " ", i));
        auto e = core->Embed(Call(), embed);
        if (!l.ok() || !r.ok() || !e.ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(pool.busy(), 0u);  // Run returns only once its worker is idle again
  EXPECT_EQ(pool.queued(), 0u);
}

}  // namespace
}  // namespace engram::hybrid
