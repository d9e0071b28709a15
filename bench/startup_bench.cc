// startup_bench: time from starting engram-storage to SERVING (grpc.health.v1 Check("")) against
// store size, after a clean shutdown (SIGTERM) and after SIGKILL.
//
//   startup_bench [--sizes=10000,100000,1000000] [--clean_reps=3] [--kill_reps=2]
//                 [--load_threads=2] [--ef_construction=64] [--dir=/tmp/engram_startup_bench]
//                 [--binary=build/storage-server/engram-storage]
//
// For each size: a fresh store is loaded over gRPC (engram-storage --sync=relaxed, batches of
// 1000 concepts with 128-d vectors, ~100 bytes of content, 2 attributes) and the benchmark waits
// until GetNamespace reports indexed_vector_count == vector_count. Then:
//   kill:  SIGKILL the loader process (no final checkpoint: recovery replays the log since the
//          last checkpoint), restart (--sync=always), time to SERVING; wait for indexing; repeat
//          --kill_reps times (each time SIGKILL again).
//   clean: SIGTERM (final checkpoint), restart, time to SERVING; wait for indexing; repeat
//          --clean_reps times.
// The clock starts just before fork(); readiness is polled every ~2 ms on fixed ports chosen
// before spawning. The tables show medians and every sample.
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/storage_bench_util.h"

ABSL_FLAG(std::string, sizes, "10000,100000,1000000", "Store sizes (concepts).");
ABSL_FLAG(int, clean_reps, 3, "Restarts after a clean shutdown per size.");
ABSL_FLAG(int, kill_reps, 2, "Restarts after SIGKILL per size.");
ABSL_FLAG(int, load_threads, 2, "Concurrent loader RPCs.");
ABSL_FLAG(uint32_t, ef_construction, 64, "HNSW efConstruction of the namespace (load speed only).");
ABSL_FLAG(std::string, dir, "/tmp/engram_startup_bench", "Scratch directory (wiped).");
ABSL_FLAG(std::string, binary, "build/storage-server/engram-storage", "engram-storage binary.");
ABSL_FLAG(uint32_t, dim, 128, "Vector dimension.");
ABSL_FLAG(double, index_timeout, 1800, "Seconds to wait for indexing to finish.");
ABSL_FLAG(bool, keep, false, "Keep the data directories.");

namespace fs = std::filesystem;
using namespace engram::bench::storage;

namespace {

uint64_t DirBytes(const fs::path& dir) {
  uint64_t total = 0;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    struct stat st;
    if (e.is_regular_file() && stat(e.path().c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

v1::NamespaceInfo GetNs(v1::Storage::Stub* stub) {
  grpc::ClientContext ctx;
  v1::GetNamespaceRequest req;
  req.set_name("bench");
  v1::NamespaceInfo info;
  grpc::Status s = stub->GetNamespace(&ctx, req, &info);
  if (!s.ok()) fprintf(stderr, "GetNamespace: %s\n", s.error_message().c_str());
  return info;
}

v1::ServerStats GetStats(v1::Storage::Stub* stub) {
  grpc::ClientContext ctx;
  v1::ServerStats stats;
  (void)stub->GetStats(&ctx, v1::GetStatsRequest(), &stats);
  return stats;
}

// Seconds until indexed_vector_count == vector_count (-1 on timeout).
double WaitIndexed(v1::Storage::Stub* stub, uint64_t expect) {
  auto t0 = Clock::now();
  while (SecondsSince(t0) < absl::GetFlag(FLAGS_index_timeout)) {
    v1::NamespaceInfo info = GetNs(stub);
    if (info.vector_count() == expect && info.indexed_vector_count() == info.vector_count()) {
      return SecondsSince(t0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

std::string Samples(const std::vector<double>& v) {
  return absl::StrJoin(v, ", ", [](std::string* out, double x) { absl::StrAppend(out, absl::StrFormat("%.3f", x)); });
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const fs::path root = absl::GetFlag(FLAGS_dir);
  fs::remove_all(root);
  fs::create_directories(root);
  const std::string binary = absl::GetFlag(FLAGS_binary);
  VectorPool pool(absl::GetFlag(FLAGS_dim), 8192);

  struct Row {
    int64_t n;
    double load_s, index_s, data_mb;
    std::string before_kill;
    std::vector<double> kill, kill_recovery, kill_indexed, clean, clean_recovery, clean_indexed, shutdown;
  };
  std::vector<Row> rows;

  for (absl::string_view sz : absl::StrSplit(absl::GetFlag(FLAGS_sizes), ',', absl::SkipEmpty())) {
    int64_t n;
    if (!absl::SimpleAtoi(sz, &n)) continue;
    Row row;
    row.n = n;
    const fs::path data = root / absl::StrCat("n", n);
    const std::string log = (root / absl::StrCat("n", n, ".log")).string();

    // Load.
    {
      StorageProcess loader(binary, data.string(), "relaxed", log);
      if (!loader.Spawn({"--drain_seconds=2"}) || loader.WaitServing(120) < 0) {
        fprintf(stderr, "loader did not start; see %s\n", log.c_str());
        return 1;
      }
      auto stub = loader.NewStub();
      {
        grpc::ClientContext ctx;
        v1::CreateNamespaceRequest req;
        *req.mutable_config() = BenchNamespace("bench", pool.dim(), 16, absl::GetFlag(FLAGS_ef_construction));
        v1::NamespaceInfo info;
        grpc::Status s = stub->CreateNamespace(&ctx, req, &info);
        if (!s.ok()) {
          fprintf(stderr, "CreateNamespace: %s\n", s.error_message().c_str());
          return 1;
        }
      }
      auto t0 = Clock::now();
      std::atomic<int64_t> next{0};
      std::atomic<bool> failed{false};
      std::vector<std::thread> ts;
      for (int t = 0; t < absl::GetFlag(FLAGS_load_threads); ++t) {
        ts.emplace_back([&, t] {
          auto s = loader.NewStubOwnConnection(t);
          while (!failed) {
            int64_t first = next.fetch_add(1000);
            if (first >= n) break;
            uint32_t k = static_cast<uint32_t>(std::min<int64_t>(1000, n - first));
            v1::WriteRequest req = ConceptBatch("bench", static_cast<uint64_t>(first), k, pool);
            v1::WriteResponse resp;
            grpc::ClientContext ctx;
            grpc::Status st = s->Write(&ctx, req, &resp);
            if (!st.ok()) {
              fprintf(stderr, "Write: %s\n", st.error_message().c_str());
              failed = true;
            }
          }
        });
      }
      for (auto& th : ts) th.join();
      if (failed) return 1;
      row.load_s = SecondsSince(t0);
      double idx = WaitIndexed(stub.get(), static_cast<uint64_t>(n));
      if (idx < 0) {
        fprintf(stderr, "indexing did not finish\n");
        return 1;
      }
      row.index_s = SecondsSince(t0);
      v1::ServerStats st = GetStats(stub.get());
      row.before_kill = absl::StrFormat("last_sequence %llu, checkpoint_sequence %llu, log %.1f MB",
                                        static_cast<unsigned long long>(st.last_sequence()),
                                        static_cast<unsigned long long>(st.checkpoint_sequence()),
                                        static_cast<double>(st.log_bytes()) / 1e6);
      fprintf(stderr, "n=%lld loaded in %.1f s, indexed after %.1f s; before SIGKILL: %s\n",
              static_cast<long long>(n), row.load_s, row.index_s, row.before_kill.c_str());
      loader.Stop(SIGKILL);
    }
    row.data_mb = static_cast<double>(DirBytes(data)) / 1e6;

    // Restarts: kill_reps after SIGKILL, then clean_reps after SIGTERM.
    const int kill_reps = absl::GetFlag(FLAGS_kill_reps), clean_reps = absl::GetFlag(FLAGS_clean_reps);
    for (int i = 0; i < kill_reps + clean_reps; ++i) {
      bool after_kill = i < kill_reps;
      StorageProcess p(binary, data.string(), "always", log);
      if (!p.Spawn({"--drain_seconds=2"})) return 1;
      double serving = p.WaitServing(600);
      if (serving < 0) {
        fprintf(stderr, "restart %d did not become SERVING; see %s\n", i, log.c_str());
        return 1;
      }
      auto stub = p.NewStub();
      double recovery = GetStats(stub.get()).recovery_seconds();
      double indexed = WaitIndexed(stub.get(), static_cast<uint64_t>(n));
      (after_kill ? row.kill : row.clean).push_back(serving);
      (after_kill ? row.kill_recovery : row.clean_recovery).push_back(recovery);
      (after_kill ? row.kill_indexed : row.clean_indexed).push_back(serving + indexed);
      // The next start follows a SIGKILL while kill samples remain, a SIGTERM otherwise.
      bool next_after_kill = i + 1 < kill_reps;
      double stop_s = p.Stop(next_after_kill ? SIGKILL : SIGTERM);
      if (!next_after_kill) row.shutdown.push_back(stop_s);
      fprintf(stderr, "n=%lld restart after %s: SERVING %.3f s (engine recovery %.3f s), fully indexed %.3f s; %s %.3f s\n",
              static_cast<long long>(n), after_kill ? "SIGKILL" : "SIGTERM", serving, recovery,
              serving + indexed, next_after_kill ? "SIGKILL" : "SIGTERM shutdown took", stop_s);
    }
    rows.push_back(row);
    if (!absl::GetFlag(FLAGS_keep)) fs::remove_all(data);
  }

  printf("| concepts | data dir MB | load s (relaxed, 1000/batch) | after SIGKILL: SERVING s | engine recovery s | fully indexed s | after SIGTERM: SERVING s | engine recovery s | fully indexed s | SIGTERM shutdown s |\n");
  printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (auto& r : rows) {
    printf("| %lld | %.0f | %.1f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", static_cast<long long>(r.n),
           r.data_mb, r.load_s, Median(r.kill), Median(r.kill_recovery), Median(r.kill_indexed), Median(r.clean),
           Median(r.clean_recovery), Median(r.clean_indexed), Median(r.shutdown));
  }
  printf("\nSamples (s):\n\n");
  for (auto& r : rows) {
    printf("- %lld concepts: loaded %.1f s, indexed %.1f s after load start; at SIGKILL: %s; SERVING after SIGKILL [%s]; after SIGTERM [%s]; SIGTERM shutdown [%s]\n",
           static_cast<long long>(r.n), r.load_s, r.index_s, r.before_kill.c_str(), Samples(r.kill).c_str(),
           Samples(r.clean).c_str(), Samples(r.shutdown).c_str());
  }
  if (!absl::GetFlag(FLAGS_keep)) fs::remove_all(root);
  return 0;
}
