// libFuzzer target: the relation extractor (segmenter, lexicon, phrase chunker, patterns) over any
// bytes a client can send as content, including invalid UTF-8. Beyond not crashing, every relation
// must point at a sentence inside the input, with confidence in (0, 1], non-empty endpoints that
// differ, and at most max_relations of them.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "services/hybrid/extract/relation_extractor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  engram::hybrid::ExtractionOptions options;
  options.max_relations = (data[0] & 1) ? 2 : 256;  // small: the limit paths run too
  options.max_phrase_words = 1 + (data[0] >> 1) % 12;
  const engram::hybrid::RelationExtractor extractor(options);
  const auto relations = extractor.Extract(text);
  if (relations.size() > options.max_relations) __builtin_trap();
  for (const auto& r : relations) {
    if (r.evidence_begin > r.evidence_end || r.evidence_end > text.size()) __builtin_trap();
    if (r.evidence != text.substr(r.evidence_begin, r.evidence_end - r.evidence_begin)) {
      __builtin_trap();
    }
    if (!(r.confidence > 0 && r.confidence <= 1)) __builtin_trap();
    if (r.source_key.empty() || r.target_key.empty() || r.source_key == r.target_key) {
      __builtin_trap();
    }
  }
  return 0;
}
