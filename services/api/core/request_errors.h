// Downstream errors in the public request's terms.
//
// engram-storage and engram-hybrid name the field of *their* request in INVALID_ARGUMENT and
// NOT_FOUND messages ("mutations[3].put_concept.vector: ..."); the api rewrites that prefix into the
// field of the engram.v1 request the client sent ("concepts[3].vector: ..."). Payloads (typed error
// details) are kept.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace engram::api {

// Rewrites a leading field path `from` into `to`, e.g. "items[3].content: empty" ->
// "concepts[3].content: empty". Other statuses pass unchanged.
absl::Status RewriteField(absl::Status s, absl::string_view from, absl::string_view to);

// Rewrites storage's "mutations[N].<op>.<field>: ..." into "<list>[N].<field>: ..." (a batch), or
// "<field>: ..." when `list` is empty (a single item).
absl::Status RewriteMutationField(absl::Status s, absl::string_view op, absl::string_view list);

// NOT_FOUND "concept '<id>' not found in namespace '<ns>'".
absl::Status NotFoundConcept(absl::string_view id, absl::string_view ns);

}  // namespace engram::api
