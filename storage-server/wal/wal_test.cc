// Tests of the write-ahead log against real files in a temporary directory.
#include "storage-server/wal/wal.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage-server/io/out_of_space.h"
#include "storage-server/wal/crc32c.h"
#include "storage-server/wal/file_system.h"
#include "storage-server/wal/format.h"

namespace engram::storage::wal {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::SizeIs;

using Records = std::vector<std::pair<uint64_t, std::string>>;

// Deterministic payloads of varying length (0 to ~300 bytes) and content.
std::string Payload(uint64_t seq) {
  std::string p;
  const size_t len = (seq * 37) % 301;
  for (size_t i = 0; i < len; ++i) p.push_back(static_cast<char>((seq * 131 + i * 7) & 0xFF));
  return p;
}

Records Expected(uint64_t first, uint64_t last) {
  Records r;
  for (uint64_t s = first; s <= last; ++s) r.emplace_back(s, Payload(s));
  return r;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const fs::path& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::string EncodedRecord(uint64_t seq, std::string_view payload) {
  std::string out;
  internal::EncodeRecord(seq, payload, &out);
  return out;
}

fs::path SegmentPath(const fs::path& dir, uint64_t first_seq) {
  return dir / internal::SegmentFileName(first_seq);
}

// Injects errors into the files the writer opens. A failing Append writes half of its data first,
// like a write() that hit ENOSPC midway.
class FaultyFileSystem final : public FileSystem {
 public:
  absl::Status write_error;  // OK: no fault.
  absl::Status sync_error;
  absl::Status allocate_error;
  absl::Status create_error;
  int allocate_calls = 0;
  std::vector<std::pair<uint64_t, uint64_t>> allocated;  // (offset, length) of each success

  absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(const fs::path& path) override {
    if (!create_error.ok()) return create_error;
    auto base = DefaultFileSystem()->NewAppendableFile(path);
    if (!base.ok()) return base.status();
    return std::unique_ptr<WritableFile>(new File(this, *std::move(base)));
  }
  absl::StatusOr<std::unique_ptr<WritableFile>> ReopenAppendableFile(const fs::path& path,
                                                                     uint64_t size) override {
    auto base = DefaultFileSystem()->ReopenAppendableFile(path, size);
    if (!base.ok()) return base.status();
    return std::unique_ptr<WritableFile>(new File(this, *std::move(base)));
  }
  absl::Status SyncDir(const fs::path& dir) override { return DefaultFileSystem()->SyncDir(dir); }
  absl::Status RemoveFile(const fs::path& path) override {
    return DefaultFileSystem()->RemoveFile(path);
  }

 private:
  class File final : public WritableFile {
   public:
    File(FaultyFileSystem* fs, std::unique_ptr<WritableFile> base)
        : fs_(fs), base_(std::move(base)) {}
    absl::Status Append(std::string_view data) override {
      if (fs_->write_error.ok()) return base_->Append(data);
      (void)base_->Append(data.substr(0, data.size() / 2));
      return fs_->write_error;
    }
    absl::Status Sync() override { return fs_->sync_error.ok() ? base_->Sync() : fs_->sync_error; }
    absl::Status Allocate(uint64_t offset, uint64_t length) override {
      ++fs_->allocate_calls;
      if (!fs_->allocate_error.ok()) return fs_->allocate_error;
      fs_->allocated.emplace_back(offset, length);
      return base_->Allocate(offset, length);
    }
    absl::Status DropReserve() override { return base_->DropReserve(); }
    absl::Status Close() override { return base_->Close(); }
    const fs::path& path() const override { return base_->path(); }

   private:
    FaultyFileSystem* fs_;
    std::unique_ptr<WritableFile> base_;
  };
};

class WalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "wal_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    dir_ = root_ / "wal";
  }
  void TearDown() override { fs::remove_all(root_); }

  LogWriter::Options Opts(uint64_t segment_bytes = uint64_t{64} << 20) {
    LogWriter::Options o;
    o.dir = dir_;
    o.segment_bytes = segment_bytes;
    return o;
  }

  // Replays the whole log (or what follows after_seq) into `out`.
  absl::StatusOr<RecoveryResult> Read(Records* out, uint64_t after_seq = 0,
                                      const fs::path& dir = {}) {
    out->clear();
    return ReadLog(dir.empty() ? dir_ : dir, after_seq, [out](uint64_t seq, std::string_view p) {
      out->emplace_back(seq, std::string(p));
      return absl::OkStatus();
    });
  }

  // Recovers, opens a writer on the tail and returns it.
  std::unique_ptr<LogWriter> Reopen(const LogWriter::Options& options, Records* recovered = nullptr,
                                    uint64_t after_seq = 0) {
    Records scratch;
    auto rec = Read(recovered != nullptr ? recovered : &scratch, after_seq);
    EXPECT_TRUE(rec.ok()) << rec.status();
    if (!rec.ok()) return nullptr;
    auto writer = LogWriter::Open(options, rec->last_seq + 1, rec->tail);
    EXPECT_TRUE(writer.ok()) << writer.status();
    return writer.ok() ? *std::move(writer) : nullptr;
  }

  // Appends [first, last] with a Sync every `group` records and at the end.
  static void AppendRange(LogWriter* w, uint64_t first, uint64_t last, uint64_t group = 16) {
    for (uint64_t s = first; s <= last; ++s) {
      ASSERT_TRUE(w->Append(s, Payload(s)).ok()) << s;
      if ((s - first + 1) % group == 0) {
        ASSERT_TRUE(w->Sync().ok());
      }
    }
    ASSERT_TRUE(w->Sync().ok());
  }

  std::vector<fs::path> SegmentFiles() {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir_)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
  }

  // Writes records [1, n] into a single segment and returns its path and the offset of each record.
  fs::path WriteSingleSegment(uint64_t n, std::vector<uint64_t>* offsets) {
    auto w = LogWriter::Open(Opts(), 1, {});
    EXPECT_TRUE(w.ok()) << w.status();
    uint64_t off = 0;
    for (uint64_t s = 1; s <= n; ++s) {
      offsets->push_back(off);
      off += internal::RecordBytes(Payload(s).size());
      EXPECT_TRUE((*w)->Append(s, Payload(s)).ok());
    }
    EXPECT_TRUE((*w)->Sync().ok());
    return SegmentPath(dir_, 1);
  }

  fs::path root_;
  fs::path dir_;
};

TEST(SyncModeTest, Parse) {
  EXPECT_EQ(*ParseSyncMode("always"), SyncMode::kAlways);
  EXPECT_EQ(*ParseSyncMode("relaxed"), SyncMode::kRelaxed);
  EXPECT_EQ(ParseSyncMode("sometimes").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSyncMode("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SyncModeName(SyncMode::kAlways), "always");
  EXPECT_EQ(SyncModeName(SyncMode::kRelaxed), "relaxed");
}

TEST(FormatTest, SegmentNames) {
  EXPECT_EQ(internal::SegmentFileName(1), "00000000000000000001.wal");
  EXPECT_EQ(internal::SegmentFileName(UINT64_MAX), "18446744073709551615.wal");
  EXPECT_EQ(internal::ParseSegmentFileName("00000000000000001234.wal"), 1234u);
  EXPECT_EQ(internal::ParseSegmentFileName("0000000000000001234.wal"), std::nullopt);
  EXPECT_EQ(internal::ParseSegmentFileName("00000000000000001234.tmp"), std::nullopt);
  EXPECT_EQ(internal::ParseSegmentFileName("0000000000000000123x.wal"), std::nullopt);
  EXPECT_EQ(internal::ParseSegmentFileName("99999999999999999999.wal"), std::nullopt);
}

TEST(FormatTest, RecordLayoutIsLittleEndianWithChecksums) {
  const std::string r = EncodedRecord(0x0102030405060708, "abc");
  ASSERT_EQ(r.size(), kHeaderBytes + 3 + kTrailerBytes);
  EXPECT_EQ(r.substr(0, 4), std::string("\x03\0\0\0", 4));
  EXPECT_EQ(r.substr(4, 8), std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
  EXPECT_EQ(r.substr(16, 3), "abc");
  const auto parsed = internal::ParseRecord(r.data(), r.size(), 0);
  EXPECT_EQ(parsed.kind, internal::ParsedRecord::Kind::kOk);
  EXPECT_EQ(parsed.seq, 0x0102030405060708u);
  EXPECT_EQ(parsed.payload, "abc");
}

TEST_F(WalTest, MissingDirectoryIsAnEmptyLog) {
  Records got;
  auto rec = Read(&got, 7);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(rec->last_seq, 7u);
  EXPECT_EQ(rec->records_applied, 0u);
  EXPECT_FALSE(rec->tail_truncated);
  EXPECT_TRUE(rec->tail.path.empty());
}

// AppendWith() (the payload serialized in place, as the engine does) writes exactly the bytes
// Append() writes for the same payload, replays identically, and a damaged payload in a record
// that is not the last is DATA_LOSS naming the file and offset.
TEST_F(WalTest, AppendWithWritesTheSameRecordsAsAppend) {
  constexpr uint64_t kRecords = 200;
  {
    auto w = LogWriter::Open(Opts(), 1, {});
    ASSERT_TRUE(w.ok()) << w.status();
    for (uint64_t s = 1; s <= kRecords; ++s) {
      const std::string payload = Payload(s);
      ASSERT_TRUE((*w)->AppendWith(s, payload.size(), [&](char* p) {
                          std::memcpy(p, payload.data(), payload.size());
                        }).ok());
    }
    ASSERT_TRUE((*w)->Sync().ok());
  }
  std::string expected;
  for (uint64_t s = 1; s <= kRecords; ++s) internal::EncodeRecord(s, Payload(s), &expected);
  const fs::path segment = SegmentPath(dir_, 1);
  const std::string written = ReadFile(segment);
  ASSERT_EQ(written, expected);

  Records got;
  auto rec = Read(&got);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(got, Expected(1, kRecords));

  // Flip one payload byte of record 100 (not the tail): recovery must refuse, naming the spot.
  uint64_t offset = 0;
  for (uint64_t s = 1; s < 100; ++s) offset += internal::RecordBytes(Payload(s).size());
  ASSERT_GT(Payload(100).size(), 0u);
  std::string damaged = written;
  damaged[offset + kHeaderBytes] ^= 0x01;
  WriteFile(segment, damaged);
  Records none;
  auto bad = Read(&none);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << bad.status();
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr(segment.filename().string()));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr(std::to_string(offset)));
}

TEST_F(WalTest, RoundTripWithSegmentRolls) {
  constexpr uint64_t kSegmentBytes = 4096;
  constexpr uint64_t kRecords = 3000;
  auto w = LogWriter::Open(Opts(kSegmentBytes), 1, {});
  ASSERT_TRUE(w.ok()) << w.status();
  AppendRange(w->get(), 1, kRecords, 17);

  const std::vector<fs::path> files = SegmentFiles();
  EXPECT_EQ((*w)->segment_count(), files.size());
  EXPECT_GT(files.size(), 50u);
  uint64_t total = 0;
  for (const fs::path& f : files) {
    EXPECT_LE(fs::file_size(f), kSegmentBytes) << f;  // No record is bigger than a segment here.
    total += fs::file_size(f);
  }
  EXPECT_EQ((*w)->bytes(), total);
  EXPECT_EQ(files.front().filename(), "00000000000000000001.wal");

  Records got;
  auto rec = Read(&got);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(got, Expected(1, kRecords));
  EXPECT_EQ(rec->last_seq, kRecords);
  EXPECT_EQ(rec->records_applied, kRecords);
  EXPECT_FALSE(rec->tail_truncated);
  EXPECT_EQ(rec->tail.path, files.back());
  EXPECT_EQ(rec->tail.valid_bytes, fs::file_size(files.back()));
  EXPECT_EQ(rec->tail.next_seq, kRecords + 1);

  // Each segment's name is its first record's sequence number.
  for (const fs::path& f : files) {
    const std::string data = ReadFile(f);
    const auto first = internal::ParseRecord(data.data(), data.size(), 0);
    EXPECT_EQ(internal::ParseSegmentFileName(f.filename().string()), first.seq);
  }
}

TEST_F(WalTest, RecordsAcrossReadBufferBoundaries) {
  // One segment of several MiB: records straddle the reader's 1 MiB chunks, and one record is
  // larger than a chunk. Damage far from the start is still found at the right offset.
  auto w = LogWriter::Open(Opts(), 1, {});
  ASSERT_TRUE(w.ok());
  Records want;
  std::vector<uint64_t> offsets;
  uint64_t off = 0;
  for (uint64_t s = 1; s <= 12000; ++s) {
    std::string p = s == 5000 ? std::string(3 << 20, static_cast<char>('a' + s % 26)) : Payload(s);
    offsets.push_back(off);
    off += internal::RecordBytes(p.size());
    ASSERT_TRUE((*w)->Append(s, p).ok());
    want.emplace_back(s, std::move(p));
  }
  ASSERT_TRUE((*w)->Sync().ok());
  w->reset();
  ASSERT_THAT(SegmentFiles(), SizeIs(1));
  Records got;
  auto rec = Read(&got);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_TRUE(got == want);

  const fs::path seg = SegmentPath(dir_, 1);
  const std::string original = ReadFile(seg);
  std::string damaged = original;
  damaged[offsets[9000] + 3] ^= 0x08;
  WriteFile(seg, damaged);
  rec = Read(&got);
  ASSERT_EQ(rec.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(rec.status().message()),
              HasSubstr(absl::StrCat("at offset ", offsets[9000], ": header checksum mismatch")));

  damaged = original;
  damaged[offsets.back() + kHeaderBytes] ^= 0x08;  // Payload of the last record.
  WriteFile(seg, damaged);
  rec = Read(&got);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_TRUE(rec->tail_truncated);
  EXPECT_EQ(rec->tail.valid_bytes, offsets.back());
  EXPECT_EQ(got.size(), want.size() - 1);
}

TEST_F(WalTest, RecordLargerThanASegmentGetsItsOwnSegment) {
  auto w = LogWriter::Open(Opts(1024), 1, {});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append(1, "small").ok());
  ASSERT_TRUE((*w)->Append(2, std::string(5000, 'x')).ok());
  ASSERT_TRUE((*w)->Append(3, "small").ok());
  ASSERT_TRUE((*w)->Sync().ok());
  EXPECT_EQ((*w)->segment_count(), 3u);
  Records got;
  ASSERT_TRUE(Read(&got).ok());
  ASSERT_THAT(got, SizeIs(3));
  EXPECT_EQ(got[1].second, std::string(5000, 'x'));
}

TEST_F(WalTest, LargeGroupIsWrittenOutWhenTheBufferFills) {
  LogWriter::Options o = Opts();
  o.max_buffer_bytes = 1000;
  auto w = LogWriter::Open(o, 1, {});
  ASSERT_TRUE(w.ok());
  for (uint64_t s = 1; s <= 100; ++s) ASSERT_TRUE((*w)->Append(s, Payload(s)).ok());
  // Without Flush(), most records already reached the file.
  EXPECT_GT(fs::file_size(SegmentPath(dir_, 1)), (*w)->bytes() - 1000);
  ASSERT_TRUE((*w)->Flush().ok());
  EXPECT_EQ(fs::file_size(SegmentPath(dir_, 1)), (*w)->bytes());
}

TEST_F(WalTest, ReplaysOnlyRecordsAfterCheckpointAndSkipsOlderSegmentsUnread) {
  auto w = LogWriter::Open(Opts(4096), 1, {});
  ASSERT_TRUE(w.ok());
  AppendRange(w->get(), 1, 1000);
  w->reset();

  // Corrupt the first segment; it is wholly below the checkpoint, so it must not be read.
  const std::vector<fs::path> files = SegmentFiles();
  std::string first = ReadFile(files[0]);
  first[20] ^= 0x40;
  WriteFile(files[0], first);

  Records got;
  auto rec = Read(&got, 600);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(got, Expected(601, 1000));
  EXPECT_EQ(rec->records_applied, 400u);
  EXPECT_EQ(rec->last_seq, 1000u);

  // From the start, the damage is found.
  EXPECT_EQ(Read(&got, 0).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(WalTest, RemoveSegmentsBefore) {
  auto w = LogWriter::Open(Opts(4096), 1, {});
  ASSERT_TRUE(w.ok());
  AppendRange(w->get(), 1, 1000);
  std::vector<fs::path> before = SegmentFiles();
  ASSERT_GT(before.size(), 5u);
  std::vector<uint64_t> firsts;
  for (const fs::path& f : before)
    firsts.push_back(*internal::ParseSegmentFileName(f.filename().string()));

  // A checkpoint at seq 500: remove segments whose records are all < 501.
  ASSERT_TRUE((*w)->RemoveSegmentsBefore(501).ok());
  std::vector<fs::path> after = SegmentFiles();
  ASSERT_FALSE(after.empty());
  const uint64_t oldest = *internal::ParseSegmentFileName(after.front().filename().string());
  EXPECT_LE(oldest, 501u);                          // The segment holding 501 survives...
  for (size_t i = 0; i + 1 < firsts.size(); ++i) {  // ...and every older one is gone.
    if (firsts[i + 1] <= 501) {
      EXPECT_FALSE(fs::exists(before[i])) << before[i];
    }
  }
  EXPECT_EQ((*w)->segment_count(), after.size());
  uint64_t total = 0;
  for (const fs::path& f : after) total += fs::file_size(f);
  EXPECT_EQ((*w)->bytes(), total);

  Records got;
  auto rec = Read(&got, 500);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(got, Expected(501, 1000));
  // Replaying from before the oldest remaining segment is a hole, not silent data loss.
  EXPECT_EQ(Read(&got, 0).status().code(), absl::StatusCode::kDataLoss);

  // The active segment is never removed, and the writer keeps going.
  ASSERT_TRUE((*w)->RemoveSegmentsBefore(UINT64_MAX).ok());
  EXPECT_EQ((*w)->segment_count(), 1u);
  EXPECT_THAT(SegmentFiles(), SizeIs(1));
  AppendRange(w->get(), 1001, 1010);
  rec = Read(&got, 1000);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(got, Expected(1001, 1010));
}

TEST_F(WalTest, ReopenAndContinueAfterRecovery) {
  {
    auto w = LogWriter::Open(Opts(4096), 1, {});
    ASSERT_TRUE(w.ok());
    AppendRange(w->get(), 1, 300);
  }
  for (uint64_t round = 0; round < 3; ++round) {
    Records recovered;
    auto w = Reopen(Opts(4096), &recovered);
    ASSERT_NE(w, nullptr);
    const uint64_t last = 300 + round * 100;
    EXPECT_EQ(recovered, Expected(1, last));
    EXPECT_EQ(w->next_seq(), last + 1);
    AppendRange(w.get(), last + 1, last + 100);
  }
  Records got;
  ASSERT_TRUE(Read(&got).ok());
  EXPECT_EQ(got, Expected(1, 600));
}

TEST_F(WalTest, DestructorWritesOutBufferedRecords) {
  {
    auto w = LogWriter::Open(Opts(), 1, {});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(1, "a").ok());
    ASSERT_TRUE((*w)->Append(2, "b").ok());
  }
  Records got;
  ASSERT_TRUE(Read(&got).ok());
  EXPECT_EQ(got, (Records{{1, "a"}, {2, "b"}}));
}

TEST_F(WalTest, EmptySegmentLeftByACrashIsContinued) {
  { ASSERT_TRUE(LogWriter::Open(Opts(), 1, {}).ok()); }  // Created, nothing written.
  auto w = Reopen(Opts());
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->next_seq(), 1u);
  AppendRange(w.get(), 1, 5);
  EXPECT_THAT(SegmentFiles(), SizeIs(1));
  Records got;
  ASSERT_TRUE(Read(&got).ok());
  EXPECT_EQ(got, Expected(1, 5));
}

TEST_F(WalTest, TornTailAtEveryByteOfTheLastRecord) {
  // Two segments, so the torn record sits in the last one after an earlier segment.
  {
    auto w = LogWriter::Open(Opts(4096), 1, {});
    ASSERT_TRUE(w.ok());
    AppendRange(w->get(), 1, 40);
    ASSERT_TRUE((*w)->Append(41, std::string(150, 'L')).ok());
    ASSERT_TRUE((*w)->Sync().ok());
    ASSERT_GE((*w)->segment_count(), 2u);
  }
  const fs::path last = SegmentFiles().back();
  const std::string original = ReadFile(last);
  const uint64_t record_start = original.size() - internal::RecordBytes(150);
  Records earlier = Expected(1, 40);

  for (uint64_t cut = record_start; cut < original.size(); ++cut) {
    SCOPED_TRACE(absl::StrCat("cut at ", cut));
    WriteFile(last, std::string_view(original).substr(0, cut));
    Records got;
    auto rec = Read(&got);
    ASSERT_TRUE(rec.ok()) << rec.status();
    EXPECT_EQ(got, earlier);
    EXPECT_EQ(rec->last_seq, 40u);
    EXPECT_EQ(rec->tail_truncated, cut != record_start);
    if (cut != record_start) {
      EXPECT_THAT(rec->warning, HasSubstr(last.string()));
      EXPECT_THAT(rec->warning, HasSubstr(absl::StrCat("at offset ", record_start)));
      EXPECT_THAT(rec->warning, HasSubstr(absl::StrCat("dropping ", cut - record_start, " bytes")));
    }
    EXPECT_EQ(rec->tail.path, last);
    EXPECT_EQ(rec->tail.valid_bytes, record_start);
    EXPECT_EQ(rec->tail.next_seq, 41u);

    // The writer cuts the tail and continues where the valid log ends.
    auto w = LogWriter::Open(Opts(4096), rec->last_seq + 1, rec->tail);
    ASSERT_TRUE(w.ok()) << w.status();
    EXPECT_EQ(fs::file_size(last), record_start);
    ASSERT_TRUE((*w)->Append(41, "again").ok());
    ASSERT_TRUE((*w)->Append(42, "more").ok());
    ASSERT_TRUE((*w)->Sync().ok());
    w->reset();

    rec = Read(&got);
    ASSERT_TRUE(rec.ok()) << rec.status();
    EXPECT_FALSE(rec->tail_truncated);
    Records want = earlier;
    want.emplace_back(41, "again");
    want.emplace_back(42, "more");
    EXPECT_EQ(got, want);
  }
}

// Zeros after the last record are the writer's reserve (written ahead of the records so that an
// fdatasync flushes only data), not a torn record: recovery ends the records there without a
// warning, and the writer continues over them. A torn record followed by zeros is still torn.
TEST_F(WalTest, ZeroFilledTailIsTheReserveNotATornTail) {
  std::vector<uint64_t> offsets;
  const fs::path seg = WriteSingleSegment(10, &offsets);
  const uint64_t valid = fs::file_size(seg);
  const std::string records = ReadFile(seg);
  WriteFile(seg, records + std::string(4096, '\0'));
  Records got;
  auto rec = Read(&got);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_FALSE(rec->tail_truncated);
  EXPECT_EQ(rec->warning, "");
  EXPECT_EQ(rec->tail.valid_bytes, valid);
  EXPECT_EQ(got, Expected(1, 10));
  {
    std::unique_ptr<LogWriter> w = Reopen(Opts());
    ASSERT_NE(w, nullptr);
    AppendRange(w.get(), 11, 12);
  }
  ASSERT_TRUE(Read(&got).ok());
  EXPECT_EQ(got, Expected(1, 12));

  // The last record torn half-way, then zeros.
  WriteFile(seg, records.substr(0, offsets[9] + 10) + std::string(4096, '\0'));
  rec = Read(&got);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_TRUE(rec->tail_truncated);
  EXPECT_EQ(rec->tail.valid_bytes, offsets[9]);
  EXPECT_EQ(got, Expected(1, 9));
}

// A finished segment whose cut to its records did not reach the disk keeps its zeros: the records
// go on in the next segment. Zeros where records should be are still caught, by the next
// segment's first sequence number.
TEST_F(WalTest, ZerosAfterTheRecordsOfAFinishedSegmentAreItsEnd) {
  auto w = LogWriter::Open(Opts(4096), 1, {});
  ASSERT_TRUE(w.ok()) << w.status();
  AppendRange(w->get(), 1, 200, 7);
  w->reset();
  std::vector<fs::path> files = SegmentFiles();
  ASSERT_GT(files.size(), 2u);
  const std::string first = ReadFile(files[0]);
  WriteFile(files[0], first + std::string(8192, '\0'));
  Records got;
  auto rec = Read(&got);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(got, Expected(1, 200));
  EXPECT_FALSE(rec->tail_truncated);

  // Its last record zeroed: the next segment starts after a gap.
  const auto last_record = internal::RecordBytes(Payload(1).size());
  std::string damaged = first;
  std::fill(damaged.end() - static_cast<ptrdiff_t>(last_record), damaged.end(), '\0');
  WriteFile(files[0], damaged + std::string(8192, '\0'));
  rec = Read(&got);
  EXPECT_EQ(rec.status().code(), absl::StatusCode::kDataLoss) << rec.status();
}

// The POSIX file: Reserve writes zeros ahead and sizes the file over them; records overwrite them
// in place; a roll cuts the finished segment to its records, and so does a clean close.
TEST_F(WalTest, PosixReserveWritesZerosAheadAndRecordsInPlace) {
  auto w = LogWriter::Open(Opts(uint64_t{1} << 22), 1, {});
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Reserve(internal::RecordBytes(Payload(1).size()) * 10).ok());
  AppendRange(w->get(), 1, 10);
  const fs::path seg = SegmentPath(dir_, 1);
  EXPECT_EQ(fs::file_size(seg), uint64_t{1} << 20);  // reserved ahead
  const std::string data = ReadFile(seg);
  EXPECT_TRUE(std::all_of(data.begin() + static_cast<ptrdiff_t>((*w)->bytes()), data.end(),
                          [](char c) { return c == 0; }));
  Records got;
  ASSERT_TRUE(Read(&got).ok());
  EXPECT_EQ(got, Expected(1, 10));
  // A reserve that takes the segment past its size rolls: the finished segment is cut.
  const uint64_t written = (*w)->bytes();
  ASSERT_TRUE((*w)->Reserve(uint64_t{1} << 22).ok());
  EXPECT_EQ(fs::file_size(seg), written);
  AppendRange(w->get(), 11, 12);
  const uint64_t total = (*w)->bytes();
  w->reset();
  uint64_t on_disk = 0;
  for (const fs::path& f : SegmentFiles()) on_disk += fs::file_size(f);
  EXPECT_EQ(on_disk, total);
  ASSERT_TRUE(Read(&got).ok());
  EXPECT_EQ(got, Expected(1, 12));
}

TEST_F(WalTest, BitFlipInLastRecordIsATornTail) {
  std::vector<uint64_t> offsets;
  const fs::path seg = WriteSingleSegment(20, &offsets);
  const std::string original = ReadFile(seg);
  const uint64_t start = offsets.back();
  for (uint64_t i = start; i < original.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      SCOPED_TRACE(absl::StrCat("byte ", i, " bit ", bit));
      std::string damaged = original;
      damaged[i] ^= static_cast<char>(1 << bit);
      WriteFile(seg, damaged);
      Records got;
      auto rec = Read(&got);
      ASSERT_TRUE(rec.ok()) << rec.status();
      EXPECT_TRUE(rec->tail_truncated);
      EXPECT_THAT(rec->warning, HasSubstr(absl::StrCat(seg.string(), " at offset ", start)));
      EXPECT_EQ(rec->tail.valid_bytes, start);
      EXPECT_EQ(got, Expected(1, 19));
    }
  }
}

TEST_F(WalTest, BitFlipInEarlierRecordOfLastSegmentIsDataLoss) {
  std::vector<uint64_t> offsets;
  const fs::path seg = WriteSingleSegment(20, &offsets);
  const std::string original = ReadFile(seg);
  struct Case {
    size_t record;
    uint64_t byte_in_record;
    const char* what;
  };
  for (const Case& c : {Case{0, 0, "header checksum mismatch"},     // length
                        Case{5, 6, "header checksum mismatch"},     // seq
                        Case{5, 13, "header checksum mismatch"},    // header crc
                        Case{10, 17, "payload checksum mismatch"},  // payload
                        Case{18, kHeaderBytes + Payload(19).size(), "payload checksum mismatch"}}) {
    SCOPED_TRACE(absl::StrCat("record ", c.record, " byte ", c.byte_in_record));
    std::string damaged = original;
    damaged[offsets[c.record] + c.byte_in_record] ^= 0x10;
    WriteFile(seg, damaged);
    Records got;
    auto rec = Read(&got);
    ASSERT_EQ(rec.status().code(), absl::StatusCode::kDataLoss) << rec.status();
    EXPECT_THAT(std::string(rec.status().message()),
                HasSubstr(absl::StrCat("wal: corrupt record in ", seg.string(), " at offset ",
                                       offsets[c.record], ": ", c.what)));
    EXPECT_THAT(std::string(rec.status().message()), HasSubstr("refusing to start"));
    EXPECT_EQ(got, Expected(1, c.record));  // Records before the damage were applied.
  }
}

TEST_F(WalTest, CorruptionInANonLastSegmentIsDataLoss) {
  {
    auto w = LogWriter::Open(Opts(4096), 1, {});
    ASSERT_TRUE(w.ok());
    AppendRange(w->get(), 1, 200);
  }
  const std::vector<fs::path> files = SegmentFiles();
  ASSERT_GE(files.size(), 3u);
  const fs::path middle = files[1];
  const std::string original = ReadFile(middle);

  // Damage in the last record of a middle segment: no valid record follows in that file, but it is
  // not the log's tail, so it is not torn, it is lost.
  std::string damaged = original;
  damaged[damaged.size() - 1] ^= 0x01;
  WriteFile(middle, damaged);
  Records got;
  auto rec = Read(&got);
  ASSERT_EQ(rec.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(rec.status().message()), HasSubstr(middle.string()));
  EXPECT_THAT(std::string(rec.status().message()), HasSubstr("payload checksum mismatch"));

  // A middle segment cut short.
  WriteFile(middle, std::string_view(original).substr(0, original.size() - 3));
  rec = Read(&got);
  ASSERT_EQ(rec.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(rec.status().message()), HasSubstr(middle.string()));
  EXPECT_THAT(std::string(rec.status().message()), HasSubstr("incomplete record"));

  // A missing middle segment.
  fs::remove(middle);
  rec = Read(&got);
  ASSERT_EQ(rec.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(rec.status().message()), HasSubstr(files[2].string()));
}

TEST_F(WalTest, SequenceGapsAndStepsBackAreDataLoss) {
  fs::create_directories(dir_);
  const fs::path seg = SegmentPath(dir_, 1);
  const std::string r1 = EncodedRecord(1, "one");
  const std::string r2 = EncodedRecord(2, "two");
  Records got;

  WriteFile(seg, r1 + r2 + EncodedRecord(4, "four"));
  auto rec = Read(&got);
  ASSERT_EQ(rec.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(rec.status().message()),
              HasSubstr(absl::StrCat(seg.string(), " at offset ", r1.size() + r2.size(),
                                     ": sequence gap: expected seq 3, found 4")));

  WriteFile(seg, r1 + r2 + EncodedRecord(2, "again"));
  EXPECT_EQ(Read(&got).status().code(), absl::StatusCode::kDataLoss);

  // The segment's name disagrees with its first record.
  fs::remove(seg);
  WriteFile(SegmentPath(dir_, 5), r1 + r2);
  rec = Read(&got, 4);
  ASSERT_EQ(rec.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(rec.status().message()), HasSubstr("expected seq 5, found 1"));
  fs::remove(SegmentPath(dir_, 5));

  // A gap between segments.
  WriteFile(SegmentPath(dir_, 1), r1 + r2);
  WriteFile(SegmentPath(dir_, 4), EncodedRecord(4, "four"));
  rec = Read(&got);
  ASSERT_EQ(rec.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(rec.status().message()), HasSubstr(SegmentPath(dir_, 4).string()));

  // The log starts after the checkpoint: records 3..9 are nowhere.
  fs::remove(SegmentPath(dir_, 1));
  fs::remove(SegmentPath(dir_, 4));
  WriteFile(SegmentPath(dir_, 10), EncodedRecord(10, "ten"));
  rec = Read(&got, 2);
  ASSERT_EQ(rec.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(rec.status().message()),
              HasSubstr("recovery needs every record after seq 2"));
}

// A header whose checksum matches but whose length is absurd (as if written by a bug).
std::string OversizedHeader(uint64_t seq) {
  std::string h(kHeaderBytes, '\0');
  const uint32_t len = kMaxPayloadBytes + 1;
  for (int i = 0; i < 4; ++i) h[i] = static_cast<char>(len >> (8 * i));
  for (int i = 0; i < 8; ++i) h[4 + i] = static_cast<char>(seq >> (8 * i));
  const uint32_t crc = Crc32c(h.data(), 12);
  for (int i = 0; i < 4; ++i) h[12 + i] = static_cast<char>(crc >> (8 * i));
  return h;
}

TEST_F(WalTest, OversizedLengthFollowedByValidDataIsDataLoss) {
  fs::create_directories(dir_);
  const fs::path seg = SegmentPath(dir_, 1);
  const std::string r1 = EncodedRecord(1, "one");
  Records got;

  WriteFile(seg, r1 + OversizedHeader(2) + std::string(40, 'x') + EncodedRecord(2, "two"));
  auto rec = Read(&got);
  ASSERT_EQ(rec.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(rec.status().message()),
              HasSubstr(absl::StrCat(seg.string(), " at offset ", r1.size(),
                                     ": payload length exceeds limit")));

  // With nothing valid after it, it is a torn tail.
  WriteFile(seg, r1 + OversizedHeader(2) + std::string(40, 'x'));
  rec = Read(&got);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_TRUE(rec->tail_truncated);
  EXPECT_EQ(rec->tail.valid_bytes, r1.size());
  EXPECT_EQ(got, (Records{{1, "one"}}));
}

TEST_F(WalTest, ValidLookingBytesInsideATornPayloadAreNotRecords) {
  // A payload that itself contains an encoded record, torn at its checksum: the record inside the
  // payload must not be taken for a valid record after the damage.
  fs::create_directories(dir_);
  const fs::path seg = SegmentPath(dir_, 1);
  const std::string r1 = EncodedRecord(1, "one");
  std::string r2 = EncodedRecord(2, EncodedRecord(7, "inner"));
  r2.back() ^= 0x01;
  WriteFile(seg, r1 + r2);
  Records got;
  auto rec = Read(&got);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_TRUE(rec->tail_truncated);
  EXPECT_EQ(got, (Records{{1, "one"}}));
}

TEST_F(WalTest, ApplyErrorIsReturnedAsIs) {
  std::vector<uint64_t> offsets;
  WriteSingleSegment(10, &offsets);
  uint64_t calls = 0;
  auto rec = ReadLog(dir_, 0, [&](uint64_t seq, std::string_view) {
    ++calls;
    return seq == 4 ? absl::AbortedError("engine says no") : absl::OkStatus();
  });
  EXPECT_EQ(rec.status(), absl::AbortedError("engine says no"));
  EXPECT_EQ(calls, 4u);
}

TEST_F(WalTest, CheckpointAheadOfTheLogStartsANewSegment) {
  // Relaxed mode after a machine crash: the checkpoint covers up to 20, the log kept only 1..10.
  std::vector<uint64_t> offsets;
  WriteSingleSegment(10, &offsets);
  Records got;
  auto rec = Read(&got, 20);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(rec->last_seq, 20u);
  EXPECT_EQ(rec->tail.next_seq, 11u);

  auto w = LogWriter::Open(Opts(), rec->last_seq + 1, rec->tail);
  ASSERT_TRUE(w.ok()) << w.status();
  AppendRange(w->get(), 21, 25);
  EXPECT_EQ(SegmentFiles().back(), SegmentPath(dir_, 21));

  rec = Read(&got, 20);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(got, Expected(21, 25));
  // An older checkpoint would need 11..20, which are gone.
  EXPECT_EQ(Read(&got, 5).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(WalTest, OpenRejectsATailThatDoesNotMatchTheDirectory) {
  std::vector<uint64_t> offsets;
  const fs::path seg = WriteSingleSegment(10, &offsets);
  EXPECT_EQ(LogWriter::Open(Opts(), 11, {}).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(LogWriter::Open(Opts(), 5, {seg, fs::file_size(seg), 11}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(LogWriter::Open(Opts(), 11, {seg, fs::file_size(seg) + 1, 11}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(LogWriter::Open(Opts(), 11, {dir_ / "elsewhere.wal", 0, 11}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(WalTest, AppendChecksSequenceAndSize) {
  auto w = LogWriter::Open(Opts(), 1, {});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->Append(2, "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*w)->Append(0, "x").code(), absl::StatusCode::kInvalidArgument);
  // Not sticky: the right sequence number still works.
  EXPECT_TRUE((*w)->Append(1, "x").ok());
  EXPECT_TRUE((*w)->status().ok());
}

TEST_F(WalTest, FailedSyncStopsTheWriterForGood) {
  FaultyFileSystem faulty;
  LogWriter::Options o = Opts();
  o.file_system = &faulty;
  auto w = LogWriter::Open(o, 1, {});
  ASSERT_TRUE(w.ok()) << w.status();
  AppendRange(w->get(), 1, 10);

  faulty.sync_error = absl::ErrnoToStatus(EIO, "wal: fdatasync injected");
  ASSERT_TRUE((*w)->Append(11, Payload(11)).ok());
  const absl::Status failed = (*w)->Sync();
  EXPECT_EQ(failed, faulty.sync_error);

  // fsyncgate: a retry could "succeed" after the kernel dropped the pages. Refuse forever.
  faulty.sync_error = absl::OkStatus();
  EXPECT_EQ((*w)->Append(12, Payload(12)), failed);
  EXPECT_EQ((*w)->Flush(), failed);
  EXPECT_EQ((*w)->Sync(), failed);
  EXPECT_EQ((*w)->status(), failed);
  w->reset();

  // A restart recovers every record that was synced.
  Records got;
  auto writer = Reopen(Opts(), &got);
  ASSERT_NE(writer, nullptr);
  EXPECT_GE(got.size(), 10u);
  EXPECT_EQ(Records(got.begin(), got.begin() + 10), Expected(1, 10));
}

TEST_F(WalTest, FailedWriteStopsTheWriterAndRecoveryCutsThePartialRecord) {
  FaultyFileSystem faulty;
  LogWriter::Options o = Opts();
  o.file_system = &faulty;
  auto w = LogWriter::Open(o, 1, {});
  ASSERT_TRUE(w.ok());
  AppendRange(w->get(), 1, 10);

  faulty.write_error = absl::ErrnoToStatus(ENOSPC, "wal: write injected");
  ASSERT_TRUE((*w)->Append(11, std::string(500, 'p')).ok());
  const absl::Status failed = (*w)->Sync();
  EXPECT_EQ(failed.code(), absl::StatusCode::kResourceExhausted);
  faulty.write_error = absl::OkStatus();
  EXPECT_EQ((*w)->Append(12, "x"), failed);
  EXPECT_EQ((*w)->Sync(), failed);
  w->reset();  // The destructor must not write the buffer of a failed writer.

  Records got;
  auto rec = Read(&got);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_TRUE(rec->tail_truncated);  // Half a record reached the file.
  EXPECT_EQ(got, Expected(1, 10));
  auto writer = LogWriter::Open(Opts(), rec->last_seq + 1, rec->tail);
  ASSERT_TRUE(writer.ok()) << writer.status();
  AppendRange(writer->get(), 11, 12);
  ASSERT_TRUE(Read(&got).ok());
  EXPECT_EQ(got, Expected(1, 12));
}

TEST_F(WalTest, FailedSyncDuringSegmentRollStopsTheWriter) {
  FaultyFileSystem faulty;
  LogWriter::Options o = Opts(1024);
  o.file_system = &faulty;
  auto w = LogWriter::Open(o, 1, {});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append(1, std::string(900, 'a')).ok());
  faulty.sync_error = absl::ErrnoToStatus(EIO, "wal: fdatasync injected");
  const absl::Status failed = (*w)->Append(2, std::string(900, 'b'));  // Rolls.
  EXPECT_EQ(failed, faulty.sync_error);
  faulty.sync_error = absl::OkStatus();
  EXPECT_EQ((*w)->Append(2, "b"), failed);
}

// A full disk is found by Reserve(), before a byte of the group is written: the log is unchanged,
// the error is not sticky, and the next reservation succeeds once there is room again.
TEST_F(WalTest, OutOfSpaceAtReserveChangesNothingAndIsRetried) {
  FaultyFileSystem faulty;
  LogWriter::Options o = Opts();
  o.file_system = &faulty;
  auto w = LogWriter::Open(o, 1, {});
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Reserve(internal::RecordBytes(Payload(1).size())).ok());
  AppendRange(w->get(), 1, 10);
  const std::string before = ReadFile(SegmentPath(dir_, 1));

  faulty.allocate_error = OutOfSpaceError("wal: no room for 4096 bytes: No space left on device");
  const absl::Status full = (*w)->Reserve(4096);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(IsOutOfSpace(full));
  EXPECT_TRUE((*w)->status().ok()) << "out of space must not stop the writer";
  EXPECT_EQ((*w)->next_seq(), 11u);
  EXPECT_EQ(ReadFile(SegmentPath(dir_, 1)), before);
  EXPECT_EQ((*w)->Reserve(4096).code(), absl::StatusCode::kResourceExhausted);  // still full

  faulty.allocate_error = absl::OkStatus();  // Space returns.
  ASSERT_TRUE((*w)->Reserve(internal::RecordBytes(Payload(11).size())).ok());
  AppendRange(w->get(), 11, 20);
  w->reset();
  Records got;
  auto rec = Read(&got);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_FALSE(rec->tail_truncated);
  EXPECT_EQ(got, Expected(1, 20));
}

// When the group needs a new segment and the disk is full, the new segment is not left behind
// (recovery would take an empty file as the log's tail) and the old one stays active.
TEST_F(WalTest, OutOfSpaceWhenReserveRollsKeepsTheOldSegment) {
  FaultyFileSystem faulty;
  LogWriter::Options o = Opts(1024);
  o.file_system = &faulty;
  auto w = LogWriter::Open(o, 1, {});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Reserve(internal::RecordBytes(900)).ok());
  ASSERT_TRUE((*w)->Append(1, std::string(900, 'a')).ok());
  ASSERT_TRUE((*w)->Sync().ok());

  faulty.allocate_error = OutOfSpaceError("wal: no room: No space left on device");
  EXPECT_TRUE(IsOutOfSpace((*w)->Reserve(internal::RecordBytes(900))));
  EXPECT_THAT(SegmentFiles(), SizeIs(1));
  EXPECT_EQ((*w)->segment_count(), 1u);
  faulty.allocate_error = absl::OkStatus();
  faulty.create_error = OutOfSpaceError("wal: create: No space left on device");  // No inode.
  EXPECT_TRUE(IsOutOfSpace((*w)->Reserve(internal::RecordBytes(900))));
  EXPECT_THAT(SegmentFiles(), SizeIs(1));
  EXPECT_TRUE((*w)->status().ok());

  faulty.create_error = absl::OkStatus();
  ASSERT_TRUE((*w)->Reserve(internal::RecordBytes(900)).ok());
  EXPECT_EQ((*w)->segment_count(), 2u);
  ASSERT_TRUE((*w)->Append(2, std::string(900, 'b')).ok());
  ASSERT_TRUE((*w)->Sync().ok());
  w->reset();
  Records got;
  ASSERT_TRUE(Read(&got).ok());
  EXPECT_EQ(got, (Records{{1, std::string(900, 'a')}, {2, std::string(900, 'b')}}));
}

// A reservation covers the whole group: no segment roll happens inside it (that would need a new
// file, i.e. new room, after the group was already applied).
TEST_F(WalTest, RecordsOfOneReservationAreNeverSplitByARoll) {
  FaultyFileSystem faulty;
  LogWriter::Options o = Opts(1024);
  o.file_system = &faulty;
  auto w = LogWriter::Open(o, 1, {});
  ASSERT_TRUE(w.ok());
  uint64_t group = 0;
  for (uint64_t s = 1; s <= 20; ++s) group += internal::RecordBytes(Payload(s).size());
  ASSERT_GT(group, 1024u);
  ASSERT_TRUE((*w)->Reserve(group).ok());
  const int creates_before = static_cast<int>(SegmentFiles().size());
  for (uint64_t s = 1; s <= 20; ++s) ASSERT_TRUE((*w)->Append(s, Payload(s)).ok());
  ASSERT_TRUE((*w)->Sync().ok());
  EXPECT_EQ(static_cast<int>(SegmentFiles().size()), creates_before);
  ASSERT_THAT(faulty.allocated, SizeIs(1));
  EXPECT_EQ(faulty.allocated[0], std::make_pair(uint64_t{0}, group));
  // The next group starts a new segment (reserved before anything is applied).
  ASSERT_TRUE((*w)->Reserve(internal::RecordBytes(Payload(21).size())).ok());
  EXPECT_EQ((*w)->segment_count(), 2u);
  AppendRange(w->get(), 21, 21);
  w->reset();
  Records got;
  ASSERT_TRUE(Read(&got).ok());
  EXPECT_EQ(got, Expected(1, 21));
}

// The POSIX file: a range past the process's file size limit (RLIMIT_FSIZE) is out of space
// (EFBIG), checked on every reservation; raising the limit makes room again.
TEST_F(WalTest, PosixReserveHonoursTheFileSizeLimit) {
  auto w = LogWriter::Open(Opts(), 1, {});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Reserve(internal::RecordBytes(Payload(1).size())).ok());
  AppendRange(w->get(), 1, 10);
  struct rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct rlimit low = saved;
  low.rlim_cur = (*w)->bytes() + 100;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &low), 0);
  const absl::Status full = (*w)->Reserve(4096);
  const absl::Status fits = (*w)->Reserve(50);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
  EXPECT_TRUE(IsOutOfSpace(full)) << full;
  EXPECT_THAT(full.message(), HasSubstr("file size limit"));
  EXPECT_THAT(full.message(), HasSubstr("4096 bytes"));
  EXPECT_THAT(full.message(), HasSubstr(SegmentPath(dir_, 1).string()));
  EXPECT_TRUE(fits.ok()) << fits;
  EXPECT_TRUE((*w)->status().ok());
  ASSERT_TRUE((*w)->Reserve(4096).ok());
  AppendRange(w->get(), 11, 12);
  w->reset();
  Records got;
  ASSERT_TRUE(Read(&got).ok());
  EXPECT_EQ(got, Expected(1, 12));
}

// Guarantees 1 and 6 at the log level: a child process appends and syncs groups and reports each
// synced sequence number through a pipe; the parent SIGKILLs it at a varying point (possibly in the
// middle of a write or a segment roll), then recovers. Every reported record must be there, intact,
// and the log must continue cleanly. No sleeps: the kill point is a count of acknowledgements.
TEST_F(WalTest, SigkillAtAnyMomentLosesNoSyncedRecord) {
  uint64_t acked_total = 0;
  for (int round = 0; round < 8; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    Records recovered;
    auto rec = Read(&recovered);
    ASSERT_TRUE(rec.ok()) << rec.status();
    ASSERT_EQ(recovered, Expected(1, rec->last_seq));
    ASSERT_GE(rec->last_seq, acked_total);
    const uint64_t first = rec->last_seq + 1;

    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      auto w = LogWriter::Open(Opts(8192), first, rec->tail);
      if (!w.ok()) ::_exit(2);
      for (uint64_t s = first;; ++s) {
        if (!(*w)->Append(s, Payload(s)).ok()) ::_exit(3);
        if (s % 7 == 0) {
          if (!(*w)->Sync().ok()) ::_exit(4);
          if (::write(fds[1], &s, sizeof(s)) != sizeof(s)) ::_exit(5);
        }
      }
    }
    ::close(fds[1]);
    const int kill_after = 3 + round * 11;  // Acknowledged groups before the kill.
    uint64_t acked = 0;
    for (int i = 0; i < kill_after; ++i) {
      ASSERT_EQ(::read(fds[0], &acked, sizeof(acked)), static_cast<ssize_t>(sizeof(acked)));
    }
    ::kill(pid, SIGKILL);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exited with " << WEXITSTATUS(wstatus);
    ::close(fds[0]);
    acked_total = acked;
  }
  Records recovered;
  auto rec = Read(&recovered);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_GE(rec->last_seq, acked_total);
  EXPECT_EQ(recovered, Expected(1, rec->last_seq));
}

}  // namespace
}  // namespace engram::storage::wal
