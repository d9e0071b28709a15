#include <algorithm>
#include <cstring>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"
#include "spdlog/spdlog.h"
#include "storage-server/wal/format.h"
#include "storage-server/wal/wal.h"

namespace engram::storage::wal {

absl::StatusOr<SyncMode> ParseSyncMode(std::string_view text) {
  if (text == "always") return SyncMode::kAlways;
  if (text == "relaxed") return SyncMode::kRelaxed;
  return absl::InvalidArgumentError(
      absl::StrCat("sync mode must be \"always\" or \"relaxed\", got \"",
                   absl::string_view(text.data(), text.size()), "\""));
}

std::string_view SyncModeName(SyncMode mode) {
  switch (mode) {
    case SyncMode::kAlways:
      return "always";
    case SyncMode::kRelaxed:
      return "relaxed";
  }
  return "unknown";
}

LogWriter::LogWriter(const Options& options, FileSystem* fs, uint64_t next_seq)
    : options_(options), fs_(fs), next_seq_(next_seq) {}

absl::StatusOr<std::unique_ptr<LogWriter>> LogWriter::Open(const Options& options,
                                                           uint64_t next_seq, RecoveredTail tail) {
  if (options.dir.empty()) return absl::InvalidArgumentError("wal: Options.dir is empty");
  if (options.segment_bytes == 0) {
    return absl::InvalidArgumentError("wal: Options.segment_bytes must be positive");
  }
  FileSystem* fs = options.file_system != nullptr ? options.file_system : DefaultFileSystem();
  std::unique_ptr<LogWriter> writer(new LogWriter(options, fs, next_seq));

  std::error_code ec;
  if (std::filesystem::create_directories(options.dir, ec)) {
    RETURN_IF_ERROR(fs->SyncDir(options.dir.parent_path().empty() ? std::filesystem::path(".")
                                                                  : options.dir.parent_path()));
  } else if (ec) {
    return absl::ErrnoToStatus(ec.value(), absl::StrCat("wal: create ", options.dir.string()));
  }

  ASSIGN_OR_RETURN(const std::vector<internal::SegmentFile> existing,
                   internal::ListSegments(options.dir));
  if (existing.empty()) {
    if (!tail.path.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("wal: recovered tail ", tail.path.string(),
                                                        " is not in ", options.dir.string()));
    }
    RETURN_IF_ERROR(writer->StartSegment(next_seq));
    return writer;
  }

  const internal::SegmentFile& last = existing.back();
  if (tail.path.filename() != last.path.filename()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "wal: the last segment in ", options.dir.string(), " is ", last.path.filename().string(),
        " but the recovered tail is \"", tail.path.string(), "\"; run ReadLog() first"));
  }
  if (next_seq < tail.next_seq) {
    return absl::FailedPreconditionError(absl::StrCat("wal: next_seq ", next_seq, " is below ",
                                                      tail.next_seq, ", the end of ",
                                                      last.path.string()));
  }
  for (const internal::SegmentFile& s : existing) {
    uint64_t size = tail.valid_bytes;
    if (&s != &last) {
      size = std::filesystem::file_size(s.path, ec);
      if (ec) {
        return absl::ErrnoToStatus(ec.value(), absl::StrCat("wal: stat ", s.path.string()));
      }
    }
    writer->segments_.push_back({s.path, s.first_seq, size});
    writer->bytes_ += size;
  }

  // Cut the torn tail even when not continuing this segment: as a non-last segment it must be
  // clean.
  ASSIGN_OR_RETURN(writer->file_, fs->ReopenAppendableFile(last.path, tail.valid_bytes));
  if (tail.next_seq == next_seq) return writer;

  // The checkpoint is ahead of the log (records flushed but never synced were lost with the
  // machine while the checkpoint survived): start a fresh segment at next_seq.
  RETURN_IF_ERROR(writer->file_->Close());
  writer->file_.reset();
  if (tail.valid_bytes == 0) {
    RETURN_IF_ERROR(fs->RemoveFile(last.path));
    writer->segments_.pop_back();
  }
  RETURN_IF_ERROR(writer->StartSegment(next_seq));
  return writer;
}

LogWriter::~LogWriter() {
  if (failed_.ok() && !buffer_.empty()) {
    if (absl::Status s = Flush(); !s.ok()) {
      spdlog::error("wal: flush at close failed: {}", s.ToString());
    }
  }
  if (file_ != nullptr && failed_.ok()) {
    if (absl::Status s = file_->DropReserve(); !s.ok()) spdlog::error("{}", s.ToString());
  }
  if (file_ != nullptr) {
    if (absl::Status s = file_->Close(); !s.ok()) spdlog::error("{}", s.ToString());
  }
}

absl::Status LogWriter::StartSegment(uint64_t first_seq) {
  const std::filesystem::path path = options_.dir / internal::SegmentFileName(first_seq);
  ASSIGN_OR_RETURN(file_, fs_->NewAppendableFile(path));
  segments_.push_back({path, first_seq, 0});
  // The new name must survive a crash before any record in the file is acknowledged.
  return fs_->SyncDir(options_.dir);
}

// The finished segment is cut to its records and synced first, so that a crash can never leave a
// torn record in a segment that is not the last (recovery treats that as corruption).
absl::Status LogWriter::FinishSegment() {
  RETURN_IF_ERROR(Flush());
  RETURN_IF_ERROR(Fail(file_->DropReserve()));
  return SyncFlushed();
}

absl::Status LogWriter::Roll(uint64_t first_seq) {
  RETURN_IF_ERROR(FinishSegment());
  RETURN_IF_ERROR(Fail(file_->Close()));
  file_.reset();
  reserved_end_ = 0;
  return Fail(StartSegment(first_seq));
}

absl::Status LogWriter::RollReserved(uint64_t first_seq, uint64_t bytes) {
  RETURN_IF_ERROR(FinishSegment());
  const std::filesystem::path path = options_.dir / internal::SegmentFileName(first_seq);
  absl::StatusOr<std::unique_ptr<WritableFile>> next = fs_->NewAppendableFile(path);
  if (!next.ok()) return next.status();  // Nothing was created.
  if (absl::Status room = (*next)->Allocate(0, bytes); !room.ok()) {
    // Keep the old segment active. The empty new file must go: a later attempt creates it again
    // (O_EXCL), and recovery would take it as the last segment.
    (void)(*next)->Close();
    RETURN_IF_ERROR(Fail(fs_->RemoveFile(path)));
    return room;
  }
  // The new name must survive a crash before any record in the file is acknowledged.
  RETURN_IF_ERROR(Fail(fs_->SyncDir(options_.dir)));
  RETURN_IF_ERROR(Fail(file_->Close()));
  file_ = *std::move(next);
  segments_.push_back({path, first_seq, 0});
  return absl::OkStatus();
}

absl::Status LogWriter::Reserve(uint64_t bytes) {
  if (!failed_.ok()) return failed_;
  const Segment& active = segments_.back();
  if (active.bytes > 0 && active.bytes + bytes > options_.segment_bytes) {
    RETURN_IF_ERROR(RollReserved(next_seq_, bytes));
  } else {
    RETURN_IF_ERROR(file_->Allocate(active.bytes, bytes));
  }
  reserved_end_ = segments_.back().bytes + bytes;
  return absl::OkStatus();
}

absl::Status LogWriter::Fail(absl::Status status) {
  if (!status.ok() && failed_.ok()) {
    failed_ = status;
    spdlog::error("wal: writer stopped, no further appends: {}", status.ToString());
  }
  return status;
}

absl::Status LogWriter::Append(uint64_t seq, std::string_view payload) {
  return AppendWith(seq, payload.size(), [&](char* p) {
    if (!payload.empty()) std::memcpy(p, payload.data(), payload.size());
  });
}

absl::Status LogWriter::AppendWith(uint64_t seq, size_t payload_len,
                                   absl::FunctionRef<void(char*)> fill) {
  if (!failed_.ok()) return failed_;
  if (seq != next_seq_) {
    return absl::InvalidArgumentError(
        absl::StrCat("wal: append of seq ", seq, " but the log expects seq ", next_seq_));
  }
  if (payload_len > kMaxPayloadBytes) {
    return absl::InvalidArgumentError(absl::StrCat("wal: record payload of ", payload_len,
                                                   " bytes exceeds the limit of ",
                                                   kMaxPayloadBytes));
  }
  const uint64_t record_bytes = internal::RecordBytes(payload_len);
  Segment* active = &segments_.back();
  if (active->bytes > 0 &&
      active->bytes + record_bytes > std::max(options_.segment_bytes, reserved_end_)) {
    RETURN_IF_ERROR(Roll(seq));
    active = &segments_.back();
  }
  internal::EncodeRecordWith(seq, payload_len, &buffer_, fill);
  active->bytes += record_bytes;
  bytes_ += record_bytes;
  ++next_seq_;
  if (buffer_.size() >= options_.max_buffer_bytes) return Flush();
  return absl::OkStatus();
}

absl::Status LogWriter::Flush() {
  if (!failed_.ok()) return failed_;
  if (buffer_.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(Fail(file_->Append(buffer_)));
  // Keep the capacity: the next group reuses it without reallocating, unless one huge group grew
  // it.
  if (buffer_.capacity() > 2 * options_.max_buffer_bytes) {
    std::string().swap(buffer_);
  } else {
    buffer_.clear();
  }
  return absl::OkStatus();
}

absl::Status LogWriter::Sync() {
  RETURN_IF_ERROR(Flush());
  return SyncFlushed();
}

absl::Status LogWriter::SyncFlushed() {
  if (!failed_.ok()) return failed_;
  return Fail(file_->Sync());
}

absl::Status LogWriter::RemoveSegmentsBefore(uint64_t seq) {
  // Segment i holds [first_seq(i), first_seq(i + 1)); the active (last) segment is never removed.
  size_t removed = 0;
  absl::Status status;
  while (removed + 1 < segments_.size() && segments_[removed + 1].first_seq <= seq) {
    status = fs_->RemoveFile(segments_[removed].path);
    if (!status.ok()) break;
    bytes_ -= segments_[removed].bytes;
    ++removed;
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(removed));
  if (removed > 0) {
    // Not needed for correctness (recovery skips segments a checkpoint covers), but keeps the
    // directory from resurrecting them after a crash.
    absl::Status dir_status = fs_->SyncDir(options_.dir);
    if (status.ok()) status = dir_status;
  }
  return status;
}

}  // namespace engram::storage::wal
