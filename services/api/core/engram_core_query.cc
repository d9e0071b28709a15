// EngramCore's read-only answers: Search and Reason (through the response cache) and GetStats.
#include "services/api/core/engram_core.h"

#include <optional>
#include <string>
#include <utility>

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

template <typename Response>
std::optional<Response> EngramCore::CacheLookup(const std::string& ns, std::string_view kind,
                                                const google::protobuf::Message& normalised,
                                                std::optional<CacheSlot>* slot) {
  slot->reset();
  if (deps_.cache == nullptr) return std::nullopt;
  std::string key = ResponseCache::Key(kind, normalised);
  if (std::optional<std::string> hit = deps_.cache->Get(ns, key)) {
    Response cached;
    if (cached.ParseFromString(*hit)) {
      if (cache_hits_ != nullptr) cache_hits_->Increment();
      return cached;
    }
  }
  if (cache_misses_ != nullptr) cache_misses_->Increment();
  const uint64_t generation = deps_.cache->Generation(ns);
  slot->emplace(CacheSlot{std::move(key), generation});
  return std::nullopt;
}

void EngramCore::CacheStore(const std::string& ns, const std::optional<CacheSlot>& slot,
                            const google::protobuf::Message& response) {
  if (slot.has_value()) deps_.cache->Put(ns, slot->key, response.SerializeAsString(), slot->generation);
}

template <typename Response, typename Fn>
absl::StatusOr<Response> EngramCore::CachedOr(const std::string& ns, std::string_view kind,
                                              const google::protobuf::Message& normalised,
                                              Fn&& compute) {
  std::optional<CacheSlot> slot;
  if (std::optional<Response> hit = CacheLookup<Response>(ns, kind, normalised, &slot)) {
    return *std::move(hit);
  }
  ASSIGN_OR_RETURN(Response out, compute());
  CacheStore(ns, slot, out);
  return out;
}

absl::StatusOr<v1::SearchResponse> EngramCore::Search(const RequestContext& ctx,
                                                      const v1::SearchRequest& request) {
  return grpcutil::RunLocally<absl::StatusOr<v1::SearchResponse>>(
      [&](grpc::CompletionQueue* cq, SearchDone done) {
        SearchAsync(ctx, request, cq, std::move(done));
      });
}

namespace {

// The fields hybrid's and storage's SearchRequest share.
template <typename DownstreamRequest>
void CopyCommonSearchFields(const v1::SearchRequest& normal, DownstreamRequest* req) {
  req->set_namespace_(normal.namespace_());
  req->set_k(normal.k());
  req->set_ef(normal.ef());
  req->mutable_filter()->insert(normal.filter().attributes().begin(),
                                normal.filter().attributes().end());
}

v1::SearchResponse ResultsToV1(const sv1::SearchResponse& found) {
  v1::SearchResponse out;
  out.mutable_results()->Reserve(found.results_size());
  for (const sv1::SearchResult& r : found.results()) *out.add_results() = ToV1(r);
  return out;
}

}  // namespace

// One search, from admission to answer. Each step that waits for a dependency continues in the
// callback of its asynchronous call; `op` carries the request's state through them.
void EngramCore::SearchAsync(const RequestContext& ctx, const v1::SearchRequest& request,
                             grpc::CompletionQueue* cq, SearchDone done) {
  struct Op {
    RequestContext ctx;  // Call::ctx points here
    Call call;
    v1::SearchRequest normal;
    std::optional<CacheSlot> slot;
    absl::Time start;
    SearchDone done;
  };
  auto op = std::make_shared<Op>();
  op->ctx = ctx;
  op->start = absl::Now();
  op->done = std::move(done);
  // Every path ends here, exactly once.
  auto finish = [this, op](absl::StatusOr<v1::SearchResponse> result) {
    Observe(kSearch, result.status(), op->start);
    std::move(op->done)(std::move(result));
  };
  // A storage or hybrid answer: converted, cached under the generation read before the call.
  auto answered = [this, op, finish](absl::Status status, const sv1::SearchResponse& found) {
    if (!status.ok()) return finish(std::move(status));
    v1::SearchResponse out = ResultsToV1(found);
    CacheStore(op->normal.namespace_(), op->slot, out);
    finish(std::move(out));
  };

  absl::StatusOr<Call> call = Admit(op->ctx, Role::kReader, request.namespace_());
  if (!call.ok()) return finish(call.status());
  op->call = *std::move(call);
  if (absl::Status valid = ValidateSearch(request, options_.limits); !valid.ok()) {
    return finish(std::move(valid));
  }
  op->normal = request;
  op->normal.set_query(std::string(absl::StripAsciiWhitespace(request.query())));
  if (op->normal.k() == 0) op->normal.set_k(kDefaultSearchK);
  const std::string& ns = op->normal.namespace_();
  if (std::optional<v1::SearchResponse> hit =
          CacheLookup<v1::SearchResponse>(ns, "search", op->normal, &op->slot)) {
    return finish(*std::move(hit));
  }

  if (op->normal.mode() == v1::KEYWORD || !op->normal.query().empty()) {
    // KEYWORD: BM25 needs no embedding, storage answers it alone. Other text: hybrid embeds it.
    if (op->normal.mode() == v1::KEYWORD) {
      auto req = std::make_shared<sv1::SearchRequest>();
      CopyCommonSearchFields(op->normal, req.get());
      req->set_text(op->normal.query());
      req->set_mode(sv1::SEARCH_MODE_KEYWORD);
      return CallDownstreamAsync<sv1::SearchResponse>(
          op->call, Dependency::kStorage, "Search", /*idempotent=*/true, cq,
          [this, req](grpc::ClientContext* c, grpc::CompletionQueue* q) {
            return deps_.storage->PrepareAsyncSearch(c, *req, q);
          },
          answered);
    }
    auto req = std::make_shared<hv1::SearchRequest>();
    CopyCommonSearchFields(op->normal, req.get());
    req->set_text(op->normal.query());
    req->set_mode(op->normal.mode() == v1::VECTOR   ? sv1::SEARCH_MODE_VECTOR
                  : op->normal.mode() == v1::HYBRID ? sv1::SEARCH_MODE_HYBRID
                                                    : sv1::SEARCH_MODE_UNSPECIFIED);
    return CallDownstreamAsync<hv1::SearchResponse>(
        op->call, Dependency::kHybrid, "Search", /*idempotent=*/true, cq,
        [this, req](grpc::ClientContext* c, grpc::CompletionQueue* q) {
          return deps_.hybrid->PrepareAsyncSearch(c, *req, q);
        },
        [answered](absl::Status status, hv1::SearchResponse found) {
          sv1::SearchResponse results;
          results.mutable_results()->Swap(found.mutable_results());
          answered(std::move(status), results);
        });
  }
  // A vector: checked against the namespace's dimension, then straight to storage.
  NamespaceConfigAsync(
      op->call, ns, cq,
      [this, op, cq, finish, answered](absl::StatusOr<sv1::NamespaceConfig> config) {
        if (!config.ok()) return finish(config.status());
        if (absl::Status s = ValidateVector("vector", op->normal.vector(), config->dimension());
            !s.ok()) {
          return finish(std::move(s));
        }
        auto req = std::make_shared<sv1::SearchRequest>();
        CopyCommonSearchFields(op->normal, req.get());
        req->mutable_vector()->CopyFrom(op->normal.vector());
        CallDownstreamAsync<sv1::SearchResponse>(
            op->call, Dependency::kStorage, "Search", /*idempotent=*/true, cq,
            [this, req](grpc::ClientContext* c, grpc::CompletionQueue* q) {
              return deps_.storage->PrepareAsyncSearch(c, *req, q);
            },
            answered);
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
