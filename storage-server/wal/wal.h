// The write-ahead log (WAL) of the storage engine.
//
// Every change the engine acknowledges is first a record in this log. The engine's writer thread
// appends a group of records, then calls Sync() (SyncMode::kAlways, the default: acknowledged means
// on disk) or only Flush() with an fdatasync at most every few milliseconds (SyncMode::kRelaxed,
// for bulk loads). At startup ReadLog() replays the records newer than the last checkpoint, cuts
// off a torn tail with a warning, and refuses to start on corruption anywhere else. After a
// checkpoint, RemoveSegmentsBefore() deletes the segments it covers, so recovery time is bounded by
// checkpoints.
//
// On-disk format
// --------------
// The log is a directory of segment files named after the sequence number of their first record,
// as 20 decimal digits: `<dir>/00000000000000000001.wal`. Segments sort by name in log order.
// A segment is a sequence of records (no file header, no padding between records), possibly
// followed by zeros: the writer writes its records in place over a reserve of zeros it wrote ahead
// of them (so that an fdatasync flushes only data) and cuts the reserve off when the segment is
// finished or the log closed cleanly; a crash leaves it.
//
//   offset  size  field
//   0       4     payload_len   u32 little endian, at most kMaxPayloadBytes
//   4       8     seq           u64 little endian
//   12      4     header_crc    u32 little endian, Crc32c of bytes [0, 12)
//   16      n     payload       payload_len opaque bytes (the engine's encoded batch)
//   16+n    4     payload_crc   u32 little endian, Crc32c of the payload
//
// Sequence numbers increase by exactly 1 from record to record across the whole log, and the first
// record of a segment carries the sequence number in the segment's name. The header has its own
// checksum so that a damaged length is detected before it is used to skip bytes.
//
// Recovery rules (ReadLog)
// ------------------------
// * Zeros from a record boundary to the end of a segment are the writer's reserve: the segment's
//   records end there, without a warning (in a finished segment too: the next segment's first
//   sequence number still catches zeros in place of records).
// * A record that is incomplete at the end of the last segment, or that fails a check with no valid
//   record anywhere after it in that segment, is a torn tail (a crash during a write): it is cut
//   off with a warning. Only unsynced, hence unacknowledged, records can be lost this way.
// * Any other damage -- a bad record followed by a valid one, a bad or incomplete record in a
//   segment that is not the last, a sequence gap or step back, a segment whose name disagrees with
//   its first record, records missing between the checkpoint and the log -- is DATA_LOSS naming the
//   file and byte offset. The server must not start on it.
//
// Usage
// -----
//   ASSIGN_OR_RETURN(RecoveryResult rec,
//                    ReadLog(dir, checkpoint_seq, [&](uint64_t seq, std::string_view payload) {
//                      return engine.Apply(seq, payload);
//                    }));
//   ASSIGN_OR_RETURN(std::unique_ptr<LogWriter> log,
//                    LogWriter::Open({.dir = dir}, rec.last_seq + 1, rec.tail));
//   RETURN_IF_ERROR(log->Reserve(group_bytes));    // room for the group, before applying it
//   RETURN_IF_ERROR(log->Append(seq, payload));   // for each record of a group
//   RETURN_IF_ERROR(log->Sync());                  // then acknowledge the group
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage-server/wal/file_system.h"

namespace engram::storage::wal {

inline constexpr size_t kHeaderBytes = 16;
inline constexpr size_t kTrailerBytes = 4;
// The largest payload a record may carry. A larger length in a header is treated as damage.
inline constexpr uint32_t kMaxPayloadBytes = 256u << 20;

// When the engine makes appended records durable. The log itself only offers Flush() and Sync();
// the engine's writer thread applies the policy.
enum class SyncMode {
  kAlways,   // Sync() every group before acknowledging it (the default, guarantee 1).
  kRelaxed,  // Flush() every group; fdatasync at most every N ms. Bulk loads and benchmarks only:
             // acknowledged writes of the last N ms can be lost on a machine crash (not on
             // SIGKILL).
};

// Parses "always" or "relaxed"; anything else is InvalidArgument.
absl::StatusOr<SyncMode> ParseSyncMode(std::string_view text);
std::string_view SyncModeName(SyncMode mode);

// Where the writer continues: the last segment of the log and how much of it is valid. Produced by
// ReadLog(), consumed by LogWriter::Open(). Empty `path` means the log has no segment.
struct RecoveredTail {
  std::filesystem::path path;
  uint64_t valid_bytes = 0;  // Bytes of whole, valid records; anything after is torn.
  uint64_t next_seq = 0;     // Sequence number a record appended to this segment must carry.
};

struct RecoveryResult {
  // Highest sequence number known: the last record of the log, or `after_seq` if the log holds
  // nothing newer. The writer continues at last_seq + 1.
  uint64_t last_seq = 0;
  uint64_t records_applied = 0;
  bool tail_truncated = false;
  std::string warning;  // Set when tail_truncated: file, offset, bytes dropped, reason.
  RecoveredTail tail;
};

using ApplyFn = std::function<absl::Status(uint64_t seq, std::string_view payload)>;

// Replays the log in `dir`: calls `apply` once for every record with seq > after_seq, in order.
// The payload view is valid only during that call. Segments whose records are all <= after_seq are
// skipped without being read. A missing `dir` is an empty log. Does not modify any file (the writer
// cuts the torn tail when it opens). Reads through a 1 MiB buffer (more for a record or a damaged
// tail that is larger), so the scan costs about as much as checksumming the log once.
//
// Errors: DataLoss for damage other than a torn tail (message names file and offset, see the
// format comment above); an error returned by `apply` is returned unchanged and stops the replay;
// I/O errors as their errno status. On any error `apply` may already have run for the records
// before the failure point; the caller must discard that state (the server refuses to start).
// Thread-compatible. Must not run while a LogWriter is writing to the same directory.
absl::StatusOr<RecoveryResult> ReadLog(const std::filesystem::path& dir, uint64_t after_seq,
                                       const ApplyFn& apply);

// Appends records to the log. Owned and used by the engine's single writer thread.
//
// Thread-compatible, NOT thread-safe: all calls, including const ones, must come from one thread or
// be externally serialized. Concurrent writers share fsyncs by being batched into one group by the
// engine, not by calling this class concurrently.
//
// Durability: Append() only copies into a user-space buffer (one contiguous buffer, no system call
// per record, written out early only when it exceeds Options::max_buffer_bytes). Flush() hands the
// buffer to the kernel in one write(); Sync() flushes and then fdatasyncs. Only records covered by
// a successful Sync() are durable.
//
// A full disk: Reserve() reserves the blocks a group of records will need before the caller
// applies it; when there is no room it fails with RESOURCE_EXHAUSTED (IsOutOfSpace), changes
// nothing and is not sticky, so the caller refuses that group and simply tries again with the next
// one. Records appended within a successful reservation cannot fail for lack of room.
//
// Errors: a failed write, fdatasync or segment roll is sticky. After a failed fdatasync the kernel
// may have dropped the dirty pages and reported the error only once ("fsyncgate"), and after a
// failed write the file may end in a partial record; either way the log can no longer vouch for its
// contents, so every later Append/Flush/Sync returns the same error. The engine must stop
// acknowledging writes and restart (recovery then cuts the partial tail).
class LogWriter {
 public:
  struct Options {
    std::filesystem::path dir;
    // A new segment is started before a record that would take the current one past this size
    // (never inside a record; a single larger record gets a segment of its own; never inside a
    // Reserve()d group, so a group larger than this makes one larger segment).
    uint64_t segment_bytes = uint64_t{64} << 20;
    // Append() writes the buffer out early once it holds this much.
    size_t max_buffer_bytes = size_t{4} << 20;
    // Not owned; must outlive the writer. Null means DefaultFileSystem(). Tests inject faults here.
    FileSystem* file_system = nullptr;
  };

  // Opens the log in options.dir (created if missing) for appending records from `next_seq` on.
  // `tail` must be the one ReadLog() just returned for this directory: the writer cuts that segment
  // to tail.valid_bytes (ftruncate + fdatasync) and continues it if tail.next_seq == next_seq;
  // otherwise (the checkpoint is ahead of the log, possible after a machine crash in relaxed mode)
  // it starts a new segment named next_seq. With no segment it starts a new one. Errors:
  // FailedPrecondition if `tail` does not match the directory or next_seq < tail.next_seq; I/O
  // errors with the path.
  static absl::StatusOr<std::unique_ptr<LogWriter>> Open(const Options& options, uint64_t next_seq,
                                                         RecoveredTail tail);

  // Writes buffered records out (best effort, no fdatasync). Errors are logged.
  ~LogWriter();

  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Buffers one record. `seq` must be next_seq() (InvalidArgument otherwise, not sticky), the
  // payload at most kMaxPayloadBytes. May roll to a new segment: the finished segment is flushed
  // and fdatasynced, the new one created and its directory fsynced.
  absl::Status Append(uint64_t seq, std::string_view payload);

  // Append() of a `payload_len`-byte payload that `fill` writes in place, straight into the
  // writer's buffer: the engine serializes its log entry there rather than into a temporary
  // string that Append() would copy. `fill` must write exactly `payload_len` bytes and must not
  // call this writer. The record is byte-for-byte the one Append() writes for the same payload.
  absl::Status AppendWith(uint64_t seq, size_t payload_len, absl::FunctionRef<void(char*)> fill);

  // Splits Sync() for a caller that overlaps the fdatasync with other work on another thread:
  // Flush() on the owning thread, then SyncFlushed() (on any one thread, while no other call to
  // this writer runs), which fdatasyncs the records flushed so far. Errors are sticky as in Sync().
  absl::Status SyncFlushed();

  // Makes room for the next `bytes` bytes of records (wal::RecordBytes of each payload) before they
  // are appended: reserves their disk blocks in the active segment, or, when they would take it
  // past segment_bytes, first finishes it and starts the next segment with the blocks reserved.
  // Records of one reservation are never split by a segment roll (a reservation larger than
  // segment_bytes makes one larger segment). Out of space is RESOURCE_EXHAUSTED naming the file
  // and the bytes needed, NOT sticky, and leaves the log as it was (no partial segment). Other
  // errors of the roll are sticky, as in Append().
  absl::Status Reserve(uint64_t bytes);

  // Writes all buffered records with one write() system call.
  absl::Status Flush();

  // Flush(), then fdatasync. On success every record appended so far is durable.
  absl::Status Sync();

  // Deletes the oldest segments whose records all have a sequence number < `seq` (use
  // checkpoint_seq + 1). Never deletes the active segment. Not sticky on failure.
  absl::Status RemoveSegmentsBefore(uint64_t seq);

  // Bytes in the live segments, including records appended but not yet flushed.
  uint64_t bytes() const { return bytes_; }
  size_t segment_count() const { return segments_.size(); }
  // The sequence number the next Append() must carry.
  uint64_t next_seq() const { return next_seq_; }
  // OK, or the sticky error that stopped the writer.
  const absl::Status& status() const { return failed_; }

 private:
  struct Segment {
    std::filesystem::path path;
    uint64_t first_seq;
    uint64_t bytes;
  };

  LogWriter(const Options& options, FileSystem* fs, uint64_t next_seq);

  absl::Status StartSegment(uint64_t first_seq);
  // Flushes the active segment, cuts it to its records and fdatasyncs it (before a roll).
  absl::Status FinishSegment();
  absl::Status Roll(uint64_t first_seq);
  // Roll() for Reserve(): the new segment is created with `bytes` reserved before the finished
  // one is closed; out of space removes the new file and keeps writing the old segment.
  absl::Status RollReserved(uint64_t first_seq, uint64_t bytes);
  // Records `status` as the sticky error if it is one; returns it.
  absl::Status Fail(absl::Status status);

  // Constant after construction.
  const Options options_;
  FileSystem* const fs_;

  std::unique_ptr<WritableFile> file_;  // The active segment, segments_.back().
  std::vector<Segment> segments_;       // Live segments, oldest first.
  std::string buffer_;                  // Encoded records not yet written.
  uint64_t next_seq_;
  uint64_t bytes_ = 0;
  // The end offset, in the active segment, of the last Reserve(): records up to it stay in this
  // segment even past segment_bytes.
  uint64_t reserved_end_ = 0;
  absl::Status failed_;
};

}  // namespace engram::storage::wal
