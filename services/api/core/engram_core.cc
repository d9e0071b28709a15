#include "services/api/core/engram_core.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/grpc/correlation.h"
#include "common/status/error_detail.h"
#include "common/status/grpc_status.h"
#include "common/status/status_macros.h"
#include "services/api/core/conversions.h"
#include "spdlog/spdlog.h"

namespace engram::api {

namespace sv1 = storage::v1;
namespace hv1 = hybrid::v1;

namespace {

constexpr const char* kDependencyNames[] = {"storage", "hybrid"};

// Defaults applied before cache keys are computed, so "k unset" and "k = 10" share an entry.
constexpr uint32_t kDefaultSearchK = 10;

static_assert(static_cast<int>(v1::SEMANTIC) == static_cast<int>(sv1::SEMANTIC));
static_assert(static_cast<int>(v1::COMPOSITIONAL) == static_cast<int>(sv1::COMPOSITIONAL));
static_assert(static_cast<int>(v1::INNER_PRODUCT) == static_cast<int>(sv1::INNER_PRODUCT));
static_assert(static_cast<int>(v1::BOTH) == static_cast<int>(sv1::BOTH));

// Rewrites a downstream field path in an error message into the public request's terms, e.g.
// "items[3].content: empty" -> "concepts[3].content: empty". Other statuses pass unchanged.
absl::Status RewriteField(absl::Status s, absl::string_view from, absl::string_view to) {
  if (s.ok() || !absl::StartsWith(s.message(), from)) return s;
  absl::Status out(s.code(), absl::StrCat(to, s.message().substr(from.size())));
  s.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

// Rewrites storage's "mutations[N].<op>.<field>: ..." into the public request's terms:
// "<list>[N].<field>: ..." (a batch), or "<field>: ..." when `list` is empty (a single item).
absl::Status RewriteMutationField(absl::Status s, absl::string_view op, absl::string_view list) {
  constexpr absl::string_view kPrefix = "mutations[";
  if (s.ok() || !absl::StartsWith(s.message(), kPrefix)) return s;
  const absl::string_view rest = s.message().substr(kPrefix.size());
  const size_t close = rest.find("].");
  if (close == absl::string_view::npos) return s;
  const absl::string_view index = rest.substr(0, close);
  absl::string_view field = rest.substr(close + 2);
  if (!absl::StartsWith(field, op)) return s;
  field.remove_prefix(op.size());
  return RewriteField(s, s.message().substr(0, s.message().size() - field.size()),
                      list.empty() ? "" : absl::StrCat(list, "[", index, "]."));
}

absl::Status NotFoundConcept(absl::string_view id, absl::string_view ns) {
  return absl::NotFoundError(absl::StrCat("concept '", id, "' not found in namespace '", ns, "'"));
}

// ---- ListConcepts page tokens ---------------------------------------------------------------
// The public token is web-safe base64 of "1|<issued unix seconds>|<scope digest>|<storage token>".
// The digest (FNV-1a 64 of the namespace and the sorted filter, stable across replicas and
// versions) ties the token to the listing it belongs to.

uint64_t Fnv1a(uint64_t hash, absl::string_view bytes) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

uint64_t ListingDigest(absl::string_view ns,
                       const google::protobuf::Map<std::string, std::string>& filter) {
  std::vector<std::pair<std::string, std::string>> sorted(filter.begin(), filter.end());
  std::sort(sorted.begin(), sorted.end());
  uint64_t hash = Fnv1a(14695981039346656037ull, ns);
  for (const auto& [key, value] : sorted) {
    hash = Fnv1a(hash, absl::string_view("\0", 1));
    hash = Fnv1a(hash, key);
    hash = Fnv1a(hash, absl::string_view("\0", 1));
    hash = Fnv1a(hash, value);
  }
  return hash;
}

std::string EncodePageToken(absl::Time issued, uint64_t digest, absl::string_view storage_token) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("1|", absl::ToUnixSeconds(issued), "|", absl::Hex(digest), "|", storage_token));
}

// The storage token inside `token`, or INVALID_ARGUMENT naming pageToken.
absl::StatusOr<std::string> DecodePageToken(absl::string_view token, uint64_t digest,
                                            absl::Time now, absl::Duration ttl) {
  std::string raw;
  const absl::Status malformed = InvalidField(
      "pageToken", "malformed (pass the nextPageToken of the previous page unchanged)");
  if (!absl::WebSafeBase64Unescape(token, &raw)) return malformed;
  std::vector<std::string> parts = absl::StrSplit(raw, absl::MaxSplits('|', 3));
  int64_t issued = 0;
  uint64_t token_digest = 0;
  if (parts.size() != 4 || parts[0] != "1" || !absl::SimpleAtoi(parts[1], &issued) ||
      !absl::SimpleHexAtoi(parts[2], &token_digest) || parts[3].empty()) {
    return malformed;
  }
  if (token_digest != digest) {
    return InvalidField("pageToken",
                        "issued for another namespace or attribute filter (a listing keeps its "
                        "namespace and filter across pages)");
  }
  const absl::Duration age = now - absl::FromUnixSeconds(issued);
  if (age > ttl) {
    return InvalidField("pageToken",
                        absl::StrCat("expired (page tokens are valid for ",
                                     absl::FormatDuration(ttl),
                                     "; start the listing again without a token)"));
  }
  return parts[3];
}

}  // namespace

const char* EngramCore::MethodName(Method method) {
  static constexpr const char* kNames[kMethodCount] = {
      "CreateNamespace", "ListNamespaces", "GetNamespace",  "DeleteNamespace", "Learn",
      "LearnBatch",      "GetConcept",     "DeleteConcept", "Associate",       "Neighbors",
      "FindPaths",       "Search",         "Reason",        "GetStats",        "ListConcepts",
      "UpdateConcept",   "AssociateBatch", "DeleteAssociation", "ReasonStream",  "ExportNamespace"};
  return kNames[method];
}

EngramCore::EngramCore(EngramCoreDeps deps, EngramCoreOptions options)
    : deps_(std::move(deps)),
      options_(std::move(options)),
      namespaces_({.capacity = options_.max_cached_namespaces,
                   .ttl = options_.namespace_ttl,
                   .clock = deps_.clock}) {
  if (deps_.metrics == nullptr) return;
  metrics::Registry& m = *deps_.metrics;
  requests_ =
      &m.AddCounter("engram_api_requests", "engram.v1.Engram calls by method and status code.",
                    {"method", "code"});
  auto& seconds = m.AddHistogram("engram_api_request_duration_seconds",
                                 "engram.v1.Engram call latency (both transports), by method.",
                                 {"method"}, metrics::DefaultLatencyBuckets());
  for (int i = 0; i < kMethodCount; ++i)
    request_seconds_[i] = &seconds.Add({MethodName(Method(i))});
  downstream_seconds_ = &m.AddHistogram("engram_api_downstream_duration_seconds",
                                        "Latency of one call attempt to a dependency.",
                                        {"dependency", "method"}, metrics::DefaultLatencyBuckets());
  auto& retries =
      m.AddCounter("engram_api_downstream_retries",
                   "Retried attempts of idempotent calls to a dependency.", {"dependency"});
  for (int d = 0; d < 2; ++d) retries_[d] = &retries.Add({kDependencyNames[d]});
  auto& limited = m.AddCounter("engram_api_rate_limited",
                               "Calls refused by a rate limit, by bucket.", {"scope"});
  rate_limited_key_ = &limited.Add({"key"});
  rate_limited_namespace_ = &limited.Add({"namespace"});
  auth_failures_ =
      &m.AddCounter("engram_api_auth_failures",
                    "Calls refused by authentication or authorisation, by reason.", {"reason"});
  cache_hits_ =
      &m.AddCounter("engram_api_cache_hits", "Search and Reason answers served from the cache.")
           .Add({});
  cache_misses_ =
      &m.AddCounter("engram_api_cache_misses", "Search and Reason calls that missed the cache.")
           .Add({});
  CircuitBreaker* storage_breaker = deps_.storage_breaker;
  CircuitBreaker* hybrid_breaker = deps_.hybrid_breaker;
  m.AddCallbackGauge(
      "engram_api_circuit_open", "1 while the dependency's circuit breaker is open or probing.",
      {"dependency"}, [storage_breaker, hybrid_breaker] {
        auto open = [](const CircuitBreaker* b) {
          return b->state() == CircuitBreaker::State::kClosed ? 0.0 : 1.0;
        };
        return metrics::Registry::LabelledValues{{{"storage"}, open(storage_breaker)},
                                                 {{"hybrid"}, open(hybrid_breaker)}};
      });
  ResponseCache* cache = deps_.cache;
  m.AddCallbackGauge(
      "engram_api_cache_bytes", "Bytes held by the Search/Reason response cache.",
      [cache] { return cache == nullptr ? 0.0 : static_cast<double>(cache->bytes()); });
}

EngramCore::~EngramCore() {
  if (deps_.metrics == nullptr) return;
  deps_.metrics->RemoveCallbackGauge("engram_api_circuit_open");
  deps_.metrics->RemoveCallbackGauge("engram_api_cache_bytes");
}

// ---- Admission, instrumentation, downstream calls --------------------------------------------

absl::StatusOr<EngramCore::Call> EngramCore::Admit(const RequestContext& ctx, Role role,
                                                   std::string_view ns) {
  Call call;
  call.ctx = &ctx;
  if (options_.auth_enabled) {
    if (deps_.keys == nullptr) return absl::InternalError("auth enabled without a key store");
    call.keys = deps_.keys->Current();
    absl::StatusOr<const ApiKey*> who = call.keys->Authenticate(ctx.api_key);
    if (!who.ok()) {
      if (auth_failures_ != nullptr) {
        auth_failures_->Add({ctx.api_key.empty() ? "missing_key" : "invalid_key"}).Increment();
      }
      return who.status();
    }
    if (absl::Status s = ApiKeyStore::Authorize(**who, role, ns); !s.ok()) {
      if (auth_failures_ != nullptr) auth_failures_->Add({"forbidden"}).Increment();
      return s;
    }
    call.key = *who;
  }
  if (deps_.limiter != nullptr) {
    absl::Status s = deps_.limiter->Acquire(call.key != nullptr ? call.key->name : "", ns);
    if (!s.ok()) {
      if (s.code() == absl::StatusCode::kResourceExhausted && rate_limited_key_ != nullptr) {
        std::optional<status::ErrorDetail> detail = status::GetDetail(s);
        (detail.has_value() && detail->scope() == "namespace" ? rate_limited_namespace_
                                                              : rate_limited_key_)
            ->Increment();
      }
      return s;
    }
  }
  const absl::Time now = deps_.clock();
  absl::Duration budget = options_.default_deadline;
  if (ctx.deadline != absl::InfiniteFuture())
    budget = std::min(ctx.deadline - now, options_.max_deadline);
  if (budget <= absl::ZeroDuration())
    return absl::DeadlineExceededError("deadline exceeded before the call started");
  call.deadline = now + budget;
  return call;
}

void EngramCore::Observe(Method method, const absl::Status& status, absl::Time start) {
  if (requests_ != nullptr) {
    requests_->Add({MethodName(method), absl::StatusCodeToString(status.code())}).Increment();
    request_seconds_[method]->Observe(absl::ToDoubleSeconds(absl::Now() - start));
  }
  if (!status.ok()) {
    const absl::StatusCode code = status.code();
    if (code == absl::StatusCode::kInternal || code == absl::StatusCode::kUnknown) {
      spdlog::error("{} failed: {}", MethodName(method), status.ToString());
    } else {
      spdlog::debug("{}: {}", MethodName(method), status.ToString());
    }
  }
}

absl::Status EngramCore::MapDownstreamError(Dependency dependency, const char* method,
                                            const grpc::Status& status) const {
  const char* dep = kDependencyNames[static_cast<int>(dependency)];
  const std::string& message = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE: {
      // engram-hybrid reports its own storage trouble with a DEPENDENCY_UNAVAILABLE detail naming
      // storage: pass it on as it is.
      absl::Status typed = status::FromGrpcStatus(status);
      if (dependency == Dependency::kHybrid && status::DependencyOf(typed) == "storage") {
        return typed;
      }
      return status::WithDetail(absl::UnavailableError(absl::StrCat(dep, " unavailable: ", message)),
                                status::DependencyDetail(dep));
    }
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::DeadlineExceededError(absl::StrCat(dep, " ", method, ": deadline exceeded"));
    case grpc::StatusCode::CANCELLED:
      return absl::CancelledError(absl::StrCat(dep, " ", method, ": cancelled"));
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DATA_LOSS:
    case grpc::StatusCode::UNIMPLEMENTED:
      spdlog::error("{} {} failed: code {} {}", dep, method, static_cast<int>(status.error_code()),
                    message);
      return absl::InternalError(absl::StrCat(dep, " ", method, " failed"));
    default:
      return status::FromGrpcStatus(status);
  }
}

absl::Status EngramCore::CallDownstream(
    const Call& call, Dependency dependency, const char* method, bool idempotent,
    const std::function<grpc::Status(grpc::ClientContext*)>& fn) {
  const int d = static_cast<int>(dependency);
  CircuitBreaker& breaker =
      dependency == Dependency::kStorage ? *deps_.storage_breaker : *deps_.hybrid_breaker;
  metrics::Histogram* seconds = downstream_seconds_ != nullptr
                                    ? &downstream_seconds_->Add({kDependencyNames[d], method})
                                    : nullptr;
  int attempts = 0;
  return CallWithResilience(
      breaker, options_.retry, call.deadline, idempotent,
      [&](absl::Time attempt_deadline) -> absl::Status {
        if (++attempts > 1 && retries_[d] != nullptr) retries_[d]->Increment();
        const absl::Duration timeout = attempt_deadline - deps_.clock();
        if (timeout <= absl::ZeroDuration()) {
          return absl::DeadlineExceededError(
              absl::StrCat(kDependencyNames[d], " ", method, ": deadline exceeded"));
        }
        grpc::ClientContext context;
        grpcutil::PrepareClientContext(&context, timeout, call.ctx->correlation_id);
        const absl::Time start = absl::Now();
        grpc::Status status = fn(&context);
        if (seconds != nullptr) seconds->Observe(absl::ToDoubleSeconds(absl::Now() - start));
        if (status.ok()) return absl::OkStatus();
        absl::Status mapped = MapDownstreamError(dependency, method, status);
        if (std::optional<status::ErrorDetail> detail = status::GetDetail(mapped);
            detail.has_value() && detail->reason() == status::ErrorDetail::NAMESPACE_NOT_FOUND) {
          ForgetNamespace(detail->namespace_());  // deleted (maybe re-created) behind our back
        }
        return mapped;
      },
      deps_.sleep);
}

absl::StatusOr<sv1::NamespaceConfig> EngramCore::NamespaceConfig(const Call& call,
                                                                 const std::string& ns) {
  if (std::optional<sv1::NamespaceConfig> hit = namespaces_.Get(ns)) return *std::move(hit);
  sv1::GetNamespaceRequest req;
  req.set_name(ns);
  sv1::NamespaceInfo info;
  RETURN_IF_ERROR(CallDownstream(
      call, Dependency::kStorage, "GetNamespace", /*idempotent=*/true,
      [&](grpc::ClientContext* c) { return deps_.storage->GetNamespace(c, req, &info); }));
  namespaces_.Put(ns, info.config());
  return info.config();
}

void EngramCore::ForgetNamespace(const std::string& ns) { namespaces_.Invalidate(ns); }

void EngramCore::InvalidateResponses(std::string_view ns) {
  if (deps_.cache != nullptr) deps_.cache->Invalidate(ns);
}

// ---- Namespaces ---------------------------------------------------------------------------------

absl::StatusOr<v1::Namespace> EngramCore::CreateNamespace(
    const RequestContext& ctx, const v1::CreateNamespaceRequest& request) {
  return Instrumented<v1::Namespace>(kCreateNamespace, [&]() -> absl::StatusOr<v1::Namespace> {
    ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kAdmin, request.name()));
    RETURN_IF_ERROR(ValidateCreateNamespace(request, options_.limits));
    uint32_t dimension = request.dimension();
    if (dimension == 0 && absl::StartsWith(request.embedder(), "word-vectors/")) {
      // The model decides the dimension: ask engram-hybrid, which loads it.
      hv1::EmbedRequest embed;
      embed.set_embedder(request.embedder());
      embed.add_texts("");
      hv1::EmbedResponse embedded;
      RETURN_IF_ERROR(CallDownstream(
          call, Dependency::kHybrid, "Embed", /*idempotent=*/true,
          [&](grpc::ClientContext* c) { return deps_.hybrid->Embed(c, embed, &embedded); }));
      dimension = embedded.dimension();
    }
    sv1::CreateNamespaceRequest req;
    sv1::NamespaceConfig* config = req.mutable_config();
    config->set_name(request.name());
    config->set_dimension(dimension);
    config->set_metric(static_cast<sv1::Metric>(request.metric()));
    config->set_embedder(request.embedder().empty() ? "hashing" : request.embedder());
    config->mutable_index_params()->set_m(request.index_params().m());
    config->mutable_index_params()->set_ef_construction(request.index_params().ef_construction());
    sv1::NamespaceInfo info;
    absl::Status s = CallDownstream(
        call, Dependency::kStorage, "CreateNamespace", /*idempotent=*/false,
        [&](grpc::ClientContext* c) { return deps_.storage->CreateNamespace(c, req, &info); });
    RETURN_IF_ERROR(RewriteField(std::move(s), "config.", ""));
    ForgetNamespace(request.name());
    InvalidateResponses(request.name());
    spdlog::info("namespace '{}' created (dimension {}, embedder {})", request.name(),
                 info.config().dimension(), info.config().embedder());
    return ToV1(info);
  });
}

absl::StatusOr<v1::ListNamespacesResponse> EngramCore::ListNamespaces(
    const RequestContext& ctx, const v1::ListNamespacesRequest&) {
  return Instrumented<v1::ListNamespacesResponse>(
      kListNamespaces, [&]() -> absl::StatusOr<v1::ListNamespacesResponse> {
        ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kReader, ""));
        sv1::ListNamespacesRequest req;
        sv1::ListNamespacesResponse resp;
        RETURN_IF_ERROR(CallDownstream(
            call, Dependency::kStorage, "ListNamespaces", /*idempotent=*/true,
            [&](grpc::ClientContext* c) { return deps_.storage->ListNamespaces(c, req, &resp); }));
        v1::ListNamespacesResponse out;
        for (const sv1::NamespaceInfo& info : resp.namespaces()) {
          if (call.key != nullptr && !call.key->AllowsNamespace(info.config().name())) continue;
          *out.add_namespaces() = ToV1(info);
        }
        return out;
      });
}

absl::StatusOr<v1::Namespace> EngramCore::GetNamespace(const RequestContext& ctx,
                                                       const v1::GetNamespaceRequest& request) {
  return Instrumented<v1::Namespace>(kGetNamespace, [&]() -> absl::StatusOr<v1::Namespace> {
    ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kReader, request.namespace_()));
    RETURN_IF_ERROR(ValidateNamespaceName("namespace", request.namespace_()));
    sv1::GetNamespaceRequest req;
    req.set_name(request.namespace_());
    sv1::NamespaceInfo info;
    RETURN_IF_ERROR(CallDownstream(
        call, Dependency::kStorage, "GetNamespace", /*idempotent=*/true,
        [&](grpc::ClientContext* c) { return deps_.storage->GetNamespace(c, req, &info); }));
    namespaces_.Put(request.namespace_(), info.config());
    return ToV1(info);
  });
}

absl::StatusOr<v1::DeleteNamespaceResponse> EngramCore::DeleteNamespace(
    const RequestContext& ctx, const v1::DeleteNamespaceRequest& request) {
  return Instrumented<v1::DeleteNamespaceResponse>(
      kDeleteNamespace, [&]() -> absl::StatusOr<v1::DeleteNamespaceResponse> {
        ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kAdmin, request.namespace_()));
        RETURN_IF_ERROR(ValidateNamespaceName("namespace", request.namespace_()));
        sv1::DeleteNamespaceRequest req;
        req.set_name(request.namespace_());
        sv1::DeleteNamespaceResponse resp;
        absl::Status s = CallDownstream(
            call, Dependency::kStorage, "DeleteNamespace", /*idempotent=*/false,
            [&](grpc::ClientContext* c) { return deps_.storage->DeleteNamespace(c, req, &resp); });
        // Whatever the outcome, this replica's view of the namespace may be stale now.
        ForgetNamespace(request.namespace_());
        InvalidateResponses(request.namespace_());
        RETURN_IF_ERROR(s);
        spdlog::info("namespace '{}' deleted", request.namespace_());
        return v1::DeleteNamespaceResponse();
      });
}

// ---- Learning and concepts ----------------------------------------------------------------------

absl::StatusOr<v1::LearnResponse> EngramCore::Learn(const RequestContext& ctx,
                                                    const v1::LearnRequest& request) {
  return Instrumented<v1::LearnResponse>(kLearn, [&]() -> absl::StatusOr<v1::LearnResponse> {
    ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kWriter, request.namespace_()));
    RETURN_IF_ERROR(ValidateLearn(request, options_.limits));
    ASSIGN_OR_RETURN(sv1::NamespaceConfig config, NamespaceConfig(call, request.namespace_()));
    if (!request.vector().empty()) {
      RETURN_IF_ERROR(ValidateVector("vector", request.vector(), config.dimension()));
    } else if (config.embedder() == "none") {
      return InvalidField("vector", absl::StrCat("required: namespace '", request.namespace_(),
                                                 "' has the embedder \"none\""));
    }
    hv1::LearnRequest req;
    req.set_namespace_(request.namespace_());
    *req.add_items() = ToLearnItem(request);
    hv1::LearnResponse resp;
    absl::Status s =
        CallDownstream(call, Dependency::kHybrid, "Learn", /*idempotent=*/false,
                       [&](grpc::ClientContext* c) { return deps_.hybrid->Learn(c, req, &resp); });
    // A failed write may still have been applied (its outcome is unknown): invalidate either way.
    InvalidateResponses(request.namespace_());
    RETURN_IF_ERROR(RewriteField(std::move(s), "items[0].", ""));
    if (resp.results_size() != 1) return absl::InternalError("hybrid Learn: result count mismatch");
    v1::LearnResponse out;
    out.set_id(resp.results(0).id());
    out.set_created(resp.results(0).created());
    for (const sv1::Association& a : resp.associations()) *out.add_associations() = ToV1(a);
    return out;
  });
}

absl::StatusOr<v1::LearnBatchResponse> EngramCore::LearnBatch(
    const RequestContext& ctx, const v1::LearnBatchRequest& request) {
  return Instrumented<v1::LearnBatchResponse>(
      kLearnBatch, [&]() -> absl::StatusOr<v1::LearnBatchResponse> {
        ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kWriter, request.namespace_()));
        RETURN_IF_ERROR(ValidateLearnBatch(request, options_.limits));
        ASSIGN_OR_RETURN(sv1::NamespaceConfig config, NamespaceConfig(call, request.namespace_()));
        for (int i = 0; i < request.concepts_size(); ++i) {
          const v1::LearnRequest& item = request.concepts(i);
          if (!item.vector().empty()) {
            RETURN_IF_ERROR(ValidateVector(IndexedField("concepts", i, "vector"), item.vector(),
                                           config.dimension()));
          } else if (config.embedder() == "none") {
            return InvalidField(IndexedField("concepts", i, "vector"),
                                absl::StrCat("required: namespace '", request.namespace_(),
                                             "' has the embedder \"none\""));
          }
        }
        hv1::LearnRequest req;
        req.set_namespace_(request.namespace_());
        for (const v1::LearnRequest& item : request.concepts())
          *req.add_items() = ToLearnItem(item);
        hv1::LearnResponse resp;
        absl::Status s = CallDownstream(
            call, Dependency::kHybrid, "Learn", /*idempotent=*/false,
            [&](grpc::ClientContext* c) { return deps_.hybrid->Learn(c, req, &resp); });
        InvalidateResponses(request.namespace_());
        RETURN_IF_ERROR(RewriteField(std::move(s), "items[", "concepts["));
        if (resp.results_size() != request.concepts_size()) {
          return absl::InternalError("hybrid Learn: result count mismatch");
        }
        v1::LearnBatchResponse out;
        for (const hv1::LearnResult& r : resp.results()) {
          v1::LearnResult* result = out.add_results();
          result->set_id(r.id());
          result->set_created(r.created());
        }
        out.set_associations_created(resp.associations_created());
        return out;
      });
}

absl::StatusOr<v1::Concept> EngramCore::GetConcept(const RequestContext& ctx,
                                                   const v1::GetConceptRequest& request) {
  return Instrumented<v1::Concept>(kGetConcept, [&]() -> absl::StatusOr<v1::Concept> {
    ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kReader, request.namespace_()));
    RETURN_IF_ERROR(ValidateGetConcept(request, options_.limits));
    sv1::GetConceptsRequest req;
    req.set_namespace_(request.namespace_());
    req.add_ids(request.id());
    req.set_include_vector(request.include_vector());
    sv1::GetConceptsResponse resp;
    RETURN_IF_ERROR(CallDownstream(
        call, Dependency::kStorage, "GetConcepts", /*idempotent=*/true,
        [&](grpc::ClientContext* c) { return deps_.storage->GetConcepts(c, req, &resp); }));
    if (resp.concepts_size() == 0) return NotFoundConcept(request.id(), request.namespace_());
    return ToV1(resp.concepts(0), request.include_vector());
  });
}

absl::StatusOr<v1::DeleteConceptResponse> EngramCore::DeleteConcept(
    const RequestContext& ctx, const v1::DeleteConceptRequest& request) {
  return Instrumented<v1::DeleteConceptResponse>(
      kDeleteConcept, [&]() -> absl::StatusOr<v1::DeleteConceptResponse> {
        ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kWriter, request.namespace_()));
        RETURN_IF_ERROR(ValidateDeleteConcept(request, options_.limits));
        sv1::DeleteConceptsRequest req;
        req.set_namespace_(request.namespace_());
        req.add_ids(request.id());
        sv1::WriteResponse resp;
        absl::Status s = CallDownstream(
            call, Dependency::kStorage, "DeleteConcepts", /*idempotent=*/false,
            [&](grpc::ClientContext* c) { return deps_.storage->DeleteConcepts(c, req, &resp); });
        InvalidateResponses(request.namespace_());
        RETURN_IF_ERROR(RewriteField(std::move(s), "ids[0]", "id"));
        if (resp.results_size() != 1 || !resp.results(0).found()) {
          return NotFoundConcept(request.id(), request.namespace_());
        }
        return v1::DeleteConceptResponse();
      });
}

absl::StatusOr<v1::ListConceptsResponse> EngramCore::ListConcepts(
    const RequestContext& ctx, const v1::ListConceptsRequest& request) {
  return Instrumented<v1::ListConceptsResponse>(
      kListConcepts, [&]() -> absl::StatusOr<v1::ListConceptsResponse> {
        ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kReader, request.namespace_()));
        sv1::ScanRequest req;
        RETURN_IF_ERROR(ValidateListConcepts(request, options_.limits, req.mutable_filter()));
        const uint64_t digest = ListingDigest(request.namespace_(), req.filter());
        req.set_namespace_(request.namespace_());
        req.set_page_size(request.page_size());
        req.set_include_vector(request.include_vector());
        if (!request.page_token().empty()) {
          ASSIGN_OR_RETURN(*req.mutable_page_token(),
                           DecodePageToken(request.page_token(), digest, deps_.clock(),
                                           options_.page_token_ttl));
        }
        sv1::ScanResponse resp;
        absl::Status s = CallDownstream(
            call, Dependency::kStorage, "Scan", /*idempotent=*/true,
            [&](grpc::ClientContext* c) { return deps_.storage->Scan(c, req, &resp); });
        s = RewriteField(std::move(s), "page_token", "pageToken");
        s = RewriteField(std::move(s), "page_size", "pageSize");
        RETURN_IF_ERROR(RewriteField(std::move(s), "filter", "attribute"));
        v1::ListConceptsResponse out;
        for (const sv1::Concept& c : resp.concepts()) {
          *out.add_concepts() = ToV1(c, request.include_vector());
        }
        if (!resp.next_page_token().empty()) {
          out.set_next_page_token(
              EncodePageToken(deps_.clock(), digest, resp.next_page_token()));
        }
        return out;
      });
}

absl::StatusOr<v1::Concept> EngramCore::UpdateConcept(const RequestContext& ctx,
                                                      const v1::UpdateConceptRequest& request) {
  return Instrumented<v1::Concept>(kUpdateConcept, [&]() -> absl::StatusOr<v1::Concept> {
    ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kWriter, request.namespace_()));
    RETURN_IF_ERROR(ValidateUpdateConcept(request, options_.limits));
    const std::string& ns = request.namespace_();
    const UpdateFields fields = MaskedFields(request);
    ASSIGN_OR_RETURN(sv1::NamespaceConfig config, NamespaceConfig(call, ns));
    if (fields.vector && !request.vector().empty()) {
      RETURN_IF_ERROR(ValidateVector("vector", request.vector(), config.dimension()));
    }

    // Read the concept as stored (with its vector: a put replaces the whole concept).
    sv1::GetConceptsRequest get;
    get.set_namespace_(ns);
    get.add_ids(request.id());
    get.set_include_vector(true);
    sv1::GetConceptsResponse got;
    RETURN_IF_ERROR(CallDownstream(
        call, Dependency::kStorage, "GetConcepts", /*idempotent=*/true,
        [&](grpc::ClientContext* c) { return deps_.storage->GetConcepts(c, get, &got); }));
    if (got.concepts_size() == 0) return NotFoundConcept(request.id(), ns);

    sv1::PutConceptsRequest put;
    put.set_namespace_(ns);
    sv1::Concept* concept_out = put.add_concepts();
    *concept_out = got.concepts(0);
    concept_out->clear_create_time();
    concept_out->clear_update_time();
    const bool content_changed = fields.content && request.content() != concept_out->content();
    if (fields.content) concept_out->set_content(request.content());
    if (fields.attributes) {
      concept_out->mutable_attributes()->clear();
      concept_out->mutable_attributes()->insert(request.attributes().begin(),
                                                request.attributes().end());
    }
    if (fields.strength) concept_out->set_strength(request.strength().value());
    if (fields.confidence) concept_out->set_confidence(request.confidence().value());
    if (fields.vector && !request.vector().empty()) {
      concept_out->mutable_vector()->CopyFrom(request.vector());
    } else if (content_changed || fields.vector) {
      // New content without a vector, or an explicitly cleared vector: the namespace's embedder
      // embeds the (new) content, as Learn would.
      if (config.embedder() == "none") {
        return InvalidField("vector", absl::StrCat("required when the content changes: namespace '",
                                                   ns, "' has the embedder \"none\""));
      }
      hv1::EmbedRequest embed;
      embed.set_namespace_(ns);
      embed.add_texts(concept_out->content());
      hv1::EmbedResponse embedded;
      RETURN_IF_ERROR(CallDownstream(
          call, Dependency::kHybrid, "Embed", /*idempotent=*/true,
          [&](grpc::ClientContext* c) { return deps_.hybrid->Embed(c, embed, &embedded); }));
      if (embedded.embeddings_size() != 1) {
        return absl::InternalError("hybrid Embed: embedding count mismatch");
      }
      concept_out->mutable_vector()->CopyFrom(embedded.embeddings(0).values());
    }

    sv1::WriteResponse written;
    absl::Status s = CallDownstream(
        call, Dependency::kStorage, "PutConcepts", /*idempotent=*/false,
        [&](grpc::ClientContext* c) { return deps_.storage->PutConcepts(c, put, &written); });
    InvalidateResponses(ns);
    RETURN_IF_ERROR(RewriteMutationField(std::move(s), "put_concept.", ""));

    // Read it back for the stored times (read-your-writes).
    get.set_include_vector(false);
    got.Clear();
    absl::Status reread = CallDownstream(
        call, Dependency::kStorage, "GetConcepts", /*idempotent=*/true,
        [&](grpc::ClientContext* c) { return deps_.storage->GetConcepts(c, get, &got); });
    if (!reread.ok() || got.concepts_size() == 0) {
      spdlog::warn("update: written, but reading it back failed: {}", reread.ToString());
      return ToV1(*concept_out, /*include_vector=*/false);
    }
    return ToV1(got.concepts(0), /*include_vector=*/false);
  });
}

// ---- Associations and the graph -----------------------------------------------------------------

absl::StatusOr<sv1::Association> EngramCore::ReadAssociation(const Call& call,
                                                             const std::string& ns,
                                                             const sv1::Association& key) {
  // A one-hop path search finds exactly this edge; a self-loop is found among the neighbors.
  if (key.source() != key.target()) {
    sv1::FindPathsRequest req;
    req.set_namespace_(ns);
    req.set_source(key.source());
    req.set_target(key.target());
    req.set_max_depth(1);
    req.set_max_paths(1);
    req.add_types(key.type());
    req.set_direction(sv1::OUT);
    sv1::FindPathsResponse resp;
    RETURN_IF_ERROR(CallDownstream(
        call, Dependency::kStorage, "FindPaths", /*idempotent=*/true,
        [&](grpc::ClientContext* c) { return deps_.storage->FindPaths(c, req, &resp); }));
    for (const sv1::Path& p : resp.paths()) {
      if (p.hops_size() == 1) return p.hops(0);
    }
  } else {
    sv1::NeighborsRequest req;
    req.set_namespace_(ns);
    req.set_id(key.source());
    req.add_types(key.type());
    req.set_direction(sv1::OUT);
    req.set_limit(options_.limits.max_neighbors);
    sv1::NeighborsResponse resp;
    RETURN_IF_ERROR(CallDownstream(
        call, Dependency::kStorage, "Neighbors", /*idempotent=*/true,
        [&](grpc::ClientContext* c) { return deps_.storage->Neighbors(c, req, &resp); }));
    for (const sv1::Neighbor& n : resp.neighbors()) {
      const sv1::Association& a = n.association();
      if (a.source() == key.source() && a.target() == key.target() && a.type() == key.type())
        return a;
    }
  }
  return absl::NotFoundError("association not found after writing it");
}

absl::StatusOr<v1::Association> EngramCore::Associate(const RequestContext& ctx,
                                                      const v1::AssociateRequest& request) {
  return Instrumented<v1::Association>(kAssociate, [&]() -> absl::StatusOr<v1::Association> {
    ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kWriter, request.namespace_()));
    RETURN_IF_ERROR(ValidateAssociate(request, options_.limits));
    sv1::PutAssociationsRequest req;
    req.set_namespace_(request.namespace_());
    sv1::Association* a = req.add_associations();
    a->set_source(request.source());
    a->set_target(request.target());
    a->set_type(static_cast<sv1::AssociationType>(request.type()));
    // Unset stays unset: storage applies the default (1.0) and keeps an explicit 0.
    if (request.has_confidence()) a->set_confidence(request.confidence().value());
    if (request.has_weight()) a->set_weight(request.weight().value());
    sv1::WriteResponse resp;
    absl::Status s = CallDownstream(
        call, Dependency::kStorage, "PutAssociations", /*idempotent=*/false,
        [&](grpc::ClientContext* c) { return deps_.storage->PutAssociations(c, req, &resp); });
    InvalidateResponses(request.namespace_());
    s = RewriteMutationField(std::move(s), "put_association.", "");
    RETURN_IF_ERROR(RewriteField(std::move(s), "associations[0].", ""));
    // Read it back (read-your-writes): the answer carries what storage stored, create time
    // included.
    absl::StatusOr<sv1::Association> stored = ReadAssociation(call, request.namespace_(), *a);
    if (!stored.ok()) {
      spdlog::warn("associate: written, but reading it back failed: {}",
                   stored.status().ToString());
      return ToV1(*a);
    }
    return ToV1(*stored);
  });
}

absl::StatusOr<v1::AssociateBatchResponse> EngramCore::AssociateBatch(
    const RequestContext& ctx, const v1::AssociateBatchRequest& request) {
  return Instrumented<v1::AssociateBatchResponse>(
      kAssociateBatch, [&]() -> absl::StatusOr<v1::AssociateBatchResponse> {
        ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kWriter, request.namespace_()));
        RETURN_IF_ERROR(ValidateAssociateBatch(request, options_.limits));
        sv1::PutAssociationsRequest req;
        req.set_namespace_(request.namespace_());
        v1::AssociateBatchResponse out;
        for (const v1::AssociateRequest& item : request.associations()) {
          sv1::Association* a = req.add_associations();
          a->set_source(item.source());
          a->set_target(item.target());
          a->set_type(static_cast<sv1::AssociationType>(item.type()));
          // Unset stays unset: storage applies the default (1.0) and keeps an explicit 0.
          if (item.has_confidence()) a->set_confidence(item.confidence().value());
          if (item.has_weight()) a->set_weight(item.weight().value());
          v1::Association* echoed = out.add_associations();
          echoed->set_source(item.source());
          echoed->set_target(item.target());
          echoed->set_type(item.type());
          echoed->set_confidence(item.has_confidence() ? item.confidence().value() : 1.0f);
          echoed->set_weight(item.has_weight() ? item.weight().value() : 1.0f);
        }
        sv1::WriteResponse resp;
        absl::Status s = CallDownstream(
            call, Dependency::kStorage, "PutAssociations", /*idempotent=*/false,
            [&](grpc::ClientContext* c) { return deps_.storage->PutAssociations(c, req, &resp); });
        InvalidateResponses(request.namespace_());
        // Storage names the item: "mutations[3].put_association.target" -> "associations[3].target".
        RETURN_IF_ERROR(RewriteMutationField(std::move(s), "put_association.", "associations"));
        if (resp.results_size() != request.associations_size()) {
          return absl::InternalError("storage PutAssociations: result count mismatch");
        }
        return out;
      });
}

absl::StatusOr<v1::DeleteAssociationResponse> EngramCore::DeleteAssociation(
    const RequestContext& ctx, const v1::DeleteAssociationRequest& request) {
  return Instrumented<v1::DeleteAssociationResponse>(
      kDeleteAssociation, [&]() -> absl::StatusOr<v1::DeleteAssociationResponse> {
        ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kWriter, request.namespace_()));
        RETURN_IF_ERROR(ValidateDeleteAssociation(request, options_.limits));
        sv1::DeleteAssociationsRequest req;
        req.set_namespace_(request.namespace_());
        sv1::AssociationKey* key = req.add_keys();
        key->set_source(request.source());
        key->set_target(request.target());
        key->set_type(static_cast<sv1::AssociationType>(request.type()));
        sv1::WriteResponse resp;
        absl::Status s = CallDownstream(
            call, Dependency::kStorage, "DeleteAssociations", /*idempotent=*/false,
            [&](grpc::ClientContext* c) {
              return deps_.storage->DeleteAssociations(c, req, &resp);
            });
        InvalidateResponses(request.namespace_());
        RETURN_IF_ERROR(RewriteField(std::move(s), "keys[0].", ""));
        if (resp.results_size() != 1 || !resp.results(0).found()) {
          return absl::NotFoundError(absl::StrCat(
              "association '", request.source(), "' -", v1::AssociationType_Name(request.type()),
              "-> '", request.target(), "' not found in namespace '", request.namespace_(), "'"));
        }
        return v1::DeleteAssociationResponse();
      });
}

absl::StatusOr<v1::NeighborsResponse> EngramCore::Neighbors(const RequestContext& ctx,
                                                            const v1::NeighborsRequest& request) {
  return Instrumented<v1::NeighborsResponse>(
      kNeighbors, [&]() -> absl::StatusOr<v1::NeighborsResponse> {
        ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kReader, request.namespace_()));
        RETURN_IF_ERROR(ValidateNeighbors(request, options_.limits));
        sv1::NeighborsRequest req;
        req.set_namespace_(request.namespace_());
        req.set_id(request.id());
        if (request.type() != v1::ASSOCIATION_TYPE_UNSPECIFIED) {
          req.add_types(static_cast<sv1::AssociationType>(request.type()));
        }
        req.set_direction(static_cast<sv1::Direction>(request.direction()));
        req.set_limit(request.limit());
        sv1::NeighborsResponse resp;
        RETURN_IF_ERROR(CallDownstream(
            call, Dependency::kStorage, "Neighbors", /*idempotent=*/true,
            [&](grpc::ClientContext* c) { return deps_.storage->Neighbors(c, req, &resp); }));
        v1::NeighborsResponse out;
        for (const sv1::Neighbor& n : resp.neighbors()) {
          v1::Neighbor* o = out.add_neighbors();
          *o->mutable_node() = ToRef(n.node());
          *o->mutable_association() = ToV1(n.association());
        }
        return out;
      });
}

absl::StatusOr<v1::FindPathsResponse> EngramCore::FindPaths(const RequestContext& ctx,
                                                            const v1::FindPathsRequest& request) {
  return Instrumented<v1::FindPathsResponse>(
      kFindPaths, [&]() -> absl::StatusOr<v1::FindPathsResponse> {
        ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kReader, request.namespace_()));
        RETURN_IF_ERROR(ValidateFindPaths(request, options_.limits));
        sv1::FindPathsRequest req;
        req.set_namespace_(request.namespace_());
        req.set_source(request.source());
        req.set_target(request.target());
        req.set_max_depth(request.max_depth());
        req.set_max_paths(request.max_paths());
        for (int t : request.types()) req.add_types(static_cast<sv1::AssociationType>(t));
        req.set_mode(sv1::BEST);
        sv1::FindPathsResponse resp;
        RETURN_IF_ERROR(CallDownstream(
            call, Dependency::kStorage, "FindPaths", /*idempotent=*/true,
            [&](grpc::ClientContext* c) { return deps_.storage->FindPaths(c, req, &resp); }));
        v1::FindPathsResponse out;
        for (const sv1::Path& p : resp.paths()) *out.add_paths() = ToV1(p);
        return out;
      });
}

// ---- Search and reasoning -----------------------------------------------------------------------

template <typename Response, typename Fn>
absl::StatusOr<Response> EngramCore::CachedOr(const std::string& ns, std::string_view kind,
                                              const google::protobuf::Message& normalised,
                                              Fn&& compute) {
  if (deps_.cache == nullptr) return compute();
  const std::string key = ResponseCache::Key(kind, normalised);
  if (std::optional<std::string> hit = deps_.cache->Get(ns, key)) {
    Response cached;
    if (cached.ParseFromString(*hit)) {
      if (cache_hits_ != nullptr) cache_hits_->Increment();
      return cached;
    }
  }
  if (cache_misses_ != nullptr) cache_misses_->Increment();
  const uint64_t generation = deps_.cache->Generation(ns);
  ASSIGN_OR_RETURN(Response out, compute());
  deps_.cache->Put(ns, key, out.SerializeAsString(), generation);
  return out;
}

absl::StatusOr<v1::SearchResponse> EngramCore::Search(const RequestContext& ctx,
                                                      const v1::SearchRequest& request) {
  return Instrumented<v1::SearchResponse>(kSearch, [&]() -> absl::StatusOr<v1::SearchResponse> {
    ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kReader, request.namespace_()));
    RETURN_IF_ERROR(ValidateSearch(request, options_.limits));
    v1::SearchRequest normal = request;
    normal.set_query(std::string(absl::StripAsciiWhitespace(request.query())));
    if (normal.k() == 0) normal.set_k(kDefaultSearchK);
    const std::string& ns = request.namespace_();

    return CachedOr<v1::SearchResponse>(
        ns, "search", normal, [&]() -> absl::StatusOr<v1::SearchResponse> {
          // The fields hybrid's and storage's SearchRequest share.
          auto common = [&](auto& req) {
            req.set_namespace_(ns);
            req.set_k(normal.k());
            req.set_ef(normal.ef());
            req.mutable_filter()->insert(normal.filter().attributes().begin(),
                                         normal.filter().attributes().end());
          };
          v1::SearchResponse out;
          if (!normal.query().empty()) {
            hv1::SearchRequest req;
            common(req);
            req.set_text(normal.query());
            hv1::SearchResponse resp;
            RETURN_IF_ERROR(CallDownstream(
                call, Dependency::kHybrid, "Search", /*idempotent=*/true,
                [&](grpc::ClientContext* c) { return deps_.hybrid->Search(c, req, &resp); }));
            for (const sv1::SearchResult& r : resp.results()) *out.add_results() = ToV1(r);
          } else {
            ASSIGN_OR_RETURN(sv1::NamespaceConfig config, NamespaceConfig(call, ns));
            RETURN_IF_ERROR(ValidateVector("vector", normal.vector(), config.dimension()));
            sv1::SearchRequest req;
            common(req);
            req.mutable_vector()->CopyFrom(normal.vector());
            sv1::SearchResponse resp;
            RETURN_IF_ERROR(CallDownstream(
                call, Dependency::kStorage, "Search", /*idempotent=*/true,
                [&](grpc::ClientContext* c) { return deps_.storage->Search(c, req, &resp); }));
            for (const sv1::SearchResult& r : resp.results()) *out.add_results() = ToV1(r);
          }
          return out;
        });
  });
}

absl::StatusOr<v1::ReasonResponse> EngramCore::Reason(const RequestContext& ctx,
                                                      const v1::ReasonRequest& request) {
  return Instrumented<v1::ReasonResponse>(kReason, [&]() -> absl::StatusOr<v1::ReasonResponse> {
    ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kReader, request.namespace_()));
    RETURN_IF_ERROR(ValidateReason(request, options_.limits));
    const v1::ReasonRequest normal = NormalizedReason(request);
    const std::string& ns = request.namespace_();

    return CachedOr<v1::ReasonResponse>(
        ns, "reason", normal, [&]() -> absl::StatusOr<v1::ReasonResponse> {
          const hv1::ReasonRequest req = ToHybrid(normal);
          hv1::ReasonResponse resp;
          RETURN_IF_ERROR(CallDownstream(
              call, Dependency::kHybrid, "Reason", /*idempotent=*/true,
              [&](grpc::ClientContext* c) { return deps_.hybrid->Reason(c, req, &resp); }));
          return ToV1(resp);
        });
  });
}

// ---- Stats --------------------------------------------------------------------------------------

absl::StatusOr<v1::Stats> EngramCore::GetStats(const RequestContext& ctx,
                                               const v1::GetStatsRequest&) {
  return Instrumented<v1::Stats>(kGetStats, [&]() -> absl::StatusOr<v1::Stats> {
    ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kReader, ""));
    sv1::GetStatsRequest req;
    sv1::ServerStats resp;
    RETURN_IF_ERROR(CallDownstream(
        call, Dependency::kStorage, "GetStats", /*idempotent=*/true,
        [&](grpc::ClientContext* c) { return deps_.storage->GetStats(c, req, &resp); }));
    return ToV1(resp);
  });
}

}  // namespace engram::api
