// EngramCore's namespace calls: CreateNamespace, ListNamespaces, GetNamespace, DeleteNamespace.
#include "services/api/core/engram_core.h"

#include <utility>

#include "absl/strings/match.h"
#include "common/status/status_macros.h"
#include "services/api/core/conversions.h"
#include "services/api/core/request_errors.h"
#include "spdlog/spdlog.h"

namespace engram::api {

namespace sv1 = storage::v1;
namespace hv1 = hybrid::v1;

absl::StatusOr<v1::Namespace> EngramCore::CreateNamespace(
    const RequestContext& ctx, const v1::CreateNamespaceRequest& request) {
  return Instrumented<v1::Namespace>(kCreateNamespace, [&]() -> absl::StatusOr<v1::Namespace> {
    ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kAdmin, request.name()));
    RETURN_IF_ERROR(ValidateCreateNamespace(request, options_.limits));
    uint32_t dimension = request.dimension();
    if (dimension == 0 && (request.embedder() == "use-lite" ||
                           absl::StartsWith(request.embedder(), "word-vectors/"))) {
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
    config->mutable_index_params()->set_quantization(
        request.index_params().quantization() == v1::QUANTIZATION_INT8 ? sv1::QUANTIZATION_INT8
                                                                       : sv1::QUANTIZATION_NONE);
    for (const v1::KeywordField& f : request.keyword_fields()) {
      sv1::KeywordField* out = config->add_keyword_fields();
      out->set_attribute(f.attribute());
      out->set_weight(f.weight());
      if (f.has_b()) out->set_b(f.b());
    }
    sv1::NamespaceInfo info;
    absl::Status s = CallDownstream(
        call, Dependency::kStorage, "CreateNamespace", /*idempotent=*/false,
        [&](grpc::ClientContext* c) { return deps_.storage->CreateNamespace(c, req, &info); });
    // Storage validates the config; its field names become the public API's.
    s = RewriteField(std::move(s), "config.keyword_fields", "keywordFields");
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
    ASSIGN_OR_RETURN(sv1::NamespaceInfo info, FetchNamespace(call, request.namespace_()));
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

}  // namespace engram::api
