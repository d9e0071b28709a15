// Cross-process tests of engram-hybrid: the real engram-storage and engram-hybrid binaries on
// ephemeral ports; storage killed for real (SIGKILL) while hybrid keeps serving.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>


#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engram/hybrid/v1/hybrid.grpc.pb.h"
#include "engram/storage/v1/storage.grpc.pb.h"
#include "tests/testing/http_client.h"
#include "tests/testing/process.h"

namespace engram {
namespace {

namespace sv1 = storage::v1;
namespace hv1 = hybrid::v1;
using testing::ChildProcess;

std::filesystem::path TestDir(const std::string& name) {
  auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::path(::testing::TempDir()) /
             (std::string(info->test_suite_name()) + "." + info->name() + "." + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void WithDeadline(grpc::ClientContext* context, absl::Duration timeout) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

class HybridIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TestDir("data");
    storage_ = std::make_unique<ChildProcess>(
        ENGRAM_STORAGE_BIN,
        std::vector<std::string>{"--data_dir=" + (dir / "storage").string(), "--grpc_port=0", "--http_port=0",
                                 "--listen_address=127.0.0.1"},
        dir / "storage.log");
    ASSERT_TRUE(storage_->Start().ok());
    ASSERT_TRUE(storage_->WaitForLine("engram-storage serving on grpc", absl::Seconds(120)).ok())
        << storage_->Log();
    const int storage_port = storage_->PortAfter("serving on grpc ");
    storage_channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", storage_port),
                                           grpc::InsecureChannelCredentials());
    storage_stub_ = sv1::Storage::NewStub(storage_channel_);

    hybrid_ = std::make_unique<ChildProcess>(
        ENGRAM_HYBRID_BIN,
        std::vector<std::string>{"--grpc_port=0", "--http_port=0", "--listen_address=127.0.0.1",
                                 absl::StrCat("--storage_addr=127.0.0.1:", storage_port)},
        dir / "hybrid.log");
    ASSERT_TRUE(hybrid_->Start().ok());
    ASSERT_TRUE(hybrid_->WaitForLine("engram-hybrid serving on grpc", absl::Seconds(120)).ok())
        << hybrid_->Log();
    const int hybrid_port = hybrid_->PortAfter("serving on grpc ");
    hybrid_http_port_ = hybrid_->PortAfter(" http ");
    hybrid_channel_ =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", hybrid_port), grpc::InsecureChannelCredentials());
    hybrid_stub_ = hv1::Hybrid::NewStub(hybrid_channel_);
  }

  grpc::Status Learn(const std::vector<std::string>& texts, hv1::LearnResponse* response,
                     absl::Duration timeout = absl::Seconds(30)) {
    hv1::LearnRequest request;
    request.set_namespace_("default");
    for (const auto& t : texts) request.add_items()->set_content(t);
    grpc::ClientContext context;
    WithDeadline(&context, timeout);
    return hybrid_stub_->Learn(&context, request, response);
  }

  std::vector<sv1::Neighbor> StorageNeighbors(const std::string& id) {
    sv1::NeighborsRequest request;
    request.set_namespace_("default");
    request.set_id(id);
    request.set_direction(sv1::BOTH);
    sv1::NeighborsResponse response;
    grpc::ClientContext context;
    WithDeadline(&context, absl::Seconds(30));
    grpc::Status s = storage_stub_->Neighbors(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {response.neighbors().begin(), response.neighbors().end()};
  }

  std::string ContentOf(const std::string& id) {
    sv1::GetConceptsRequest request;
    request.set_namespace_("default");
    request.add_ids(id);
    sv1::GetConceptsResponse response;
    grpc::ClientContext context;
    WithDeadline(&context, absl::Seconds(30));
    EXPECT_TRUE(storage_stub_->GetConcepts(&context, request, &response).ok());
    return response.concepts_size() == 1 ? response.concepts(0).content() : "";
  }

  int hybrid_http_port_ = 0;
  std::unique_ptr<ChildProcess> storage_;
  std::unique_ptr<ChildProcess> hybrid_;
  std::shared_ptr<grpc::Channel> storage_channel_;
  std::shared_ptr<grpc::Channel> hybrid_channel_;
  std::unique_ptr<sv1::Storage::Stub> storage_stub_;
  std::unique_ptr<hv1::Hybrid::Stub> hybrid_stub_;
};

uint64_t CountOf(const hv1::LearnResponse& r, sv1::AssociationType type) {
  for (const auto& c : r.associations_by_type()) {
    if (c.type() == type) return c.count();
  }
  return 0;
}

TEST_F(HybridIntegrationTest, LearnSearchReasonThenStorageGoesAway) {
  // Learn: the relations stated in the text become associations, stored with their concepts.
  hv1::LearnResponse first;
  grpc::Status s = Learn({"A dog is a kind of mammal."}, &first);
  ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << hybrid_->Log();
  ASSERT_EQ(first.results_size(), 1);
  EXPECT_TRUE(first.results(0).created());
  EXPECT_EQ(CountOf(first, sv1::HIERARCHICAL), 1u);
  EXPECT_EQ(CountOf(first, sv1::SEMANTIC), 0u);  // nothing existed before
  EXPECT_EQ(first.associations_created(), 1u);
  ASSERT_EQ(first.associations_size(), 1);
  ASSERT_EQ(first.relation_concepts_size(), 2);  // "dog" and "mammal", both new
  EXPECT_TRUE(first.relation_concepts(0).created());
  EXPECT_TRUE(first.relation_concepts(1).created());
  const sv1::Association& isa = first.associations(0);
  EXPECT_EQ(isa.type(), sv1::HIERARCHICAL);
  EXPECT_EQ(ContentOf(isa.source()), "dog");
  EXPECT_EQ(ContentOf(isa.target()), "mammal");
  // Really stored: storage sees the association from "dog".
  auto dog_neighbors = StorageNeighbors(isa.source());
  ASSERT_EQ(dog_neighbors.size(), 1u);
  EXPECT_EQ(dog_neighbors[0].association().type(), sv1::HIERARCHICAL);
  EXPECT_EQ(dog_neighbors[0].node().content(), "mammal");

  // A second batch: counts per type equal what the response lists and what storage holds.
  hv1::LearnResponse second;
  s = Learn({"Mammals are animals.", "A cat is a kind of mammal.", "Smoking causes cancer."}, &second);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(second.results_size(), 3);
  EXPECT_EQ(CountOf(second, sv1::HIERARCHICAL), 2u);
  EXPECT_EQ(CountOf(second, sv1::CAUSAL), 1u);
  std::map<int, uint64_t> listed;
  for (const auto& a : second.associations()) ++listed[a.type()];
  uint64_t total = 0;
  for (const auto& c : second.associations_by_type()) {
    EXPECT_EQ(listed[c.type()], c.count());
    total += c.count();
  }
  EXPECT_EQ(total, second.associations_created());
  EXPECT_EQ(static_cast<uint64_t>(second.associations_size()), second.associations_created());
  // "mammal" existed: reused, not created again.
  const std::string mammal_id = isa.target();
  bool mammal_reused = false;
  for (const auto& rc : second.relation_concepts()) {
    if (rc.id() == mammal_id) mammal_reused = !rc.created();
  }
  EXPECT_TRUE(mammal_reused);
  auto mammal_neighbors = StorageNeighbors(mammal_id);
  int hierarchical_into_mammal = 0;
  for (const auto& n : mammal_neighbors) {
    if (n.association().type() == sv1::HIERARCHICAL && n.association().target() == mammal_id) {
      ++hierarchical_into_mammal;
    }
  }
  EXPECT_EQ(hierarchical_into_mammal, 2);  // dog and cat
  for (const auto& a : second.associations()) {
    if (a.type() == sv1::SEMANTIC) {
      EXPECT_GE(a.confidence(), 0.5f);
    }
  }

  // Learning the same text again is idempotent for the concept.
  hv1::LearnResponse again;
  ASSERT_TRUE(Learn({"A dog is a kind of mammal."}, &again).ok());
  EXPECT_FALSE(again.results(0).created());
  EXPECT_EQ(again.results(0).id(), first.results(0).id());

  // Search by text finds the concept.
  {
    hv1::SearchRequest request;
    request.set_namespace_("default");
    request.set_text("dog");
    request.set_k(3);
    hv1::SearchResponse response;
    grpc::ClientContext context;
    WithDeadline(&context, absl::Seconds(30));
    ASSERT_TRUE(hybrid_stub_->Search(&context, request, &response).ok());
    ASSERT_GE(response.results_size(), 1);
    EXPECT_EQ(response.results(0).node().content(), "dog");
    // HYBRID by default: the word and the vector both match best.
    EXPECT_NEAR(response.results(0).vector_score(), 1.0f, 1e-4);
    EXPECT_GT(response.results(0).keyword_score(), 0);
    EXPECT_NEAR(response.results(0).score(), 2.0f / 61, 1e-6);
  }

  // Reason: an answer backed by a path through the stored associations.
  {
    hv1::ReasonRequest request;
    request.set_namespace_("default");
    request.set_query("dog");
    request.add_types(sv1::HIERARCHICAL);
    hv1::ReasonResponse response;
    grpc::ClientContext context;
    WithDeadline(&context, absl::Seconds(30));
    grpc::Status rs = hybrid_stub_->Reason(&context, request, &response);
    ASSERT_TRUE(rs.ok()) << rs.error_message();
    SCOPED_TRACE(response.explanation());
    ASSERT_GE(response.paths_size(), 1);
    ASSERT_GE(response.paths(0).hops_size(), 1);
    EXPECT_EQ(response.paths(0).hops(0).type(), sv1::HIERARCHICAL);
    EXPECT_TRUE(response.best_guess().id() == mammal_id) << response.best_guess().content();
    EXPECT_GT(response.confidence().graph(), 0.0f);
    EXPECT_GT(response.confidence().final(), 0.0f);
    EXPECT_EQ(response.paths(0).concept_ids(0), isa.source());  // starts at the seed "dog"
    EXPECT_FALSE(response.explanation().empty());
    EXPECT_GE(response.support_size(), 1);
  }

  // Ready while storage is connected (it has just answered).
  EXPECT_EQ(testing::HttpCall(hybrid_http_port_, "GET", "/readyz").status, 200);

  // Storage goes away in the middle of a request: storage is frozen (SIGSTOP), a Learn goes in and
  // waits for it (engram-hybrid reports the call in flight), then storage is SIGKILLed. The Learn
  // answers UNAVAILABLE at once, not DEADLINE_EXCEEDED after its 20 s.
  ASSERT_TRUE(storage_->Signal(SIGSTOP));
  grpc::Status during;
  absl::Duration took;
  std::thread learner([&] {
    const absl::Time start = absl::Now();
    hv1::LearnResponse after;
    during = Learn({"Birds are animals."}, &after, absl::Seconds(20));
    took = absl::Now() - start;
  });
  const bool in_flight = testing::Eventually([&] {
    return absl::StrContains(testing::HttpCall(hybrid_http_port_, "GET", "/metrics").body,
                             "\ngrpc_server_in_flight 1");
  });
  storage_->Kill(SIGKILL);
  learner.join();
  ASSERT_TRUE(in_flight) << testing::HttpCall(hybrid_http_port_, "GET", "/metrics").body;
  EXPECT_EQ(during.error_code(), grpc::StatusCode::UNAVAILABLE) << during.error_message();
  EXPECT_THAT(during.error_message(), ::testing::HasSubstr("storage unavailable"));
  EXPECT_LT(took, absl::Seconds(20));
  // And a request that arrives after storage is gone: the same.
  hv1::LearnResponse after;
  s = Learn({"Birds are animals."}, &after, absl::Seconds(20));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("storage unavailable"));
  // /readyz names storage as the unavailable dependency; /healthz stays ok.
  testing::HttpResult ready = testing::HttpCall(hybrid_http_port_, "GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_THAT(ready.body, ::testing::HasSubstr("\"storage\""));
  EXPECT_EQ(testing::HttpCall(hybrid_http_port_, "GET", "/healthz").status, 200);
  // Reason likewise; engram-hybrid itself keeps serving.
  {
    hv1::ReasonRequest request;
    request.set_namespace_("default");
    request.set_query("dog");
    hv1::ReasonResponse response;
    grpc::ClientContext context;
    WithDeadline(&context, absl::Seconds(20));
    EXPECT_EQ(hybrid_stub_->Reason(&context, request, &response).error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  {
    hv1::EmbedRequest request;
    request.set_embedder("hashing");
    request.add_texts("still embeds without storage");
    hv1::EmbedResponse response;
    grpc::ClientContext context;
    WithDeadline(&context, absl::Seconds(20));
    ASSERT_TRUE(hybrid_stub_->Embed(&context, request, &response).ok());
    EXPECT_EQ(response.dimension(), 384u);
    ASSERT_EQ(response.embeddings_size(), 1);
    EXPECT_EQ(response.embeddings(0).values_size(), 384);
  }
}

}  // namespace
}  // namespace engram
