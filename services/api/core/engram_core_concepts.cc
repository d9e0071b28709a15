// EngramCore's concept calls: Learn, LearnBatch, GetConcept, DeleteConcept, ListConcepts,
// UpdateConcept.
#include "services/api/core/engram_core.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"
#include "services/api/core/conversions.h"
#include "services/api/core/page_token.h"
#include "services/api/core/request_errors.h"
#include "spdlog/spdlog.h"

namespace engram::api {

namespace sv1 = storage::v1;
namespace hv1 = hybrid::v1;

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

}  // namespace engram::api
