// Conversions between engram.v1 (the public API) and the internal engram.storage.v1 /
// engram.hybrid.v1 messages, for EngramCore. Pure functions, no I/O.
#pragma once

#include "engram/hybrid/v1/hybrid.pb.h"
#include "engram/storage/v1/storage.pb.h"
#include "engram/v1/engram.pb.h"

namespace engram::api {

// Downstream -> engram.v1.
v1::Association ToV1(const storage::v1::Association& a);
v1::Path ToV1(const storage::v1::Path& p);
v1::ConceptRef ToRef(const storage::v1::Concept& c);
v1::SearchResult ToV1(const storage::v1::SearchResult& r);
v1::Concept ToV1(const storage::v1::Concept& c, bool include_vector);
v1::Namespace ToV1(const storage::v1::NamespaceInfo& info);
v1::Stats ToV1(const storage::v1::ServerStats& s);
v1::ReasonResponse ToV1(const hybrid::v1::ReasonResponse& r);
// A streamed reasoning event; an event with none of seeds, path or answer set stays empty.
v1::ReasonEvent ToV1(const hybrid::v1::ReasonEvent& e);

// engram.v1 -> downstream.
hybrid::v1::LearnItem ToLearnItem(const v1::LearnRequest& r);

// A Reason request with every default applied (k 10, max_depth 4, max_paths 5,
// min_confidence 0.3; types sorted and deduplicated; query trimmed), so that equal questions
// share a cache key.
v1::ReasonRequest NormalizedReason(const v1::ReasonRequest& request);
hybrid::v1::ReasonRequest ToHybrid(const v1::ReasonRequest& normalized);

}  // namespace engram::api
