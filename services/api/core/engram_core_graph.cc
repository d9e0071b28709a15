// EngramCore's association and graph calls: Associate, AssociateBatch, DeleteAssociation, Neighbors,
// FindPaths.
#include "services/api/core/engram_core.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"
#include "services/api/core/conversions.h"
#include "services/api/core/request_errors.h"
#include "spdlog/spdlog.h"

namespace engram::api {

namespace sv1 = storage::v1;

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

}  // namespace engram::api
