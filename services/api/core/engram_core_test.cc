#include "services/api/core/engram_core.h"

#include <gmock/gmock.h>
#include <grpc/support/time.h>
#include <grpcpp/alarm.h>
#include <grpcpp/test/client_context_test_peer.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status/error_detail.h"
#include "common/status/grpc_status.h"
#include "common/metrics/metrics.h"
#include "engram/hybrid/v1/hybrid_mock.grpc.pb.h"
#include "engram/storage/v1/storage_mock.grpc.pb.h"

namespace engram::api {
namespace {

namespace sv1 = storage::v1;
namespace hv1 = hybrid::v1;

using ::testing::_;
using ::testing::DoAll;
using ::testing::HasSubstr;
using ::testing::Invoke;
using ::testing::Return;
using ::testing::SetArgPointee;
using ::testing::StrictMock;

constexpr char kAdmin[] = "admin-key-0123456789";
constexpr char kWriter[] = "writer-key-0123456789";
constexpr char kReader[] = "reader-key-0123456789";
constexpr char kScoped[] = "scoped-key-0123456789";  // reader of namespace "scoped" only

sv1::NamespaceInfo Info(const std::string& name, uint32_t dimension,
                        const std::string& embedder = "hashing") {
  sv1::NamespaceInfo info;
  info.mutable_config()->set_name(name);
  info.mutable_config()->set_dimension(dimension);
  info.mutable_config()->set_embedder(embedder);
  info.mutable_config()->set_metric(sv1::COSINE);
  return info;
}

grpc::Status Unavailable() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused");
}

// Seconds from now until a ClientContext's deadline.
double SecondsLeft(const grpc::ClientContext* c) {
  return std::chrono::duration<double>(c->deadline() - std::chrono::system_clock::now()).count();
}

// An async call's reader that answers through the completion queue, as a real call does: Finish
// fills the response and status and puts the tag on the queue (an alarm that fires at once).
template <class Response>
class QueuedAnswer final : public grpc::ClientAsyncResponseReaderInterface<Response> {
 public:
  QueuedAnswer(grpc::CompletionQueue* cq, grpc::Status status, Response response)
      : cq_(cq), status_(std::move(status)), response_(std::move(response)) {}
  void StartCall() override {}
  void ReadInitialMetadata(void*) override { ADD_FAILURE() << "not used by the core"; }
  void Finish(Response* response, grpc::Status* status, void* tag) override {
    *response = std::move(response_);
    *status = std::move(status_);
    alarm_.Set(cq_, gpr_time_0(GPR_CLOCK_MONOTONIC), tag);
  }

 private:
  grpc::CompletionQueue* const cq_;
  grpc::Status status_;
  Response response_;
  grpc::Alarm alarm_;
};

// Serves a stub's PrepareAsync<Method>Raw through the mocked synchronous <Method>, so a test's
// expectations on the synchronous method apply to the core's asynchronous calls (Search). The
// readers are kept in `owned`: gRPC's std::default_delete of a reader does nothing (real readers
// live in their call's arena), so the unique_ptr the stub wraps them in never frees them.
template <class Mock, class Request, class Response>
auto ThroughSync(Mock* mock, grpc::Status (Mock::*sync)(grpc::ClientContext*, const Request&, Response*),
                 std::vector<std::shared_ptr<void>>* owned) {
  return [mock, sync, owned](grpc::ClientContext* c, const Request& request, grpc::CompletionQueue* cq)
             -> grpc::ClientAsyncResponseReaderInterface<Response>* {
    Response response;
    grpc::Status status = (mock->*sync)(c, request, &response);
    auto answer = std::make_shared<QueuedAnswer<Response>>(cq, std::move(status), std::move(response));
    owned->push_back(answer);
    return answer.get();
  };
}

class EngramCoreTest : public ::testing::Test {
 protected:
  EngramCoreTest()
      : now_(absl::Now()),
        keys_(ApiKeyStore({ApiKey{"admin", kAdmin, Role::kAdmin, {"*"}},
                           ApiKey{"writer", kWriter, Role::kWriter, {"*"}},
                           ApiKey{"reader", kReader, Role::kReader, {"*"}},
                           ApiKey{"scoped", kScoped, Role::kReader, {"scoped"}}})),
        storage_breaker_("storage", {.failure_threshold = 3, .open_duration = absl::Seconds(2)},
                         Clock()),
        hybrid_breaker_("hybrid", {.failure_threshold = 3, .open_duration = absl::Seconds(2)},
                        Clock()),
        cache_({.max_bytes = 1 << 20, .ttl = absl::Seconds(30)}, Clock()) {
    options_.retry = {.max_attempts = 3,
                      .initial_backoff = absl::Milliseconds(20),
                      .max_backoff = absl::Milliseconds(500)};
    AnswerAsyncThroughSync();
  }

  // The core's asynchronous calls (Search's) answered by the synchronous mocks. Again after a
  // test clears the mocks' expectations.
  void AnswerAsyncThroughSync() {
    sv1::MockStorageStub* storage = &storage_;
    hv1::MockHybridStub* hybrid = &hybrid_;
    EXPECT_CALL(storage_, PrepareAsyncSearchRaw(_, _, _))
        .Times(::testing::AnyNumber())
        .WillRepeatedly(Invoke(ThroughSync(storage, &sv1::MockStorageStub::Search, &answers_)));
    EXPECT_CALL(storage_, PrepareAsyncGetNamespaceRaw(_, _, _))
        .Times(::testing::AnyNumber())
        .WillRepeatedly(Invoke(ThroughSync(storage, &sv1::MockStorageStub::GetNamespace, &answers_)));
    EXPECT_CALL(hybrid_, PrepareAsyncSearchRaw(_, _, _))
        .Times(::testing::AnyNumber())
        .WillRepeatedly(Invoke(ThroughSync(hybrid, &hv1::MockHybridStub::Search, &answers_)));
  }

  std::function<absl::Time()> Clock() {
    return [this] { return now_; };
  }

  EngramCore& Core(RateLimiter* limiter = nullptr) {
    if (core_ == nullptr) {
      EngramCoreDeps deps;
      deps.storage = &storage_;
      deps.hybrid = &hybrid_;
      deps.keys = &keys_;
      deps.limiter = limiter;
      deps.cache = &cache_;
      deps.storage_breaker = &storage_breaker_;
      deps.hybrid_breaker = &hybrid_breaker_;
      deps.metrics = &metrics_;
      deps.clock = Clock();
      deps.sleep = [this](absl::Duration d) {
        sleeps_.push_back(d);
        now_ += d;
      };
      core_ = std::make_unique<EngramCore>(std::move(deps), options_);
    }
    return *core_;
  }

  RequestContext Ctx(const std::string& key = kAdmin) {
    RequestContext ctx;
    ctx.api_key = key;
    ctx.correlation_id = "test-correlation-id";
    return ctx;
  }

  // The namespace lookup every vector-checking call makes first.
  void ExpectNamespace(const std::string& name, uint32_t dimension,
                       const std::string& embedder = "hashing") {
    EXPECT_CALL(storage_, GetNamespace(_, _, _))
        .WillOnce(
            DoAll(SetArgPointee<2>(Info(name, dimension, embedder)), Return(grpc::Status::OK)));
  }

  std::string Metrics() { return metrics_.Serialize(); }

  absl::Time now_;
  ApiKeyRing keys_;
  CircuitBreaker storage_breaker_;
  CircuitBreaker hybrid_breaker_;
  ResponseCache cache_;
  metrics::Registry metrics_;
  EngramCoreOptions options_;
  std::vector<absl::Duration> sleeps_;
  std::vector<std::shared_ptr<void>> answers_;  // ThroughSync's readers; outlive the mocks' calls
  StrictMock<sv1::MockStorageStub> storage_;
  StrictMock<hv1::MockHybridStub> hybrid_;
  std::unique_ptr<EngramCore> core_;
};

// ---- Authentication and authorisation ----------------------------------------------------------

TEST_F(EngramCoreTest, MissingOrInvalidKeyIsUnauthenticatedAndReachesNoDependency) {
  absl::StatusOr<v1::Stats> r = Core().GetStats(Ctx(""), {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(r.status().message(), HasSubstr("key"));
  v1::SearchRequest search;
  search.set_namespace_("default");
  search.set_query("anything");
  EXPECT_EQ(Core().Search(Ctx("not-a-key-of-ours-at-all"), search).status().code(),
            absl::StatusCode::kUnauthenticated);
  const std::string text = Metrics();
  EXPECT_THAT(text, HasSubstr("engram_api_auth_failures_total{reason=\"missing_key\"} 1"));
  EXPECT_THAT(text, HasSubstr("engram_api_auth_failures_total{reason=\"invalid_key\"} 1"));
  EXPECT_THAT(
      text, HasSubstr("engram_api_requests_total{method=\"GetStats\",code=\"UNAUTHENTICATED\"} 1"));
}

TEST_F(EngramCoreTest, RoleAndNamespaceOutsideTheKeyArePermissionDenied) {
  v1::LearnRequest learn;
  learn.set_namespace_("default");
  learn.set_content("readers may not write");
  absl::Status s = Core().Learn(Ctx(kReader), learn).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("reader"));

  v1::CreateNamespaceRequest create;
  create.set_name("new_ns");
  EXPECT_EQ(Core().CreateNamespace(Ctx(kWriter), create).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::DeleteNamespaceRequest drop;
  drop.set_namespace_("default");
  EXPECT_EQ(Core().DeleteNamespace(Ctx(kWriter), drop).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::AssociateRequest associate;
  associate.set_namespace_("default");
  EXPECT_EQ(Core().Associate(Ctx(kReader), associate).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::DeleteConceptRequest del;
  del.set_namespace_("default");
  del.set_id("x");
  EXPECT_EQ(Core().DeleteConcept(Ctx(kReader), del).status().code(),
            absl::StatusCode::kPermissionDenied);

  v1::GetNamespaceRequest get;
  get.set_namespace_("default");
  s = Core().GetNamespace(Ctx(kScoped), get).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("default"));
  EXPECT_THAT(Metrics(), HasSubstr("engram_api_auth_failures_total{reason=\"forbidden\"} 6"));
}

TEST_F(EngramCoreTest, ListNamespacesShowsOnlyTheKeysNamespaces) {
  sv1::ListNamespacesResponse all;
  *all.add_namespaces() = Info("default", 384);
  *all.add_namespaces() = Info("scoped", 384);
  *all.add_namespaces() = Info("other", 8);
  EXPECT_CALL(storage_, ListNamespaces(_, _, _))
      .Times(2)
      .WillRepeatedly(DoAll(SetArgPointee<2>(all), Return(grpc::Status::OK)));
  absl::StatusOr<v1::ListNamespacesResponse> scoped = Core().ListNamespaces(Ctx(kScoped), {});
  ASSERT_TRUE(scoped.ok()) << scoped.status();
  ASSERT_EQ(scoped->namespaces_size(), 1);
  EXPECT_EQ(scoped->namespaces(0).name(), "scoped");
  absl::StatusOr<v1::ListNamespacesResponse> every = Core().ListNamespaces(Ctx(kReader), {});
  ASSERT_TRUE(every.ok());
  EXPECT_EQ(every->namespaces_size(), 3);
  EXPECT_EQ(every->namespaces(2).dimension(), 8u);
}

TEST_F(EngramCoreTest, AuthDisabledAdmitsCallsWithoutAKey) {
  options_.auth_enabled = false;
  sv1::ServerStats stats;
  stats.set_concepts(42);
  stats.set_sync_mode("always");
  EXPECT_CALL(storage_, GetStats(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(stats), Return(grpc::Status::OK)));
  absl::StatusOr<v1::Stats> r = Core().GetStats(Ctx(""), {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->concepts(), 42u);
  EXPECT_EQ(r->sync_mode(), "always");
}

// ---- Validation
// ------------------------------------------------------------------------------------

struct InvalidCase {
  std::string name;
  std::function<absl::Status(EngramCore&, const RequestContext&)> call;
  std::string field;  // the message must start with it
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }

std::vector<InvalidCase> InvalidCases() {
  auto learn = [](std::function<void(v1::LearnRequest&)> edit) {
    return [edit](EngramCore& core, const RequestContext& ctx) {
      v1::LearnRequest r;
      r.set_namespace_("default");
      r.set_content("valid content");
      edit(r);
      return core.Learn(ctx, r).status();
    };
  };
  auto search = [](std::function<void(v1::SearchRequest&)> edit) {
    return [edit](EngramCore& core, const RequestContext& ctx) {
      v1::SearchRequest r;
      r.set_namespace_("default");
      r.set_query("valid query");
      edit(r);
      return core.Search(ctx, r).status();
    };
  };
  auto reason = [](std::function<void(v1::ReasonRequest&)> edit) {
    return [edit](EngramCore& core, const RequestContext& ctx) {
      v1::ReasonRequest r;
      r.set_namespace_("default");
      r.set_query("why?");
      edit(r);
      return core.Reason(ctx, r).status();
    };
  };
  auto associate = [](std::function<void(v1::AssociateRequest&)> edit) {
    return [edit](EngramCore& core, const RequestContext& ctx) {
      v1::AssociateRequest r;
      r.set_namespace_("default");
      r.set_source("a");
      r.set_target("b");
      r.set_type(v1::CAUSAL);
      edit(r);
      return core.Associate(ctx, r).status();
    };
  };
  auto paths = [](std::function<void(v1::FindPathsRequest&)> edit) {
    return [edit](EngramCore& core, const RequestContext& ctx) {
      v1::FindPathsRequest r;
      r.set_namespace_("default");
      r.set_source("a");
      r.set_target("b");
      edit(r);
      return core.FindPaths(ctx, r).status();
    };
  };
  auto batch = [](int n, std::function<void(v1::LearnBatchRequest&)> edit) {
    return [n, edit](EngramCore& core, const RequestContext& ctx) {
      v1::LearnBatchRequest r;
      r.set_namespace_("default");
      for (int i = 0; i < n; ++i) r.add_concepts()->set_content(absl::StrCat("item ", i));
      edit(r);
      return core.LearnBatch(ctx, r).status();
    };
  };
  auto create = [](std::function<void(v1::CreateNamespaceRequest&)> edit) {
    return [edit](EngramCore& core, const RequestContext& ctx) {
      v1::CreateNamespaceRequest r;
      r.set_name("fresh");
      edit(r);
      return core.CreateNamespace(ctx, r).status();
    };
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<InvalidCase> cases = {
      {"EmptyContent", learn([](auto& r) { r.set_content(""); }), "content: "},
      {"ContentTooLarge", learn([](auto& r) { r.set_content(std::string(1025, 'a')); }),
       "content: "},
      {"ContentNotUtf8", learn([](auto& r) { r.set_content("bad \xff byte"); }), "content: "},
      {"IdTooLong", learn([](auto& r) { r.set_id(std::string(129, 'x')); }), "id: "},
      {"IdControlCharacter", learn([](auto& r) { r.set_id("a\nb"); }), "id: "},
      {"VectorNaN", learn([nan](auto& r) {
         r.add_vector(0.5f);
         r.add_vector(nan);
       }),
       "vector[1]: not finite"},
      {"VectorInf", learn([inf](auto& r) { r.add_vector(inf); }), "vector[0]: not finite"},
      {"StrengthNegative", learn([](auto& r) { r.mutable_strength()->set_value(-0.5f); }),
       "strength: -0.5: must be finite and >= 0"},
      {"StrengthNaN", learn([nan](auto& r) { r.mutable_strength()->set_value(nan); }),
       "strength: "},
      {"TooManyAttributes", learn([](auto& r) {
         for (int i = 0; i < 65; ++i) (*r.mutable_attributes())[absl::StrCat("k", i)] = "v";
       }),
       "attributes: "},
      {"AttributeKeyTooLong",
       learn([](auto& r) { (*r.mutable_attributes())[std::string(129, 'k')] = "v"; }),
       "attributes[\""},
      {"AttributeValueTooLong",
       learn([](auto& r) { (*r.mutable_attributes())["k"] = std::string(4097, 'v'); }),
       "attributes[\"k\"]: "},
      {"BadNamespaceName", learn([](auto& r) { r.set_namespace_("no/slashes"); }), "namespace: "},
      {"NamespaceNameTooLong", learn([](auto& r) { r.set_namespace_(std::string(65, 'n')); }),
       "namespace: "},
      {"EmptyBatch", batch(0, [](auto&) {}), "concepts: "},
      {"BatchTooLarge", batch(1001, [](auto&) {}), "concepts: "},
      {"BatchItemBadId",
       batch(5, [](auto& r) { r.mutable_concepts(3)->set_id(std::string(200, 'x')); }),
       "concepts[3].id: "},
      {"BatchItemOtherNamespace",
       batch(2, [](auto& r) { r.mutable_concepts(1)->set_namespace_("other"); }),
       "concepts[1].namespace: "},
      {"BatchItemNaN", batch(3, [nan](auto& r) { r.mutable_concepts(2)->add_vector(nan); }),
       "concepts[2].vector[0]: not finite"},
      {"BatchItemStrengthInfinite",
       batch(3, [inf](auto& r) { r.mutable_concepts(1)->mutable_strength()->set_value(inf); }),
       "concepts[1].strength: "},
      {"SearchNeitherQueryNorVector", search([](auto& r) { r.clear_query(); }), "query, vector: "},
      {"SearchBothQueryAndVector", search([](auto& r) { r.add_vector(1.0f); }), "query, vector: "},
      {"SearchBlankQuery", search([](auto& r) { r.set_query("   "); }), "query: "},
      {"SearchKTooLarge", search([](auto& r) { r.set_k(1001); }), "k: "},
      {"SearchEfTooLarge", search([](auto& r) { r.set_ef(4097); }), "ef: "},
      {"SearchVectorNaN", search([nan](auto& r) {
         r.clear_query();
         r.add_vector(nan);
       }),
       "vector[0]: not finite"},
      {"SearchFilterValueTooLong", search([](auto& r) {
         (*r.mutable_filter()->mutable_attributes())["k"] = std::string(4097, 'v');
       }),
       "filter.attributes[\"k\"]: "},
      {"ReasonEmptyQuery", reason([](auto& r) { r.clear_query(); }), "query: "},
      {"ReasonKTooLarge", reason([](auto& r) { r.set_k(101); }), "k: "},
      {"ReasonDepthTooLarge", reason([](auto& r) { r.set_max_depth(11); }), "maxDepth: "},
      {"ReasonPathsTooMany", reason([](auto& r) { r.set_max_paths(101); }), "maxPaths: "},
      {"ReasonMinConfidenceAboveOne",
       reason([](auto& r) { r.mutable_min_confidence()->set_value(1.5f); }), "minConfidence: "},
      {"ReasonUnknownType",
       reason([](auto& r) { r.add_types(static_cast<v1::AssociationType>(99)); }), "types[0]: "},
      {"AssociateNoType", associate([](auto& r) { r.set_type(v1::ASSOCIATION_TYPE_UNSPECIFIED); }),
       "type: "},
      {"AssociateNoSource", associate([](auto& r) { r.clear_source(); }), "source: "},
      {"AssociateNoTarget", associate([](auto& r) { r.clear_target(); }), "target: "},
      {"AssociateConfidenceAboveOne",
       associate([](auto& r) { r.mutable_confidence()->set_value(1.01f); }), "confidence: "},
      {"AssociateConfidenceNegative",
       associate([](auto& r) { r.mutable_confidence()->set_value(-0.1f); }), "confidence: "},
      {"AssociateWeightInfinite", associate([inf](auto& r) { r.mutable_weight()->set_value(inf); }),
       "weight: "},
      {"PathsDepthTooLarge", paths([](auto& r) { r.set_max_depth(21); }), "maxDepth: "},
      {"PathsTooMany", paths([](auto& r) { r.set_max_paths(101); }), "maxPaths: "},
      {"PathsUnspecifiedType",
       paths([](auto& r) { r.add_types(v1::ASSOCIATION_TYPE_UNSPECIFIED); }), "types[0]: "},
      {"NeighborsLimitTooLarge",
       [](EngramCore& core, const RequestContext& ctx) {
         v1::NeighborsRequest r;
         r.set_namespace_("default");
         r.set_id("a");
         r.set_limit(1001);
         return core.Neighbors(ctx, r).status();
       },
       "limit: "},
      {"GetConceptNoId",
       [](EngramCore& core, const RequestContext& ctx) {
         v1::GetConceptRequest r;
         r.set_namespace_("default");
         return core.GetConcept(ctx, r).status();
       },
       "id: "},
      {"DeleteConceptIdTooLong",
       [](EngramCore& core, const RequestContext& ctx) {
         v1::DeleteConceptRequest r;
         r.set_namespace_("default");
         r.set_id(std::string(129, 'i'));
         return core.DeleteConcept(ctx, r).status();
       },
       "id: "},
      {"CreateNamespaceBadName", create([](auto& r) { r.set_name("bad name"); }), "name: "},
      {"CreateNamespaceDotDot", create([](auto& r) { r.set_name(".."); }), "name: "},
      {"CreateNamespaceDimensionTooLarge", create([](auto& r) { r.set_dimension(4097); }),
       "dimension: "},
      {"CreateNamespaceUnknownEmbedder", create([](auto& r) { r.set_embedder("openai"); }),
       "embedder: "},
      {"CreateNamespaceModelPathTraversal",
       create([](auto& r) { r.set_embedder("word-vectors/../etc"); }), "embedder: "},
      {"CreateNamespaceNoneWithoutDimension", create([](auto& r) { r.set_embedder("none"); }),
       "dimension: "},
      {"CreateNamespaceBadM", create([](auto& r) { r.mutable_index_params()->set_m(1); }),
       "indexParams.m: "},
      {"CreateNamespaceBadEfConstruction",
       create([](auto& r) { r.mutable_index_params()->set_ef_construction(8); }),
       "indexParams.efConstruction: "},
      {"CreateNamespaceUnknownQuantization",
       create([](auto& r) { r.mutable_index_params()->set_quantization(static_cast<v1::Quantization>(7)); }),
       "indexParams.quantization: "},
  };
  return cases;
}

class EngramCoreValidationTest : public EngramCoreTest,
                                 public ::testing::WithParamInterface<InvalidCase> {};

TEST_P(EngramCoreValidationTest, NamesTheFieldAndReachesNoDependency) {
  options_.limits.max_content_bytes = 1024;
  // StrictMock stubs: any downstream call fails the test.
  absl::Status s = GetParam().call(Core(), Ctx(kAdmin));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StartsWith(s.message(), GetParam().field))
      << s.message() << " should start with " << GetParam().field;
}

INSTANTIATE_TEST_SUITE_P(EveryRule, EngramCoreValidationTest, ::testing::ValuesIn(InvalidCases()),
                         [](const ::testing::TestParamInfo<InvalidCase>& info) {
                           return info.param.name;
                         });

TEST_F(EngramCoreTest, VectorOfTheWrongDimensionIsRejectedAfterOnlyTheNamespaceLookup) {
  ExpectNamespace("default", 4);
  v1::LearnRequest learn;
  learn.set_namespace_("default");
  learn.set_content("three values for a 4-dimensional namespace");
  for (float v : {0.1f, 0.2f, 0.3f}) learn.add_vector(v);
  absl::Status s = Core().Learn(Ctx(kWriter), learn).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "vector: dimension 3 != namespace dimension 4");

  // The namespace configuration is cached: the search needs no second lookup.
  v1::SearchRequest search;
  search.set_namespace_("default");
  for (float v : {0.1f, 0.2f}) search.add_vector(v);
  s = Core().Search(Ctx(kReader), search).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("vector: dimension 2"));
}

TEST_F(EngramCoreTest, StoragesNamespaceNotFoundDropsTheCachedConfig) {
  ExpectNamespace("default", 2);
  EXPECT_CALL(storage_, Search(_, _, _))
      .WillOnce(Return(status::ToGrpcStatus(status::NamespaceNotFound("default"))));
  v1::SearchRequest search;
  search.set_namespace_("default");
  for (float v : {0.1f, 0.2f}) search.add_vector(v);
  absl::Status s = Core().Search(Ctx(kReader), search).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(status::HasReason(s, status::ErrorDetail::NAMESPACE_NOT_FOUND));

  // Re-created with another dimension: the next call asks storage again instead of trusting
  // the cached dimension (the strict mock would refuse a second Search).
  ExpectNamespace("default", 3);
  s = Core().Search(Ctx(kReader), search).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("vector: dimension 2 != namespace dimension 3"));
}

TEST_F(EngramCoreTest, LearnWithoutVectorInANamespaceWithoutEmbedderIsRejected) {
  ExpectNamespace("raw", 3, "none");
  v1::LearnRequest learn;
  learn.set_namespace_("raw");
  learn.set_content("no vector");
  absl::Status s = Core().Learn(Ctx(kWriter), learn).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("vector: required"));
}

TEST_F(EngramCoreTest, NamespaceConfigurationExpiresAfterItsTtl) {
  options_.namespace_ttl = absl::Seconds(5);
  EXPECT_CALL(storage_, GetNamespace(_, _, _))
      .Times(2)
      .WillRepeatedly(DoAll(SetArgPointee<2>(Info("default", 2)), Return(grpc::Status::OK)));
  EXPECT_CALL(storage_, Search(_, _, _)).Times(3).WillRepeatedly(Return(grpc::Status::OK));
  v1::SearchRequest search;
  search.set_namespace_("default");
  search.add_vector(1.0f);
  search.add_vector(0.0f);
  for (int k : {1, 2}) {  // distinct k: the response cache must not answer
    search.set_k(k);
    ASSERT_TRUE(Core().Search(Ctx(kReader), search).ok());
  }
  now_ += absl::Seconds(6);
  search.set_k(3);
  ASSERT_TRUE(Core().Search(Ctx(kReader), search).ok());
}

// ---- Routing and conversions
// -----------------------------------------------------------------------

TEST_F(EngramCoreTest, TextSearchGoesToHybridWithTheCorrelationId) {
  hv1::SearchResponse found;
  sv1::SearchResult* hit = found.add_results();
  hit->mutable_node()->set_id("dog");
  hit->mutable_node()->set_content("A dog is a mammal");
  (*hit->mutable_node()->mutable_attributes())["kind"] = "animal";
  hit->set_score(0.9f);
  EXPECT_CALL(hybrid_, Search(_, _, _))
      .WillOnce(Invoke(
          [&](grpc::ClientContext* c, const hv1::SearchRequest& req, hv1::SearchResponse* resp) {
            EXPECT_EQ(req.namespace_(), "default");
            EXPECT_EQ(req.text(), "is a dog a mammal");  // trimmed
            EXPECT_EQ(req.k(), 10u);                     // the default, made explicit
            EXPECT_EQ(req.filter().at("kind"), "animal");
            auto sent = grpc::testing::ClientContextTestPeer(c).GetSendInitialMetadata();
            auto id = sent.find("x-correlation-id");
            EXPECT_TRUE(id != sent.end() && id->second == "test-correlation-id");
            *resp = found;
            return grpc::Status::OK;
          }));
  v1::SearchRequest search;
  search.set_namespace_("default");
  search.set_query("  is a dog a mammal ");
  (*search.mutable_filter()->mutable_attributes())["kind"] = "animal";
  absl::StatusOr<v1::SearchResponse> r = Core().Search(Ctx(kReader), search);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->results_size(), 1);
  EXPECT_EQ(r->results(0).id(), "dog");
  EXPECT_EQ(r->results(0).content(), "A dog is a mammal");
  EXPECT_EQ(r->results(0).attributes().at("kind"), "animal");
  EXPECT_FLOAT_EQ(r->results(0).score(), 0.9f);
}

TEST_F(EngramCoreTest, VectorSearchGoesStraightToStorage) {
  ExpectNamespace("default", 3);
  sv1::SearchResponse found;
  found.add_results()->mutable_node()->set_id("v1");
  EXPECT_CALL(storage_, Search(_, _, _))
      .WillOnce(Invoke(
          [&](grpc::ClientContext*, const sv1::SearchRequest& req, sv1::SearchResponse* resp) {
            EXPECT_EQ(req.vector_size(), 3);
            EXPECT_EQ(req.k(), 5u);
            EXPECT_EQ(req.ef(), 100u);
            *resp = found;
            return grpc::Status::OK;
          }));
  v1::SearchRequest search;
  search.set_namespace_("default");
  for (float v : {0.1f, 0.2f, 0.3f}) search.add_vector(v);
  search.set_k(5);
  search.set_ef(100);
  absl::StatusOr<v1::SearchResponse> r = Core().Search(Ctx(kReader), search);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->results_size(), 1);
  EXPECT_EQ(r->results(0).id(), "v1");
}

TEST_F(EngramCoreTest, LearnGoesToHybridAndReturnsItsAssociations) {
  ExpectNamespace("default", 384);
  EXPECT_CALL(hybrid_, Learn(_, _, _))
      .WillOnce(
          Invoke([](grpc::ClientContext*, const hv1::LearnRequest& req, hv1::LearnResponse* resp) {
            EXPECT_EQ(req.items_size(), 1);
            EXPECT_EQ(req.items(0).content(), "A dog is a mammal");
            EXPECT_TRUE(req.items(0).has_extract_associations());
            EXPECT_FALSE(req.items(0).extract_associations().value());
            EXPECT_TRUE(req.items(0).has_strength());
            EXPECT_FLOAT_EQ(req.items(0).strength().value(), 43.0f);
            resp->add_results()->set_id("c-dog");
            resp->mutable_results(0)->set_created(true);
            sv1::Association* a = resp->add_associations();
            a->set_source("c-dog");
            a->set_target("c-mammal");
            a->set_type(sv1::HIERARCHICAL);
            a->set_confidence(0.9f);
            resp->set_associations_created(1);
            return grpc::Status::OK;
          }));
  v1::LearnRequest learn;
  learn.set_namespace_("default");
  learn.set_content("A dog is a mammal");
  learn.mutable_extract_associations()->set_value(false);
  learn.mutable_strength()->set_value(43.0f);
  absl::StatusOr<v1::LearnResponse> r = Core().Learn(Ctx(kWriter), learn);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id(), "c-dog");
  EXPECT_TRUE(r->created());
  ASSERT_EQ(r->associations_size(), 1);
  EXPECT_EQ(r->associations(0).type(), v1::HIERARCHICAL);
  EXPECT_EQ(r->associations(0).target(), "c-mammal");
}

TEST_F(EngramCoreTest, HybridFieldPathsAreRewrittenIntoTheBatchsTerms) {
  ExpectNamespace("default", 384);
  EXPECT_CALL(hybrid_, Learn(_, _, _))
      .WillOnce(
          Return(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "items[1].content: too long")));
  v1::LearnBatchRequest batch;
  batch.set_namespace_("default");
  batch.add_concepts()->set_content("one");
  batch.add_concepts()->set_content("two");
  absl::Status s = Core().LearnBatch(Ctx(kWriter), batch).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "concepts[1].content: too long");
}

TEST_F(EngramCoreTest, GetConceptOfAMissingIdIsNotFoundNamingIdAndNamespace) {
  sv1::GetConceptsResponse missing;
  missing.add_missing_ids("ghost");
  EXPECT_CALL(storage_, GetConcepts(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(missing), Return(grpc::Status::OK)));
  v1::GetConceptRequest get;
  get.set_namespace_("default");
  get.set_id("ghost");
  absl::Status s = Core().GetConcept(Ctx(kReader), get).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "concept 'ghost' not found in namespace 'default'");
}

TEST_F(EngramCoreTest, GetConceptReturnsTheVectorOnlyWhenAsked) {
  sv1::GetConceptsResponse found;
  sv1::Concept* c = found.add_concepts();
  c->set_id("x");
  c->set_content("content");
  c->add_vector(0.5f);
  c->mutable_create_time()->set_seconds(1700000000);
  EXPECT_CALL(storage_, GetConcepts(_, _, _))
      .Times(2)
      .WillRepeatedly(DoAll(SetArgPointee<2>(found), Return(grpc::Status::OK)));
  v1::GetConceptRequest get;
  get.set_namespace_("default");
  get.set_id("x");
  absl::StatusOr<v1::Concept> plain = Core().GetConcept(Ctx(kReader), get);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->vector_size(), 0);
  EXPECT_EQ(plain->create_time().seconds(), 1700000000);
  get.set_include_vector(true);
  absl::StatusOr<v1::Concept> with_vector = Core().GetConcept(Ctx(kReader), get);
  ASSERT_TRUE(with_vector.ok());
  EXPECT_EQ(with_vector->vector_size(), 1);
}

TEST_F(EngramCoreTest, DeleteConceptOfAMissingIdIsNotFound) {
  sv1::WriteResponse absent;
  absent.add_results()->set_found(false);
  EXPECT_CALL(storage_, DeleteConcepts(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(absent), Return(grpc::Status::OK)));
  v1::DeleteConceptRequest del;
  del.set_namespace_("default");
  del.set_id("ghost");
  absl::Status s = Core().DeleteConcept(Ctx(kWriter), del).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "concept 'ghost' not found in namespace 'default'");
}

TEST_F(EngramCoreTest, AssociateReturnsTheStoredAssociationWithItsCreateTime) {
  EXPECT_CALL(storage_, PutAssociations(_, _, _))
      .WillOnce(Invoke(
          [](grpc::ClientContext*, const sv1::PutAssociationsRequest& req, sv1::WriteResponse*) {
            EXPECT_EQ(req.associations_size(), 1);
            EXPECT_FLOAT_EQ(req.associations(0).confidence(), 0.75f);
            // An explicit 0 is forwarded as a value (storage keeps it); unset stays unset.
            EXPECT_TRUE(req.associations(0).has_weight());
            EXPECT_EQ(req.associations(0).weight(), 0.0f);
            return grpc::Status::OK;
          }));
  sv1::FindPathsResponse stored;
  sv1::Association* hop = stored.add_paths()->add_hops();
  hop->set_source("a");
  hop->set_target("b");
  hop->set_type(sv1::CAUSAL);
  hop->set_confidence(0.75f);
  hop->set_weight(1.0f);
  hop->mutable_create_time()->set_seconds(1700000123);
  EXPECT_CALL(storage_, FindPaths(_, _, _))
      .WillOnce(Invoke([&](grpc::ClientContext*, const sv1::FindPathsRequest& req,
                           sv1::FindPathsResponse* resp) {
        EXPECT_EQ(req.max_depth(), 1u);
        EXPECT_EQ(req.direction(), sv1::OUT);
        EXPECT_EQ(req.types_size(), 1);
        EXPECT_TRUE(req.types_size() == 1 && req.types(0) == sv1::CAUSAL);
        *resp = stored;
        return grpc::Status::OK;
      }));
  v1::AssociateRequest associate;
  associate.set_namespace_("default");
  associate.set_source("a");
  associate.set_target("b");
  associate.set_type(v1::CAUSAL);
  associate.mutable_confidence()->set_value(0.75f);
  associate.mutable_weight()->set_value(0.0f);
  absl::StatusOr<v1::Association> r = Core().Associate(Ctx(kWriter), associate);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->type(), v1::CAUSAL);
  EXPECT_FLOAT_EQ(r->confidence(), 0.75f);
  EXPECT_EQ(r->create_time().seconds(), 1700000123);
}

TEST_F(EngramCoreTest, NeighborsMapTheStorageNodeToAConceptRef) {
  sv1::NeighborsResponse found;
  sv1::Neighbor* n = found.add_neighbors();
  n->mutable_node()->set_id("b");
  n->mutable_node()->set_content("B");
  n->mutable_association()->set_source("a");
  n->mutable_association()->set_target("b");
  n->mutable_association()->set_type(sv1::TEMPORAL);
  EXPECT_CALL(storage_, Neighbors(_, _, _))
      .WillOnce(Invoke([&](grpc::ClientContext*, const sv1::NeighborsRequest& req,
                           sv1::NeighborsResponse* resp) {
        EXPECT_EQ(req.types_size(), 1);
        EXPECT_EQ(req.direction(), sv1::OUT);
        *resp = found;
        return grpc::Status::OK;
      }));
  v1::NeighborsRequest req;
  req.set_namespace_("default");
  req.set_id("a");
  req.set_type(v1::TEMPORAL);
  req.set_direction(v1::OUT);
  absl::StatusOr<v1::NeighborsResponse> r = Core().Neighbors(Ctx(kReader), req);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->neighbors_size(), 1);
  EXPECT_EQ(r->neighbors(0).node().id(), "b");
  EXPECT_EQ(r->neighbors(0).node().content(), "B");
  EXPECT_EQ(r->neighbors(0).association().type(), v1::TEMPORAL);
}

TEST_F(EngramCoreTest, WordVectorNamespaceWithoutDimensionAsksHybridForTheModelsDimension) {
  EXPECT_CALL(hybrid_, Embed(_, _, _))
      .WillOnce(
          Invoke([](grpc::ClientContext*, const hv1::EmbedRequest& req, hv1::EmbedResponse* resp) {
            EXPECT_EQ(req.embedder(), "word-vectors/glove");
            resp->set_dimension(50);
            return grpc::Status::OK;
          }));
  EXPECT_CALL(storage_, CreateNamespace(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const sv1::CreateNamespaceRequest& req,
                          sv1::NamespaceInfo* resp) {
        EXPECT_EQ(req.config().dimension(), 50u);
        EXPECT_EQ(req.config().embedder(), "word-vectors/glove");
        *resp->mutable_config() = req.config();
        return grpc::Status::OK;
      }));
  v1::CreateNamespaceRequest create;
  create.set_name("glove_ns");
  create.set_embedder("word-vectors/glove");
  absl::StatusOr<v1::Namespace> r = Core().CreateNamespace(Ctx(kAdmin), create);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dimension(), 50u);
  EXPECT_EQ(r->embedder(), "word-vectors/glove");
}

// ---- Failures, retries, circuit breaker
// ------------------------------------------------------------

TEST_F(EngramCoreTest, ReadsAreRetriedOnUnavailable) {
  sv1::GetConceptsResponse found;
  found.add_concepts()->set_id("x");
  EXPECT_CALL(storage_, GetConcepts(_, _, _))
      .WillOnce(Return(Unavailable()))
      .WillOnce(Return(Unavailable()))
      .WillOnce(DoAll(SetArgPointee<2>(found), Return(grpc::Status::OK)));
  v1::GetConceptRequest get;
  get.set_namespace_("default");
  get.set_id("x");
  absl::StatusOr<v1::Concept> r = Core().GetConcept(Ctx(kReader), get);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(sleeps_.size(), 2u);
  EXPECT_THAT(Metrics(),
              HasSubstr("engram_api_downstream_retries_total{dependency=\"storage\"} 2"));
}

// Search's calls are asynchronous: its retries wait on a timer of the call's queue, never on the
// (injected) sleep that would hold a thread.
TEST_F(EngramCoreTest, SearchIsRetriedOnUnavailableFromATimerNotASleep) {
  hv1::SearchResponse found;
  found.add_results()->mutable_node()->set_id("dog");
  EXPECT_CALL(hybrid_, Search(_, _, _))
      .WillOnce(Return(Unavailable()))
      .WillOnce(Return(Unavailable()))
      .WillOnce(DoAll(SetArgPointee<2>(found), Return(grpc::Status::OK)));
  v1::SearchRequest search;
  search.set_namespace_("default");
  search.set_query("dog");
  absl::StatusOr<v1::SearchResponse> r = Core().Search(Ctx(kReader), search);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->results_size(), 1);
  EXPECT_EQ(r->results(0).id(), "dog");
  EXPECT_TRUE(sleeps_.empty());
  EXPECT_THAT(Metrics(), HasSubstr("engram_api_downstream_retries_total{dependency=\"hybrid\"} 2"));
}

TEST_F(EngramCoreTest, WritesAreNeverRetried) {
  EXPECT_CALL(storage_, PutAssociations(_, _, _)).WillOnce(Return(Unavailable()));
  v1::AssociateRequest associate;
  associate.set_namespace_("default");
  associate.set_source("a");
  associate.set_target("b");
  associate.set_type(v1::CAUSAL);
  absl::Status s = Core().Associate(Ctx(kWriter), associate).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "storage unavailable: connection refused");

  ExpectNamespace("default", 384);
  EXPECT_CALL(hybrid_, Learn(_, _, _)).WillOnce(Return(Unavailable()));
  v1::LearnRequest learn;
  learn.set_namespace_("default");
  learn.set_content("not retried");
  s = Core().Learn(Ctx(kWriter), learn).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "hybrid unavailable: connection refused");
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(EngramCoreTest, HybridsStorageOutageIsToldApartByItsDetailNotItsMessage) {
  // engram-hybrid says storage is down: the typed detail names storage, so the api passes it on.
  ExpectNamespace("default", 384);
  const grpc::Status storage_down = status::ToGrpcStatus(status::WithDetail(
      absl::UnavailableError("storage unavailable (Write): connection refused"),
      status::DependencyDetail("storage")));
  EXPECT_CALL(hybrid_, Learn(_, _, _)).WillOnce(Return(storage_down));
  v1::LearnRequest learn;
  learn.set_namespace_("default");
  learn.set_content("x");
  absl::Status s = Core().Learn(Ctx(kWriter), learn).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "storage unavailable (Write): connection refused");
  EXPECT_EQ(status::DependencyOf(s), "storage");

  // The same words without the detail are hybrid's own outage.
  EXPECT_CALL(hybrid_, Learn(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAVAILABLE, "storage unavailable (Write)")));
  s = Core().Learn(Ctx(kWriter), learn).status();
  EXPECT_EQ(s.message(), "hybrid unavailable: storage unavailable (Write)");
  EXPECT_EQ(status::DependencyOf(s), "hybrid");
}

// Regression (chaos_bench): a dependency shutting down (SIGTERM, drain) cancels the calls it
// still has; the api answered those as CANCELLED ("hybrid Reason: cancelled") to a client that
// cancelled nothing. It is the dependency's outage: UNAVAILABLE, naming the dependency.
TEST_F(EngramCoreTest, ACallTheDependencyCancelledIsItsOutageNotTheClients) {
  // Retried like any outage of an idempotent call, then answered as UNAVAILABLE.
  EXPECT_CALL(hybrid_, Reason(_, _, _))
      .WillRepeatedly(Return(grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled")));
  v1::ReasonRequest reason;
  reason.set_namespace_("default");
  reason.set_query("what is a dog");
  absl::Status s = Core().Reason(Ctx(kReader), reason).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(status::DependencyOf(s), "hybrid");

  EXPECT_CALL(storage_, GetStats(_, _, _))
      .WillRepeatedly(Return(grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled")));
  s = Core().GetStats(Ctx(kReader), {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(status::DependencyOf(s), "storage");
}

TEST_F(EngramCoreTest, BreakerOpensFailsFastThenProbesAndCloses) {
  // Three failed attempts (one read with its two retries) open the storage breaker.
  EXPECT_CALL(storage_, GetStats(_, _, _)).Times(3).WillRepeatedly(Return(Unavailable()));
  EXPECT_EQ(Core().GetStats(Ctx(kReader), {}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(storage_breaker_.state(), CircuitBreaker::State::kOpen);
  EXPECT_THAT(Metrics(), HasSubstr("engram_api_circuit_open{dependency=\"storage\"} 1"));
  ::testing::Mock::VerifyAndClearExpectations(&storage_);
  AnswerAsyncThroughSync();

  // Open: fails fast, storage is not called (StrictMock).
  absl::Status s = Core().GetStats(Ctx(kReader), {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("storage unavailable"));

  // Hybrid has its own breaker: a text search still reaches it.
  EXPECT_CALL(hybrid_, Search(_, _, _)).WillOnce(Return(grpc::Status::OK));
  v1::SearchRequest search;
  search.set_namespace_("default");
  search.set_query("still served");
  EXPECT_TRUE(Core().Search(Ctx(kReader), search).ok());

  // After open_duration one probe goes through; its success closes the breaker.
  now_ += absl::Seconds(3);
  EXPECT_CALL(storage_, GetStats(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_TRUE(Core().GetStats(Ctx(kReader), {}).ok());
  EXPECT_EQ(storage_breaker_.state(), CircuitBreaker::State::kClosed);
  EXPECT_THAT(Metrics(), HasSubstr("engram_api_circuit_open{dependency=\"storage\"} 0"));
}

TEST_F(EngramCoreTest, InternalDetailsOfADependencyAreNotReturned) {
  EXPECT_CALL(storage_, GetStats(_, _, _))
      .WillOnce(
          Return(grpc::Status(grpc::StatusCode::INTERNAL, "segment 7 corrupt at offset 4096")));
  absl::Status s = Core().GetStats(Ctx(kReader), {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("segment")));
}

TEST_F(EngramCoreTest, DependencyAnswersPassThrough) {
  EXPECT_CALL(storage_, CreateNamespace(_, _, _))
      .WillOnce(
          Return(grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "namespace 'dup' already exists")));
  v1::CreateNamespaceRequest create;
  create.set_name("dup");
  absl::Status s = Core().CreateNamespace(Ctx(kAdmin), create).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(s.message(), "namespace 'dup' already exists");
  // Answers are successes for the breaker.
  EXPECT_EQ(storage_breaker_.state(), CircuitBreaker::State::kClosed);
}

// ---- Deadlines ---------------------------------------------------------------------------------

TEST_F(EngramCoreTest, DownstreamDeadlineIsTheClientsCappedOrTheDefault) {
  options_.default_deadline = absl::Seconds(10);
  options_.max_deadline = absl::Seconds(60);
  std::vector<double> seen;
  EXPECT_CALL(storage_, GetStats(_, _, _))
      .Times(3)
      .WillRepeatedly(Invoke([&](grpc::ClientContext* c, auto&, auto*) {
        seen.push_back(SecondsLeft(c));
        return grpc::Status::OK;
      }));
  RequestContext ctx = Ctx(kReader);
  ctx.deadline = now_ + absl::Minutes(5);  // more than the cap
  ASSERT_TRUE(Core().GetStats(ctx, {}).ok());
  ctx.deadline = absl::InfiniteFuture();  // none: the default
  ASSERT_TRUE(Core().GetStats(ctx, {}).ok());
  ctx.deadline = now_ + absl::Seconds(2);  // below the cap: kept
  ASSERT_TRUE(Core().GetStats(ctx, {}).ok());
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_NEAR(seen[0], 60.0, 1.0);
  EXPECT_NEAR(seen[1], 10.0, 1.0);
  EXPECT_NEAR(seen[2], 2.0, 1.0);
}

TEST_F(EngramCoreTest, ExpiredDeadlineReachesNoDependency) {
  RequestContext ctx = Ctx(kReader);
  ctx.deadline = now_ - absl::Seconds(1);
  EXPECT_EQ(Core().GetStats(ctx, {}).status().code(), absl::StatusCode::kDeadlineExceeded);
}

// ---- Response cache ----------------------------------------------------------------------------

TEST_F(EngramCoreTest, CacheHitAvoidsTheDownstreamCallAndAWriteInvalidatesIt) {
  hv1::SearchResponse found;
  found.add_results()->mutable_node()->set_id("dog");
  EXPECT_CALL(hybrid_, Search(_, _, _))
      .Times(2)
      .WillRepeatedly(DoAll(SetArgPointee<2>(found), Return(grpc::Status::OK)));
  v1::SearchRequest search;
  search.set_namespace_("default");
  search.set_query("dog");
  ASSERT_TRUE(Core().Search(Ctx(kReader), search).ok());
  // Same normalised request (whitespace, explicit default k): answered from the cache.
  search.set_query(" dog ");
  search.set_k(10);
  absl::StatusOr<v1::SearchResponse> cached = Core().Search(Ctx(kReader), search);
  ASSERT_TRUE(cached.ok());
  ASSERT_EQ(cached->results_size(), 1);
  EXPECT_EQ(cached->results(0).id(), "dog");
  EXPECT_THAT(Metrics(), HasSubstr("engram_api_cache_hits_total 1"));

  // A write to another namespace leaves the entry alone; a write to this one invalidates it.
  EXPECT_CALL(storage_, DeleteConcepts(_, _, _))
      .Times(2)
      .WillRepeatedly(Invoke([](auto*, auto&, sv1::WriteResponse* r) {
        r->add_results()->set_found(true);
        return grpc::Status::OK;
      }));
  v1::DeleteConceptRequest del;
  del.set_namespace_("elsewhere");
  del.set_id("x");
  ASSERT_TRUE(Core().DeleteConcept(Ctx(kWriter), del).ok());
  ASSERT_TRUE(Core().Search(Ctx(kReader), search).ok());
  EXPECT_THAT(Metrics(), HasSubstr("engram_api_cache_hits_total 2"));
  del.set_namespace_("default");
  ASSERT_TRUE(Core().DeleteConcept(Ctx(kWriter), del).ok());
  ASSERT_TRUE(Core().Search(Ctx(kReader), search).ok());  // the second hybrid call
  EXPECT_THAT(Metrics(), HasSubstr("engram_api_cache_misses_total 2"));
}

TEST_F(EngramCoreTest, ReasonIsCachedAndLearnInvalidatesIt) {
  hv1::ReasonResponse answer;
  answer.set_explanation("dog is a kind of mammal (HIERARCHICAL, 0.90)");
  answer.set_confident(true);
  answer.mutable_answer()->set_id("mammal");
  EXPECT_CALL(hybrid_, Reason(_, _, _))
      .Times(2)
      .WillRepeatedly(Invoke(
          [&](grpc::ClientContext*, const hv1::ReasonRequest& req, hv1::ReasonResponse* resp) {
            EXPECT_EQ(req.max_depth(), 4u);
            EXPECT_FLOAT_EQ(req.min_confidence().value(), 0.3f);
            *resp = answer;
            return grpc::Status::OK;
          }));
  v1::ReasonRequest reason;
  reason.set_namespace_("default");
  reason.set_query("Is a dog a mammal?");
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<v1::ReasonResponse> r = Core().Reason(Ctx(kReader), reason);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->answer().id(), "mammal");
    EXPECT_EQ(r->explanation(), answer.explanation());
  }
  ExpectNamespace("default", 384);
  EXPECT_CALL(hybrid_, Learn(_, _, _)).WillOnce(Invoke([](auto*, auto&, hv1::LearnResponse* r) {
    r->add_results()->set_id("c-new");
    return grpc::Status::OK;
  }));
  v1::LearnRequest learn;
  learn.set_namespace_("default");
  learn.set_content("A cat is a mammal");
  ASSERT_TRUE(Core().Learn(Ctx(kWriter), learn).ok());
  ASSERT_TRUE(Core().Reason(Ctx(kReader), reason).ok());
}

// ---- Rate limits -------------------------------------------------------------------------------

TEST_F(EngramCoreTest, RateLimitIsResourceExhaustedWithRetryAfterAndReachesNoDependency) {
  RateLimiter limiter({.key_rate = 0.1, .key_burst = 1}, Clock());
  EXPECT_CALL(storage_, GetStats(_, _, _)).WillOnce(Return(grpc::Status::OK));
  ASSERT_TRUE(Core(&limiter).GetStats(Ctx(kReader), {}).ok());
  absl::Status s = Core().GetStats(Ctx(kReader), {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(status::HasReason(s, status::ErrorDetail::RATE_LIMITED));
  EXPECT_EQ(status::RetryAfterSeconds(s), 10);  // one token per 10 s
  EXPECT_THAT(Metrics(), HasSubstr("engram_api_rate_limited_total{scope=\"key\"} 1"));
  EXPECT_THAT(
      Metrics(),
      HasSubstr("engram_api_requests_total{method=\"GetStats\",code=\"RESOURCE_EXHAUSTED\"} 1"));
  // Another key has its own bucket.
  EXPECT_CALL(storage_, GetStats(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_TRUE(Core().GetStats(Ctx(kAdmin), {}).ok());
}

TEST_F(EngramCoreTest, NamespaceRateLimitIsCountedAsNamespaceScope) {
  RateLimiter limiter({.namespace_rate = 1, .namespace_burst = 1}, Clock());
  EXPECT_CALL(storage_, GetConcepts(_, _, _))
      .WillOnce(Invoke([](auto*, auto&, sv1::GetConceptsResponse* r) {
        r->add_concepts()->set_id("x");
        return grpc::Status::OK;
      }));
  v1::GetConceptRequest get;
  get.set_namespace_("default");
  get.set_id("x");
  ASSERT_TRUE(Core(&limiter).GetConcept(Ctx(kReader), get).ok());
  EXPECT_EQ(Core().GetConcept(Ctx(kAdmin), get).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(Metrics(), HasSubstr("engram_api_rate_limited_total{scope=\"namespace\"} 1"));
}


// ---- v1.1: ListConcepts, UpdateConcept, AssociateBatch, DeleteAssociation ----------------------

namespace v11 {

sv1::Concept StoredConcept(const std::string& id, const std::string& content) {
  sv1::Concept c;
  c.set_id(id);
  c.set_content(content);
  c.add_vector(1.0f);
  c.add_vector(0.0f);
  (*c.mutable_attributes())["lang"] = "en";
  c.set_strength(1.0f);
  c.set_confidence(1.0f);
  c.mutable_create_time()->set_seconds(1700000000);
  return c;
}

}  // namespace v11

TEST_F(EngramCoreTest, V11CallsNeedTheirRolesAndReachNoDependencyWhenRefused) {
  v1::ListConceptsRequest list;
  list.set_namespace_("default");
  EXPECT_EQ(Core().ListConcepts(Ctx(kScoped), list).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::UpdateConceptRequest update;
  update.set_namespace_("default");
  update.set_id("a");
  update.set_content("x");
  EXPECT_EQ(Core().UpdateConcept(Ctx(kReader), update).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::AssociateBatchRequest batch;
  batch.set_namespace_("default");
  EXPECT_EQ(Core().AssociateBatch(Ctx(kReader), batch).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::DeleteAssociationRequest unlink;
  unlink.set_namespace_("default");
  EXPECT_EQ(Core().DeleteAssociation(Ctx(kReader), unlink).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Core().ListConcepts(Ctx(""), list).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(EngramCoreTest, ListConceptsWrapsStoragesTokenAndKeepsTheFilterAcrossPages) {
  EXPECT_CALL(storage_, Scan(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const sv1::ScanRequest& req,
                          sv1::ScanResponse* resp) {
        EXPECT_EQ(req.namespace_(), "default");
        EXPECT_EQ(req.page_size(), 2u);
        EXPECT_TRUE(req.page_token().empty());
        EXPECT_EQ(req.filter().size(), 1u);
        EXPECT_EQ(req.filter().at("lang"), "en");
        EXPECT_FALSE(req.include_vector());
        *resp->add_concepts() = v11::StoredConcept("a", "alpha");
        *resp->add_concepts() = v11::StoredConcept("b", "beta");
        resp->set_next_page_token("40.7");
        return grpc::Status::OK;
      }))
      .WillOnce(Invoke([](grpc::ClientContext*, const sv1::ScanRequest& req,
                          sv1::ScanResponse* resp) {
        EXPECT_EQ(req.page_token(), "40.7");  // storage's own token, unwrapped
        *resp->add_concepts() = v11::StoredConcept("c", "gamma");
        return grpc::Status::OK;
      }));
  v1::ListConceptsRequest list;
  list.set_namespace_("default");
  list.set_page_size(2);
  list.add_attribute("lang:en");
  absl::StatusOr<v1::ListConceptsResponse> first = Core().ListConcepts(Ctx(kReader), list);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->concepts_size(), 2);
  EXPECT_EQ(first->concepts(0).id(), "a");
  EXPECT_EQ(first->concepts(0).attributes().at("lang"), "en");
  EXPECT_TRUE(first->concepts(0).vector().empty());
  ASSERT_FALSE(first->next_page_token().empty());
  EXPECT_NE(first->next_page_token(), "40.7");

  list.set_page_token(first->next_page_token());
  absl::StatusOr<v1::ListConceptsResponse> second = Core().ListConcepts(Ctx(kReader), list);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->concepts_size(), 1);
  EXPECT_TRUE(second->next_page_token().empty());

  // The same token with another filter or namespace, once expired, or mangled: 400 naming it,
  // and no storage call.
  list.clear_attribute();
  list.add_attribute("lang:fr");
  absl::Status s = Core().ListConcepts(Ctx(kReader), list).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("pageToken: issued for another"));
  list.clear_attribute();
  list.add_attribute("lang:en");
  now_ += absl::Minutes(11);
  s = Core().ListConcepts(Ctx(kReader), list).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("pageToken: expired"));
  list.set_page_token("not a token!");
  s = Core().ListConcepts(Ctx(kReader), list).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("pageToken: malformed"));
}

TEST_F(EngramCoreTest, ListConceptsValidatesPageSizeAndFilters) {
  v1::ListConceptsRequest list;
  list.set_namespace_("default");
  list.set_page_size(1001);
  absl::Status s = Core().ListConcepts(Ctx(kReader), list).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("pageSize: 1001, at most 1000"));
  list.set_page_size(10);
  list.add_attribute("ok:1");
  list.add_attribute("novalue");
  s = Core().ListConcepts(Ctx(kReader), list).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("attribute[1]: 'novalue' is not key:value"));
}

TEST_F(EngramCoreTest, UpdateConceptMergesTheMaskedFieldsAndKeepsTheRest) {
  ExpectNamespace("default", 2);
  EXPECT_CALL(storage_, GetConcepts(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const sv1::GetConceptsRequest& req,
                          sv1::GetConceptsResponse* resp) {
        EXPECT_TRUE(req.include_vector());
        *resp->add_concepts() = v11::StoredConcept("a", "alpha");
        return grpc::Status::OK;
      }))
      .WillOnce(Invoke([](grpc::ClientContext*, const sv1::GetConceptsRequest&,
                          sv1::GetConceptsResponse* resp) {
        sv1::Concept c = v11::StoredConcept("a", "alpha");
        c.mutable_attributes()->clear();
        (*c.mutable_attributes())["tag"] = "x";
        c.mutable_update_time()->set_seconds(1700000500);
        *resp->add_concepts() = c;
        return grpc::Status::OK;
      }));
  EXPECT_CALL(storage_, PutConcepts(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const sv1::PutConceptsRequest& req,
                          sv1::WriteResponse* resp) {
        EXPECT_EQ(req.concepts_size(), 1);
        const sv1::Concept& c = req.concepts(0);
        EXPECT_EQ(c.id(), "a");
        EXPECT_EQ(c.content(), "alpha");        // not masked: kept
        EXPECT_EQ(c.vector_size(), 2);          // kept, no re-embedding
        EXPECT_EQ(c.attributes().size(), 1u);   // replaced
        EXPECT_EQ(c.attributes().at("tag"), "x");
        EXPECT_FLOAT_EQ(c.confidence(), 0.5f);
        EXPECT_FALSE(c.has_create_time());
        resp->add_results()->set_id("a");
        return grpc::Status::OK;
      }));
  v1::UpdateConceptRequest update;
  update.set_namespace_("default");
  update.set_id("a");
  (*update.mutable_attributes())["tag"] = "x";
  update.mutable_confidence()->set_value(0.5f);
  update.add_update_mask("attributes");
  update.add_update_mask("confidence");
  absl::StatusOr<v1::Concept> r = Core().UpdateConcept(Ctx(kWriter), update);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->update_time().seconds(), 1700000500);
  EXPECT_EQ(r->create_time().seconds(), 1700000000);
}

TEST_F(EngramCoreTest, UpdateConceptReembedsChangedContentThroughHybrid) {
  ExpectNamespace("default", 2);
  EXPECT_CALL(storage_, GetConcepts(_, _, _))
      .Times(2)
      .WillRepeatedly(Invoke([](grpc::ClientContext*, const sv1::GetConceptsRequest&,
                                sv1::GetConceptsResponse* resp) {
        *resp->add_concepts() = v11::StoredConcept("a", "alpha");
        return grpc::Status::OK;
      }));
  EXPECT_CALL(hybrid_, Embed(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const hv1::EmbedRequest& req,
                          hv1::EmbedResponse* resp) {
        EXPECT_EQ(req.namespace_(), "default");
        EXPECT_EQ(req.texts_size(), 1);
        EXPECT_EQ(req.texts(0), "a new text");
        hv1::Embedding* e = resp->add_embeddings();
        e->add_values(0.0f);
        e->add_values(1.0f);
        return grpc::Status::OK;
      }));
  EXPECT_CALL(storage_, PutConcepts(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const sv1::PutConceptsRequest& req,
                          sv1::WriteResponse* resp) {
        EXPECT_EQ(req.concepts(0).content(), "a new text");
        EXPECT_EQ(req.concepts(0).vector(1), 1.0f);
        EXPECT_EQ(req.concepts(0).attributes().at("lang"), "en");  // not in the request: kept
        resp->add_results()->set_id("a");
        return grpc::Status::OK;
      }));
  v1::UpdateConceptRequest update;  // empty mask: every field the request sets
  update.set_namespace_("default");
  update.set_id("a");
  update.set_content("a new text");
  ASSERT_TRUE(Core().UpdateConcept(Ctx(kWriter), update).ok());
}

TEST_F(EngramCoreTest, UpdateConceptOfAMissingIdIsNotFoundAndWritesNothing) {
  ExpectNamespace("default", 2);
  EXPECT_CALL(storage_, GetConcepts(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const sv1::GetConceptsRequest&,
                          sv1::GetConceptsResponse* resp) {
        resp->add_missing_ids("ghost");
        return grpc::Status::OK;
      }));
  v1::UpdateConceptRequest update;
  update.set_namespace_("default");
  update.set_id("ghost");
  update.mutable_strength()->set_value(2.0f);
  absl::Status s = Core().UpdateConcept(Ctx(kWriter), update).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "concept 'ghost' not found in namespace 'default'");
}

TEST_F(EngramCoreTest, UpdateConceptRejectsBadMasksAndValuesNamingTheField) {
  v1::UpdateConceptRequest update;
  update.set_namespace_("default");
  update.set_id("a");
  absl::Status s = Core().UpdateConcept(Ctx(kWriter), update).status();
  EXPECT_THAT(s.message(), HasSubstr("updateMask: nothing to update"));
  update.add_update_mask("color");
  s = Core().UpdateConcept(Ctx(kWriter), update).status();
  EXPECT_THAT(s.message(), HasSubstr("updateMask[0]: unknown field 'color'"));
  update.clear_update_mask();
  update.add_update_mask("content");
  s = Core().UpdateConcept(Ctx(kWriter), update).status();
  EXPECT_THAT(s.message(), HasSubstr("content: required (empty)"));
  update.set_content("x");
  update.mutable_strength()->set_value(1.0f);
  s = Core().UpdateConcept(Ctx(kWriter), update).status();
  EXPECT_THAT(s.message(), HasSubstr("strength: set but not named in updateMask"));
  update.clear_update_mask();
  update.mutable_strength()->set_value(-1.0f);
  s = Core().UpdateConcept(Ctx(kWriter), update).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("strength: -1"));
  // A vector of the wrong dimension: only the namespace lookup happens.
  update.clear_strength();
  update.add_vector(1.0f);
  ExpectNamespace("default", 2);
  s = Core().UpdateConcept(Ctx(kWriter), update).status();
  EXPECT_THAT(s.message(), HasSubstr("vector: dimension 1 != namespace dimension 2"));
}

TEST_F(EngramCoreTest, UpdateConceptWithNewContentInANamespaceWithoutEmbedderNeedsAVector) {
  ExpectNamespace("default", 2, "none");
  EXPECT_CALL(storage_, GetConcepts(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const sv1::GetConceptsRequest&,
                          sv1::GetConceptsResponse* resp) {
        *resp->add_concepts() = v11::StoredConcept("a", "alpha");
        return grpc::Status::OK;
      }));
  v1::UpdateConceptRequest update;
  update.set_namespace_("default");
  update.set_id("a");
  update.set_content("changed");
  absl::Status s = Core().UpdateConcept(Ctx(kWriter), update).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("vector: required when the content changes"));
}

TEST_F(EngramCoreTest, AssociateBatchIsOneStorageWriteAndNamesTheFailingItem) {
  EXPECT_CALL(storage_, PutAssociations(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const sv1::PutAssociationsRequest& req,
                          sv1::WriteResponse* resp) {
        EXPECT_EQ(req.associations_size(), 3);
        EXPECT_FALSE(req.associations(0).has_confidence());
        EXPECT_TRUE(req.associations(2).has_weight());
        for (int i = 0; i < 3; ++i) resp->add_results()->set_created(true);
        return grpc::Status::OK;
      }))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                    "mutations[1].put_association.target: concept 'zz' not "
                                    "found")));
  v1::AssociateBatchRequest batch;
  batch.set_namespace_("default");
  for (int i = 0; i < 3; ++i) {
    v1::AssociateRequest* a = batch.add_associations();
    a->set_source(absl::StrCat("s", i));
    a->set_target(absl::StrCat("t", i));
    a->set_type(v1::CAUSAL);
  }
  batch.mutable_associations(2)->mutable_weight()->set_value(0.0f);
  absl::StatusOr<v1::AssociateBatchResponse> r = Core().AssociateBatch(Ctx(kWriter), batch);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->associations_size(), 3);
  EXPECT_FLOAT_EQ(r->associations(0).confidence(), 1.0f);
  EXPECT_EQ(r->associations(2).weight(), 0.0f);
  EXPECT_EQ(r->associations(1).source(), "s1");

  absl::Status s = Core().AssociateBatch(Ctx(kWriter), batch).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "associations[1].target: concept 'zz' not found");
}

TEST_F(EngramCoreTest, AssociateBatchValidatesEveryItemAndTheSizeAtTheEdge) {
  v1::AssociateBatchRequest batch;
  batch.set_namespace_("default");
  absl::Status s = Core().AssociateBatch(Ctx(kWriter), batch).status();
  EXPECT_THAT(s.message(), HasSubstr("associations: at least 1 required"));
  for (int i = 0; i < 4; ++i) {
    v1::AssociateRequest* a = batch.add_associations();
    a->set_source("a");
    a->set_target("b");
    a->set_type(v1::SEMANTIC);
  }
  batch.mutable_associations(3)->set_target("");
  s = Core().AssociateBatch(Ctx(kWriter), batch).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("associations[3].target"));
  batch.mutable_associations(3)->set_target("b");
  batch.mutable_associations(2)->mutable_confidence()->set_value(2.0f);
  s = Core().AssociateBatch(Ctx(kWriter), batch).status();
  EXPECT_THAT(s.message(), HasSubstr("associations[2].confidence: 2 is outside 0..1"));
  batch.mutable_associations(2)->clear_confidence();
  batch.mutable_associations(1)->set_namespace_("other");
  s = Core().AssociateBatch(Ctx(kWriter), batch).status();
  EXPECT_THAT(s.message(), HasSubstr("associations[1].namespace"));
  batch.mutable_associations(1)->clear_namespace_();
  while (batch.associations_size() <= 1000) *batch.add_associations() = batch.associations(0);
  s = Core().AssociateBatch(Ctx(kWriter), batch).status();
  EXPECT_THAT(s.message(), HasSubstr("associations: 1001 items, at most 1000"));
}

TEST_F(EngramCoreTest, DeleteAssociationIsNotFoundWhenAbsentAndInvalidatesTheCache) {
  EXPECT_CALL(storage_, DeleteAssociations(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const sv1::DeleteAssociationsRequest& req,
                          sv1::WriteResponse* resp) {
        EXPECT_EQ(req.keys_size(), 1);
        EXPECT_EQ(req.keys(0).type(), sv1::CAUSAL);
        resp->add_results()->set_found(true);
        return grpc::Status::OK;
      }))
      .WillOnce(Invoke([](grpc::ClientContext*, const sv1::DeleteAssociationsRequest&,
                          sv1::WriteResponse* resp) {
        resp->add_results()->set_found(false);
        return grpc::Status::OK;
      }));
  const uint64_t generation = cache_.Generation("default");
  v1::DeleteAssociationRequest unlink;
  unlink.set_namespace_("default");
  unlink.set_source("a");
  unlink.set_target("b");
  unlink.set_type(v1::CAUSAL);
  ASSERT_TRUE(Core().DeleteAssociation(Ctx(kWriter), unlink).ok());
  EXPECT_GT(cache_.Generation("default"), generation);
  absl::Status s = Core().DeleteAssociation(Ctx(kWriter), unlink).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "association 'a' -CAUSAL-> 'b' not found in namespace 'default'");
  unlink.set_type(v1::ASSOCIATION_TYPE_UNSPECIFIED);
  s = Core().DeleteAssociation(Ctx(kWriter), unlink).status();
  EXPECT_THAT(s.message(), HasSubstr("type: required"));
}

}  // namespace
}  // namespace engram::api
