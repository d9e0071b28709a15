// HybridCore: engram-hybrid's request logic (Embed, Learn, Search, Reason), transport-agnostic.
//
// It talks to engram-storage only through an injected storage::v1::Storage::StubInterface, so
// tests can give it a real stub, an in-process channel or a mock. HybridService (hybrid_service.h)
// is the thin gRPC adapter over it.
//
//   HybridCore core(stub, &registry, &cache, &metrics, {});
//   ASSIGN_OR_RETURN(v1::LearnResponse r, core.Learn({.deadline = d, .correlation_id = id}, req));
//
// Storage calls: every call carries the request's correlation id and the earlier of the request
// deadline and now + options.storage_timeout. A storage UNAVAILABLE (or a connection failure)
// becomes UNAVAILABLE "storage unavailable: ..." for the request; DEADLINE_EXCEEDED stays
// DEADLINE_EXCEEDED; storage's own answers (NOT_FOUND namespace, INVALID_ARGUMENT) pass through.
//
// Namespace config (dimension, embedder) comes from a NamespaceCache (common/cache/ttl_cache.h): a
// GetNamespace at most once per namespace per options.namespace_cache.ttl (5 s) per replica. Any
// request whose storage call answers NOT_FOUND for the namespace drops its entry at once.
//
// Learn (one atomic storage Write per call; LearnImpl reads as these steps, learn_pipeline.h holds
// their storage-free parts: request checks, ids, extraction, the association set, the Write
// request and the response):
//   1. Namespace config: dimension and embedder.
//   2. Item ids: given, or "c-" + xxh3-128 hex of the content (storage's ContentHashId).
//      Vectors: given (exactly the dimension) or embedded.
//   3. CPU phase, one compute-pool task: relation extraction (RelationExtractor) over the items
//      with extract_associations unset/true, then one embedding batch with the items' texts and
//      the keys of every relation endpoint (existing endpoints' vectors are then unused: cheaper
//      than a second pool round trip, and the keys are short).
//   4. Semantic links (same items): storage Search with the item's vector, k = links + 1, issued
//      concurrently (at most options.max_concurrent_storage_calls at once); hits other than the
//      item itself with score >= threshold, at most `links` of them, become SEMANTIC
//      item -> hit, confidence = score.
//   5. Relations: each endpoint is the concept whose content is the phrase's key (lower-case,
//      single-spaced), id = ContentHashId(key). Existing ones (GetConcepts) are reused; missing
//      ones are created with the key as content and its embedding as vector.
//   6. One Write: item puts, relation-concept puts, association puts (deduplicated by
//      source, target, type; highest confidence kept). More than 1000 mutations is
//      INVALID_ARGUMENT (the write would no longer be atomic).
// Reason: the whole reasoning (embed the question, then Reasoner over a StorageGraphSource bound
// to the request) is one compute-pool task. Embed and Search: their embedding is one task.
//
// Compute pool (options.pool; null runs everything on the calling thread): a full pool is
// RESOURCE_EXHAUSTED, a deadline that passes while the task waits in the queue is
// DEADLINE_EXCEEDED. Storage waits: Learn, Search and Embed wait for storage on the calling
// (gRPC) thread, never on a pool thread. A Reason task does wait for storage on its pool thread,
// because the reasoner interleaves graph reads with scoring; that cannot deadlock because
//   - storage calls use gRPC's own client threads and completion queues, never the pool;
//   - nothing inside a pool task queues more pool work (embedding runs inline there, see
//     ComputePool's "Nesting"; neighbour fetches are async calls on a completion queue owned by
//     the task, not pool tasks);
//   - every storage call carries the request deadline (capped by options.storage_timeout), so a
//     stalled storage holds a pool thread for at most that long.
// A pool thread blocked on storage is not burning CPU, which is why HybridServer's default
// thread count is twice the CPU count.
//
// Thread-safe: every method may run concurrently.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/cache/ttl_cache.h"
#include "common/grpc/async_client.h"
#include "common/grpc/call_canceller.h"
#include "common/metrics/metrics.h"
#include "engram/hybrid/v1/hybrid.pb.h"
#include "engram/storage/v1/storage.grpc.pb.h"
#include "services/hybrid/embed/embedder_registry.h"
#include "services/hybrid/embed/embedding_cache.h"
#include "services/hybrid/extract/relation_extractor.h"
#include "services/hybrid/reason/reasoner.h"
#include "services/hybrid/service/compute_pool.h"
#include "services/hybrid/service/learn_pipeline.h"

namespace engram::hybrid {

// A namespace's storage configuration and the embedder resolved for it, cached per replica.
struct NamespaceEntry {
  storage::v1::NamespaceConfig config;
  std::shared_ptr<const Embedder> embedder;  // never null when cached
};
using NamespaceCache = cache::TtlCache<NamespaceEntry>;
using NamespaceCacheOptions = cache::TtlCacheOptions;

// Per request: when it must be done and the id its log lines and storage calls carry.
struct CallContext {
  absl::Time deadline = absl::InfiniteFuture();
  std::string correlation_id;  // empty: the thread's current id, if any
  // Cancels the request's storage calls (every one tracks its ClientContext here) and tells the
  // reasoning to stop. Null: the request cannot be cancelled (unary calls end with their deadline).
  std::shared_ptr<grpcutil::CallCanceller> canceller;
};

struct HybridCoreOptions {
  absl::Duration storage_timeout = absl::Seconds(10);  // per storage call, capped by the deadline
  ReasonerConfig reasoner;
  ExtractionOptions extraction;
  uint32_t max_items = 1000;
  uint32_t max_texts = 1000;
  // Where CPU work runs (not owned). Null: on the calling thread.
  ComputePool* pool = nullptr;
  // Storage calls of one request in flight at once (semantic-link searches, neighbour fetches).
  size_t max_concurrent_storage_calls = 16;
  NamespaceCacheOptions namespace_cache;
  // Reason seeds from the question's words (BM25) as well as its vector (storage's HYBRID search);
  // false: from the vector alone (the behaviour before keyword search; comparisons, rollbacks).
  bool keyword_seeds = true;
};

class HybridCore {
 public:
  // Nothing is owned; everything must outlive the core. `metrics` may be null.
  HybridCore(storage::v1::Storage::StubInterface* storage, EmbedderRegistry* registry,
             EmbeddingCache* cache, metrics::Registry* metrics, HybridCoreOptions options = {});
  // Unregisters the callback gauges that point into this core.
  ~HybridCore();
  HybridCore(const HybridCore&) = delete;
  HybridCore& operator=(const HybridCore&) = delete;

  absl::StatusOr<v1::EmbedResponse> Embed(const CallContext& call,
                                          const v1::EmbedRequest& request) const;
  absl::StatusOr<v1::LearnResponse> Learn(const CallContext& call,
                                          const v1::LearnRequest& request) const;
  // Search is SearchAsync run on a queue of its own (grpcutil::RunLocally).
  absl::StatusOr<v1::SearchResponse> Search(const CallContext& call,
                                            const v1::SearchRequest& request) const;
  // Search, asynchronously, for a transport serving calls on completion queues: the namespace
  // lookup (on a cache miss) and the storage search are async calls started on `cq`, whose tags
  // are grpcutil::CqTag (a ServerRunner async queue or a grpcutil::LocalQueue), and continue on
  // its thread. The query is embedded on that thread too when the embedder is cheap() and the
  // text at most kInlineEmbedBytes long, otherwise on the compute pool, whose task hands the
  // vector back to `cq` (a full pool: RESOURCE_EXHAUSTED; a task that starts after the deadline:
  // DEADLINE_EXCEEDED). `done` runs exactly once, inline or on `cq`'s thread. Storage calls made
  // this way are not tracked by call.canceller (a unary Search has none; it ends with its deadline).
  using SearchDone = absl::AnyInvocable<void(absl::StatusOr<v1::SearchResponse>) &&>;
  static constexpr size_t kInlineEmbedBytes = 4096;
  void SearchAsync(const CallContext& call, const v1::SearchRequest& request,
                   grpc::CompletionQueue* cq, SearchDone done) const;
  absl::StatusOr<v1::ReasonResponse> Reason(const CallContext& call,
                                            const v1::ReasonRequest& request) const;
  // Reason's work as it happens (hybrid.proto ReasonEvent): one `seeds` event, the `path`
  // events as the reasoner finds them, then the `answer` (the response Reason would give), each
  // handed to `emit` on the calling thread. The reasoning (namespace lookup included) is one
  // compute-pool task, as Reason's; it hands events over through a queue, so a slow `emit` never
  // holds a pool thread, and the calling thread stays free: while it waits it asks
  // `client_gone` every 100 ms. When `emit` returns false or `client_gone` says so, the request's
  // canceller cancels its storage calls in flight and the reasoner stops before its next graph
  // read; this waits for the task to end and returns CANCELLED. Errors before the answer are the
  // returned status (events already emitted stay emitted).
  absl::Status ReasonStream(const CallContext& call, const v1::ReasonRequest& request,
                            const std::function<bool(v1::ReasonEvent)>& emit,
                            const std::function<bool()>& client_gone) const;

  // Runs one storage call with the deadline and correlation id of `call` and maps its status as
  // described above. `fn` receives the prepared ClientContext.
  absl::Status CallStorage(const CallContext& call, const char* method,
                           const std::function<grpc::Status(grpc::ClientContext*)>& fn) const;

  // Issues one call of a unary storage method per request, concurrently (at most
  // options.max_concurrent_storage_calls outstanding), as async calls on a completion queue
  // owned by this call, and waits for all of them: no thread is created and no pool task is
  // queued. (*responses)[i] and the returned status [i] belong to requests[i]; each status is
  // mapped as CallStorage's. `prepare` is e.g.
  //   [this](grpc::ClientContext* c, const Req& r, grpc::CompletionQueue* cq) {
  //     return storage()->PrepareAsyncNeighbors(c, r, cq); }
  template <typename Request, typename Response, typename Prepare>
  std::vector<absl::Status> CallStorageConcurrently(const CallContext& call, const char* method,
                                                    const std::vector<Request>& requests,
                                                    std::vector<Response>* responses,
                                                    Prepare prepare) const;

  storage::v1::Storage::StubInterface* storage() const { return storage_; }
  const NamespaceCache& namespace_cache() const { return ns_cache_; }

 private:
  using NamespaceEmbedder = NamespaceCache::Entry;

  absl::StatusOr<v1::EmbedResponse> EmbedImpl(const CallContext& call,
                                              const v1::EmbedRequest& request) const;
  absl::StatusOr<v1::LearnResponse> LearnImpl(const CallContext& call,
                                              const v1::LearnRequest& request) const;
  // Learn's steps that call storage or the pool (the numbers of the header comment); LearnImpl
  // runs them in order with the storage-free ones of learn_pipeline.h.
  // 3. Extraction and the embedding batch, one pool task; fills the items' missing vectors.
  absl::StatusOr<LearnRelations> ExtractAndEmbed(const CallContext& call,
                                                 const v1::LearnRequest& request,
                                                 const Embedder& embedder, LearnItems* items) const;
  // 4. The semantic-link Searches, concurrently; their links go into `associations`.
  absl::Status LinkToSimilarConcepts(const CallContext& call, const v1::LearnRequest& request,
                                     const LearnSettings& settings, const LearnItems& items,
                                     AssociationSet* associations) const;
  // 5. The relation endpoints that are neither items of this call nor existing concepts
  // (GetConcepts, 1000 ids per call), in relation_ids order.
  absl::StatusOr<std::vector<std::string>> MissingRelationConcepts(
      const CallContext& call, const std::string& ns, const LearnItems& items,
      const LearnRelations& relations) const;
  // 6. The Write; INTERNAL when storage answers with another number of results.
  absl::StatusOr<storage::v1::WriteResponse> WriteLearned(
      const CallContext& call, const storage::v1::WriteRequest& write) const;
  // Learn's metrics: associations created by type, latency since `start`.
  void CountLearned(const v1::LearnResponse& response, absl::Time start) const;
  absl::StatusOr<v1::ReasonResponse> ReasonImpl(const CallContext& call,
                                                const v1::ReasonRequest& request) const;
  absl::Status ReasonStreamImpl(const CallContext& call, const v1::ReasonRequest& request,
                                const std::function<bool(v1::ReasonEvent)>& emit,
                                const std::function<bool()>& client_gone) const;
  // Reason and ReasonStream: the checked options (before the pool task), the task's work
  // (resolve the namespace, embed the question, run the reasoner; nullopt when the question
  // embeds to zero), and the response with its metrics.
  absl::StatusOr<ReasonOptions> CheckReason(const v1::ReasonRequest& request) const;
  absl::StatusOr<std::optional<ReasonResult>> RunReasoner(const CallContext& call,
                                                          const v1::ReasonRequest& request,
                                                          const ReasonOptions& options,
                                                          ReasonObserver* observer) const;
  v1::ReasonResponse ReasonAnswer(const std::optional<ReasonResult>& reasoned,
                                  absl::Time start) const;
  // Drops the cached config of `ns` when `status` says storage no longer has it.
  void ForgetIfNamespaceGone(const std::string& ns, const absl::Status& status) const;
  // Runs `fn` on the compute pool (or inline without one).
  template <typename T>
  absl::StatusOr<T> Compute(const CallContext& call, std::function<absl::StatusOr<T>()> fn) const {
    if (options_.pool == nullptr) return fn();
    return options_.pool->Run<T>(std::move(fn), call.deadline);
  }
  // Deadline check, deadline and correlation id for one storage call; `tracked` keeps the
  // context registered with call.canceller (if any) while the caller holds it.
  absl::Status PrepareStorageContext(const CallContext& call, grpc::ClientContext* context,
                                     grpcutil::CallCanceller::Tracked* tracked) const;
  // Maps a finished storage call's status and counts failures.
  absl::Status FinishStorageCall(const char* method, const grpc::Status& status) const;
  absl::StatusOr<NamespaceEmbedder> ResolveNamespace(const CallContext& call,
                                                     const std::string& name) const;
  void ResolveNamespaceAsync(const CallContext& call, const std::string& name,
                             grpc::CompletionQueue* cq,
                             absl::AnyInvocable<void(absl::StatusOr<NamespaceEmbedder>) &&> done) const;
  // The embedder of a namespace storage described, cached under `name`.
  absl::StatusOr<NamespaceEmbedder> CacheNamespace(const std::string& name,
                                                   const storage::v1::NamespaceInfo& info) const;
  // One storage call started on `cq` (SearchAsync's rules); `done` runs on `cq`'s thread (inline
  // when the call could not start) with the mapped status and the response.
  template <typename Response, typename Prepare>
  void CallStorageAsync(const CallContext& call, const char* method, grpc::CompletionQueue* cq,
                        Prepare prepare,
                        absl::AnyInvocable<void(absl::Status, Response) &&> done) const;
  // The query's vector, inline or from the pool (SearchAsync's rules).
  using EmbedDone = absl::AnyInvocable<void(absl::StatusOr<std::vector<float>>) &&>;
  void EmbedQueryAsync(const CallContext& call, std::shared_ptr<const Embedder> embedder,
                       std::string_view text, grpc::CompletionQueue* cq, EmbedDone done) const;
  // The embedding metrics of `texts` texts embedded since `start`.
  void ObserveEmbed(absl::Time start, size_t texts) const;
  absl::StatusOr<std::shared_ptr<const Embedder>> Cached(std::shared_ptr<const Embedder> e) const;
  absl::StatusOr<std::vector<std::vector<float>>> EmbedTexts(
      const CallContext& call, const Embedder& embedder,
      absl::Span<const std::string_view> texts) const;
  // The vector a Reason seeds from for `text`: empty when the namespace has no embedder or the
  // text embeds to zeros (then only its words can match).
  absl::StatusOr<std::vector<float>> SeedVector(const CallContext& call, const NamespaceEmbedder& ns,
                                                std::string_view text) const;

  storage::v1::Storage::StubInterface* const storage_;
  EmbedderRegistry* const registry_;
  EmbeddingCache* const cache_;
  const HybridCoreOptions options_;
  const RelationExtractor extractor_;
  const Reasoner reasoner_;
  mutable NamespaceCache ns_cache_;

  // Metrics (null when no registry).
  metrics::Registry* const metrics_;
  metrics::Histogram* embed_seconds_ = nullptr;
  metrics::Histogram* embed_batch_ = nullptr;
  metrics::Histogram* learn_seconds_ = nullptr;
  metrics::Histogram* reason_seconds_ = nullptr;
  metrics::Histogram* reason_paths_explored_ = nullptr;
  metrics::CounterFamily* associations_created_ = nullptr;
  metrics::CounterFamily* storage_errors_ = nullptr;
};

// Maps a failed storage call's status for the request (see the header comment).
absl::Status StorageError(const char* method, const grpc::Status& status);

// True for storage's NOT_FOUND about the namespace itself (not about a concept in it).
bool IsNamespaceNotFound(const absl::Status& status);

template <typename Request, typename Response, typename Prepare>
std::vector<absl::Status> HybridCore::CallStorageConcurrently(const CallContext& call,
                                                              const char* method,
                                                              const std::vector<Request>& requests,
                                                              std::vector<Response>* responses,
                                                              Prepare prepare) const {
  const size_t n = requests.size();
  std::vector<absl::Status> statuses(n);
  responses->assign(n, Response());
  if (n == 0) return statuses;
  const size_t max_in_flight = std::max<size_t>(1, options_.max_concurrent_storage_calls);
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts(n);
  std::vector<grpcutil::CallCanceller::Tracked> tracked(n);  // destroyed before `contexts`
  std::vector<std::unique_ptr<grpc::ClientAsyncResponseReaderInterface<Response>>> readers(n);
  std::vector<grpc::Status> results(n);
  size_t next = 0, outstanding = 0;
  auto start_more = [&] {
    while (next < n && outstanding < max_in_flight) {
      const size_t i = next++;
      contexts[i] = std::make_unique<grpc::ClientContext>();
      statuses[i] = PrepareStorageContext(call, contexts[i].get(), &tracked[i]);
      if (!statuses[i].ok()) continue;
      readers[i] = prepare(contexts[i].get(), requests[i], &cq);
      readers[i]->StartCall();
      readers[i]->Finish(&(*responses)[i], &results[i], reinterpret_cast<void*>(i));
      ++outstanding;
    }
  };
  start_more();
  void* tag = nullptr;
  bool ok = false;
  while (outstanding > 0 && cq.Next(&tag, &ok)) {
    const size_t i = reinterpret_cast<size_t>(tag);
    --outstanding;
    statuses[i] = results[i].ok() ? absl::OkStatus() : FinishStorageCall(method, results[i]);
    start_more();
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return statuses;
}

template <typename Response, typename Prepare>
void HybridCore::CallStorageAsync(const CallContext& call, const char* method,
                                  grpc::CompletionQueue* cq, Prepare prepare,
                                  absl::AnyInvocable<void(absl::Status, Response) &&> done) const {
  CallContext untracked = call;  // see SearchAsync: async calls are not tracked
  untracked.canceller = nullptr;
  if (call.canceller != nullptr && call.canceller->cancelled()) {
    return std::move(done)(absl::CancelledError("the client went away"), Response());
  }
  auto context = std::make_unique<grpc::ClientContext>();
  if (absl::Status s = PrepareStorageContext(untracked, context.get(), nullptr); !s.ok()) {
    return std::move(done)(std::move(s), Response());
  }
  grpcutil::StartUnaryCall<Response>(
      cq, std::move(context), std::move(prepare),
      [this, method, done = std::move(done)](grpc::Status status, Response response) mutable {
        std::move(done)(FinishStorageCall(method, status), std::move(response));
      });
}

}  // namespace engram::hybrid
