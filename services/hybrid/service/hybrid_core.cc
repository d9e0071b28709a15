#include "services/hybrid/service/hybrid_core.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc/async_client.h"
#include "common/grpc/correlation.h"
#include "common/status/error_detail.h"
#include "common/status/grpc_status.h"
#include "common/status/status_macros.h"
#include "common/text/tokenizer.h"
#include "services/hybrid/reason/question.h"
#include "services/hybrid/service/storage_graph_source.h"

namespace engram::hybrid {

namespace sv1 = storage::v1;

static_assert(static_cast<int>(AssociationType::kSemantic) == sv1::SEMANTIC);
static_assert(static_cast<int>(AssociationType::kCausal) == sv1::CAUSAL);
static_assert(static_cast<int>(AssociationType::kTemporal) == sv1::TEMPORAL);
static_assert(static_cast<int>(AssociationType::kHierarchical) == sv1::HIERARCHICAL);
static_assert(static_cast<int>(AssociationType::kCompositional) == sv1::COMPOSITIONAL);

absl::Status StorageError(const char* method, const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return status::WithDetail(absl::UnavailableError(absl::StrCat("storage unavailable (", method,
                                                                    "): ", status.error_message())),
                                status::DependencyDetail("storage"));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::DeadlineExceededError(absl::StrCat("storage ", method, ": deadline exceeded"));
    case grpc::StatusCode::CANCELLED:
      // Storage ended the call itself (it was shutting down): to our caller that is storage
      // being unavailable, which is worth a retry. A call hybrid cancelled because its own
      // client went away is answered as CANCELLED by CallStorage.
      return status::WithDetail(absl::UnavailableError(absl::StrCat(
                                    "storage unavailable (", method, "): call cancelled by storage")),
                                status::DependencyDetail("storage"));
    default:
      return status::FromGrpcStatus(status);
  }
}

bool IsNamespaceNotFound(const absl::Status& status) {
  return status::HasReason(status, status::ErrorDetail::NAMESPACE_NOT_FOUND);
}

namespace {

const std::vector<double> kLatencyBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10};

absl::Status CheckDeadline(const CallContext& call) {
  if (absl::Now() >= call.deadline) return absl::DeadlineExceededError("deadline exceeded");
  return absl::OkStatus();
}

}  // namespace

HybridCore::HybridCore(sv1::Storage::StubInterface* storage, EmbedderRegistry* registry,
                       EmbeddingCache* cache, metrics::Registry* metrics, HybridCoreOptions options)
    : storage_(storage),
      registry_(registry),
      cache_(cache),
      options_(std::move(options)),
      extractor_(options_.extraction),
      reasoner_(options_.reasoner),
      ns_cache_(options_.namespace_cache),
      metrics_(metrics) {
  if (metrics == nullptr) return;
  embed_seconds_ = &metrics
                        ->AddHistogram("engram_hybrid_embed_seconds", "Time to embed one batch.",
                                       {}, kLatencyBuckets)
                        .Add({});
  embed_batch_ = &metrics
                      ->AddHistogram("engram_hybrid_embed_batch_size", "Texts per embedded batch.",
                                     {}, {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000})
                      .Add({});
  learn_seconds_ =
      &metrics->AddHistogram("engram_hybrid_learn_seconds", "Learn latency.", {}, kLatencyBuckets)
           .Add({});
  reason_seconds_ =
      &metrics->AddHistogram("engram_hybrid_reason_seconds", "Reason latency.", {}, kLatencyBuckets)
           .Add({});
  reason_paths_explored_ = &metrics
                                ->AddHistogram("engram_hybrid_reason_paths_explored",
                                               "Partial paths scored per Reason call.", {},
                                               {1, 10, 100, 1000, 10000, 100000})
                                .Add({});
  associations_created_ = &metrics->AddCounter("engram_hybrid_associations_created",
                                               "Associations written by Learn, by type.", {"type"});
  storage_errors_ =
      &metrics->AddCounter("engram_hybrid_storage_errors",
                           "Failed engram-storage calls, by method and code.", {"method", "code"});
  NamespaceCache* ns = &ns_cache_;
  metrics->AddCallbackGauge("engram_hybrid_namespace_cache_hits", "Namespace config cache hits.",
                            [ns] { return static_cast<double>(ns->hits()); });
  metrics->AddCallbackGauge("engram_hybrid_namespace_cache_misses",
                            "Namespace config cache misses (a storage GetNamespace each).",
                            [ns] { return static_cast<double>(ns->misses()); });
  if (cache_ != nullptr) {
    EmbeddingCache* c = cache_;
    metrics->AddCallbackGauge("engram_hybrid_embed_cache_hits", "Embedding cache hits.",
                              [c] { return static_cast<double>(c->hits()); });
    metrics->AddCallbackGauge("engram_hybrid_embed_cache_misses", "Embedding cache misses.",
                              [c] { return static_cast<double>(c->misses()); });
    metrics->AddCallbackGauge("engram_hybrid_embed_cache_bytes",
                              "Bytes charged in the embedding cache.",
                              [c] { return static_cast<double>(c->bytes()); });
  }
}

HybridCore::~HybridCore() {
  if (metrics_ == nullptr) return;
  metrics_->RemoveCallbackGauge("engram_hybrid_namespace_cache_hits");
  metrics_->RemoveCallbackGauge("engram_hybrid_namespace_cache_misses");
}

absl::Status HybridCore::PrepareStorageContext(const CallContext& call,
                                               grpc::ClientContext* context,
                                               grpcutil::CallCanceller::Tracked* tracked) const {
  RETURN_IF_ERROR(CheckDeadline(call));
  if (call.canceller != nullptr) {
    if (call.canceller->cancelled()) return absl::CancelledError("the client went away");
    *tracked = call.canceller->Track(context);
  }
  absl::Duration timeout = std::min(options_.storage_timeout, call.deadline - absl::Now());
  if (call.correlation_id.empty()) {
    grpcutil::PrepareClientContext(context, timeout);
  } else {
    grpcutil::PrepareClientContext(context, timeout, call.correlation_id);
  }
  return absl::OkStatus();
}

absl::Status HybridCore::FinishStorageCall(const char* method, const grpc::Status& status) const {
  if (status.ok()) return absl::OkStatus();
  absl::Status mapped = StorageError(method, status);
  if (storage_errors_ != nullptr) {
    storage_errors_->Add({method, std::string(absl::StatusCodeToString(mapped.code()))})
        .Increment();
  }
  return mapped;
}

absl::Status HybridCore::CallStorage(
    const CallContext& call, const char* method,
    const std::function<grpc::Status(grpc::ClientContext*)>& fn) const {
  grpc::ClientContext context;
  grpcutil::CallCanceller::Tracked tracked;
  RETURN_IF_ERROR(PrepareStorageContext(call, &context, &tracked));
  const grpc::Status status = fn(&context);
  if (!status.ok() && call.canceller != nullptr && call.canceller->cancelled()) {
    return absl::CancelledError("the client went away");
  }
  return FinishStorageCall(method, status);
}

void HybridCore::ForgetIfNamespaceGone(const std::string& ns, const absl::Status& status) const {
  if (IsNamespaceNotFound(status)) ns_cache_.Invalidate(ns);
}

absl::StatusOr<v1::EmbedResponse> HybridCore::Embed(const CallContext& call,
                                                    const v1::EmbedRequest& request) const {
  auto r = EmbedImpl(call, request);
  if (request.embedder_source_case() == v1::EmbedRequest::kNamespace) {
    ForgetIfNamespaceGone(request.namespace_(), r.status());
  }
  return r;
}

absl::StatusOr<v1::LearnResponse> HybridCore::Learn(const CallContext& call,
                                                    const v1::LearnRequest& request) const {
  auto r = LearnImpl(call, request);
  ForgetIfNamespaceGone(request.namespace_(), r.status());
  return r;
}

absl::StatusOr<v1::SearchResponse> HybridCore::Search(const CallContext& call,
                                                      const v1::SearchRequest& request) const {
  return grpcutil::RunLocally<absl::StatusOr<v1::SearchResponse>>(
      [&](grpc::CompletionQueue* cq, SearchDone done) {
        SearchAsync(call, request, cq, std::move(done));
      });
}

absl::StatusOr<v1::ReasonResponse> HybridCore::Reason(const CallContext& call,
                                                      const v1::ReasonRequest& request) const {
  auto r = ReasonImpl(call, request);
  ForgetIfNamespaceGone(request.namespace_(), r.status());
  return r;
}

absl::StatusOr<HybridCore::NamespaceEmbedder> HybridCore::ResolveNamespace(
    const CallContext& call, const std::string& name) const {
  if (name.empty()) return absl::InvalidArgumentError("namespace: required");
  if (auto hit = ns_cache_.Get(name)) return *std::move(hit);
  sv1::GetNamespaceRequest req;
  req.set_name(name);
  sv1::NamespaceInfo info;
  RETURN_IF_ERROR(CallStorage(call, "GetNamespace", [&](grpc::ClientContext* c) {
    return storage_->GetNamespace(c, req, &info);
  }));
  return CacheNamespace(name, info);
}

void HybridCore::ResolveNamespaceAsync(
    const CallContext& call, const std::string& name, grpc::CompletionQueue* cq,
    absl::AnyInvocable<void(absl::StatusOr<NamespaceEmbedder>) &&> done) const {
  if (name.empty()) return std::move(done)(absl::InvalidArgumentError("namespace: required"));
  if (auto hit = ns_cache_.Get(name)) return std::move(done)(*std::move(hit));
  auto req = std::make_shared<sv1::GetNamespaceRequest>();
  req->set_name(name);
  CallStorageAsync<sv1::NamespaceInfo>(
      call, "GetNamespace", cq,
      [this, req](grpc::ClientContext* c, grpc::CompletionQueue* q) {
        return storage_->PrepareAsyncGetNamespace(c, *req, q);
      },
      [this, name, done = std::move(done)](absl::Status status, sv1::NamespaceInfo info) mutable {
        if (!status.ok()) return std::move(done)(std::move(status));
        std::move(done)(CacheNamespace(name, info));
      });
}

absl::StatusOr<HybridCore::NamespaceEmbedder> HybridCore::CacheNamespace(
    const std::string& name, const sv1::NamespaceInfo& info) const {
  NamespaceEmbedder out;
  out.config = info.config();
  ASSIGN_OR_RETURN(auto embedder,
                   registry_->Get(out.config.embedder(), static_cast<int>(out.config.dimension())));
  ASSIGN_OR_RETURN(out.embedder, Cached(std::move(embedder)));
  ns_cache_.Put(name, out);
  return out;
}

absl::StatusOr<std::shared_ptr<const Embedder>> HybridCore::Cached(
    std::shared_ptr<const Embedder> e) const {
  if (cache_ == nullptr || e->name() == "none") return e;
  return std::make_shared<CachingEmbedder>(std::move(e), cache_);
}

absl::StatusOr<std::vector<std::vector<float>>> HybridCore::EmbedTexts(
    const CallContext& call, const Embedder& embedder,
    absl::Span<const std::string_view> texts) const {
  using Vectors = std::vector<std::vector<float>>;
  if (texts.empty()) return Vectors{};
  absl::Time start = absl::Now();
  // Inline when already on a pool thread (Learn's and Reason's tasks): see ComputePool "Nesting".
  absl::StatusOr<Vectors> result =
      Compute<Vectors>(call, [&embedder, texts] { return embedder.EmbedBatch(texts); });
  ObserveEmbed(start, texts.size());
  return result;
}

void HybridCore::ObserveEmbed(absl::Time start, size_t texts) const {
  if (embed_seconds_ != nullptr) {
    embed_seconds_->Observe(absl::ToDoubleSeconds(absl::Now() - start));
    embed_batch_->Observe(static_cast<double>(texts));
  }
}

void HybridCore::EmbedQueryAsync(const CallContext& call,
                                 std::shared_ptr<const Embedder> embedder, std::string_view text,
                                 grpc::CompletionQueue* cq, EmbedDone done) const {
  auto embed = [embedder, start = absl::Now(), this](std::string_view t) {
    absl::StatusOr<std::vector<float>> v = embedder->Embed(t);
    ObserveEmbed(start, 1);
    return v;
  };
  if (options_.pool == nullptr || options_.pool->OnWorkerThread() ||
      (embedder->cheap() && text.size() <= kInlineEmbedBytes)) {
    return std::move(done)(embed(text));
  }
  // A model: on the pool, whose admission control bounds the work in flight; the vector comes
  // back to the request's queue.
  struct Task {
    std::string text;
    absl::Time deadline;
    EmbedDone done;
  };
  auto task = std::make_shared<Task>(Task{std::string(text), call.deadline, std::move(done)});
  absl::Status submitted = options_.pool->Submit([task, cq, embed](bool run) {
    absl::StatusOr<std::vector<float>> v =
        !run ? absl::CancelledError("compute pool stopped")
        : absl::Now() >= task->deadline
            ? absl::DeadlineExceededError("deadline exceeded while waiting for a compute thread")
            : embed(task->text);
    grpcutil::RunOnQueue(cq, absl::InfinitePast(), [task, v = std::move(v)](bool) mutable {
      std::move(task->done)(std::move(v));
    });
  });
  if (!submitted.ok()) std::move(task->done)(std::move(submitted));
}

absl::StatusOr<v1::EmbedResponse> HybridCore::EmbedImpl(const CallContext& call,
                                                        const v1::EmbedRequest& request) const {
  if (request.texts_size() < 1 ||
      static_cast<uint32_t>(request.texts_size()) > options_.max_texts) {
    return absl::InvalidArgumentError(absl::StrCat("texts: 1..", options_.max_texts, " required"));
  }
  std::shared_ptr<const Embedder> embedder;
  switch (request.embedder_source_case()) {
    case v1::EmbedRequest::kNamespace: {
      ASSIGN_OR_RETURN(NamespaceEmbedder ns, ResolveNamespace(call, request.namespace_()));
      embedder = std::move(ns.embedder);
      break;
    }
    case v1::EmbedRequest::kEmbedder: {
      if (request.embedder() == "none") {
        return absl::FailedPreconditionError("embedder: \"none\" cannot embed text");
      }
      ASSIGN_OR_RETURN(auto e, registry_->Get(request.embedder()));
      ASSIGN_OR_RETURN(embedder, Cached(std::move(e)));
      break;
    }
    default:
      return absl::InvalidArgumentError("namespace or embedder: exactly one is required");
  }
  std::vector<std::string_view> texts(request.texts().begin(), request.texts().end());
  ASSIGN_OR_RETURN(auto vectors, EmbedTexts(call, *embedder, texts));
  v1::EmbedResponse response;
  response.set_embedder(embedder->name());
  response.set_dimension(embedder->dimension());
  for (auto& v : vectors) response.add_embeddings()->mutable_values()->Assign(v.begin(), v.end());
  return response;
}

absl::StatusOr<v1::LearnResponse> HybridCore::LearnImpl(const CallContext& call,
                                                        const v1::LearnRequest& request) const {
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(const LearnSettings settings, CheckLearnRequest(request, options_.max_items));
  // 1. Namespace config.
  ASSIGN_OR_RETURN(NamespaceEmbedder ns, ResolveNamespace(call, request.namespace_()));
  const Embedder& embedder = *ns.embedder;
  // 2. Item ids and the vectors given.
  ASSIGN_OR_RETURN(LearnItems items,
                   LearnItems::From(request, static_cast<int>(ns.config.dimension()), embedder));
  // 3. CPU phase: relation extraction, then one embedding batch (items' texts, endpoint keys).
  ASSIGN_OR_RETURN(LearnRelations relations, ExtractAndEmbed(call, request, embedder, &items));
  // 4. Semantic links to existing concepts.
  AssociationSet associations;
  RETURN_IF_ERROR(LinkToSimilarConcepts(call, request, settings, items, &associations));
  // 5. Relations stated in the text, and the endpoint concepts that do not exist yet.
  for (const LearnRelations::Relation& r : relations.relations) {
    associations.Add(r.source, r.target, r.type, r.confidence);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> to_create,
                   MissingRelationConcepts(call, request.namespace_(), items, relations));
  // 6. One atomic Write.
  ASSIGN_OR_RETURN(sv1::WriteRequest write,
                   BuildLearnWrite(request, items, relations, to_create, associations));
  ASSIGN_OR_RETURN(sv1::WriteResponse written, WriteLearned(call, write));
  v1::LearnResponse response =
      BuildLearnResponse(items, relations, to_create, associations, written);
  CountLearned(response, start);
  return response;
}

absl::StatusOr<LearnRelations> HybridCore::ExtractAndEmbed(const CallContext& call,
                                                           const v1::LearnRequest& request,
                                                           const Embedder& embedder,
                                                           LearnItems* items) const {
  return Compute<LearnRelations>(call, [&]() -> absl::StatusOr<LearnRelations> {
    LearnRelations relations = LearnRelations::Extract(extractor_, request);
    // Existing endpoints' vectors end up unused: cheaper than a second pool round trip.
    std::vector<std::string> key_ids;
    if (embedder.name() != "none") key_ids = relations.EndpointsOutside(items->id_set);
    std::vector<std::string_view> texts = items->to_embed;
    for (const auto& id : key_ids) texts.push_back(relations.relation_content.at(id));
    ASSIGN_OR_RETURN(auto embedded, EmbedTexts(call, embedder, texts));
    const size_t n = items->to_embed.size();
    for (size_t j = 0; j < n; ++j)
      items->vectors[items->to_embed_index[j]] = std::move(embedded[j]);
    for (size_t j = 0; j < key_ids.size(); ++j) {
      relations.key_vectors.emplace(key_ids[j], std::move(embedded[n + j]));
    }
    return relations;
  });
}

absl::Status HybridCore::LinkToSimilarConcepts(const CallContext& call,
                                               const v1::LearnRequest& request,
                                               const LearnSettings& settings,
                                               const LearnItems& items,
                                               AssociationSet* associations) const {
  if (settings.semantic_links == 0) return absl::OkStatus();
  const SemanticLinkSearches searches = SemanticLinkSearches::For(request, items, settings);
  std::vector<sv1::SearchResponse> found;
  std::vector<absl::Status> statuses = CallStorageConcurrently(
      call, "Search", searches.requests, &found,
      [this](grpc::ClientContext* c, const sv1::SearchRequest& r, grpc::CompletionQueue* cq) {
        return storage_->PrepareAsyncSearch(c, r, cq);
      });
  for (const absl::Status& st : statuses) RETURN_IF_ERROR(st);  // the first failure, in item order
  searches.AddLinks(found, items, settings, associations);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> HybridCore::MissingRelationConcepts(
    const CallContext& call, const std::string& ns, const LearnItems& items,
    const LearnRelations& relations) const {
  // The items of this call are put anyway.
  const std::vector<std::string> lookup = relations.EndpointsOutside(items.id_set);
  absl::flat_hash_set<std::string> existing;
  for (size_t begin = 0; begin < lookup.size(); begin += 1000) {
    sv1::GetConceptsRequest req;
    req.set_namespace_(ns);
    for (size_t j = begin; j < lookup.size() && j < begin + 1000; ++j) req.add_ids(lookup[j]);
    sv1::GetConceptsResponse resp;
    RETURN_IF_ERROR(CallStorage(call, "GetConcepts", [&](grpc::ClientContext* c) {
      return storage_->GetConcepts(c, req, &resp);
    }));
    for (const auto& c : resp.concepts()) existing.insert(c.id());
  }
  std::vector<std::string> to_create;
  for (const auto& id : lookup) {
    if (!existing.contains(id)) to_create.push_back(id);
  }
  return to_create;
}

absl::StatusOr<sv1::WriteResponse> HybridCore::WriteLearned(const CallContext& call,
                                                            const sv1::WriteRequest& write) const {
  sv1::WriteResponse written;
  RETURN_IF_ERROR(CallStorage(
      call, "Write", [&](grpc::ClientContext* c) { return storage_->Write(c, write, &written); }));
  if (written.results_size() != write.mutations_size()) {
    return absl::InternalError("storage Write: result count differs from mutation count");
  }
  return written;
}

void HybridCore::CountLearned(const v1::LearnResponse& response, absl::Time start) const {
  if (associations_created_ != nullptr) {
    for (const v1::AssociationCount& c : response.associations_by_type()) {
      associations_created_
          ->Add({std::string(AssociationTypeName(static_cast<AssociationType>(c.type())))})
          .Increment(static_cast<double>(c.count()));
    }
  }
  if (learn_seconds_ != nullptr) {
    learn_seconds_->Observe(absl::ToDoubleSeconds(absl::Now() - start));
  }
}

void HybridCore::SearchAsync(const CallContext& call, const v1::SearchRequest& request,
                             grpc::CompletionQueue* cq, SearchDone done) const {
  struct Op {
    CallContext call;
    v1::SearchRequest request;
    SearchDone done;
  };
  auto op = std::make_shared<Op>(Op{call, request, std::move(done)});
  auto finish = [this, op](absl::StatusOr<v1::SearchResponse> result) {
    ForgetIfNamespaceGone(op->request.namespace_(), result.status());
    std::move(op->done)(std::move(result));
  };
  if (request.text().empty()) return finish(absl::InvalidArgumentError("text: required"));
  if (request.k() > 1000) return finish(absl::InvalidArgumentError("k: at most 1000"));
  if (!sv1::SearchMode_IsValid(request.mode())) {
    return finish(absl::InvalidArgumentError(
        absl::StrCat("mode: unknown value ", static_cast<int>(request.mode()))));
  }
  ResolveNamespaceAsync(op->call, request.namespace_(), cq,
                        [this, op, cq, finish](absl::StatusOr<NamespaceEmbedder> ns) {
    if (!ns.ok()) return finish(ns.status());
    const v1::SearchRequest& request = op->request;
    const bool embeds = ns->embedder->name() != "none";
    sv1::SearchMode mode = request.mode();
    if (mode == sv1::SEARCH_MODE_UNSPECIFIED) {
      mode = embeds ? sv1::SEARCH_MODE_HYBRID : sv1::SEARCH_MODE_KEYWORD;
    }
    if (mode != sv1::SEARCH_MODE_KEYWORD && !embeds) {
      return finish(absl::FailedPreconditionError(absl::StrCat(
          "mode: namespace ", request.namespace_(),
          " has no embedder (\"none\"), so a text query can only be searched with mode KEYWORD")));
    }
    auto req = std::make_shared<sv1::SearchRequest>();
    req->set_namespace_(request.namespace_());
    if (mode != sv1::SEARCH_MODE_VECTOR) req->set_text(request.text());  // VECTOR: no BM25 pass
    req->set_mode(mode);
    req->set_k(request.k() == 0 ? 10 : request.k());
    req->set_ef(request.ef());
    *req->mutable_filter() = request.filter();
    auto search = [this, op, cq, finish, req] {
      CallStorageAsync<sv1::SearchResponse>(
          op->call, "Search", cq,
          [this, req](grpc::ClientContext* c, grpc::CompletionQueue* q) {
            return storage_->PrepareAsyncSearch(c, *req, q);
          },
          [finish](absl::Status status, sv1::SearchResponse found) {
            if (!status.ok()) return finish(std::move(status));
            v1::SearchResponse response;
            response.mutable_results()->Swap(found.mutable_results());
            finish(std::move(response));
          });
    };
    if (mode == sv1::SEARCH_MODE_KEYWORD) return search();
    EmbedQueryAsync(op->call, ns->embedder, request.text(), cq,
                    [finish, req, search](absl::StatusOr<std::vector<float>> vector) {
                      if (!vector.ok()) return finish(vector.status());
                      req->mutable_vector()->Assign(vector->begin(), vector->end());
                      search();
                    });
  });
}

namespace {

void ToProto(const ConceptLite& c, sv1::Concept* out) {
  out->set_id(c.id);
  out->set_content(c.content);
}

void ToProto(const ConfidenceBreakdown& c, v1::ConfidenceBreakdown* out) {
  out->set_graph(c.graph);
  out->set_semantic(c.semantic);
  out->set_consensus(c.consensus);
  out->set_final(c.final_confidence);
}

// Whether `text` holds a word the keyword index could match.
bool HasWords(std::string_view text) {
  return !text::TokenizeText(text, /*lowercase=*/true).empty();
}

}  // namespace

absl::StatusOr<ReasonOptions> HybridCore::CheckReason(const v1::ReasonRequest& request) const {
  if (request.query().empty()) return absl::InvalidArgumentError("query: required");
  if (request.namespace_().empty()) return absl::InvalidArgumentError("namespace: required");
  ReasonOptions options;
  options.k = request.k() == 0 ? 10 : request.k();
  options.max_depth = request.max_depth() == 0 ? 4 : request.max_depth();
  options.max_paths = request.max_paths() == 0 ? 5 : request.max_paths();
  options.min_confidence = request.has_min_confidence() ? request.min_confidence().value() : 0.3f;
  for (int t : request.types()) options.types.push_back(static_cast<AssociationType>(t));
  RETURN_IF_ERROR(Reasoner::ValidateOptions(options));
  return options;
}

absl::StatusOr<std::vector<float>> HybridCore::SeedVector(const CallContext& call,
                                                         const NamespaceEmbedder& ns,
                                                         std::string_view text) const {
  if (ns.embedder->name() == "none") return std::vector<float>();
  ASSIGN_OR_RETURN(auto vectors, EmbedTexts(call, *ns.embedder, absl::MakeConstSpan(&text, 1)));
  if (IsZeroVector(vectors[0])) return std::vector<float>();
  return std::move(vectors[0]);
}

absl::StatusOr<std::optional<ReasonResult>> HybridCore::RunReasoner(
    const CallContext& call, const v1::ReasonRequest& request, const ReasonOptions& options,
    ReasonObserver* observer) const {
  ASSIGN_OR_RETURN(NamespaceEmbedder ns, ResolveNamespace(call, request.namespace_()));
  // Seeds come from the question's vector and its words (storage's HYBRID search). A namespace
  // without an embedder seeds from the words alone.
  ASSIGN_OR_RETURN(std::vector<float> vector, SeedVector(call, ns, request.query()));
  // A question that asks for a relation ("What is a yolk part of?") is answered along it, unless
  // the caller restricted the types to others; its words to match are those of the concept it
  // is about ("yolk"), not "what is ... part of".
  ReasonOptions asked = options;
  const Question question = ParseQuestion(request.query());
  std::string_view words = request.query();
  const bool relation_allowed =
      question.type != AssociationType::kUnspecified &&
      (options.types.empty() ||
       std::find(options.types.begin(), options.types.end(), question.type) != options.types.end());
  if (relation_allowed) {
    asked.relation = AskedRelation{question.type, question.direction == Question::Direction::kOut};
  }
  if (question.kind == Question::Kind::kRelation && relation_allowed) {
    // The paths start at the concepts named X ("violin, fiddle: bowed stringed instrument ...")
    // when the search finds some, not at those whose short text only mentions X ("violin
    // lesson: a lesson in playing the violin"), which BM25 ranks higher.
    words = SeedWords(question, request.query());
    asked.source_name = question.focus;
  }
  StorageGraphSource graph(this, call, request.namespace_());
  if (question.kind == Question::Kind::kBetween) {
    // "How is X related to Y?": seeds from X, and the answer must be one of Y's best matches;
    // its paths are the relation. "Is X a Y?" is one too, along the hierarchy (asked.relation).
    // The paths start at the concepts named X when the search finds some.
    words = SeedWords(question, request.query());
    asked.source_name = question.focus;
    asked.yes_no = question.type == AssociationType::kHierarchical;
    ASSIGN_OR_RETURN(std::vector<float> other_vector, SeedVector(call, ns, question.other));
    std::string_view other_words = options_.keyword_seeds ? std::string_view(question.other) : "";
    if (!other_vector.empty() || HasWords(other_words)) {
      RETURN_IF_ERROR(SetBetweenTargets(graph, SeedQuery{other_vector, other_words}, question.other, &asked));
      if (asked.targets.empty()) {  // the namespace holds nothing that matches Y
        ReasonResult nothing;
        nothing.explanation = absl::StrCat(asked.yes_no ? "No confident yes: nothing" : "Nothing",
                                           " stored matches \"", question.other,
                                           "\", the question's second subject.");
        return std::optional<ReasonResult>(std::move(nothing));
      }
    }
    if (asked.targets.empty()) return std::optional<ReasonResult>();
  }
  if (!options_.keyword_seeds) words = {};
  if (vector.empty() && !HasWords(words)) return std::optional<ReasonResult>();
  ASSIGN_OR_RETURN(ReasonResult result,
                   reasoner_.Reason(SeedQuery{vector, words}, asked, graph, observer));
  return std::optional<ReasonResult>(std::move(result));
}

namespace {

void ToProto(const ReasoningPath& p, sv1::Path* path) {
  for (const auto& id : p.concept_ids) path->add_concept_ids(id);
  for (const Edge& e : p.hops) {
    sv1::Association* a = path->add_hops();
    a->set_source(e.source);
    a->set_target(e.target);
    a->set_type(static_cast<sv1::AssociationType>(e.type));
    a->set_confidence(e.confidence);
    a->set_weight(e.weight);
  }
  path->set_confidence(p.confidence);
}

void ToProto(const SearchHit& h, sv1::SearchResult* r) {
  ToProto(h.node, r->mutable_node());
  r->set_score(h.score);
}

// The events of one ReasonStream, from its pool task (the producer, through the ReasonObserver
// calls) to the calling thread (Next). The queue is unbounded but short: one seeds event, at
// most ReasonerConfig::max_streamed_paths paths, one answer.
class ReasonChannel final : public ReasonObserver {
 public:
  explicit ReasonChannel(std::shared_ptr<grpcutil::CallCanceller> canceller)
      : canceller_(std::move(canceller)) {}

  // ReasonObserver (on the pool thread).
  bool Cancelled() override { return canceller_->cancelled(); }
  void OnSeeds(absl::Span<const SearchHit> support) override {
    v1::ReasonEvent event;
    for (const SearchHit& h : support) ToProto(h, event.mutable_seeds()->add_support());
    Push(std::move(event));
  }
  void OnPath(const ReasoningPath& path, absl::Span<const ConceptLite> concepts) override {
    v1::ReasonEvent event;
    v1::ReasonPath* out = event.mutable_path();
    ToProto(path, out->mutable_path());
    for (const ConceptLite& c : concepts) ToProto(c, out->add_concepts());
    out->set_evidence(path.evidence);
    Push(std::move(event));
  }

  // The task's side. Start returns false when the caller gave up while the task was queued.
  bool Start() {
    sync::MutexLock lock(&mu_);
    if (abandoned_) return false;
    started_ = true;
    return true;
  }
  void Push(v1::ReasonEvent event) {
    sync::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
    cv_.SignalAll();
  }
  // The task's outcome; the end is signalled by Finish (after the pool counts the worker idle).
  void SetStatus(absl::Status status) {
    sync::MutexLock lock(&mu_);
    status_ = std::move(status);
  }
  void Finish() {
    sync::MutexLock lock(&mu_);
    done_ = true;
    cv_.SignalAll();
  }

  // The caller's side.
  enum class Next { kEvent, kIdle, kEnd };
  // An event (kEvent), nothing within `poll` (kIdle), or the end (kEnd, *status set). A deadline
  // that passes before the task started abandons it (DEADLINE_EXCEEDED); once started, the
  // task's own storage calls carry the deadline.
  Next Wait(absl::Time deadline, absl::Duration poll, v1::ReasonEvent* event,
            absl::Status* status) {
    sync::MutexLock lock(&mu_);
    const absl::Time until =
        std::min(absl::Now() + poll, started_ ? absl::InfiniteFuture() : deadline);
    while (events_.empty() && !done_) {
      if (cv_.WaitUntil(&mu_, absl::ToChronoTime(until)) == std::cv_status::timeout) break;
    }
    if (!events_.empty()) {
      *event = std::move(events_.front());
      events_.pop_front();
      return Next::kEvent;
    }
    if (done_) {
      *status = status_;
      return Next::kEnd;
    }
    if (!started_ && absl::Now() >= deadline) {
      abandoned_ = true;
      *status = absl::DeadlineExceededError("deadline exceeded while waiting for a compute thread");
      return Next::kEnd;
    }
    return Next::kIdle;
  }

 private:
  const std::shared_ptr<grpcutil::CallCanceller> canceller_;
  sync::Mutex mu_;
  sync::CondVar cv_;  // an event was pushed, or done_
  std::deque<v1::ReasonEvent> events_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool abandoned_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

v1::ReasonResponse HybridCore::ReasonAnswer(const std::optional<ReasonResult>& reasoned,
                                            absl::Time start) const {
  v1::ReasonResponse response;
  if (!reasoned.has_value()) {
    response.set_explanation("The question has no words to search for; nothing was found.");
    return response;
  }
  const ReasonResult& result = *reasoned;
  if (result.answer.has_value()) ToProto(*result.answer, response.mutable_answer());
  if (result.best_guess.has_value()) ToProto(*result.best_guess, response.mutable_best_guess());
  for (const ConceptLite& c : result.answers) ToProto(c, response.add_answers());
  response.set_confident(result.confident);
  ToProto(result.confidence, response.mutable_confidence());
  for (const ReasoningPath& p : result.paths) ToProto(p, response.add_paths());
  for (const SearchHit& h : result.support) ToProto(h, response.add_support());
  for (const ConceptLite& c : result.path_concepts) ToProto(c, response.add_path_concepts());
  response.set_explanation(result.explanation);
  v1::ReasonStats* stats = response.mutable_stats();
  stats->set_seeds(result.stats.seeds);
  stats->set_nodes_expanded(result.stats.nodes_expanded);
  stats->set_paths_explored(result.stats.paths_explored);
  stats->set_truncated(result.stats.truncated);
  if (reason_seconds_ != nullptr) {
    reason_seconds_->Observe(absl::ToDoubleSeconds(absl::Now() - start));
    reason_paths_explored_->Observe(result.stats.paths_explored);
  }
  return response;
}

absl::StatusOr<v1::ReasonResponse> HybridCore::ReasonImpl(const CallContext& call,
                                                          const v1::ReasonRequest& request) const {
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(ReasonOptions options, CheckReason(request));
  // Namespace lookup, embedding and reasoning: one compute-pool task (its storage reads are
  // waited for there; see the header on why that cannot deadlock).
  ASSIGN_OR_RETURN(std::optional<ReasonResult> reasoned,
                   Compute<std::optional<ReasonResult>>(call, [&] {
                     return RunReasoner(call, request, options, /*observer=*/nullptr);
                   }));
  return ReasonAnswer(reasoned, start);
}

absl::Status HybridCore::ReasonStream(const CallContext& call, const v1::ReasonRequest& request,
                                      const std::function<bool(v1::ReasonEvent)>& emit,
                                      const std::function<bool()>& client_gone) const {
  absl::Status s = ReasonStreamImpl(call, request, emit, client_gone);
  ForgetIfNamespaceGone(request.namespace_(), s);
  return s;
}

absl::Status HybridCore::ReasonStreamImpl(const CallContext& caller,
                                          const v1::ReasonRequest& request,
                                          const std::function<bool(v1::ReasonEvent)>& emit,
                                          const std::function<bool()>& client_gone) const {
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(ReasonOptions options, CheckReason(request));
  CallContext call = caller;
  if (call.canceller == nullptr) call.canceller = std::make_shared<grpcutil::CallCanceller>();
  auto channel = std::make_shared<ReasonChannel>(call.canceller);
  // The task holds its own copies: the caller may give up on it while it is queued.
  auto task = [this, channel, call, request, options = std::move(options), start](bool run) {
    if (!run || !channel->Start()) {
      channel->SetStatus(absl::CancelledError("compute pool stopped"));
      return;
    }
    absl::StatusOr<std::optional<ReasonResult>> reasoned =
        RunReasoner(call, request, options, channel.get());
    if (reasoned.ok()) {
      v1::ReasonEvent answer;
      *answer.mutable_answer() = ReasonAnswer(*reasoned, start);
      channel->Push(std::move(answer));
    }
    channel->SetStatus(reasoned.status());
  };
  if (options_.pool == nullptr) {
    task(true);
    channel->Finish();
  } else {
    // Finish after the worker is idle again, so the caller never sees its own task occupy the
    // pool (as with ComputePool::Run).
    RETURN_IF_ERROR(options_.pool->Submit(std::move(task), [channel] { channel->Finish(); }));
  }
  bool gone = false;
  v1::ReasonEvent event;
  absl::Status status;
  while (true) {
    const ReasonChannel::Next next =
        channel->Wait(call.deadline, absl::Milliseconds(100), &event, &status);
    if (next == ReasonChannel::Next::kEnd) break;
    if (gone) continue;  // drain until the task has stopped
    if (next == ReasonChannel::Next::kEvent ? !emit(std::move(event))
                                            : client_gone && client_gone()) {
      gone = true;
      call.canceller->Cancel();
    }
  }
  if (gone) return absl::CancelledError("the client went away");
  return status;
}

}  // namespace engram::hybrid
