// engram-openapi: prints the OpenAPI document of engram-api's REST routes (openapi.h).
//
//   engram-openapi                          # to stdout
//   engram-openapi docs/api/openapi.json    # to a file (what the committed copy is)
#include <cstdio>
#include <fstream>
#include <iostream>

#include "services/api/rest/openapi.h"

int main(int argc, char** argv) {
  if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
    std::fprintf(stderr, "usage: %s [OUTPUT_FILE]\n", argv[0]);
    return 2;
  }
  absl::StatusOr<std::string> document = engram::api::OpenApiDocument();
  if (!document.ok()) {
    std::fprintf(stderr, "engram-openapi: %s\n", document.status().ToString().c_str());
    return 1;
  }
  if (argc == 1) {
    std::cout << *document;
    return std::cout.good() ? 0 : 1;
  }
  std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
  out << *document;
  out.close();
  if (!out) {
    std::fprintf(stderr, "engram-openapi: cannot write %s\n", argv[1]);
    return 1;
  }
  return 0;
}
