// libFuzzer target: the WordNet data file parser of `engramctl import wordnet` (files from a
// directory the user names) and the mapping of what it parses to concepts and associations. A
// malformed line must be INVALID_ARGUMENT naming the file and line; never a crash or exception.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "cli/engramctl/wordnet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  absl::StatusOr<std::vector<engram::cli::WordNetSynset>> synsets =
      engram::cli::ParseWordNetData(in, "data.noun");
  if (!synsets.ok()) {
    if (synsets.status().code() != absl::StatusCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  const engram::cli::LexNames lexnames = {{3, "noun.Tops"}};
  for (const engram::cli::WordNetSynset& s : *synsets) {
    (void)engram::cli::SynsetToLearnRequest(s, lexnames);
    for (const engram::cli::WordNetPointer& p : s.pointers) (void)engram::cli::MapNounPointer(p.symbol);
  }
  (void)engram::cli::WordNetAssociations(*synsets);
  return 0;
}
