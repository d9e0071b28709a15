// libFuzzer target: ReadManifest and ExtractVerified over an arbitrary archive file, as a client
// can upload one (RestoreSnapshot). Extraction goes to a scratch directory and is capped at 64 MiB
// of restored files, so a manifest claiming huge parts is refused (RESOURCE_EXHAUSTED) instead of
// filling the disk.
//
// Input: byte 0 is a mode, the rest the archive. Mode bit 0: fix the checksum of every 512-byte
// ustar header the walk reaches, so mutations get past the header check into sizes, names and the
// manifest. Errors are fine; a crash, a leak, an exception or a file written outside the staging
// directory is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "spdlog/spdlog.h"
#include "common/testing/fuzz_scratch.h"
#include "storage-server/engine/snapshot.h"

namespace {

constexpr size_t kBlock = 512;

uint64_t ParseOctal(const char* field, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width && field[i] >= '0' && field[i] <= '7'; ++i) v = v * 8 + (field[i] - '0');
  return v;
}

void FixHeaderChecksums(std::string& tar) {
  size_t off = 0;
  while (tar.size() - off >= kBlock) {
    char* h = &tar[off];
    unsigned sum = 0;
    for (size_t i = 0; i < kBlock; ++i) {
      sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
    }
    if (sum == 8 * ' ') return;  // an all-zero block ends the archive
    std::snprintf(h + 148, 8, "%06o", sum & 0777777);
    h[155] = ' ';
    const uint64_t size = ParseOctal(h + 124, 12);
    const uint64_t padded = (size + kBlock - 1) / kBlock * kBlock;
    if (padded > tar.size() - off - kBlock) return;
    off += kBlock + padded;
  }
}

}  // namespace

// The parsers log what they refuse; at thousands of inputs a second that is all the fuzzer does.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string tar(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) FixHeaderChecksums(tar);
  const std::filesystem::path& dir = engram::testing::FuzzScratchDir("snapshot_archive_fuzz");
  const std::filesystem::path archive = dir / "upload.tar";
  const std::filesystem::path staging = dir / "staging";
  engram::testing::WriteFuzzFile(archive, reinterpret_cast<const uint8_t*>(tar.data()), tar.size());
  std::error_code ec;
  std::filesystem::remove_all(staging, ec);

  (void)engram::storage::ReadManifest(archive);
  (void)engram::storage::ExtractVerified(archive, staging, /*max_restored_bytes=*/64 << 20);

  // Nothing may land beside the staging directory (a path escaping it).
  for (std::filesystem::directory_iterator it(dir, ec), end; it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name != "upload.tar" && name != "staging") __builtin_trap();
  }
  std::filesystem::remove_all(staging, ec);
  return 0;
}
