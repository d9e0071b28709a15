// EngramCore's read-only answers: Search and Reason (through the response cache) and GetStats.
#include "services/api/core/engram_core.h"

#include "absl/strings/ascii.h"
#include "common/status/status_macros.h"
#include "services/api/core/conversions.h"

namespace engram::api {

namespace sv1 = storage::v1;
namespace hv1 = hybrid::v1;

namespace {

// Defaults applied before cache keys are computed, so "k unset" and "k = 10" share an entry.
constexpr uint32_t kDefaultSearchK = 10;

}  // namespace

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
          if (normal.mode() == v1::KEYWORD) {
            // BM25 needs no embedding: storage answers it alone.
            sv1::SearchRequest req;
            common(req);
            req.set_text(normal.query());
            req.set_mode(sv1::SEARCH_MODE_KEYWORD);
            sv1::SearchResponse resp;
            RETURN_IF_ERROR(CallDownstream(
                call, Dependency::kStorage, "Search", /*idempotent=*/true,
                [&](grpc::ClientContext* c) { return deps_.storage->Search(c, req, &resp); }));
            for (const sv1::SearchResult& r : resp.results()) *out.add_results() = ToV1(r);
          } else if (!normal.query().empty()) {
            hv1::SearchRequest req;
            common(req);
            req.set_text(normal.query());
            req.set_mode(normal.mode() == v1::VECTOR   ? sv1::SEARCH_MODE_VECTOR
                         : normal.mode() == v1::HYBRID ? sv1::SEARCH_MODE_HYBRID
                                                       : sv1::SEARCH_MODE_UNSPECIFIED);
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
