// libFuzzer target: the word-vector file readers (text GloVe/word2vec/fastText, binary word2vec),
// the frequency file and the stored common component, over arbitrary file contents. Model files
// are downloaded by operators, not written by Engram, so every malformed input must be an
// INVALID_ARGUMENT naming the file, never a crash, an exception or an allocation the file's header
// merely claims.
//
// Input: byte 0 picks the reader (and max_words / dimension), the rest is the file.
#include <cstddef>
#include <cstdint>

#include "spdlog/spdlog.h"
#include "common/testing/fuzz_scratch.h"
#include "services/hybrid/embed/word_vectors_file.h"

// The parsers log what they refuse; at thousands of inputs a second that is all the fuzzer does.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const std::filesystem::path path =
      engram::testing::FuzzScratchDir("word_vectors_fuzz") / "vectors";
  engram::testing::WriteFuzzFile(path, data + 1, size - 1);
  const size_t max_words = (mode & 0x10) ? (mode >> 5) : 0;
  switch (mode & 3) {
    case 0: {
      auto table = engram::hybrid::ReadTextWordVectors(path.string(), max_words);
      if (table.ok()) {
        for (size_t row = 0; row < table->size(); ++row) {
          if (table->Find(table->word(row)) < 0) __builtin_trap();
          if (table->vector(row).size() != static_cast<size_t>(table->dimension())) __builtin_trap();
        }
      }
      break;
    }
    case 1: {
      auto table = engram::hybrid::ReadBinaryWordVectors(path.string(), max_words);
      if (table.ok()) {
        for (size_t row = 0; row < table->size(); ++row) {
          if (table->Find(table->word(row)) < 0) __builtin_trap();
        }
      }
      break;
    }
    case 2:
      (void)engram::hybrid::ReadWordFrequencies(path.string());
      break;
    case 3:
      (void)engram::hybrid::ReadFloatVector(path.string(), 1 + (mode >> 2));
      break;
  }
  return 0;
}
