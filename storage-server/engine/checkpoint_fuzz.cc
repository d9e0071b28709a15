// libFuzzer target: ParseCheckpoint, the reader of the CHECKPOINT file recovery starts from.
//
// Input: byte 0 is a mode, the rest the file. Mode bit 0: append the "\ncrc32c <n>" line that
// matches the rest, so mutations reach the JSON and the namespace list instead of all stopping at
// the checksum. ParseCheckpoint must return OK or DATA_LOSS, never throw or crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "spdlog/spdlog.h"
#include "absl/strings/str_cat.h"
#include "storage-server/engine/engine_internal.h"
#include "storage-server/wal/crc32c.h"

// The parsers log what they refuse; at thousands of inputs a second that is all the fuzzer does.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {
    absl::StrAppend(&text, "\ncrc32c ", engram::storage::wal::Crc32c(text.data(), text.size()));
  }
  absl::StatusOr<engram::storage::CheckpointFile> cp =
      engram::storage::ParseCheckpoint(text, "CHECKPOINT");
  if (!cp.ok() && cp.status().code() != absl::StatusCode::kDataLoss) __builtin_trap();
  return 0;
}
