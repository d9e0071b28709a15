// EngramCore's machinery: construction and metrics, admission (auth, rate limits, deadlines),
// downstream calls (retries, circuit breakers, error mapping) and the namespace config cache. The
// handlers are in engram_core_{namespaces,concepts,graph,query,streams}.cc.
#include "services/api/core/engram_core.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc/correlation.h"
#include "common/status/error_detail.h"
#include "common/status/grpc_status.h"
#include "common/status/status_macros.h"
#include "spdlog/spdlog.h"

namespace engram::api {

namespace sv1 = storage::v1;

namespace {

constexpr const char* kDependencyNames[] = {"storage", "hybrid"};

static_assert(static_cast<int>(v1::SEMANTIC) == static_cast<int>(sv1::SEMANTIC));
static_assert(static_cast<int>(v1::COMPOSITIONAL) == static_cast<int>(sv1::COMPOSITIONAL));
static_assert(static_cast<int>(v1::INNER_PRODUCT) == static_cast<int>(sv1::INNER_PRODUCT));
static_assert(static_cast<int>(v1::BOTH) == static_cast<int>(sv1::BOTH));

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
      // The api never cancels a unary downstream call, and a stream whose client went away is
      // answered before this mapping: the dependency ended the call (it was shutting down).
      // To the client that is the dependency being unavailable, not a cancellation it asked for.
      return status::WithDetail(
          absl::UnavailableError(absl::StrCat(dep, " unavailable: ", method, " cancelled by ", dep)),
          status::DependencyDetail(dep));
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
  CircuitBreaker& breaker =
      dependency == Dependency::kStorage ? *deps_.storage_breaker : *deps_.hybrid_breaker;
  int attempts = 0;
  return CallWithResilience(
      breaker, options_.retry, call.deadline, idempotent,
      [&](absl::Time attempt_deadline) -> absl::Status {
        ASSIGN_OR_RETURN(std::unique_ptr<grpc::ClientContext> context,
                         StartAttempt(call, dependency, method, attempt_deadline, &attempts));
        const absl::Time start = absl::Now();
        return EndAttempt(dependency, method, start, fn(context.get()));
      },
      deps_.sleep);
}

absl::StatusOr<std::unique_ptr<grpc::ClientContext>> EngramCore::StartAttempt(
    const Call& call, Dependency dependency, const char* method, absl::Time attempt_deadline,
    int* attempts) {
  const int d = static_cast<int>(dependency);
  if (++*attempts > 1 && retries_[d] != nullptr) retries_[d]->Increment();
  const absl::Duration timeout = attempt_deadline - deps_.clock();
  if (timeout <= absl::ZeroDuration()) {
    return absl::DeadlineExceededError(
        absl::StrCat(kDependencyNames[d], " ", method, ": deadline exceeded"));
  }
  auto context = std::make_unique<grpc::ClientContext>();
  grpcutil::PrepareClientContext(context.get(), timeout, call.ctx->correlation_id);
  return context;
}

absl::Status EngramCore::EndAttempt(Dependency dependency, const char* method, absl::Time start,
                                    const grpc::Status& status) {
  const int d = static_cast<int>(dependency);
  if (downstream_seconds_ != nullptr) {
    downstream_seconds_->Add({kDependencyNames[d], method})
        .Observe(absl::ToDoubleSeconds(absl::Now() - start));
  }
  if (status.ok()) return absl::OkStatus();
  absl::Status mapped = MapDownstreamError(dependency, method, status);
  if (std::optional<status::ErrorDetail> detail = status::GetDetail(mapped);
      detail.has_value() && detail->reason() == status::ErrorDetail::NAMESPACE_NOT_FOUND) {
    ForgetNamespace(detail->namespace_());  // deleted (maybe re-created) behind our back
  }
  return mapped;
}

absl::StatusOr<sv1::NamespaceInfo> EngramCore::FetchNamespace(const Call& call,
                                                              const std::string& ns) {
  sv1::GetNamespaceRequest req;
  req.set_name(ns);
  sv1::NamespaceInfo info;
  RETURN_IF_ERROR(CallDownstream(
      call, Dependency::kStorage, "GetNamespace", /*idempotent=*/true,
      [&](grpc::ClientContext* c) { return deps_.storage->GetNamespace(c, req, &info); }));
  namespaces_.Put(ns, info.config());
  return info;
}

absl::StatusOr<sv1::NamespaceConfig> EngramCore::NamespaceConfig(const Call& call,
                                                                 const std::string& ns) {
  if (std::optional<sv1::NamespaceConfig> hit = namespaces_.Get(ns)) return *std::move(hit);
  ASSIGN_OR_RETURN(sv1::NamespaceInfo info, FetchNamespace(call, ns));
  return info.config();
}

void EngramCore::NamespaceConfigAsync(
    const Call& call, const std::string& ns, grpc::CompletionQueue* cq,
    absl::AnyInvocable<void(absl::StatusOr<sv1::NamespaceConfig>) &&> done) {
  if (std::optional<sv1::NamespaceConfig> hit = namespaces_.Get(ns)) {
    return std::move(done)(*std::move(hit));
  }
  auto request = std::make_shared<sv1::GetNamespaceRequest>();
  request->set_name(ns);
  CallDownstreamAsync<sv1::NamespaceInfo>(
      call, Dependency::kStorage, "GetNamespace", /*idempotent=*/true, cq,
      [this, request](grpc::ClientContext* c, grpc::CompletionQueue* q) {
        return deps_.storage->PrepareAsyncGetNamespace(c, *request, q);
      },
      [this, ns, done = std::move(done)](absl::Status status, sv1::NamespaceInfo info) mutable {
        if (!status.ok()) return std::move(done)(std::move(status));
        namespaces_.Put(ns, info.config());
        std::move(done)(std::move(*info.mutable_config()));
      });
}

void EngramCore::ForgetNamespace(const std::string& ns) { namespaces_.Invalidate(ns); }

void EngramCore::InvalidateResponses(std::string_view ns) {
  if (deps_.cache != nullptr) deps_.cache->Invalidate(ns);
}

}  // namespace engram::api
