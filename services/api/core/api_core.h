// ApiCore: engram-api's request logic for every method of engram.v1.Engram, transport-agnostic.
//
// The gRPC adapter (services/api/grpc/engram_service.h) and the REST gateway
// (services/api/rest/rest_gateway.h) are thin: they build a RequestContext from the transport
// (bearer key, correlation id, deadline), call one method here and convert the status.
//
//   ApiCore core(deps, options);
//   RequestContext ctx{.api_key = bearer, .correlation_id = id, .deadline = client_deadline};
//   absl::StatusOr<v1::SearchResponse> r = core.Search(ctx, request);
//
// Every method, in order:
//   1. Authenticates ctx.api_key (UNAUTHENTICATED) and authorises the role and namespace
//      (PERMISSION_DENIED) unless auth is disabled (policy/api_keys.h).
//   2. Charges the key's and the namespace's token buckets (RESOURCE_EXHAUSTED, with the seconds
//      to wait in RateLimited::retry_after) (policy/rate_limiter.h).
//   3. Validates the request at the edge (INVALID_ARGUMENT naming the field, e.g.
//      "concepts[3].vector[7]: not finite"); storage checks again.
//   4. Routes it: text that must become a vector (Learn, LearnBatch, Search with `query`, Reason,
//      the re-embedding of UpdateConcept's new content) goes to engram-hybrid; everything else
//      straight to engram-storage.
//   5. Downstream calls carry the correlation id and a deadline: the client's, capped by
//      options.max_deadline (options.default_deadline when the client set none). Idempotent
//      reads retry UNAVAILABLE with jittered backoff inside the deadline; writes never retry.
//      A circuit breaker per dependency fails fast with UNAVAILABLE "<dependency> unavailable".
//   6. Search and Reason answers are cached by namespace + normalised request (policy/
//      response_cache.h); any write to a namespace through this replica invalidates its entries,
//      and entries expire after the TTL (writes through other replicas).
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engram/v1/engram.pb.h"

namespace grpc {
class CompletionQueue;
}  // namespace grpc

namespace engram::api {

// What a transport knows about one call.
struct RequestContext {
  std::string api_key;         // the bearer credential, "" when absent; never logged
  std::string correlation_id;  // never empty (the transport generates one)
  absl::Time deadline = absl::InfiniteFuture();  // the client's deadline
};

// Where a streaming call's messages go: the transport's writer. Called on the thread running the
// call. Write returns false when the client has gone away; ClientGone says so without writing
// (the core polls it while it waits for a dependency). Either way the core stops, cancels its
// downstream work and returns CANCELLED.
template <typename T>
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual bool Write(const T& message) = 0;
  virtual bool ClientGone() = 0;
};

class ApiCore {
 public:
  virtual ~ApiCore() = default;

  virtual absl::StatusOr<v1::Namespace> CreateNamespace(const RequestContext& ctx,
                                                        const v1::CreateNamespaceRequest& request) = 0;
  virtual absl::StatusOr<v1::ListNamespacesResponse> ListNamespaces(
      const RequestContext& ctx, const v1::ListNamespacesRequest& request) = 0;
  virtual absl::StatusOr<v1::Namespace> GetNamespace(const RequestContext& ctx,
                                                     const v1::GetNamespaceRequest& request) = 0;
  virtual absl::StatusOr<v1::DeleteNamespaceResponse> DeleteNamespace(
      const RequestContext& ctx, const v1::DeleteNamespaceRequest& request) = 0;

  virtual absl::StatusOr<v1::LearnResponse> Learn(const RequestContext& ctx,
                                                  const v1::LearnRequest& request) = 0;
  virtual absl::StatusOr<v1::LearnBatchResponse> LearnBatch(const RequestContext& ctx,
                                                            const v1::LearnBatchRequest& request) = 0;
  virtual absl::StatusOr<v1::Concept> GetConcept(const RequestContext& ctx,
                                                 const v1::GetConceptRequest& request) = 0;
  virtual absl::StatusOr<v1::DeleteConceptResponse> DeleteConcept(
      const RequestContext& ctx, const v1::DeleteConceptRequest& request) = 0;
  virtual absl::StatusOr<v1::ListConceptsResponse> ListConcepts(
      const RequestContext& ctx, const v1::ListConceptsRequest& request) = 0;
  virtual absl::StatusOr<v1::Concept> UpdateConcept(const RequestContext& ctx,
                                                    const v1::UpdateConceptRequest& request) = 0;

  virtual absl::StatusOr<v1::Association> Associate(const RequestContext& ctx,
                                                    const v1::AssociateRequest& request) = 0;
  virtual absl::StatusOr<v1::AssociateBatchResponse> AssociateBatch(
      const RequestContext& ctx, const v1::AssociateBatchRequest& request) = 0;
  virtual absl::StatusOr<v1::DeleteAssociationResponse> DeleteAssociation(
      const RequestContext& ctx, const v1::DeleteAssociationRequest& request) = 0;
  virtual absl::StatusOr<v1::NeighborsResponse> Neighbors(const RequestContext& ctx,
                                                          const v1::NeighborsRequest& request) = 0;
  virtual absl::StatusOr<v1::FindPathsResponse> FindPaths(const RequestContext& ctx,
                                                          const v1::FindPathsRequest& request) = 0;

  virtual absl::StatusOr<v1::SearchResponse> Search(const RequestContext& ctx,
                                                    const v1::SearchRequest& request) = 0;
  virtual absl::StatusOr<v1::ReasonResponse> Reason(const RequestContext& ctx,
                                                    const v1::ReasonRequest& request) = 0;

  // Search, asynchronously: `done` runs exactly once, either inline (an answer that needs no
  // downstream call: a rejected request, a cached answer) or on `cq`'s thread, where downstream
  // calls are started (every tag on `cq` is a grpcutil::CqTag: a ServerRunner async queue, or a
  // grpcutil::LocalQueue). The default runs Search and calls `done` inline.
  using SearchDone = absl::AnyInvocable<void(absl::StatusOr<v1::SearchResponse>) &&>;
  virtual void SearchAsync(const RequestContext& ctx, const v1::SearchRequest& request,
                           grpc::CompletionQueue* cq, SearchDone done) {
    (void)cq;
    std::move(done)(Search(ctx, request));
  }

  // Streams (v1.1). The returned status ends the stream: an error before the first Write is the
  // call's error as for the unary calls; after it, the transport reports it in-band (gRPC: the
  // final status; SSE: an `error` event; NDJSON: an {"error": ...} line and a truncated body).
  virtual absl::Status ReasonStream(const RequestContext& ctx, const v1::ReasonRequest& request,
                                    StreamSink<v1::ReasonEvent>* sink) = 0;
  virtual absl::Status ExportNamespace(const RequestContext& ctx,
                                       const v1::ExportNamespaceRequest& request,
                                       StreamSink<v1::ExportChunk>* sink) = 0;

  virtual absl::StatusOr<v1::Stats> GetStats(const RequestContext& ctx,
                                             const v1::GetStatsRequest& request) = 0;
};

// RESOURCE_EXHAUSTED statuses from the rate limiter carry the seconds to wait in their
// ErrorDetail; transports turn status::RetryAfterSeconds (common/status/error_detail.h) into
// Retry-After / metadata.

}  // namespace engram::api
