// libFuzzer target: ManifestFromJson, the parser of a snapshot archive's MANIFEST.json (archives
// are uploaded by clients). Must return a manifest, DATA_LOSS or FAILED_PRECONDITION (another
// format_version); never throw or crash. A manifest it accepts must print and parse back to the
// same parts.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "spdlog/spdlog.h"
#include "storage-server/engine/snapshot.h"

// The parsers log what they refuse; at thousands of inputs a second that is all the fuzzer does.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<engram::storage::SnapshotManifest> m = engram::storage::ManifestFromJson(text);
  if (!m.ok()) {
    if (m.status().code() != absl::StatusCode::kDataLoss &&
        m.status().code() != absl::StatusCode::kFailedPrecondition) {
      __builtin_trap();
    }
    return 0;
  }
  absl::StatusOr<engram::storage::SnapshotManifest> again =
      engram::storage::ManifestFromJson(engram::storage::ManifestToJson(*m));
  if (!again.ok() || again->parts.size() != m->parts.size() ||
      again->namespaces.size() != m->namespaces.size() || again->sequence != m->sequence) {
    __builtin_trap();
  }
  return 0;
}
