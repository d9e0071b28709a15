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
// Learn (one atomic storage Write per call):
//   1. Namespace config (GetNamespace): dimension and embedder.
//   2. Item ids: given, or "c-" + xxh3-128 hex of the content (storage's ContentHashId).
//      Vectors: given (exactly the dimension) or embedded in one batch.
//   3. Semantic links (items with extract_associations unset/true): storage Search with the item's
//      vector, k = links + 1; hits other than the item itself with score >= threshold, at most
//      `links` of them, become SEMANTIC item -> hit, confidence = score.
//   4. Relations (RelationExtractor): each endpoint is the concept whose content is the phrase's
//      key (lower-case, single-spaced), id = ContentHashId(key). Existing ones (GetConcepts) are
//      reused; missing ones are created with the key as content and its embedding as vector.
//   5. One Write: item puts, relation-concept puts, association puts (deduplicated by
//      source, target, type; highest confidence kept). More than 1000 mutations is
//      INVALID_ARGUMENT (the write would no longer be atomic).
// Embedding runs on options.pool when set: a full pool is RESOURCE_EXHAUSTED.
// Reason: embed the question, then Reasoner over a StorageGraphSource bound to the request.
//
// Thread-safe: every method is const-like and may run concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics/metrics.h"
#include "engram/hybrid/v1/hybrid.pb.h"
#include "engram/storage/v1/storage.grpc.pb.h"
#include "services/hybrid/embed/embedder_registry.h"
#include "services/hybrid/embed/embedding_cache.h"
#include "services/hybrid/extract/relation_extractor.h"
#include "services/hybrid/reason/reasoner.h"
#include "services/hybrid/service/compute_pool.h"

namespace engram::hybrid {

// Per request: when it must be done and the id its log lines and storage calls carry.
struct CallContext {
  absl::Time deadline = absl::InfiniteFuture();
  std::string correlation_id;  // empty: the thread's current id, if any
};

struct HybridCoreOptions {
  absl::Duration storage_timeout = absl::Seconds(10);  // per storage call, capped by the deadline
  ReasonerConfig reasoner;
  ExtractionOptions extraction;
  uint32_t max_items = 1000;
  uint32_t max_texts = 1000;
  // Where embedding runs (not owned). Null: on the calling thread.
  ComputePool* pool = nullptr;
};

// "c-" + 32 hex digits of XXH3-128(content): the id engram-storage derives for a concept put
// without an id (storage-server/engine/limits.h ContentHashId).
std::string ContentHashId(std::string_view content);

class HybridCore {
 public:
  // Nothing is owned; everything must outlive the core. `metrics` may be null.
  HybridCore(storage::v1::Storage::StubInterface* storage, EmbedderRegistry* registry,
             EmbeddingCache* cache, metrics::Registry* metrics, HybridCoreOptions options = {});

  absl::StatusOr<v1::EmbedResponse> Embed(const CallContext& call, const v1::EmbedRequest& request) const;
  absl::StatusOr<v1::LearnResponse> Learn(const CallContext& call, const v1::LearnRequest& request) const;
  absl::StatusOr<v1::SearchResponse> Search(const CallContext& call,
                                            const v1::SearchRequest& request) const;
  absl::StatusOr<v1::ReasonResponse> Reason(const CallContext& call,
                                            const v1::ReasonRequest& request) const;

  // Runs one storage call with the deadline and correlation id of `call` and maps its status as
  // described above. `fn` receives the prepared ClientContext.
  absl::Status CallStorage(const CallContext& call, const char* method,
                           const std::function<grpc::Status(grpc::ClientContext*)>& fn) const;

  storage::v1::Storage::StubInterface* storage() const { return storage_; }

 private:
  struct NamespaceEmbedder {
    storage::v1::NamespaceConfig config;
    std::shared_ptr<const Embedder> embedder;  // cached; never null
  };
  absl::StatusOr<NamespaceEmbedder> ResolveNamespace(const CallContext& call,
                                                     const std::string& name) const;
  absl::StatusOr<std::shared_ptr<const Embedder>> Cached(std::shared_ptr<const Embedder> e) const;
  absl::StatusOr<std::vector<std::vector<float>>> EmbedTexts(const CallContext& call,
                                                            const Embedder& embedder,
                                                            absl::Span<const std::string_view> texts) const;

  storage::v1::Storage::StubInterface* const storage_;
  EmbedderRegistry* const registry_;
  EmbeddingCache* const cache_;
  const HybridCoreOptions options_;
  const RelationExtractor extractor_;
  const Reasoner reasoner_;

  // Metrics (null when no registry).
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

}  // namespace engram::hybrid
