// CRC-32C (Castagnoli), the checksum of every write-ahead-log record.
//
// Crc32c() uses the SSE4.2 crc32 instruction when the CPU has it (detected once at run time; the
// project is not compiled with -march) and a table-driven slicing-by-8 fallback otherwise. Both
// give identical results.
//
// The optional third argument extends a previous checksum, like leveldb's crc32c::Extend():
//
//   uint32_t whole = Crc32c(buf, n);
//   uint32_t split = Crc32c(buf + k, n - k, Crc32c(buf, k));   // == whole
//
// Thread-safety: all functions are pure and safe to call concurrently.
#pragma once

#include <cstddef>
#include <cstdint>

namespace engram::storage::wal {

// Returns the CRC-32C of `data[0, n)`, continuing from `crc`, the CRC-32C of the bytes that
// precede `data` (0 for none).
uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);

namespace internal {

// Both implementations, exposed so tests can check each one. Crc32cSse42 must only be called when
// Sse42Available() is true.
uint32_t Crc32cPortable(const void* data, size_t n, uint32_t crc);
uint32_t Crc32cSse42(const void* data, size_t n, uint32_t crc);
bool Sse42Available();

}  // namespace internal
}  // namespace engram::storage::wal
