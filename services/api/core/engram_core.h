// EngramCore: the ApiCore of engram-api over engram-storage and engram-hybrid (api_core.h says
// what every method does, in order: auth, rate limit, validation, routing, resilience, cache).
//
//   EngramCore core({.storage = storage_stub.get(), .hybrid = hybrid_stub.get(), .keys = &key_ring,
//                    .limiter = &limiter, .cache = &cache, .storage_breaker = &storage_breaker,
//                    .hybrid_breaker = &hybrid_breaker, .metrics = &registry},
//                   EngramCoreOptions{});
//   absl::StatusOr<v1::SearchResponse> r = core.Search(ctx, request);
//
// Roles: reader for GetNamespace, ListNamespaces, GetConcept, ListConcepts, Neighbors, FindPaths,
// Search, Reason, ReasonStream, ExportNamespace and GetStats; writer for Learn, LearnBatch, UpdateConcept, DeleteConcept,
// Associate, AssociateBatch and DeleteAssociation; admin for CreateNamespace and DeleteNamespace.
// ListNamespaces lists only the key's namespaces.
//
// ListConcepts wraps storage's point-in-time Scan token in its own page token, which also carries
// the time it was issued and a digest of the namespace and filter: older than
// options.page_token_ttl, or used with another namespace or filter, it is INVALID_ARGUMENT
// "pageToken: ...". UpdateConcept reads the concept, merges the masked fields, re-embeds changed
// content through hybrid's Embed when no vector is given, and writes it back with PutConcepts
// (associations and create time stay). The read and the write are two storage calls: concurrent
// updates of one concept are last-writer-wins per whole concept, and a delete racing an update can
// be undone by it. AssociateBatch is one PutAssociations call (one atomic, durable write).
//
// Streams (engram_core_streams.cc). ReasonStream relays hybrid's ReasonStream event by event
// (not cached); it waits for each event at most 100 ms at a time and asks the sink whether the
// client is still there, so a client that goes away cancels the hybrid call (and with it the
// storage reads) within that time. ExportNamespace sends the namespace (storage's GetNamespace)
// as its first chunk, then pages storage's Scan twice over one view
// (concepts with vectors, then associations only, 1000 concepts per page): each page call has
// the default deadline and is retried like other reads; the whole export is bounded only by the
// client's own deadline, not by max_deadline.
//
// Routing: Learn, LearnBatch, Search with `query` and Reason go to engram-hybrid; everything else
// (including Search with `vector`) to engram-storage. CreateNamespace with a
// "word-vectors/<model>" embedder and dimension 0 first asks hybrid's Embed for the model's
// dimension.
//
// Errors: a dependency that cannot be reached (or whose circuit is open) is UNAVAILABLE
// "storage unavailable: ..." / "hybrid unavailable: ..."; a downstream deadline is
// DEADLINE_EXCEEDED; a downstream INTERNAL/UNKNOWN becomes INTERNAL "<dependency> <method>
// failed" (the details are logged, never returned); the dependencies' own answers (NOT_FOUND,
// INVALID_ARGUMENT, ALREADY_EXISTS, RESOURCE_EXHAUSTED, FAILED_PRECONDITION) pass through.
// GetConcept / DeleteConcept of a missing id: NOT_FOUND "concept '<id>' not found in namespace
// '<ns>'".
//
// Namespace configurations (for vector dimension checks) are cached for options.namespace_ttl;
// this replica's CreateNamespace / DeleteNamespace invalidate the entry.
//
// Thread-safety: every method may be called concurrently.
// Ownership: nothing in EngramCoreDeps is owned; everything must outlive the core.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/cache/ttl_cache.h"
#include "common/grpc/async_client.h"
#include "common/metrics/metrics.h"
#include "common/sync/mutex.h"
#include "engram/hybrid/v1/hybrid.grpc.pb.h"
#include "engram/storage/v1/storage.grpc.pb.h"
#include "services/api/core/api_core.h"
#include "services/api/core/validation.h"
#include "services/api/policy/api_keys.h"
#include "services/api/policy/rate_limiter.h"
#include "services/api/policy/resilience.h"
#include "services/api/policy/response_cache.h"

namespace engram::api {

struct EngramCoreDeps {
  storage::v1::Storage::StubInterface* storage = nullptr;  // required
  hybrid::v1::Hybrid::StubInterface* hybrid = nullptr;     // required
  // Required when EngramCoreOptions::auth_enabled; ignored otherwise. Read once per call, so a
  // reloaded keys file applies to the next call.
  const ApiKeyRing* keys = nullptr;
  RateLimiter* limiter = nullptr;             // null: no rate limits
  ResponseCache* cache = nullptr;             // null: no response cache
  CircuitBreaker* storage_breaker = nullptr;  // required
  CircuitBreaker* hybrid_breaker = nullptr;   // required
  metrics::Registry* metrics = nullptr;       // null: no metrics
  std::function<absl::Time()> clock = [] { return absl::Now(); };
  SleepFn sleep = [](absl::Duration d) { absl::SleepFor(d); };  // retry backoff
};

struct EngramCoreOptions {
  // Off only when explicitly disabled (--auth=disabled): every call is then anonymous with every
  // role on every namespace.
  bool auth_enabled = true;
  absl::Duration default_deadline = absl::Seconds(10);  // when the client sets none
  absl::Duration max_deadline = absl::Seconds(60);      // cap of the client's deadline
  absl::Duration namespace_ttl = absl::Seconds(5);      // namespace configuration cache
  absl::Duration page_token_ttl = absl::Minutes(10);    // ListConcepts page tokens
  size_t max_cached_namespaces = 10000;
  RetryOptions retry;
  ValidationLimits limits;
};

class EngramCore final : public ApiCore {
 public:
  EngramCore(EngramCoreDeps deps, EngramCoreOptions options);
  ~EngramCore() override;
  EngramCore(const EngramCore&) = delete;
  EngramCore& operator=(const EngramCore&) = delete;

  absl::StatusOr<v1::Namespace> CreateNamespace(const RequestContext& ctx,
                                                const v1::CreateNamespaceRequest& request) override;
  absl::StatusOr<v1::ListNamespacesResponse> ListNamespaces(
      const RequestContext& ctx, const v1::ListNamespacesRequest& request) override;
  absl::StatusOr<v1::Namespace> GetNamespace(const RequestContext& ctx,
                                             const v1::GetNamespaceRequest& request) override;
  absl::StatusOr<v1::DeleteNamespaceResponse> DeleteNamespace(
      const RequestContext& ctx, const v1::DeleteNamespaceRequest& request) override;

  absl::StatusOr<v1::LearnResponse> Learn(const RequestContext& ctx,
                                          const v1::LearnRequest& request) override;
  absl::StatusOr<v1::LearnBatchResponse> LearnBatch(const RequestContext& ctx,
                                                    const v1::LearnBatchRequest& request) override;
  absl::StatusOr<v1::Concept> GetConcept(const RequestContext& ctx,
                                         const v1::GetConceptRequest& request) override;
  absl::StatusOr<v1::DeleteConceptResponse> DeleteConcept(
      const RequestContext& ctx, const v1::DeleteConceptRequest& request) override;
  absl::StatusOr<v1::ListConceptsResponse> ListConcepts(
      const RequestContext& ctx, const v1::ListConceptsRequest& request) override;
  absl::StatusOr<v1::Concept> UpdateConcept(const RequestContext& ctx,
                                            const v1::UpdateConceptRequest& request) override;

  absl::StatusOr<v1::Association> Associate(const RequestContext& ctx,
                                            const v1::AssociateRequest& request) override;
  absl::StatusOr<v1::AssociateBatchResponse> AssociateBatch(
      const RequestContext& ctx, const v1::AssociateBatchRequest& request) override;
  absl::StatusOr<v1::DeleteAssociationResponse> DeleteAssociation(
      const RequestContext& ctx, const v1::DeleteAssociationRequest& request) override;
  absl::StatusOr<v1::NeighborsResponse> Neighbors(const RequestContext& ctx,
                                                  const v1::NeighborsRequest& request) override;
  absl::StatusOr<v1::FindPathsResponse> FindPaths(const RequestContext& ctx,
                                                  const v1::FindPathsRequest& request) override;

  absl::StatusOr<v1::SearchResponse> Search(const RequestContext& ctx,
                                            const v1::SearchRequest& request) override;
  absl::StatusOr<v1::ReasonResponse> Reason(const RequestContext& ctx,
                                            const v1::ReasonRequest& request) override;
  // Search is SearchAsync run on a queue of its own (grpcutil::RunLocally): one implementation.
  void SearchAsync(const RequestContext& ctx, const v1::SearchRequest& request,
                   grpc::CompletionQueue* cq, SearchDone done) override;

  absl::Status ReasonStream(const RequestContext& ctx, const v1::ReasonRequest& request,
                            StreamSink<v1::ReasonEvent>* sink) override;
  absl::Status ExportNamespace(const RequestContext& ctx, const v1::ExportNamespaceRequest& request,
                               StreamSink<v1::ExportChunk>* sink) override;

  absl::StatusOr<v1::Stats> GetStats(const RequestContext& ctx,
                                     const v1::GetStatsRequest& request) override;

 private:
  enum class Dependency { kStorage = 0, kHybrid = 1 };
  enum Method : int {
    kCreateNamespace,
    kListNamespaces,
    kGetNamespace,
    kDeleteNamespace,
    kLearn,
    kLearnBatch,
    kGetConcept,
    kDeleteConcept,
    kAssociate,
    kNeighbors,
    kFindPaths,
    kSearch,
    kReason,
    kGetStats,
    kListConcepts,
    kUpdateConcept,
    kAssociateBatch,
    kDeleteAssociation,
    kReasonStream,
    kExportNamespace,
    kMethodCount
  };
  static const char* MethodName(Method method);

  // One admitted call: who is calling and until when downstream calls may run.
  struct Call {
    const RequestContext* ctx = nullptr;
    std::shared_ptr<const ApiKeyStore> keys;  // keeps `key` alive if the keys are reloaded
    const ApiKey* key = nullptr;              // null when auth is disabled
    absl::Time deadline;          // capped, in the injected clock's time
  };

  // Steps 1-2 of api_core.h plus the deadline: authenticates, authorises `role` on `ns`
  // ("" for calls that name no namespace) and charges the rate limits.
  absl::StatusOr<Call> Admit(const RequestContext& ctx, Role role, std::string_view ns);
  // Runs `body` with the request metrics (count by code, duration) of `method`.
  template <typename T, typename Fn>
  absl::StatusOr<T> Instrumented(Method method, Fn&& body) {
    const absl::Time start = absl::Now();
    absl::StatusOr<T> result = body();
    Observe(method, result.status(), start);
    return result;
  }
  void Observe(Method method, const absl::Status& status, absl::Time start);

  // Step 6 of api_core.h: the cached answer for (`ns`, `kind`, `normalised` request), or
  // `compute()`'s, stored under the namespace generation read before computing it.
  template <typename Response, typename Fn>
  absl::StatusOr<Response> CachedOr(const std::string& ns, std::string_view kind,
                                    const google::protobuf::Message& normalised, Fn&& compute);
  // CachedOr's two halves, for answers computed asynchronously. Where a computed answer goes:
  // its key and the namespace generation read before computing it.
  struct CacheSlot {
    std::string key;
    uint64_t generation = 0;
  };
  // The cached answer; on a miss, `*slot` is where to store the computed one (nullopt without a
  // cache).
  template <typename Response>
  std::optional<Response> CacheLookup(const std::string& ns, std::string_view kind,
                                      const google::protobuf::Message& normalised,
                                      std::optional<CacheSlot>* slot);
  void CacheStore(const std::string& ns, const std::optional<CacheSlot>& slot,
                  const google::protobuf::Message& response);

  // One downstream call through the dependency's breaker (and retries when `idempotent`).
  // `fn` receives a ClientContext prepared with the correlation id and the attempt's deadline.
  absl::Status CallDownstream(const Call& call, Dependency dependency, const char* method,
                              bool idempotent,
                              const std::function<grpc::Status(grpc::ClientContext*)>& fn);
  // The same, asynchronously, on `cq` (a ServerRunner async queue or a LocalQueue): `prepare(
  // context, cq)` returns the stub's PrepareAsync<method> reader; `done` runs once, with the
  // final status and the last attempt's response, on `cq`'s thread (inline when no attempt was
  // made). Retry backoffs are timers on `cq`, not sleeps. `call.ctx` must outlive the call.
  template <typename Response, typename Prepare>
  void CallDownstreamAsync(const Call& call, Dependency dependency, const char* method,
                           bool idempotent, grpc::CompletionQueue* cq, Prepare prepare,
                           absl::AnyInvocable<void(absl::Status, Response) &&> done);
  // The parts of one attempt both forms share: a ClientContext with the correlation id and the
  // attempt's deadline (DEADLINE_EXCEEDED when none is left; counts retries), and the mapping of
  // its outcome (latency metric, error mapping, namespace forgotten when storage says it is gone).
  absl::StatusOr<std::unique_ptr<grpc::ClientContext>> StartAttempt(const Call& call,
                                                                    Dependency dependency,
                                                                    const char* method,
                                                                    absl::Time attempt_deadline,
                                                                    int* attempts);
  absl::Status EndAttempt(Dependency dependency, const char* method, absl::Time start,
                          const grpc::Status& status);
  absl::Status MapDownstreamError(Dependency dependency, const char* method,
                                  const grpc::Status& status) const;

  // The namespace's storage configuration, from the TTL cache or storage.
  // Storage's GetNamespace for `ns`; the config it returns refreshes the cache.
  absl::StatusOr<storage::v1::NamespaceInfo> FetchNamespace(const Call& call, const std::string& ns);
  absl::StatusOr<storage::v1::NamespaceConfig> NamespaceConfig(const Call& call,
                                                               const std::string& ns);
  // The same, asynchronously (CallDownstreamAsync's rules; inline on a cache hit).
  void NamespaceConfigAsync(
      const Call& call, const std::string& ns, grpc::CompletionQueue* cq,
      absl::AnyInvocable<void(absl::StatusOr<storage::v1::NamespaceConfig>) &&> done);
  void ForgetNamespace(const std::string& ns);
  void InvalidateResponses(std::string_view ns);

  // Storage reads used by several methods.
  absl::StatusOr<storage::v1::Association> ReadAssociation(const Call& call, const std::string& ns,
                                                           const storage::v1::Association& key);

  const EngramCoreDeps deps_;
  const EngramCoreOptions options_;

  // Namespace configurations (dimension checks), for options_.namespace_ttl.
  cache::TtlCache<storage::v1::NamespaceConfig> namespaces_;

  // Metrics (null when deps_.metrics is null); resolved once.
  metrics::CounterFamily* requests_ = nullptr;
  std::array<metrics::Histogram*, kMethodCount> request_seconds_{};
  metrics::HistogramFamily* downstream_seconds_ = nullptr;
  std::array<metrics::Counter*, 2> retries_{};
  metrics::Counter* rate_limited_key_ = nullptr;
  metrics::Counter* rate_limited_namespace_ = nullptr;
  metrics::CounterFamily* auth_failures_ = nullptr;
  metrics::Counter* cache_hits_ = nullptr;
  metrics::Counter* cache_misses_ = nullptr;
};

template <typename Response, typename Prepare>
void EngramCore::CallDownstreamAsync(const Call& call, Dependency dependency, const char* method,
                                     bool idempotent, grpc::CompletionQueue* cq, Prepare prepare,
                                     absl::AnyInvocable<void(absl::Status, Response) &&> done) {
  CircuitBreaker& breaker =
      dependency == Dependency::kStorage ? *deps_.storage_breaker : *deps_.hybrid_breaker;
  auto response = std::make_shared<Response>();  // the last attempt's
  auto attempts = std::make_shared<int>(0);
  CallWithResilienceAsync(
      breaker, options_.retry, call.deadline, idempotent,
      [this, call, dependency, method, cq, prepare, response, attempts](
          absl::Time attempt_deadline, StatusDone attempt_done) {
        absl::StatusOr<std::unique_ptr<grpc::ClientContext>> context =
            StartAttempt(call, dependency, method, attempt_deadline, attempts.get());
        if (!context.ok()) return std::move(attempt_done)(context.status());
        const absl::Time start = absl::Now();
        grpcutil::StartUnaryCall<Response>(
            cq, *std::move(context), prepare,
            [this, dependency, method, start, response, attempt_done = std::move(attempt_done)](
                grpc::Status status, Response answer) mutable {
              *response = std::move(answer);
              std::move(attempt_done)(EndAttempt(dependency, method, start, status));
            });
      },
      [cq](absl::Duration delay, absl::AnyInvocable<void() &&> fn) {
        grpcutil::RunOnQueue(cq, absl::Now() + delay,
                             [fn = std::move(fn)](bool /*ok*/) mutable { std::move(fn)(); });
      },
      [response, done = std::move(done)](absl::Status status) mutable {
        std::move(done)(std::move(status), std::move(*response));
      });
}

}  // namespace engram::api
