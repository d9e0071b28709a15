// engramctl export: a namespace as NDJSON, in the format of GET /v1/namespaces/{namespace}:export
// and what `engramctl import jsonl` reads back:
//
//   {"namespace": Namespace}      one, first: configuration and counts when the export began
//   {"concept": Concept}          every concept, with its vector and attributes
//   {"association": Association}  then every association
//
// All records come from one point-in-time view of the namespace (ExportNamespace). Each record is
// ToJson (render.h) of its message on one line.
//
//   ExportSummary summary;
//   RETURN_IF_ERROR(ExportNamespace(client, "docs", absl::InfiniteDuration(),
//                                   [&](absl::string_view lines) { return file.Append(lines); },
//                                   &progress, &summary));
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/engramctl/progress.h"
#include "cli/engramctl/rpc_client.h"
#include "engram/v1/engram.pb.h"

namespace engram::cli {

struct ExportSummary {
  engram::v1::Namespace ns;  // the namespace record
  uint64_t concepts = 0;
  uint64_t associations = 0;
  uint64_t bytes = 0;
};

// The NDJSON lines of one chunk (each ending in '\n').
std::string ExportLines(const engram::v1::ExportChunk& chunk);

// Streams namespace `ns` and hands each chunk's lines to `write` as they arrive. `timeout` bounds
// the whole export. A failing `write` cancels the stream and is returned. `progress` (may be null)
// counts concepts, then associations. `summary` holds what was written, also on failure.
absl::Status ExportNamespace(const RpcClient& client, const std::string& ns,
                             absl::Duration timeout,
                             const std::function<absl::Status(absl::string_view lines)>& write,
                             Progress* progress, ExportSummary* summary);

}  // namespace engram::cli
