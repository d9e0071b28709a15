// HybridCore's shared state under concurrent requests: compute pool, namespace cache, embedding
// cache, extraction and metrics, with a mocked storage that answers on the calling thread.
// This is the hybrid test scripts/tsan.sh runs under ThreadSanitizer: Debian's libgrpc is not
// TSan-instrumented, so tests that move calls across gRPC's own threads (hybrid_core_test,
// hybrid_service_concurrency_test) report races inside gRPC's hand-offs that TSan cannot see
// synchronised; this one keeps gRPC transport threads out of the data flow.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "engram/storage/v1/storage_mock.grpc.pb.h"
#include "services/hybrid/service/compute_pool.h"
#include "services/hybrid/service/hybrid_core.h"

namespace engram::hybrid {
namespace {

namespace sv1 = storage::v1;
using ::testing::_;
using ::testing::Invoke;

TEST(HybridCoreConcurrencyTest, ManyRequestsThroughASmallPool) {
  ::testing::NiceMock<sv1::MockStorageStub> storage;
  std::atomic<int> get_namespace_calls{0}, writes{0};
  ON_CALL(storage, GetNamespace(_, _, _))
      .WillByDefault(Invoke([&](grpc::ClientContext*, const sv1::GetNamespaceRequest& r, sv1::NamespaceInfo* out) {
        ++get_namespace_calls;
        out->mutable_config()->set_name(r.name());
        out->mutable_config()->set_dimension(r.name() == "small" ? 32 : 64);
        out->mutable_config()->set_embedder("hashing");
        return grpc::Status::OK;
      }));
  ON_CALL(storage, Search(_, _, _))
      .WillByDefault(Invoke([](grpc::ClientContext*, const sv1::SearchRequest&, sv1::SearchResponse*) {
        return grpc::Status::OK;  // nothing found: Reason answers without expanding
      }));
  ON_CALL(storage, GetConcepts(_, _, _))
      .WillByDefault(Invoke([](grpc::ClientContext*, const sv1::GetConceptsRequest&, sv1::GetConceptsResponse*) {
        return grpc::Status::OK;  // no relation endpoint exists yet
      }));
  ON_CALL(storage, Write(_, _, _))
      .WillByDefault(Invoke([&](grpc::ClientContext*, const sv1::WriteRequest& w, sv1::WriteResponse* out) {
        ++writes;
        for (int i = 0; i < w.mutations_size(); ++i) out->add_results()->set_created(true);
        return grpc::Status::OK;
      }));

  ComputePool pool(2, 64);
  EmbedderRegistry registry{EmbedderRegistryOptions{}};
  EmbeddingCache cache(1 << 20);
  metrics::Registry metrics;
  HybridCoreOptions options;
  options.pool = &pool;
  HybridCore core(&storage, &registry, &cache, &metrics, options);

  constexpr int kThreads = 4, kRounds = 25;
  std::atomic<int> failures{0}, associations{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string ns = t % 2 ? "small" : "large";
      for (int i = 0; i < kRounds; ++i) {
        const CallContext call{.deadline = absl::Now() + absl::Seconds(60)};
        v1::LearnRequest learn;
        learn.set_namespace_(ns);
        learn.mutable_options()->mutable_semantic_links()->set_value(0);
        learn.add_items()->set_content(absl::StrCat("A breed", i % 5, " is a kind of dog."));
        learn.add_items()->set_content(absl::StrCat("Storm", t, " causes rain", i, "."));
        auto l = core.Learn(call, learn);
        if (l.ok()) associations += static_cast<int>(l->associations_created());
        v1::ReasonRequest reason;
        reason.set_namespace_(ns);
        reason.set_query(absl::StrCat("what is a breed", i % 5));
        auto r = core.Reason(call, reason);
        v1::EmbedRequest embed;
        embed.set_namespace_(ns);
        embed.add_texts(absl::StrCat("text ", i % 7));
        auto e = core.Embed(call, embed);
        if (!l.ok() || !r.ok() || !e.ok() || e->embeddings(0).values_size() != (ns == "small" ? 32 : 64)) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(writes.load(), kThreads * kRounds);
  EXPECT_GE(associations.load(), kThreads * kRounds);  // at least the HIERARCHICAL one per Learn
  // The namespace cache (5 s ttl, real clock) spares most GetNamespace calls; concurrent first
  // requests may each miss, at most one per request thread and namespace.
  EXPECT_LE(get_namespace_calls.load(), kThreads * 2);
  EXPECT_EQ(pool.busy(), 0u);  // Run returns only once its worker is idle again
  EXPECT_GT(cache.hits(), 0u);
}

}  // namespace
}  // namespace engram::hybrid
