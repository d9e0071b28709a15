// Append + Sync throughput of the write-ahead log on the local disk.
//
//   wal_bench [--benchmark_filter=...]        (writes under $TMPDIR, removes it afterwards)
//
// BM_AppendSync/<group>: append `group` records of 600 bytes, then one Sync() (one write() and one
// fdatasync) -- SyncMode::kAlways with `group` concurrent writers sharing an fsync.
// BM_AppendFlush/<group>: the same with Flush() only -- the write path of SyncMode::kRelaxed.
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
  state.counters["groups/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                  benchmark::Counter::kIsRate);
}

BENCHMARK(BM_Append<true>)->Name("BM_AppendSync")->Arg(1)->Arg(64)->Arg(1000)->UseRealTime();
BENCHMARK(BM_Append<false>)->Name("BM_AppendFlush")->Arg(1)->Arg(64)->Arg(1000)->UseRealTime();

}  // namespace
}  // namespace engram::storage::wal

BENCHMARK_MAIN();
