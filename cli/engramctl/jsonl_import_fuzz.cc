// libFuzzer target: the JSONL line parsers of `engramctl import jsonl` / `learn --file` /
// `associate --file` (a file from anywhere: another tool, an export of another server, a user's
// hand edit). Each input line goes to ParseJsonlRecord, ParseJsonlLine and ParseAssociationLine;
// each must return a record, nothing (a blank line) or INVALID_ARGUMENT naming the field, never
// throw or crash.
#include <cstddef>
#include <cstdint>

#include "absl/strings/str_split.h"
#include "cli/engramctl/bulk_import.h"

namespace {

void CheckError(const absl::Status& status) {
  if (!status.ok() && status.code() != absl::StatusCode::kInvalidArgument) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  for (absl::string_view line : absl::StrSplit(input, '\n')) {
    CheckError(engram::cli::ParseJsonlRecord(line, "ns").status());
    CheckError(engram::cli::ParseJsonlLine(line, "ns").status());
    CheckError(engram::cli::ParseAssociationLine(line, "ns").status());
  }
  return 0;
}
