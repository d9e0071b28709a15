// Test helper: prints the hashing embedding of each argument as one line of lowercase hex, the
// bytes of the float32 values in memory order. hashing_embedder_test runs it as a separate
// process to check that embeddings are bit-identical across processes.
//
//   hybrid_hashing_embed_print [--dimension=N] TEXT...
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "services/hybrid/embed/hashing_embedder.h"

int main(int argc, char** argv) {
  // Honour the environment's locale, to show that it does not matter.
  std::setlocale(LC_ALL, "");
  int dimension = engram::hybrid::HashingEmbedder::kDefaultDimension;
  int first = 1;
  if (argc > 1 && std::strncmp(argv[1], "--dimension=", 12) == 0) {
    dimension = std::atoi(argv[1] + 12);
    first = 2;
  }
  auto embedder = engram::hybrid::HashingEmbedder::Create(dimension);
  if (!embedder.ok()) {
    std::fprintf(stderr, "%s\n", embedder.status().ToString().c_str());
    return 2;
  }
  for (int i = first; i < argc; ++i) {
    auto vector = (*embedder)->Embed(argv[i]);
    if (!vector.ok()) {
      std::fprintf(stderr, "%s\n", vector.status().ToString().c_str());
      return 1;
    }
    const auto* bytes = reinterpret_cast<const unsigned char*>(vector->data());
    for (size_t b = 0; b < vector->size() * sizeof(float); ++b) std::printf("%02x", bytes[b]);
    std::printf("\n");
  }
  return 0;
}
