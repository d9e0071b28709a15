// libFuzzer target: the use-lite tokenizer on any bytes a client sends (first byte 0: the text is
// tokenized with the real vocabulary; 1: the rest is a vocab.json, whose parser must refuse
// garbage with a status and whose tokenizer must then handle a fixed text). Every id must index
// the vocabulary; nothing may crash, throw or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "services/hybrid/embed/use_lite_tokenizer.h"

namespace {

const engram::hybrid::UseLiteTokenizer& RealTokenizer() {
  static const engram::hybrid::UseLiteTokenizer* const tokenizer = [] {
    std::ifstream in(ENGRAM_USE_LITE_DIR "/vocab.json");
    std::stringstream json;
    json << in.rdbuf();
    auto t = engram::hybrid::UseLiteTokenizer::FromVocabularyJson(json.str(), "vocab.json");
    if (!t.ok()) __builtin_trap();
    return new engram::hybrid::UseLiteTokenizer(*std::move(t));
  }();
  return *tokenizer;
}

void CheckIds(const engram::hybrid::UseLiteTokenizer& t, std::string_view text) {
  for (int id : t.Encode(text)) {
    if (id < 0 || static_cast<size_t>(id) >= t.vocabulary_size()) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    CheckIds(RealTokenizer(), rest);
  } else {
    auto t = engram::hybrid::UseLiteTokenizer::FromVocabularyJson(rest, "fuzz.json");
    if (t.ok()) CheckIds(*t, "What is a yolk part of? \xff caf\xc3\xa9");
  }
  return 0;
}
