// engramctl: the command-line client of Engram (docs/engramctl.md). A thin shell over engram::cli.
#include <string>
#include <vector>

#include "cli/engramctl/engramctl.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return engram::cli::RunEngramctl(args, engram::cli::ProcessIo(), engram::cli::GrpcStubFactory(),
                                   engram::cli::GrpcStorageStubFactory());
}
