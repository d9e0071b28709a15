// id_table_bench: the id and term tables' inserts, IdTable (incremental growth) beside
// absl::flat_hash_map (one-shot rehash), same keys, same process, one after the other
// (docs/benchmarks.md, "Id and term tables: growth without a write stall").
//
//   id_table_bench [--n=16000000] [--reps=3]
//
// Each insert is timed; printed per structure: total seconds, the slowest insert, and the
// inserts slower than 1 ms (each one is a write the engine's writer thread would have held).
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "storage-server/engine/id_table.h"

ABSL_FLAG(uint64_t, n, 16000000, "Keys inserted.");
ABSL_FLAG(int, reps, 3, "Repetitions of each structure, alternating.");

namespace {

struct Run {
  double total_s = 0;
  double worst_ms = 0;
  int over_1ms = 0;
};

template <typename InsertFn>
Run Measure(const std::vector<uint64_t>& keys, InsertFn insert) {
  Run r;
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto start = std::chrono::steady_clock::now();
    insert(keys[i], static_cast<uint32_t>(i));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.total_s += s;
    r.worst_ms = std::max(r.worst_ms, s * 1e3);
    if (s > 1e-3) ++r.over_1ms;
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const uint64_t n = absl::GetFlag(FLAGS_n);
  std::mt19937_64 rng(1);
  std::vector<uint64_t> keys(n);
  for (uint64_t& k : keys) k = rng();
  std::printf("| structure | rep | keys | total s | slowest insert ms | inserts > 1 ms |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  for (int rep = 1; rep <= absl::GetFlag(FLAGS_reps); ++rep) {
    {
      engram::storage::IdTable t;
      Run r = Measure(keys, [&](uint64_t k, uint32_t v) { t.Insert(k, v); });
      std::printf("| IdTable (incremental) | %d | %lu | %.2f | %.1f | %d |\n", rep,
                  static_cast<unsigned long>(n), r.total_s, r.worst_ms, r.over_1ms);
    }
    {
      absl::flat_hash_map<uint64_t, uint32_t> m;
      Run r = Measure(keys, [&](uint64_t k, uint32_t v) { m.emplace(k, v); });
      std::printf("| absl::flat_hash_map | %d | %lu | %.2f | %.1f | %d |\n", rep,
                  static_cast<unsigned long>(n), r.total_s, r.worst_ms, r.over_1ms);
    }
    std::fflush(stdout);
  }
  return 0;
}
