// Append + Sync throughput of the write-ahead log on the local disk.
//
//   wal_bench [--benchmark_filter=...]        (writes under $TMPDIR, removes it afterwards)
//
// BM_AppendSync/<group>: append `group` records of 600 bytes, then one Sync() (one write() and one
// fdatasync) -- SyncMode::kAlways with `group` concurrent writers sharing an fsync.
// BM_AppendFlush/<group>: the same with Flush() only -- the write path of SyncMode::kRelaxed.
// BM_ReadLog/<MiB>: recovery scan of a log of that size (page cache warm) with an apply callback
// that does nothing, i.e. the cost recovery adds on top of applying records.
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "storage-server/wal/wal.h"

namespace engram::storage::wal {
namespace {

constexpr size_t kPayloadBytes = 600;

class BenchLog {
 public:
  BenchLog() {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr ? tmp : "/tmp") + "/wal_bench.XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) abort();
    dir_ = tmpl;
    auto w = LogWriter::Open({.dir = dir_}, 1, {});
    if (!w.ok()) abort();
    writer_ = *std::move(w);
  }
  ~BenchLog() {
    writer_.reset();
    std::filesystem::remove_all(dir_);
  }
  LogWriter* writer() { return writer_.get(); }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<LogWriter> writer_;
};

template <bool kSync>
void BM_Append(benchmark::State& state) {
  const int64_t group = state.range(0);
  const std::string payload(kPayloadBytes, 'p');
  BenchLog log;
  LogWriter* w = log.writer();
  for (auto _ : state) {
    for (int64_t i = 0; i < group; ++i) {
      if (!w->Append(w->next_seq(), payload).ok()) state.SkipWithError("append failed");
    }
    if (!(kSync ? w->Sync() : w->Flush()).ok()) state.SkipWithError("sync failed");
    // Keep the disk footprint bounded, as checkpoints do in the server.
    if (w->segment_count() > 4) (void)w->RemoveSegmentsBefore(w->next_seq());
  }
  state.SetItemsProcessed(state.iterations() * group);
  state.SetBytesProcessed(state.iterations() * group * static_cast<int64_t>(kPayloadBytes));
  state.counters["groups/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_ReadLog(benchmark::State& state) {
  const uint64_t log_bytes = static_cast<uint64_t>(state.range(0)) << 20;
  const std::string payload(kPayloadBytes, 'p');
  BenchLog log;
  LogWriter* w = log.writer();
  while (w->bytes() < log_bytes) {
    if (!w->Append(w->next_seq(), payload).ok()) state.SkipWithError("append failed");
  }
  if (!w->Sync().ok()) state.SkipWithError("sync failed");
  const uint64_t bytes = w->bytes();
  uint64_t records = 0;
  for (auto _ : state) {
    uint64_t payload_bytes = 0;
    auto result = ReadLog(log.dir(), 0, [&](uint64_t, std::string_view p) {
      payload_bytes += p.size();
      return absl::OkStatus();
    });
    if (!result.ok()) state.SkipWithError("ReadLog failed");
    records = result->records_applied;
    benchmark::DoNotOptimize(payload_bytes);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(records));
}

BENCHMARK(BM_Append<true>)->Name("BM_AppendSync")->Arg(1)->Arg(64)->Arg(1000)->UseRealTime();
BENCHMARK(BM_Append<false>)->Name("BM_AppendFlush")->Arg(1)->Arg(64)->Arg(1000)->UseRealTime();
BENCHMARK(BM_ReadLog)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace engram::storage::wal

BENCHMARK_MAIN();
