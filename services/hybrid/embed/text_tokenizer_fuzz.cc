// libFuzzer target: the text tokenizer every embedder runs over learned content (any bytes a client
// sends, including invalid UTF-8), and the hashing embedder on top of it. Every token must be
// valid UTF-8 and non-empty (SplitCodePoints relies on it), and the embedding finite.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/text/utf8.h"
#include "services/hybrid/embed/hashing_embedder.h"
#include "common/text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool lowercase : {false, true}) {
    for (const std::string& token : engram::text::TokenizeText(text, lowercase)) {
      if (token.empty() || !engram::text::IsValidUtf8(token)) __builtin_trap();
      size_t bytes = 0;
      for (std::string_view cp : engram::text::SplitCodePoints(token)) bytes += cp.size();
      if (bytes != token.size()) __builtin_trap();
    }
  }
  (void)engram::text::LowercaseText(text);
  static const auto embedder = engram::hybrid::HashingEmbedder::Create(64);
  absl::StatusOr<std::vector<float>> v = (*embedder)->Embed(text);
  if (v.ok()) {
    for (float x : *v) {
      if (!std::isfinite(x)) __builtin_trap();
    }
  }
  return 0;
}
