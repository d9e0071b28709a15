// Unit tests of NamespaceStore on its own, without the engine's writer, log or registry: the test
// is the single writer (Plan, Reserve, Apply, PublishApplied at sequences it picks) and reads at
// snapshot sequences of its choice.
#include "storage-server/engine/namespace_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/time_util.h"
#include "storage-server/engine/derived_state.h"
#include "storage-server/engine/job_queue.h"
#include "storage-server/engine/limits.h"
#include "storage-server/engine/testing/engine_fixture.h"

namespace engram::storage {
namespace {

using namespace engram::storage::testing;  // NOLINT
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr uint32_t kDim = 2;

int64_t Micros(const google::protobuf::Timestamp& t) {
  return google::protobuf::util::TimeUtil::TimestampToMicroseconds(t);
}

void ExpectInvalid(const absl::Status& s, const std::string& message) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(message)) << s;
}

class NamespaceStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshDir("ns");
    state_.id = 1;
    state_.config = Config("n", kDim);
    ASSERT_TRUE(NormalizeNamespaceConfig(limits_, &state_.config).ok());
    state_.create_micros = 1000;
    Reopen();
  }

  void Reopen() {
    store_.reset();
    auto ns = NamespaceStore::Open(dir_, state_, &limits_);
    ASSERT_TRUE(ns.ok()) << ns.status();
    store_ = std::move(*ns);
  }

  // store_->Search at `seq` (0: the latest), the test failing on an error.
  v1::SearchResponse MustSearch(const v1::SearchRequest& request, uint64_t seq = 0) {
    auto response = store_->Search(request, seq == 0 ? seq_ : seq);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : v1::SearchResponse();
  }

  // What the engine's writer does with one request: normalise, plan, reserve, apply at the next
  // sequence, publish. Returns the response; the sequence is seq_ afterwards.
  v1::WriteResponse MustWrite(std::vector<v1::Mutation> mutations) {
    v1::WriteRequest request = Batch("n", std::move(mutations));
    absl::Status normalized = NormalizeWriteRequest(limits_, kDim, &request);
    EXPECT_TRUE(normalized.ok()) << normalized;
    auto plan = store_->Plan(request);
    EXPECT_TRUE(plan.ok()) << plan.status();
    if (!plan.ok()) return {};
    absl::Status reserved = store_->Reserve(*plan);
    EXPECT_TRUE(reserved.ok()) << reserved;
    ++seq_;
    v1::WriteResponse response = store_->Apply(request, seq_, /*now_micros=*/seq_ * 1000);
    store_->PublishApplied();
    return response;
  }

  absl::StatusOr<WritePlan> Plan(std::vector<v1::Mutation> mutations) {
    v1::WriteRequest request = Batch("n", std::move(mutations));
    absl::Status normalized = NormalizeWriteRequest(limits_, kDim, &request);
    if (!normalized.ok()) return normalized;
    return store_->Plan(request);
  }

  v1::GetConceptsResponse Get(std::vector<std::string> ids, uint64_t seq, bool vector = false) {
    v1::GetConceptsRequest r;
    for (const auto& id : ids) r.add_ids(id);
    r.set_include_vector(vector);
    return store_->Get(r, seq);
  }

  v1::NeighborsRequest NeighborsOf(const std::string& id, v1::Direction direction = v1::BOTH,
                                   std::vector<v1::AssociationType> types = {}) {
    v1::NeighborsRequest r;
    r.set_id(id);
    r.set_direction(direction);
    for (auto t : types) r.add_types(t);
    return r;
  }

  std::vector<std::string> NeighborIds(const v1::NeighborsRequest& r) {
    auto n = store_->Neighbors(r, seq_);
    EXPECT_TRUE(n.ok()) << n.status();
    std::vector<std::string> out;
    if (n.ok()) {
      for (const auto& x : n->neighbors()) out.push_back(x.node().id());
    }
    return out;
  }

  v1::FindPathsRequest Paths(const std::string& source, const std::string& target) {
    v1::FindPathsRequest r;
    r.set_source(source);
    r.set_target(target);
    return r;
  }

  std::vector<std::vector<std::string>> PathIds(const v1::FindPathsRequest& r) {
    auto p = store_->FindPaths(r, seq_);
    EXPECT_TRUE(p.ok()) << p.status();
    std::vector<std::vector<std::string>> out;
    if (p.ok()) {
      for (const auto& path : p->paths()) {
        out.emplace_back(path.concept_ids().begin(), path.concept_ids().end());
      }
    }
    return out;
  }

  std::vector<std::string> SearchIds(const std::vector<float>& q, uint32_t k, bool exact,
                                     std::map<std::string, std::string> filter = {}) {
    v1::SearchRequest r;
    r.mutable_vector()->Add(q.begin(), q.end());
    r.set_k(k);
    r.set_exact(exact);
    for (auto& [key, v] : filter) (*r.mutable_filter())[key] = v;
    auto s = store_->Search(r, seq_);
    EXPECT_TRUE(s.ok()) << s.status();
    std::vector<std::string> out;
    if (s.ok()) {
      for (const auto& x : s->results()) out.push_back(x.node().id());
    }
    return out;
  }

  // Every concept id of a scan, page after page.
  std::vector<std::string> ScanIds(v1::ScanRequest r) {
    std::vector<std::string> out;
    while (true) {
      auto page = store_->Scan(r, seq_);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) return out;
      for (const auto& c : page->concepts()) out.push_back(c.id());
      if (page->next_page_token().empty()) return out;
      r.set_page_token(page->next_page_token());
    }
  }

  Limits limits_;
  std::filesystem::path dir_;
  NamespaceState state_;
  std::shared_ptr<NamespaceStore> store_;  // shared: WriteBehind's jobs hold the store
  uint64_t seq_ = 0;
};

TEST_F(NamespaceStoreTest, PutGetAndReplaceAtSnapshotSequences) {
  auto put =
      MustWrite({PutConcept("a", "alpha", {1, 0}, {{"color", "red"}}), PutConcept("b", "beta")});
  ASSERT_EQ(put.results_size(), 2);
  EXPECT_EQ(put.sequence(), 1u);
  EXPECT_EQ(put.results(0).id(), "a");
  EXPECT_TRUE(put.results(0).created());
  EXPECT_EQ(store_->concept_count(), 2u);
  EXPECT_EQ(store_->vector_count(), 1u);

  auto got = Get({"a", "b", "nope"}, seq_, /*vector=*/true);
  ASSERT_EQ(got.concepts_size(), 2);
  EXPECT_EQ(got.concepts(0).content(), "alpha");
  EXPECT_EQ(got.concepts(0).attributes().at("color"), "red");
  EXPECT_THAT(got.concepts(0).vector(), ElementsAre(1.0f, 0.0f));
  EXPECT_EQ(got.concepts(0).strength(), 1.0f);  // defaulted by NormalizeWriteRequest
  EXPECT_THAT(got.missing_ids(), ElementsAre("nope"));
  EXPECT_THAT(Get({"a"}, seq_).concepts(0).vector(), IsEmpty());

  // A replacement is a new version: readers at the old sequence still see the old one, the create
  // time is kept and the old vector stops counting.
  auto replace = MustWrite({PutConcept("a", "alpha 2", {0, 1})});
  EXPECT_FALSE(replace.results(0).created());
  EXPECT_EQ(store_->concept_count(), 2u);
  EXPECT_EQ(store_->vector_count(), 1u);
  EXPECT_EQ(Get({"a"}, 1).concepts(0).content(), "alpha");
  const v1::Concept now = Get({"a"}, seq_).concepts(0);
  EXPECT_EQ(now.content(), "alpha 2");
  EXPECT_EQ(Micros(now.create_time()), 1000);
  EXPECT_EQ(Micros(now.update_time()), 2000);
  EXPECT_EQ(Get({"a"}, 0).concepts_size(), 0);  // before the first write
}

TEST_F(NamespaceStoreTest, ContentHashIdsMakeRepeatedPutsReplace) {
  // An empty id becomes the content hash (NormalizeWriteRequest); the store then sees the same id
  // twice and replaces instead of adding.
  auto first = MustWrite({PutConcept("", "the same text")});
  auto second = MustWrite({PutConcept("", "the same text")});
  EXPECT_EQ(first.results(0).id(), ContentHashId("the same text"));
  EXPECT_EQ(second.results(0).id(), first.results(0).id());
  EXPECT_TRUE(first.results(0).created());
  EXPECT_FALSE(second.results(0).created());
  EXPECT_EQ(store_->concept_count(), 1u);
}

TEST_F(NamespaceStoreTest, PlanSizesTheWriteAndChangesNothing) {
  auto plan = Plan(
      {PutConcept("a", "alpha", {1, 0}), PutConcept("b", "beta"), PutAssoc("a", "b", v1::CAUSAL)});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->new_slots, 1u);
  EXPECT_GE(plan->arena_bytes, 2 * sizeof(ConceptRecord) + sizeof(AssocRecord));
  EXPECT_EQ(plan->arena_bytes % 16, 0u);
  EXPECT_EQ(store_->concept_count(), 0u);
  EXPECT_EQ(Get({"a"}, UINT64_MAX).concepts_size(), 0);

  // Endpoints must exist, counting the earlier mutations of the same batch; the error names the
  // mutation and the end.
  auto missing = Plan({PutConcept("a", "alpha"), PutAssoc("a", "ghost", v1::CAUSAL)});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("mutations[1].put_association.target"));
  MustWrite({PutConcept("a", "alpha"), PutConcept("b", "beta")});
  auto deleted_first = Plan({DeleteConcept("b"), PutAssoc("a", "b", v1::CAUSAL)});
  EXPECT_EQ(deleted_first.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(deleted_first.status().message()),
              HasSubstr("mutations[1].put_association.target"));
  auto missing_source = Plan({PutAssoc("ghost", "a", v1::CAUSAL)});
  EXPECT_THAT(std::string(missing_source.status().message()),
              HasSubstr("mutations[0].put_association.source"));
  EXPECT_TRUE(Plan({PutConcept("c", "gamma"), PutAssoc("c", "a", v1::CAUSAL)}).ok());
}

TEST_F(NamespaceStoreTest, DeleteConceptTakesItsAssociationsAlong) {
  MustWrite({PutConcept("a", "alpha", {1, 0}), PutConcept("b", "beta"), PutConcept("c", "gamma"),
             PutAssoc("a", "b", v1::CAUSAL), PutAssoc("c", "a", v1::SEMANTIC),
             PutAssoc("b", "c", v1::CAUSAL)});
  const uint64_t before = seq_;
  EXPECT_EQ(store_->association_count(), 3u);

  auto del = MustWrite({DeleteConcept("a"), DeleteConcept("never")});
  EXPECT_TRUE(del.results(0).found());
  EXPECT_FALSE(del.results(1).found());
  EXPECT_EQ(store_->concept_count(), 2u);
  EXPECT_EQ(store_->vector_count(), 0u);
  EXPECT_EQ(store_->association_count(), 1u);
  EXPECT_THAT(Get({"a"}, seq_).missing_ids(), ElementsAre("a"));
  EXPECT_THAT(NeighborIds(NeighborsOf("b")), ElementsAre("c"));
  EXPECT_EQ(store_->Neighbors(NeighborsOf("a"), seq_).status().code(), absl::StatusCode::kNotFound);

  // The old snapshot still has a and its edges.
  auto old = store_->Neighbors(NeighborsOf("b"), before);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->neighbors_size(), 2);

  EXPECT_FALSE(MustWrite({DeleteConcept("a")}).results(0).found());  // already gone
  // Re-creating the id starts without edges.
  EXPECT_TRUE(MustWrite({PutConcept("a", "again")}).results(0).created());
  EXPECT_THAT(NeighborIds(NeighborsOf("a")), IsEmpty());
}

TEST_F(NamespaceStoreTest, AssociationsAreKeyedBySourceTargetAndType) {
  MustWrite({PutConcept("a", "alpha"), PutConcept("b", "beta")});
  auto first = MustWrite({PutAssoc("a", "b", v1::CAUSAL, 0.4f)});
  EXPECT_EQ(first.results(0).id(), "a->b:CAUSAL");
  EXPECT_TRUE(first.results(0).created());
  auto again =
      MustWrite({PutAssoc("a", "b", v1::CAUSAL, 0.6f), PutAssoc("a", "b", v1::TEMPORAL, 0.5f)});
  EXPECT_FALSE(again.results(0).created());
  EXPECT_TRUE(again.results(1).created());
  EXPECT_EQ(store_->association_count(), 2u);

  auto n = store_->Neighbors(NeighborsOf("a", v1::OUT, {v1::CAUSAL}), seq_);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(n->neighbors_size(), 1);
  EXPECT_FLOAT_EQ(n->neighbors(0).association().confidence(), 0.6f);
  // The replacement keeps the first create time.
  EXPECT_EQ(Micros(n->neighbors(0).association().create_time()), 2000);

  auto del = MustWrite({DeleteAssoc("a", "b", v1::CAUSAL), DeleteAssoc("a", "b", v1::HIERARCHICAL),
                        DeleteAssoc("a", "ghost", v1::CAUSAL)});
  EXPECT_EQ(del.results(0).id(), "a->b:CAUSAL");
  EXPECT_TRUE(del.results(0).found());
  EXPECT_FALSE(del.results(1).found());
  EXPECT_FALSE(del.results(2).found());
  EXPECT_EQ(store_->association_count(), 1u);
  EXPECT_THAT(NeighborIds(NeighborsOf("a", v1::OUT, {v1::CAUSAL})), IsEmpty());
  EXPECT_THAT(NeighborIds(NeighborsOf("a", v1::OUT)), ElementsAre("b"));
}

TEST_F(NamespaceStoreTest, NeighborsByTypeAndDirectionInConfidenceOrder) {
  MustWrite({PutConcept("dog", "dog", {1, 0}, {{"kind", "animal"}}), PutConcept("mammal", "mammal"),
             PutConcept("bark", "bark"), PutConcept("puppy", "puppy"), PutConcept("cat", "cat"),
             PutAssoc("dog", "mammal", v1::HIERARCHICAL, 0.9f),
             PutAssoc("dog", "bark", v1::CAUSAL, 0.7f),
             PutAssoc("puppy", "dog", v1::HIERARCHICAL, 0.8f),
             PutAssoc("dog", "cat", v1::SEMANTIC, 0.7f)});
  // Confidence first, then id.
  EXPECT_THAT(NeighborIds(NeighborsOf("dog", v1::OUT)), ElementsAre("mammal", "bark", "cat"));
  EXPECT_THAT(NeighborIds(NeighborsOf("dog", v1::IN)), ElementsAre("puppy"));
  EXPECT_THAT(NeighborIds(NeighborsOf("dog")), ElementsAre("mammal", "puppy", "bark", "cat"));
  EXPECT_THAT(NeighborIds(NeighborsOf("dog", v1::DIRECTION_UNSPECIFIED)),
              ElementsAre("mammal", "puppy", "bark", "cat"));  // unspecified means BOTH
  EXPECT_THAT(NeighborIds(NeighborsOf("dog", v1::BOTH, {v1::HIERARCHICAL})),
              ElementsAre("mammal", "puppy"));
  EXPECT_THAT(NeighborIds(NeighborsOf("dog", v1::OUT, {v1::CAUSAL, v1::SEMANTIC})),
              ElementsAre("bark", "cat"));
  EXPECT_THAT(NeighborIds(NeighborsOf("mammal", v1::OUT)), IsEmpty());

  v1::NeighborsRequest limited = NeighborsOf("dog");
  limited.set_limit(2);
  EXPECT_THAT(NeighborIds(limited), ElementsAre("mammal", "puppy"));

  // What one neighbour carries: the node's id, content and attributes (no vector), the edge as
  // stored, and which way it points.
  auto n = store_->Neighbors(NeighborsOf("puppy"), seq_);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(n->neighbors_size(), 1);
  const v1::Neighbor& dog = n->neighbors(0);
  EXPECT_EQ(dog.node().id(), "dog");
  EXPECT_EQ(dog.node().content(), "dog");
  EXPECT_EQ(dog.node().attributes().at("kind"), "animal");
  EXPECT_THAT(dog.node().vector(), IsEmpty());
  EXPECT_EQ(dog.association().source(), "puppy");
  EXPECT_EQ(dog.association().target(), "dog");
  EXPECT_EQ(dog.association().type(), v1::HIERARCHICAL);
  EXPECT_EQ(dog.direction(), v1::OUT);
}

TEST_F(NamespaceStoreTest, NeighborsRefuseBadRequestsNamingTheField) {
  MustWrite({PutConcept("a", "alpha")});
  v1::NeighborsRequest r = NeighborsOf("a");
  r.set_limit(limits_.max_neighbors + 1);
  ExpectInvalid(store_->Neighbors(r, seq_).status(), "limit: 1001, at most 1000");
  r = NeighborsOf("a");
  r.add_types(v1::CAUSAL);
  r.add_types(v1::ASSOCIATION_TYPE_UNSPECIFIED);
  ExpectInvalid(store_->Neighbors(r, seq_).status(), "types[1]: unknown association type");
  r = NeighborsOf("a");
  r.set_direction(static_cast<v1::Direction>(99));
  ExpectInvalid(store_->Neighbors(r, seq_).status(), "direction");
  ExpectInvalid(store_->Neighbors(NeighborsOf(""), seq_).status(), "id");
  auto missing = store_->Neighbors(NeighborsOf("ghost"), seq_);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("'ghost'"));
}

// Under a depth limit, a more confident route to a concept that is too long to reach the target
// from there does not take that concept's place from a shorter route that can: s -> a -> b -> v
// (confidence 1 each) reaches v first by confidence, in 3 hops, but only s -> v (0.4) -> t fits
// within 3 hops to the target.
// Before the search was bounded by the hops left to the target, it found no path here.
TEST_F(NamespaceStoreTest, PathsUnderADepthLimitAreNotBlockedByLongerRoutes) {
  MustWrite({PutConcept("s", "s"), PutConcept("a", "a"), PutConcept("b", "b"), PutConcept("v", "v"),
             PutConcept("t", "t"), PutConcept("x", "x"), PutAssoc("s", "a", v1::CAUSAL, 1.0f),
             PutAssoc("a", "b", v1::CAUSAL, 1.0f), PutAssoc("b", "v", v1::CAUSAL, 1.0f),
             PutAssoc("s", "v", v1::CAUSAL, 0.4f), PutAssoc("v", "t", v1::CAUSAL, 1.0f)});
  v1::FindPathsRequest r = Paths("s", "t");
  r.set_max_paths(1);
  r.set_max_depth(3);
  r.set_decay(1.0f);
  r.set_direction(v1::OUT);
  EXPECT_THAT(PathIds(r), ElementsAre(ElementsAre("s", "v", "t")));
  r.set_max_depth(4);
  EXPECT_THAT(PathIds(r), ElementsAre(ElementsAre("s", "a", "b", "v", "t")));
  r.set_mode(v1::SHORTEST);
  EXPECT_THAT(PathIds(r), ElementsAre(ElementsAre("s", "v", "t")));
  // No path at all (x is isolated): an empty answer, not an error.
  EXPECT_THAT(PathIds(Paths("s", "x")), ElementsAre());
}

// BEST under a binding max_depth: v is reached most confidently in 2 hops (s a v), but only the
// 1-hop way in (s v) leaves hops for the confident route on (v w x t); settling v once, by its most
// confident partial, would answer s a v t (0.5) instead of s v w x t (0.9).
TEST_F(NamespaceStoreTest, BestUnderABindingDepthKeepsAConceptReachedInFewerHops) {
  MustWrite({PutConcept("s", "s"), PutConcept("a", "a"), PutConcept("v", "v"), PutConcept("w", "w"),
             PutConcept("x", "x"), PutConcept("t", "t"), PutAssoc("s", "a", v1::CAUSAL, 1.0f),
             PutAssoc("a", "v", v1::CAUSAL, 1.0f), PutAssoc("s", "v", v1::CAUSAL, 0.9f),
             PutAssoc("v", "t", v1::CAUSAL, 0.5f), PutAssoc("v", "w", v1::CAUSAL, 1.0f),
             PutAssoc("w", "x", v1::CAUSAL, 1.0f), PutAssoc("x", "t", v1::CAUSAL, 1.0f)});
  v1::FindPathsRequest r = Paths("s", "t");
  r.set_max_paths(1);
  r.set_decay(1.0f);
  r.set_direction(v1::OUT);
  r.set_max_depth(5);  // the most confident path fits: s a v w x t
  EXPECT_THAT(PathIds(r), ElementsAre(ElementsAre("s", "a", "v", "w", "x", "t")));
  r.set_max_depth(4);
  EXPECT_THAT(PathIds(r), ElementsAre(ElementsAre("s", "v", "w", "x", "t")));
  r.set_max_depth(3);
  EXPECT_THAT(PathIds(r), ElementsAre(ElementsAre("s", "a", "v", "t")));
  r.set_max_depth(2);
  EXPECT_THAT(PathIds(r), ElementsAre(ElementsAre("s", "v", "t")));
  r.set_max_depth(1);
  EXPECT_THAT(PathIds(r), ElementsAre());
}

// FindPaths with one path against every simple path enumerated, on many small random graphs
// (cycles, both directions, a type filter, decay < 1, ties, unreachable targets): BEST returns the
// most confident path's confidence at every max_depth, including bounds shorter than that path;
// SHORTEST the fewest hops and, among those, the best confidence.
TEST_F(NamespaceStoreTest, OnePathMatchesEveryPathEnumerated) {
  struct Edge {
    int from, to;
    v1::AssociationType type;
    float confidence;
  };
  constexpr int kNodes = 11;
  std::mt19937 random(7);
  int compared = 0, found = 0, bounded_compared = 0, binding = 0;
  for (int g = 0; g < 200; ++g) {
    const std::string prefix = absl::StrCat("g", g, "_");
    std::vector<v1::Mutation> writes;
    for (int i = 0; i < kNodes; ++i) writes.push_back(PutConcept(absl::StrCat(prefix, i), "c"));
    std::vector<Edge> edges;
    std::set<std::pair<int, int>> seen;
    const int edge_count = 11 + static_cast<int>(random() % 14);
    while (static_cast<int>(edges.size()) < edge_count) {
      const int a = static_cast<int>(random() % kNodes), b = static_cast<int>(random() % kNodes);
      if (a == b || !seen.insert({a, b}).second) continue;
      // Confidences from a small set, so equal products (ties) happen.
      const float confidence = std::array<float, 5>{0.5f, 0.8f, 0.9f, 1.0f, 0.3f}[random() % 5];
      edges.push_back({a, b, random() % 3 == 0 ? v1::SEMANTIC : v1::CAUSAL, confidence});
      writes.push_back(PutAssoc(absl::StrCat(prefix, a), absl::StrCat(prefix, b), edges.back().type,
                                confidence));
    }
    MustWrite(std::move(writes));
    for (int q = 0; q < 6; ++q) {
      const int source = static_cast<int>(random() % kNodes);
      int target = static_cast<int>(random() % kNodes);
      if (target == source) target = (target + 1) % kNodes;
      const v1::Direction direction = q % 2 == 0 ? v1::OUT : v1::BOTH;
      const bool causal_only = q % 3 == 2;
      const float decay = q % 4 == 3 ? 0.85f : 1.0f;
      // Every simple path, by depth-first enumeration: (hops, confidence).
      std::vector<std::pair<int, double>> all;
      std::vector<bool> on_path(kNodes, false);
      std::function<void(int, int, double)> walk = [&](int node, int hops, double confidence) {
        if (node == target) {
          all.push_back({hops, confidence});
          return;
        }
        on_path[node] = true;
        for (const Edge& e : edges) {
          if (causal_only && e.type != v1::CAUSAL) continue;
          int next = -1;
          if (e.from == node) next = e.to;
          if (direction == v1::BOTH && e.to == node) next = e.from;
          if (next < 0 || on_path[next]) continue;
          walk(next, hops + 1, confidence * e.confidence * decay);
        }
        on_path[node] = false;
      };
      walk(source, 0, 1.0);
      v1::FindPathsRequest r = Paths(absl::StrCat(prefix, source), absl::StrCat(prefix, target));
      r.set_max_paths(1);
      r.set_max_depth(20);
      r.set_decay(decay);
      r.set_direction(direction);
      if (causal_only) r.add_types(v1::CAUSAL);
      const std::string label = absl::StrCat("graph ", g, " query ", q);
      auto best = store_->FindPaths(r, seq_);
      ASSERT_TRUE(best.ok()) << best.status();
      r.set_mode(v1::SHORTEST);
      auto fewest = store_->FindPaths(r, seq_);
      ASSERT_TRUE(fewest.ok()) << fewest.status();
      ++compared;
      if (all.empty()) {
        EXPECT_EQ(best->paths_size(), 0) << label;
        EXPECT_EQ(fewest->paths_size(), 0) << label;
        continue;
      }
      ++found;
      double best_confidence = 0;
      int min_hops = kNodes;
      for (const auto& [hops, confidence] : all) {
        best_confidence = std::max(best_confidence, confidence);
        min_hops = std::min(min_hops, hops);
      }
      double best_of_fewest = 0;
      for (const auto& [hops, confidence] : all) {
        if (hops == min_hops) best_of_fewest = std::max(best_of_fewest, confidence);
      }
      ASSERT_EQ(best->paths_size(), 1) << label;
      EXPECT_NEAR(best->paths(0).confidence(), best_confidence, 1e-5) << label;
      ASSERT_EQ(fewest->paths_size(), 1) << label;
      EXPECT_EQ(fewest->paths(0).hops_size(), min_hops) << label;
      EXPECT_NEAR(fewest->paths(0).confidence(), best_of_fewest, 1e-5) << label;
      // Every bound up to the longest simple path there can be, binding ones included (the most
      // confident path longer than the bound): BEST is the most confident path within it, a simple
      // one, whose confidence is the product of its hops'.
      r.set_mode(v1::BEST);
      for (int bound = 1; bound < kNodes; ++bound) {
        double best_within = -1;
        for (const auto& [hops, confidence] : all) {
          if (hops <= bound) best_within = std::max(best_within, confidence);
        }
        r.set_max_depth(bound);
        auto bounded = store_->FindPaths(r, seq_);
        ASSERT_TRUE(bounded.ok()) << bounded.status();
        const std::string at = absl::StrCat(label, " max_depth ", bound);
        if (best_within < 0) {
          EXPECT_EQ(bounded->paths_size(), 0) << at;
          continue;
        }
        ++bounded_compared;
        ASSERT_EQ(bounded->paths_size(), 1) << at;
        const v1::Path& path = bounded->paths(0);
        EXPECT_LE(path.hops_size(), bound) << at;
        EXPECT_NEAR(path.confidence(), best_within, 1e-5) << at;
        std::set<std::string> distinct(path.concept_ids().begin(), path.concept_ids().end());
        EXPECT_EQ(static_cast<int>(distinct.size()), path.concept_ids_size()) << at;
        float product = 1.0f;
        for (const auto& hop : path.hops()) product = product * hop.confidence() * decay;
        EXPECT_EQ(product, path.confidence()) << at;
        if (best_within < best_confidence - 1e-6) ++binding;
        // Ties are broken the same way every time.
        auto again = store_->FindPaths(r, seq_);
        ASSERT_TRUE(again.ok()) << again.status();
        EXPECT_EQ(again->SerializeAsString(), bounded->SerializeAsString()) << at;
      }
    }
  }
  EXPECT_EQ(compared, 1200);
  EXPECT_GT(found, 600);    // most queries have a path: the comparison is not vacuous
  EXPECT_GT(binding, 200);  // and many bounds cut off the most confident path
  EXPECT_GT(bounded_compared, 5000);
}

TEST_F(NamespaceStoreTest, PathsBestAndShortest) {
  // a -> d directly with low confidence; a -> b -> c -> d with high confidence.
  MustWrite({PutConcept("a", "a"), PutConcept("b", "b"), PutConcept("c", "c"), PutConcept("d", "d"),
             PutAssoc("a", "d", v1::SEMANTIC, 0.3f), PutAssoc("a", "b", v1::CAUSAL, 1.0f),
             PutAssoc("b", "c", v1::CAUSAL, 1.0f), PutAssoc("c", "d", v1::CAUSAL, 1.0f)});
  v1::FindPathsRequest r = Paths("a", "d");
  r.set_max_paths(2);
  auto best = store_->FindPaths(r, seq_);
  ASSERT_TRUE(best.ok()) << best.status();
  ASSERT_EQ(best->paths_size(), 2);
  EXPECT_THAT(best->paths(0).concept_ids(), ElementsAre("a", "b", "c", "d"));
  EXPECT_NEAR(best->paths(0).confidence(), 0.85 * 0.85 * 0.85, 1e-5);  // default decay 0.85
  ASSERT_EQ(best->paths(0).hops_size(), 3);
  EXPECT_EQ(best->paths(0).hops(0).source(), "a");
  EXPECT_EQ(best->paths(0).hops(2).target(), "d");
  EXPECT_THAT(best->paths(1).concept_ids(), ElementsAre("a", "d"));
  EXPECT_NEAR(best->paths(1).confidence(), 0.3 * 0.85, 1e-5);
  EXPECT_FALSE(best->truncated());

  r.set_decay(0.5f);
  best = store_->FindPaths(r, seq_);
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_NEAR(best->paths(0).confidence(), 0.3 * 0.5, 1e-5);  // 0.15 beats 0.5^3
  r.clear_decay();

  r.set_mode(v1::SHORTEST);
  EXPECT_THAT(PathIds(r), ElementsAre(ElementsAre("a", "d"), ElementsAre("a", "b", "c", "d")));
  r.set_mode(v1::BEST);

  r.set_max_depth(2);
  EXPECT_THAT(PathIds(r), ElementsAre(ElementsAre("a", "d")));
  r.clear_max_depth();
  r.add_types(v1::CAUSAL);
  EXPECT_THAT(PathIds(r), ElementsAre(ElementsAre("a", "b", "c", "d")));
  r.clear_types();

  // Backwards along the edges with BOTH (the default), not with OUT.
  v1::FindPathsRequest back = Paths("d", "a");
  EXPECT_THAT(PathIds(back), ElementsAre(ElementsAre("d", "c", "b", "a"), ElementsAre("d", "a")));
  back.set_direction(v1::OUT);
  EXPECT_THAT(PathIds(back), IsEmpty());
  back.set_direction(v1::IN);
  EXPECT_EQ(PathIds(back).size(), 2u);

  // A deleted middle concept breaks the long path; the old snapshot still has it.
  const uint64_t before = seq_;
  MustWrite({DeleteConcept("c")});
  EXPECT_THAT(PathIds(r), ElementsAre(ElementsAre("a", "d")));
  auto old = store_->FindPaths(r, before);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->paths_size(), 2);
}

TEST_F(NamespaceStoreTest, PathsRefuseBadRequestsNamingTheField) {
  MustWrite({PutConcept("a", "a"), PutConcept("b", "b")});
  v1::FindPathsRequest r = Paths("a", "b");
  r.set_max_depth(limits_.max_depth + 1);
  ExpectInvalid(store_->FindPaths(r, seq_).status(), "max_depth: 21, at most 20");
  r = Paths("a", "b");
  r.set_max_paths(limits_.max_paths + 1);
  ExpectInvalid(store_->FindPaths(r, seq_).status(), "max_paths: 101, at most 100");
  r = Paths("a", "b");
  r.set_decay(1.5f);
  ExpectInvalid(store_->FindPaths(r, seq_).status(), "decay");
  r = Paths("a", "b");
  r.set_mode(static_cast<v1::PathMode>(99));
  ExpectInvalid(store_->FindPaths(r, seq_).status(), "mode");
  r = Paths("a", "b");
  r.add_types(static_cast<v1::AssociationType>(99));
  ExpectInvalid(store_->FindPaths(r, seq_).status(), "types[0]");
  ExpectInvalid(store_->FindPaths(Paths("", "b"), seq_).status(), "source");
  ExpectInvalid(store_->FindPaths(Paths("a", ""), seq_).status(), "target");
  auto missing = store_->FindPaths(Paths("a", "ghost"), seq_);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("target: concept 'ghost'"));
  missing = store_->FindPaths(Paths("ghost", "a"), seq_);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("source: concept 'ghost'"));
}

// The writer's backpressure from the indexer (EngineOptions::max_unindexed_vectors): only writes
// that add vectors are refused, only while the backlog, this group's slots included, is at the
// bound, and the refusal names the namespace.
TEST_F(NamespaceStoreTest, AdmitVectorsRefusesOnlyVectorWritesWhileTheBacklogIsAtTheBound) {
  auto plan_of = [&](std::vector<v1::Mutation> mutations) {
    v1::WriteRequest request = Batch("n", std::move(mutations));
    EXPECT_TRUE(NormalizeWriteRequest(limits_, kDim, &request).ok());
    auto plan = store_->Plan(request);
    EXPECT_TRUE(plan.ok()) << plan.status();
    return plan.ok() ? *plan : WritePlan{};
  };
  const WritePlan with_vector = plan_of({PutConcept("v", "", {1, 0})});
  const WritePlan without_vector = plan_of({PutConcept("t", "text only")});
  ASSERT_EQ(with_vector.new_slots, 1u);
  EXPECT_TRUE(store_->AdmitVectors(with_vector, 2).ok());

  // Two vectors applied but not yet published (the group is still open) count already.
  v1::WriteRequest group = Batch("n", {PutConcept("a", "", {1, 0}), PutConcept("b", "", {0, 1})});
  ASSERT_TRUE(NormalizeWriteRequest(limits_, kDim, &group).ok());
  auto plan = store_->Plan(group);
  ASSERT_TRUE(plan.ok() && store_->Reserve(*plan).ok());
  ++seq_;
  store_->Apply(group, seq_, seq_ * 1000);
  absl::Status refused = store_->AdmitVectors(with_vector, 2);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_THAT(std::string(refused.message()),
              HasSubstr("namespace 'n': 2 vectors wait for the HNSW index (--max_unindexed_vectors=2)"));
  store_->PublishApplied();
  EXPECT_EQ(store_->AdmitVectors(with_vector, 2).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(store_->AdmitVectors(without_vector, 2).ok()) << "a write without vectors is refused";
  EXPECT_TRUE(store_->AdmitVectors(with_vector, 3).ok()) << "refused below the bound";
  EXPECT_TRUE(store_->AdmitVectors(with_vector, 0).ok()) << "0 must mean no bound";

  auto indexed = store_->IndexPending(100);
  ASSERT_TRUE(indexed.ok()) << indexed.status();
  EXPECT_TRUE(store_->AdmitVectors(with_vector, 2).ok()) << "still refused once the graph holds them";
  EXPECT_TRUE(store_->AdmitVectors(with_vector, 1).ok());
}

TEST_F(NamespaceStoreTest, SearchCoversTheUnindexedTailAndFilters) {
  MustWrite({PutConcept("east", "e", {1, 0}, {{"side", "right"}}), PutConcept("north", "n", {0, 1}),
             PutConcept("west", "w", {-1, 0}, {{"side", "left"}}),
             PutConcept("plain", "no vector")});
  EXPECT_EQ(store_->indexed_count(), 0u);
  EXPECT_EQ(store_->unindexed_count(), 3u);  // the tail a search scans exactly
  EXPECT_THAT(SearchIds({1, 0.1f}, 2, /*exact=*/false), ElementsAre("east", "north"));
  EXPECT_THAT(SearchIds({1, 0.1f}, 10, false, {{"side", "left"}}), ElementsAre("west"));

  auto indexed = store_->IndexPending(100);
  ASSERT_TRUE(indexed.ok()) << indexed.status();
  EXPECT_EQ(*indexed, 3u);
  EXPECT_EQ(store_->indexed_count(), 3u);
  EXPECT_EQ(store_->unindexed_count(), 0u);
  for (bool exact : {false, true}) {
    EXPECT_THAT(SearchIds({1, 0.1f}, 2, exact), ElementsAre("east", "north"));
  }

  // A replaced or deleted concept's old vector is not found.
  MustWrite({PutConcept("east", "e", {-1, -0.1f}), DeleteConcept("north")});
  EXPECT_EQ(store_->unindexed_count(), 1u) << "the replacement's new slot, until it is indexed";
  EXPECT_THAT(SearchIds({1, 0.1f}, 10, false), ElementsAre("west", "east"));

  v1::SearchRequest r;
  r.mutable_vector()->Add(1.0f);
  ExpectInvalid(store_->Search(r, seq_).status(), "vector");
  r.add_vector(0);
  r.set_k(limits_.max_k + 1);
  ExpectInvalid(store_->Search(r, seq_).status(), "k: 1001, at most 1000");
  r.set_k(1);
  r.set_ef(limits_.max_ef + 1);
  ExpectInvalid(store_->Search(r, seq_).status(), "ef: 4097, at most 4096");
  r.set_ef(0);
  (*r.mutable_filter())[""] = "x";
  ExpectInvalid(store_->Search(r, seq_).status(), "filter");
}

// Vector search at a snapshot sequence sees exactly the versions live at it: not a concept born
// later, not a replaced or deleted version, and a version replaced or deleted later still -- from
// the graph and from the exact scan, and again after reopening (the slots rebuilt from the arena).
TEST_F(NamespaceStoreTest, VectorSearchAtEachSequenceSeesThatSequencesVersions) {
  std::mt19937 rng(15);
  std::map<uint64_t, std::map<std::string, std::string>> live;  // seq -> id -> content
  std::map<std::string, std::string> now;
  for (int round = 0; round < 12; ++round) {
    std::vector<v1::Mutation> batch;
    std::set<std::string> touched;
    for (int i = 0; i < 6; ++i) {
      const std::string id = absl::StrCat("c", rng() % 30);
      if (!touched.insert(id).second) continue;
      if (now.contains(id) && rng() % 3 == 0) {
        batch.push_back(DeleteConcept(id));
        now.erase(id);
      } else {
        const std::string content = absl::StrCat(id, " v", round);
        batch.push_back(
            PutConcept(id, content, {static_cast<float>(rng() % 100) - 50.0f, 1.0f + round}));
        now[id] = content;
      }
    }
    MustWrite(batch);
    live[seq_] = now;
    if (round % 4 == 1) ASSERT_TRUE(store_->IndexPending(100).ok());  // part graph, part tail
  }
  auto check = [&](absl::string_view when) {
    for (const auto& [seq, want] : live) {
      for (bool exact : {true, false}) {
        v1::SearchRequest r;
        r.add_vector(1.0f);
        r.add_vector(0.5f);
        r.set_k(100);
        r.set_ef(200);
        r.set_exact(exact);
        auto response = store_->Search(r, seq);
        ASSERT_TRUE(response.ok()) << response.status();
        std::map<std::string, std::string> got;
        for (const auto& result : response->results()) {
          got[result.node().id()] = result.node().content();
        }
        EXPECT_EQ(got, want) << when << ", sequence " << seq << (exact ? ", exact" : ", graph");
      }
    }
  };
  check("live");
  auto flushed = store_->FlushData();
  ASSERT_TRUE(flushed.ok()) << flushed.status();
  state_ = *flushed;
  ASSERT_TRUE(store_->PersistDerived(/*force=*/true).ok());
  Reopen();
  ASSERT_TRUE(store_->opened_from_derived());
  check("reopened from the derived-state file");
  ASSERT_TRUE(std::filesystem::remove(dir_ / kDerivedFileName));
  Reopen();
  ASSERT_FALSE(store_->opened_from_derived());
  check("reopened by scanning the arena");
  ASSERT_TRUE(store_->IndexPending(100).ok());
  check("reopened and indexed");
}

std::vector<std::string> ResultIds(const v1::SearchResponse& r) {
  std::vector<std::string> out;
  for (const auto& x : r.results()) out.push_back(x.node().id());
  return out;
}

// Search by text (BM25), by vector and text fused (HYBRID), with both component scores.
TEST_F(NamespaceStoreTest, KeywordAndHybridSearchRankAndScore) {
  MustWrite({PutConcept("yolk", "A yolk is part of an egg.", {1, 0}, {{"kind", "food"}}),
             PutConcept("hen", "A hen lays an egg.", {0, 1}),
             PutConcept("shell", "The shell of an egg.", {-1, 0}, {{"kind", "food"}}),
             PutConcept("plain", "A ptarmigan is a grouse.")});
  auto search = [&](v1::SearchMode mode, std::string text, std::vector<float> vector,
                    std::map<std::string, std::string> filter = {}, uint64_t seq = 0) {
    v1::SearchRequest r;
    r.set_mode(mode);
    r.set_text(text);
    for (float x : vector) r.add_vector(x);
    for (const auto& [k, v] : filter) (*r.mutable_filter())[k] = v;
    return MustSearch(r, seq);
  };
  // KEYWORD: a rare word wins; without a vector there is no vector score.
  v1::SearchResponse kw = search(v1::SEARCH_MODE_KEYWORD, "What is a ptarmigan?", {});
  ASSERT_FALSE(kw.results().empty());
  EXPECT_EQ(kw.results(0).node().id(), "plain");
  EXPECT_FALSE(kw.results(0).has_vector_score());
  EXPECT_GT(kw.results(0).keyword_score(), 0);
  EXPECT_EQ(kw.results(0).score(), kw.results(0).keyword_score());
  // Mode unspecified with only text is KEYWORD.
  EXPECT_EQ(ResultIds(search(v1::SEARCH_MODE_UNSPECIFIED, "yolk", {})),
            std::vector<std::string>{"yolk"});
  EXPECT_THAT(ResultIds(search(v1::SEARCH_MODE_KEYWORD, "egg", {}, {{"kind", "food"}})),
              ::testing::UnorderedElementsAre("yolk", "shell"));
  EXPECT_THAT(ResultIds(search(v1::SEARCH_MODE_KEYWORD, "nothing matches", {})), IsEmpty());

  // HYBRID: "egg" matches three; the vector points at "shell": it is first, and every result
  // carries both scores (a result the vector list did not reach gets its similarity computed).
  v1::SearchResponse hy = search(v1::SEARCH_MODE_HYBRID, "egg shell", {-1, 0});
  ASSERT_GE(hy.results_size(), 3);
  EXPECT_EQ(hy.results(0).node().id(), "shell");
  for (const v1::SearchResult& r : hy.results()) {
    EXPECT_TRUE(r.has_vector_score()) << r.node().id();
    EXPECT_TRUE(r.has_keyword_score()) << r.node().id();
    EXPECT_GT(r.score(), 0);
    EXPECT_LE(r.score(), 2.0 / 61);
  }
  EXPECT_NEAR(hy.results(0).vector_score(), 1.0, 1e-5);
  // VECTOR with text: ranked by vector, the keyword score reported (0 when no word occurs).
  v1::SearchResponse ve = search(v1::SEARCH_MODE_VECTOR, "ptarmigan", {1, 0});
  EXPECT_EQ(ve.results(0).node().id(), "yolk");
  EXPECT_TRUE(ve.results(0).has_keyword_score());
  EXPECT_EQ(ve.results(0).keyword_score(), 0);

  // Updates and deletes are honoured, and older sequences keep their view.
  const uint64_t before = seq_;
  MustWrite({PutConcept("plain", "A willow grouse.", {}), DeleteConcept("yolk")});
  EXPECT_THAT(ResultIds(search(v1::SEARCH_MODE_KEYWORD, "ptarmigan", {})), IsEmpty());
  EXPECT_THAT(ResultIds(search(v1::SEARCH_MODE_KEYWORD, "willow", {})), ElementsAre("plain"));
  EXPECT_THAT(ResultIds(search(v1::SEARCH_MODE_KEYWORD, "yolk", {})), IsEmpty());
  EXPECT_THAT(ResultIds(search(v1::SEARCH_MODE_KEYWORD, "ptarmigan yolk", {}, {}, before)),
              ::testing::UnorderedElementsAre("plain", "yolk"));

  // Bad requests name the field and change nothing.
  v1::SearchRequest r;
  r.set_mode(v1::SEARCH_MODE_KEYWORD);
  ExpectInvalid(store_->Search(r, seq_).status(), "text: required for mode SEARCH_MODE_KEYWORD");
  r.set_mode(v1::SEARCH_MODE_HYBRID);
  r.set_text("egg");
  ExpectInvalid(store_->Search(r, seq_).status(), "vector: required for mode SEARCH_MODE_HYBRID");
  r.add_vector(1);
  ExpectInvalid(store_->Search(r, seq_).status(), "vector");  // wrong dimension
  r.set_mode(static_cast<v1::SearchMode>(9));
  ExpectInvalid(store_->Search(r, seq_).status(), "mode");
}

// SearchRequest.name: every concept of that name, however many shorter contents mention the
// word (a word search ranks "horse, Equus caballus: <a long gloss>" below 30 horse carts).
TEST_F(NamespaceStoreTest, SearchByNameFindsEveryConceptOfThatName) {
  std::vector<v1::Mutation> carts;
  for (int i = 0; i < 30; ++i) {
    carts.push_back(PutConcept(absl::StrCat("cart", i),
                               absl::StrCat("horse cart ", i, ": a cart drawn by a horse"),
                               {1, 0}));
  }
  MustWrite(carts);
  MustWrite({PutConcept("animal",
                        "horse, Equus caballus: a solid-hoofed herbivorous quadruped domesticated "
                        "since prehistoric times and ridden or used for draught work",
                        {0, 1}),
             PutConcept("manure", "Horse manure is a fertilizer", {1, 0})});
  const uint64_t before_knight = seq_;
  MustWrite({PutConcept("knight", "knight, horse: a chessman", {1, 0}, {{"kind", "game"}})});
  auto search = [&](v1::SearchMode mode, std::string name, std::string text,
                    std::vector<float> vector, std::map<std::string, std::string> filter = {},
                    uint64_t seq = 0) {
    v1::SearchRequest r;
    r.set_mode(mode);
    r.set_name(name);
    r.set_text(text);
    r.set_k(10);
    for (float x : vector) r.add_vector(x);
    for (const auto& [k, v] : filter) (*r.mutable_filter())[k] = v;
    return MustSearch(r, seq);
  };
  // The word search's best 10 miss the animal.
  EXPECT_THAT(ResultIds(search(v1::SEARCH_MODE_KEYWORD, "", "horse", {})),
              ::testing::Not(::testing::Contains("animal")));
  // By name: both concepts named horse (ignoring case and the article), the shorter text first.
  v1::SearchResponse named = search(v1::SEARCH_MODE_KEYWORD, "The Horse", "What is a horse?", {});
  EXPECT_THAT(ResultIds(named), ElementsAre("knight", "animal"));
  EXPECT_GT(named.results(1).keyword_score(), 0);
  EXPECT_THAT(ResultIds(search(v1::SEARCH_MODE_KEYWORD, "horse", "horse", {}, {}, before_knight)),
              ElementsAre("animal"));
  EXPECT_THAT(ResultIds(search(v1::SEARCH_MODE_KEYWORD, "horse", "horse", {}, {{"kind", "game"}})),
              ElementsAre("knight"));
  EXPECT_THAT(ResultIds(search(v1::SEARCH_MODE_KEYWORD, "equus caballus", "nothing here", {})),
              ElementsAre("animal"));  // no query word: still found, at score 0
  // VECTOR ranks them by similarity; HYBRID fuses both rankings and reports both scores.
  EXPECT_THAT(ResultIds(search(v1::SEARCH_MODE_VECTOR, "horse", "", {0, 1})),
              ElementsAre("animal", "knight"));
  v1::SearchResponse hybrid = search(v1::SEARCH_MODE_HYBRID, "horse", "horse", {0, 1});
  EXPECT_THAT(ResultIds(hybrid), ::testing::UnorderedElementsAre("animal", "knight"));
  for (const v1::SearchResult& r : hybrid.results()) {
    EXPECT_TRUE(r.has_vector_score() && r.has_keyword_score()) << r.node().id();
  }
  EXPECT_THAT(
      ResultIds(search(v1::SEARCH_MODE_KEYWORD, "horse manure is a fertilizer", "horse", {})),
      IsEmpty());  // a sentence has no name
  EXPECT_THAT(ResultIds(search(v1::SEARCH_MODE_KEYWORD, "horse cart 7", "horse", {})),
              ElementsAre("cart7"));

  // Renamed and deleted concepts leave the name; the derived-state file keeps the names.
  MustWrite({PutConcept("knight", "chess knight: a chessman", {1, 0}), DeleteConcept("cart7")});
  auto flushed = store_->FlushData();
  ASSERT_TRUE(flushed.ok()) << flushed.status();
  state_ = *flushed;
  Reopen();
  EXPECT_THAT(ResultIds(search(v1::SEARCH_MODE_KEYWORD, "horse", "horse", {})),
              ElementsAre("animal"));
  EXPECT_THAT(ResultIds(search(v1::SEARCH_MODE_KEYWORD, "chess knight", "horse", {})),
              ElementsAre("knight"));
  EXPECT_THAT(ResultIds(search(v1::SEARCH_MODE_KEYWORD, "horse cart 7", "horse", {})), IsEmpty());

  // A name that is empty or too long once normalized is refused, naming the field.
  v1::SearchRequest r;
  r.set_text("horse");
  r.set_name(" ");
  ExpectInvalid(store_->Search(r, seq_).status(), "name: 0 bytes normalized, expected 1..64");
  r.set_name(std::string(65, 'x'));
  ExpectInvalid(store_->Search(r, seq_).status(), "name: 65 bytes normalized, expected 1..64");
}

// The keyword index is rebuilt from the records when the namespace opens.
TEST_F(NamespaceStoreTest, KeywordIndexIsRebuiltOnReopen) {
  MustWrite({PutConcept("a", "alpha particle"), PutConcept("b", "beta particle")});
  MustWrite({PutConcept("a", "gamma ray"), DeleteConcept("b")});
  auto flushed = store_->FlushData();
  ASSERT_TRUE(flushed.ok()) << flushed.status();
  state_ = *flushed;
  Reopen();
  v1::SearchRequest r;
  r.set_text("particle ray");
  auto found = store_->Search(r, seq_);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->results_size(), 1);
  EXPECT_EQ(found->results(0).node().content(), "gamma ray");
  r.set_text("alpha beta");
  found = store_->Search(r, 1);  // the first batch's view survives too
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->results_size(), 2);
}

// A keyword field (config.keyword_fields) weighs an attribute's words: the concept named "bank"
// outranks one whose content says "bank" more often; updates and reopen keep the field.
TEST_F(NamespaceStoreTest, KeywordFieldsRankByTheWeightedAttribute) {
  state_.config.add_keyword_fields()->set_attribute("lemmas");
  state_.config.mutable_keyword_fields(0)->set_weight(3);
  state_.config.mutable_keyword_fields(0)->set_b(1);
  ASSERT_TRUE(NormalizeNamespaceConfig(limits_, &state_.config).ok());
  Reopen();
  MustWrite({PutConcept("piggy", "piggy bank, penny bank: a child's coin bank", {},
                        {{"lemmas", "piggy bank, penny bank"}}),
             PutConcept("slope", "bank: sloping land beside water", {}, {{"lemmas", "bank"}}),
             PutConcept("river", "river: a stream of water", {}, {{"lemmas", "river"}}),
             PutConcept("coin", "coin: a flat piece of metal", {}, {{"lemmas", "coin"}}),
             PutConcept("noattr", "a bank robbery")});
  auto top = [&](const std::string& text) {
    v1::SearchRequest r;
    r.set_text(text);
    r.set_mode(v1::SEARCH_MODE_KEYWORD);
    r.set_k(5);
    auto found = store_->Search(r, seq_);
    EXPECT_TRUE(found.ok()) << found.status();
    std::vector<std::string> out;
    if (found.ok()) {
      for (const auto& result : found->results()) out.push_back(result.node().id());
    }
    return out;
  };
  EXPECT_THAT(top("bank"), ElementsAre("slope", "piggy", "noattr"));
  // An attribute alone is searchable: the words of a concept's field, not only its content.
  MustWrite({PutConcept("ore", "metal rock", {}, {{"lemmas", "ore, mineral"}})});
  EXPECT_THAT(top("mineral"), ElementsAre("ore"));
  // Updating the attribute moves the concept.
  MustWrite(
      {PutConcept("slope", "bank: sloping land beside water", {}, {{"lemmas", "riverside"}})});
  EXPECT_THAT(top("riverside"), ElementsAre("slope"));
  auto flushed = store_->FlushData();
  ASSERT_TRUE(flushed.ok()) << flushed.status();
  state_ = *flushed;
  Reopen();
  EXPECT_EQ(store_->config().keyword_fields(0).attribute(), "lemmas");
  EXPECT_THAT(top("mineral"), ElementsAre("ore"));
  EXPECT_THAT(top("riverside"), ElementsAre("slope"));
  EXPECT_EQ(top("bank").front(), "piggy");
}

TEST_F(NamespaceStoreTest, ScanPagesFiltersAndListsAssociations) {
  for (int i = 0; i < 10; ++i) {
    MustWrite(
        {PutConcept("c" + std::to_string(i), "x", {}, {{"parity", i % 2 == 0 ? "even" : "odd"}})});
  }
  MustWrite({PutAssoc("c0", "c1", v1::CAUSAL), PutAssoc("c2", "c1", v1::CAUSAL)});
  MustWrite({PutConcept("c3", "x v2", {}, {{"parity", "even"}})});  // newest version only

  v1::ScanRequest r;
  r.set_page_size(3);
  std::vector<std::string> all = ScanIds(r);
  EXPECT_EQ(all.size(), 10u);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 10u);

  (*r.mutable_filter())["parity"] = "even";
  std::vector<std::string> even = ScanIds(r);
  EXPECT_EQ(std::set<std::string>(even.begin(), even.end()),
            (std::set<std::string>{"c0", "c2", "c3", "c4", "c6", "c8"}));

  v1::ScanRequest edges;
  edges.set_include_associations(true);
  edges.set_associations_only(true);
  auto page = store_->Scan(edges, seq_);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->concepts_size(), 0);
  std::set<std::string> pairs;
  for (const auto& a : page->associations()) pairs.insert(a.source() + ">" + a.target());
  EXPECT_EQ(pairs, (std::set<std::string>{"c0>c1", "c2>c1"}));
  EXPECT_EQ(page->view_sequence(), seq_);

  v1::ScanRequest bad;
  bad.set_page_size(limits_.max_page_size + 1);
  ExpectInvalid(store_->Scan(bad, seq_).status(), "page_size: 1001, at most 1000");
  bad = v1::ScanRequest();
  bad.set_page_token("zz.1");
  ExpectInvalid(store_->Scan(bad, seq_).status(), "page_token");
  bad.set_page_token(absl::StrFormat("0.%x", seq_ + 1));  // a view newer than the reader's
  ExpectInvalid(store_->Scan(bad, seq_).status(), "page_token");
  bad = v1::ScanRequest();
  bad.set_view_sequence(seq_ + 1);
  ExpectInvalid(store_->Scan(bad, seq_).status(), "view_sequence");
  bad = v1::ScanRequest();
  bad.set_associations_only(true);
  ExpectInvalid(store_->Scan(bad, seq_).status(), "associations_only");
}

// Dirty kB of this process's mappings of the arena's segment files ("records.*"), from the
// kernel's /proc/self/smaps: a page msync wrote back is clean until written again.
uint64_t DirtyArenaKb(const std::filesystem::path& dir) {
  std::ifstream smaps("/proc/self/smaps");
  const std::string prefix = (dir / "records.").string();
  uint64_t kb = 0;
  bool arena = false;
  for (std::string line; std::getline(smaps, line);) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.empty()) continue;
    if (f[0].find('-') != absl::string_view::npos && f[0].back() != ':') {  // a mapping's header
      arena = f.size() >= 6 && absl::StartsWith(f[5], prefix);
    } else if (arena && f.size() >= 2 && (f[0] == "Shared_Dirty:" || f[0] == "Private_Dirty:")) {
      uint64_t v = 0;
      if (absl::SimpleAtoi(f[1], &v)) kb += v;
    }
  }
  return kb;
}

// Group commits post the msync of what they published once kWriteBehindBytes gathered, so a
// checkpoint finds those pages written instead of writing them all while writes wait (at 400K
// concepts a checkpoint held writes for 1.7 s). Read from the kernel's dirty-page accounting.
TEST_F(NamespaceStoreTest, WriteBehindWritesPublishedPagesBackBeforeTheCheckpoint) {
  JobQueue queue("test-writeback");
  const std::string text(4000, 'x');
  int next = 0;
  auto write_mb = [&](int mb) {
    for (int b = 0; b < mb * 16; ++b) {  // 16 concepts of ~4 KB each
      std::vector<v1::Mutation> batch;
      for (int i = 0; i < 16; ++i) batch.push_back(PutConcept(absl::StrCat("c", next++), text));
      MustWrite(std::move(batch));
    }
  };
  write_mb(12);
  // The measurement sees the arena's dirt: nothing was written back yet.
  ASSERT_GE(DirtyArenaKb(dir_), 11u * 1024);

  store_->WriteBehind(&queue);
  queue.Drain();
  EXPECT_LE(DirtyArenaKb(dir_), 8u) << "the published pages were not written back";

  // Under the threshold nothing is posted; past it again, only the new pages were dirty.
  write_mb(4);
  store_->WriteBehind(&queue);
  queue.Drain();
  EXPECT_GE(DirtyArenaKb(dir_), 3u * 1024);
  write_mb(6);
  store_->WriteBehind(&queue);
  queue.Drain();
  EXPECT_LE(DirtyArenaKb(dir_), 8u);

  // The checkpoint then records every byte, and the store reopens from it.
  auto flushed = store_->FlushData();
  ASSERT_TRUE(flushed.ok()) << flushed.status();
  state_ = *flushed;
  Reopen();
  EXPECT_EQ(store_->concept_count(), static_cast<uint64_t>(next));
  EXPECT_EQ(Get({absl::StrCat("c", next - 1)}, seq_).concepts(0).content(), text);
}

TEST_F(NamespaceStoreTest, ReopenFromFlushedStateRebuildsTheSameView) {
  MustWrite({PutConcept("a", "alpha", {1, 0}), PutConcept("b", "beta", {0, 1}),
             PutConcept("c", "gamma"), PutAssoc("a", "b", v1::CAUSAL),
             PutAssoc("b", "c", v1::SEMANTIC)});
  MustWrite({DeleteConcept("c"), PutConcept("a", "alpha 2", {1, 0.1f})});
  ASSERT_TRUE(store_->IndexPending(100).ok());
  auto flushed = store_->FlushData();
  ASSERT_TRUE(flushed.ok()) << flushed.status();
  ASSERT_TRUE(store_->CheckpointIndex().ok());
  state_ = *flushed;
  EXPECT_GT(state_.arena_end, 0u);
  EXPECT_EQ(state_.slot_count, 3u);  // a, b, and a's second vector

  Reopen();
  EXPECT_EQ(store_->concept_count(), 2u);
  EXPECT_EQ(store_->association_count(), 1u);
  EXPECT_EQ(store_->vector_count(), 2u);
  EXPECT_EQ(Get({"a"}, seq_).concepts(0).content(), "alpha 2");
  EXPECT_EQ(Get({"a"}, 1).concepts(0).content(), "alpha");  // versions survive
  EXPECT_THAT(Get({"c"}, seq_).missing_ids(), ElementsAre("c"));
  EXPECT_THAT(NeighborIds(NeighborsOf("b")), ElementsAre("a"));
  EXPECT_THAT(SearchIds({1, 0}, 1, false), ElementsAre("a"));

  // Writing continues where the arena ended.
  EXPECT_TRUE(MustWrite({PutConcept("d", "delta")}).results(0).created());
  EXPECT_EQ(store_->concept_count(), 3u);
}

}  // namespace
}  // namespace engram::storage
