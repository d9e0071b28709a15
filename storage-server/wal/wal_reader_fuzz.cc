// libFuzzer target: ReadLog, the recovery scan of the write-ahead log, over segment files made of
// arbitrary bytes (what a crash, a bad disk or a hand-edited data directory can leave).
//
// Input: byte 0 is a mode, the rest is the log. Mode bit 0: fix the checksums of every record the
// scan can frame first, so mutations reach the length, sequence and torn-tail rules instead of all
// stopping at a CRC mismatch. Bit 1: split the log into two segments at the offset in bytes 1-2
// (the second named after the sequence number of its first record). Bit 2: replay after seq 1
// instead of 0. ReadLog must return OK or an error; every payload view it hands out is read in
// full (ASan checks it stays inside the mapped segment).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "spdlog/spdlog.h"
#include "common/testing/fuzz_scratch.h"
#include "storage-server/wal/crc32c.h"
#include "storage-server/wal/format.h"
#include "storage-server/wal/wal.h"

namespace {

namespace wal = engram::storage::wal;

uint32_t Load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);  // the format is little endian, as is every machine this runs on
  return v;
}
uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
void Store32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }

void FixChecksums(std::string& log) {
  size_t off = 0;
  while (log.size() - off >= wal::kHeaderBytes) {
    const uint32_t len = Load32(&log[off]);
    if (len > log.size() - off - wal::kHeaderBytes - wal::kTrailerBytes ||
        log.size() - off < wal::kHeaderBytes + wal::kTrailerBytes) {
      Store32(&log[off + 12], wal::Crc32c(&log[off], 12));  // a valid header, then a torn record
      return;
    }
    Store32(&log[off + 12], wal::Crc32c(&log[off], 12));
    Store32(&log[off + wal::kHeaderBytes + len],
            wal::Crc32c(&log[off + wal::kHeaderBytes], len));
    off += wal::kHeaderBytes + len + wal::kTrailerBytes;
  }
}

}  // namespace

// The parsers log what they refuse; at thousands of inputs a second that is all the fuzzer does.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t mode = data[0];
  const size_t split_at = data[1] | (size_t{data[2]} << 8);
  std::string log(reinterpret_cast<const char*>(data + 3), size - 3);
  if (mode & 1) FixChecksums(log);

  const std::filesystem::path dir = engram::testing::FuzzScratchDir("wal_reader_fuzz") / "wal";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);

  auto write = [&](std::string_view bytes, uint64_t first_seq) {
    engram::testing::WriteFuzzFile(dir / wal::internal::SegmentFileName(first_seq),
                                   reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  };
  if ((mode & 2) && split_at < log.size()) {
    std::string_view second = std::string_view(log).substr(split_at);
    write(std::string_view(log).substr(0, split_at), 1);
    const uint64_t second_seq = second.size() >= 12 ? Load64(second.data() + 4) : 2;
    write(second, second_seq == 1 || second_seq == 0 ? 2 : second_seq);
  } else {
    write(log, 1);
  }

  uint64_t sum = 0;
  absl::StatusOr<wal::RecoveryResult> result =
      wal::ReadLog(dir, (mode & 4) ? 1 : 0, [&](uint64_t seq, std::string_view payload) {
        for (char c : payload) sum += static_cast<unsigned char>(c);
        return absl::OkStatus();
      });
  if (result.ok() && result->tail_truncated && result->warning.empty()) __builtin_trap();
  // Keeps the reads of every payload byte from being optimized away.
  asm volatile("" : : "r"(sum));
  return 0;
}
