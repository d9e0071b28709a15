// Scratch files for libFuzzer targets whose parser reads a file (the write-ahead log, snapshot
// archives, word-vector files): one private directory per fuzzing process, created on first use
// under $TMPDIR (or /tmp), reused by every input so the file system is not filled, and removed
// when the process exits normally (a crashing input leaves it for inspection).
//
//   const std::filesystem::path& dir = engram::testing::FuzzScratchDir("wal_reader_fuzz");
//   engram::testing::WriteFuzzFile(dir / "x", data, size);
//
// Aborts if the directory cannot be created or a file cannot be written: that is a broken machine,
// not a finding, and libFuzzer reports it loudly. Fuzz targets run one input at a time, so nothing
// here is thread-safe.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace engram::testing {

inline const std::filesystem::path& FuzzScratchDir(const char* target) {
  // Leaked, so that the exit handler that removes the directory can still read it.
  static const std::filesystem::path& dir = *[target] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" +
                          target + ".XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    auto* path = new std::filesystem::path(pattern);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(FuzzScratchDir(nullptr), ec);
    });
    return path;
  }();
  return dir;
}

inline void WriteFuzzFile(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || (size > 0 && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
}

}  // namespace engram::testing
