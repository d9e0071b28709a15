#include "cli/engramctl/export.h"

#include "absl/strings/str_cat.h"
#include "cli/engramctl/render.h"

namespace engram::cli {

std::string ExportLines(const engram::v1::ExportChunk& chunk) {
  std::string out;
  if (chunk.has_namespace_()) absl::StrAppend(&out, "{\"namespace\":", ToJson(chunk.namespace_()), "}\n");
  for (const engram::v1::Concept& c : chunk.concepts()) {
    absl::StrAppend(&out, "{\"concept\":", ToJson(c), "}\n");
  }
  for (const engram::v1::Association& a : chunk.associations()) {
    absl::StrAppend(&out, "{\"association\":", ToJson(a), "}\n");
  }
  return out;
}

absl::Status ExportNamespace(const RpcClient& client, const std::string& ns,
                             absl::Duration timeout,
                             const std::function<absl::Status(absl::string_view lines)>& write,
                             Progress* progress, ExportSummary* summary) {
  engram::v1::ExportNamespaceRequest request;
  request.set_namespace_(ns);
  bool associations_started = false;
  absl::Status status = client.Stream<engram::v1::ExportNamespaceRequest, engram::v1::ExportChunk>(
      &RpcClient::Stub::ExportNamespace, request, timeout,
      [&](const engram::v1::ExportChunk& chunk) -> absl::Status {
        if (chunk.has_namespace_()) {
          summary->ns = chunk.namespace_();
          if (progress != nullptr) {
            progress->Start("exporting concepts", chunk.namespace_().concept_count(), "concepts");
          }
        }
        if (chunk.associations_size() > 0 && !associations_started) {
          associations_started = true;
          if (progress != nullptr) {
            progress->Finish();
            progress->Start("exporting associations", summary->ns.association_count(),
                            "associations");
          }
        }
        const std::string lines = ExportLines(chunk);
        if (absl::Status s = write(lines); !s.ok()) return s;
        summary->bytes += lines.size();
        summary->concepts += static_cast<uint64_t>(chunk.concepts_size());
        summary->associations += static_cast<uint64_t>(chunk.associations_size());
        if (progress != nullptr) {
          const uint64_t items = static_cast<uint64_t>(chunk.concepts_size() + chunk.associations_size());
          progress->Add(items, items);
        }
        return absl::OkStatus();
      });
  if (progress != nullptr) progress->Finish();
  if (status.ok() && summary->ns.name().empty()) {
    return absl::DataLossError(absl::StrCat("export of '", ns, "': the stream had no namespace record"));
  }
  return status;
}

}  // namespace engram::cli
