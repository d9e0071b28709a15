// HybridCore against an in-process engram-storage (StorageServer on an ephemeral port).
#include "services/hybrid/service/hybrid_core.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "storage-server/engine/limits.h"
#include "storage-server/server/storage_server.h"

namespace engram::hybrid {
namespace {

namespace sv1 = storage::v1;
using ::testing::HasSubstr;

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
}

class HybridCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(::testing::TempDir()) / (std::string("hybrid_core.") + info->name());
    std::filesystem::remove_all(dir_);
    storage::StorageServerConfig config;
    config.engine.data_dir = dir_;
    config.grpc_address = "127.0.0.1:0";
    config.http_address = "127.0.0.1";
    config.http_port = 0;
    server_ = std::make_unique<storage::StorageServer>(config);
    ASSERT_TRUE(server_->Start().ok());
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = sv1::Storage::NewStub(channel_);
    core_ = std::make_unique<HybridCore>(stub_.get(), &registry_, &cache_, &metrics_);
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
  EXPECT_EQ(core_->Learn(Call(), req).status().code(), absl::StatusCode::kInvalidArgument);  // no items
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

TEST_F(HybridCoreTest, StorageGoneIsUnavailable) {
  server_->Shutdown();
  v1::SearchRequest req;
  req.set_namespace_("default");
  req.set_text("dog");
  auto r = core_->Search(Call(), req);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
}

}  // namespace
}  // namespace engram::hybrid
