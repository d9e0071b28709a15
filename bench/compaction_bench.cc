// compaction_bench: what compaction reclaims and what it costs the readers and the writer while it
// runs (issue 15 §4), in process against the storage engine.
//
//   compaction_bench [--concepts=100000] [--dim=128] [--text_bytes=200] [--assocs=3]
//                    [--ef_construction=64] [--measure_s=10] [--readers=1] [--write_rate=200]
//                    [--dir=/tmp/engram_compaction_bench] [--keep]
//
// 1. Ages a namespace: loads --concepts concepts (a --dim vector, --text_bytes of content, 2
//    attributes, --assocs associations each to earlier concepts), rewrites every concept twice
//    (new content and vector), then deletes every other concept: half the concepts live, each
//    with its third version; the rest is garbage.
// 2. Without compaction, for --measure_s seconds: --readers threads run vector searches (k 10,
//    ef 64) back to back while one writer updates a live concept --write_rate times a second
//    (durable, --sync=always); records both latencies.
// 3. The same load while a requested compaction runs on the engine's compactor thread (as
//    engram-storage's CompactNamespace RPC runs it), from the request to its end.
// 4. Loads a second, fresh store with only the live data (scanned from the first) and compares
//    disk bytes (allocated blocks of the namespace's files) and mapped bytes.
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/storage_bench_util.h"
#include "storage-server/engine/engine.h"

ABSL_FLAG(uint64_t, concepts, 100000, "Concepts loaded (half stay live).");
ABSL_FLAG(uint32_t, dim, 128, "Vector dimension.");
ABSL_FLAG(uint32_t, text_bytes, 200, "Bytes of content per concept version.");
ABSL_FLAG(uint32_t, assocs, 3, "Associations per concept.");
ABSL_FLAG(uint32_t, ef_construction, 64, "HNSW efConstruction.");
ABSL_FLAG(double, measure_s, 10, "Seconds of the baseline measurement.");
ABSL_FLAG(int, readers, 1, "Search threads.");
ABSL_FLAG(double, write_rate, 200, "Single-concept updates per second during the measurements.");
ABSL_FLAG(std::string, dir, "/tmp/engram_compaction_bench", "Scratch directory.");
ABSL_FLAG(bool, keep, false, "Keep the data directories.");

namespace engram::bench::storage {
namespace {

using ::engram::storage::Engine;
using ::engram::storage::EngineOptions;

constexpr char kNs[] = "n";

uint64_t DiskBytes(const std::filesystem::path& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    struct stat st;
    if (::stat(e.path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) total += st.st_blocks * 512;
  }
  return total;
}

std::unique_ptr<Engine> OpenEngine(const std::filesystem::path& dir) {
  std::filesystem::remove_all(dir);
  EngineOptions o;
  o.data_dir = dir;
  o.create_default_namespace = false;
  o.compaction_garbage_ratio = 0;  // compacted when the benchmark says so
  auto e = Engine::Open(o);
  if (!e.ok()) {
    std::fprintf(stderr, "open %s: %s\n", dir.c_str(), e.status().ToString().c_str());
    std::exit(1);
  }
  auto created = (*e)->CreateNamespace(
      BenchNamespace(kNs, absl::GetFlag(FLAGS_dim), 0, absl::GetFlag(FLAGS_ef_construction)));
  if (!created.ok()) {
    std::fprintf(stderr, "create: %s\n", created.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*e);
}

void MustWrite(Engine& e, v1::WriteRequest w) {
  auto r = e.Write(std::move(w));
  if (!r.ok()) {
    std::fprintf(stderr, "write: %s\n", r.status().ToString().c_str());
    std::exit(1);
  }
}

// Concept `i` as of version `round`: content of --text_bytes, a vector, 2 attributes.
void Version(uint64_t i, int round, const VectorPool& pool, v1::Concept* c) {
  c->set_id(ConceptId(i));
  std::string text = absl::StrFormat("concept %d version %d:", i, round);
  static const char* kWords[] = {"memory", "river",  "stone",  "lantern", "orchard",
                                 "signal", "harbor", "meadow", "copper",  "willow"};
  for (uint64_t w = i * 7 + round; text.size() < absl::GetFlag(FLAGS_text_bytes); w = w * 31 + 7) {
    absl::StrAppend(&text, " ", kWords[w % 10]);
  }
  text.resize(absl::GetFlag(FLAGS_text_bytes));
  c->set_content(text);
  const float* v = pool.Get(i * 3 + round);
  c->mutable_vector()->Add(v, v + pool.dim());
  (*c->mutable_attributes())["round"] = absl::StrCat(round);
  (*c->mutable_attributes())["shard"] = absl::StrCat(i % 16);
}

struct Window {
  Latencies search, write;
  double seconds = 0;
  uint64_t searches = 0;
};

// Runs the read and write load until `stop` is set; returns what it measured.
Window RunLoad(Engine& e, const VectorPool& pool, const std::atomic<bool>& stop) {
  const uint64_t n = absl::GetFlag(FLAGS_concepts);
  std::vector<Window> per_reader(absl::GetFlag(FLAGS_readers));
  Window out;
  std::vector<std::thread> threads;
  const Clock::time_point start = Clock::now();
  for (size_t r = 0; r < per_reader.size(); ++r) {
    threads.emplace_back([&, r] {
      std::mt19937_64 rng(r + 1);
      while (!stop.load()) {
        v1::SearchRequest s;
        s.set_namespace_(kNs);
        const float* q = pool.Get(rng() % (3 * n));
        s.mutable_vector()->Add(q, q + pool.dim());
        s.set_k(10);
        s.set_ef(64);
        const Clock::time_point t0 = Clock::now();
        auto res = e.Search(s);
        per_reader[r].search.Add(SecondsSince(t0));
        if (!res.ok()) std::fprintf(stderr, "search: %s\n", res.status().ToString().c_str());
      }
    });
  }
  threads.emplace_back([&] {
    std::mt19937_64 rng(99);
    const double period = 1.0 / absl::GetFlag(FLAGS_write_rate);
    Clock::time_point next = Clock::now();
    while (!stop.load()) {
      std::this_thread::sleep_until(next);
      next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(period));
      v1::WriteRequest w;
      w.set_namespace_(kNs);
      Version((rng() % (n / 2)) * 2, 3, pool, w.add_mutations()->mutable_put_concept());
      const Clock::time_point t0 = Clock::now();
      MustWrite(e, std::move(w));
      out.write.Add(SecondsSince(t0));
    }
  });
  for (auto& t : threads) t.join();
  out.seconds = SecondsSince(start);
  for (Window& w : per_reader) out.search.Merge(w.search);
  out.searches = out.search.s.size();
  return out;
}

void PrintWindow(const char* name, Window w) {
  std::printf("%-22s %8.1f %10.0f %9.2f %9.2f %9.2f %9.2f %9.2f\n", name, w.seconds,
              w.searches / w.seconds, w.search.Quantile(0.5) * 1e3, w.search.Quantile(0.99) * 1e3,
              w.write.Quantile(0.5) * 1e3, w.write.Quantile(0.99) * 1e3,
              w.write.Quantile(1.0) * 1e3);
}

int Main() {
  const uint64_t n = absl::GetFlag(FLAGS_concepts);
  const std::filesystem::path dir = absl::GetFlag(FLAGS_dir);
  const VectorPool pool(absl::GetFlag(FLAGS_dim), 3 * n + 7);
  std::unique_ptr<Engine> aged = OpenEngine(dir / "aged");

  // 1. Age it.
  Clock::time_point t0 = Clock::now();
  std::mt19937_64 rng(5);
  constexpr uint32_t kBatch = 1000;
  for (int round = 0; round < 3; ++round) {
    // At most kBatch mutations per write: the first round carries the associations too.
    const uint64_t step = round == 0 ? kBatch / (1 + absl::GetFlag(FLAGS_assocs)) : kBatch;
    for (uint64_t first = 0; first < n; first += step) {
      v1::WriteRequest w;
      w.set_namespace_(kNs);
      const uint64_t end = std::min<uint64_t>(n, first + step);
      for (uint64_t i = first; i < end; ++i)
        Version(i, round, pool, w.add_mutations()->mutable_put_concept());
      if (round == 0) {
        for (uint64_t i = std::max<uint64_t>(first, 1); i < end; ++i) {
          for (uint32_t a = 0; a < absl::GetFlag(FLAGS_assocs); ++a) {
            auto* m = w.add_mutations()->mutable_put_association();
            m->set_source(ConceptId(i));
            m->set_target(ConceptId(rng() % i));
            m->set_type(v1::SEMANTIC);
            m->set_confidence(0.8f);
          }
        }
      }
      MustWrite(*aged, std::move(w));
    }
  }
  for (uint64_t first = 1; first < n; first += 2 * kBatch) {
    v1::WriteRequest w;
    w.set_namespace_(kNs);
    for (uint64_t i = first; i < std::min<uint64_t>(n, first + 2 * kBatch); i += 2) {  // 1000
      w.add_mutations()->set_delete_concept(ConceptId(i));
    }
    MustWrite(*aged, std::move(w));
  }
  aged->WaitForIndexing();
  if (!aged->Checkpoint().ok()) return 1;
  const double age_s = SecondsSince(t0);
  // How long an explicit Checkpoint takes (it returns once the derived-state file is written,
  // which the writer no longer waits for; the slowest write of the windows below shows the stall).
  Latencies checkpoint;
  for (int i = 0; i < 5; ++i) {
    MustWrite(*aged, [&] {
      v1::WriteRequest w;
      w.set_namespace_(kNs);
      Version(0, 4 + i, pool, w.add_mutations()->mutable_put_concept());
      return w;
    }());
    const Clock::time_point c0 = Clock::now();
    if (!aged->Checkpoint().ok()) return 1;
    checkpoint.Add(SecondsSince(c0));
  }
  const std::filesystem::path aged_ns = dir / "aged" / "ns";
  const uint64_t disk_before = DiskBytes(aged_ns);
  const uint64_t mapped_before = aged->GetStats().mapped_bytes();
  const uint64_t reclaimable_before = aged->GetNamespace(kNs)->reclaimable_bytes();

  // 2. The load without compaction.
  std::atomic<bool> stop{false};
  std::thread timer([&] {
    std::this_thread::sleep_for(std::chrono::duration<double>(absl::GetFlag(FLAGS_measure_s)));
    stop = true;
  });
  Window baseline = RunLoad(*aged, pool, stop);
  timer.join();

  // 3. The same load during the compaction.
  stop = false;
  // Through the engine's own compactor thread, as engram-storage runs it (CompactNamespace RPC).
  v1::CompactionStatus report;
  std::thread compactor([&] {
    if (auto queued = aged->RequestCompaction(kNs); !queued.ok()) {
      std::fprintf(stderr, "compaction: %s\n", queued.status().ToString().c_str());
      std::exit(1);
    }
    while (true) {
      report = aged->GetNamespace(kNs)->compaction();
      if (report.state() == v1::CompactionStatus::IDLE) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    stop = true;
  });
  Window during = RunLoad(*aged, pool, stop);
  compactor.join();
  if (!report.last_error().empty()) {
    std::fprintf(stderr, "compaction: %s\n", report.last_error().c_str());
    return 1;
  }
  const double compaction_s =
      (report.last_end_time().seconds() - report.last_start_time().seconds()) +
      (report.last_end_time().nanos() - report.last_start_time().nanos()) / 1e9;
  aged->WaitForIndexing();
  if (!aged->Checkpoint().ok()) return 1;
  const uint64_t disk_after = DiskBytes(aged_ns);
  const uint64_t mapped_after = aged->GetStats().mapped_bytes();

  // 4. A fresh store of the live data only.
  std::unique_ptr<Engine> fresh = OpenEngine(dir / "fresh");
  {
    v1::ScanRequest scan;
    scan.set_namespace_(kNs);
    scan.set_page_size(kBatch);
    scan.set_include_vector(true);
    scan.set_include_associations(true);
    std::vector<v1::Association> assocs;
    while (true) {
      auto page = aged->Scan(scan);
      if (!page.ok()) return 1;
      v1::WriteRequest w;
      w.set_namespace_(kNs);
      for (const v1::Concept& c : page->concepts()) {
        v1::Concept* out = w.add_mutations()->mutable_put_concept();
        *out = c;
        out->clear_create_time();
        out->clear_update_time();
      }
      if (w.mutations_size() > 0) MustWrite(*fresh, std::move(w));
      assocs.insert(assocs.end(), page->associations().begin(), page->associations().end());
      if (page->next_page_token().empty()) break;
      scan.set_page_token(page->next_page_token());
    }
    for (size_t first = 0; first < assocs.size(); first += kBatch) {
      v1::WriteRequest w;
      w.set_namespace_(kNs);
      for (size_t i = first; i < std::min(assocs.size(), first + kBatch); ++i) {
        v1::Association* a = w.add_mutations()->mutable_put_association();
        *a = assocs[i];
        a->clear_create_time();
      }
      MustWrite(*fresh, std::move(w));
    }
  }
  fresh->WaitForIndexing();
  if (!fresh->Checkpoint().ok()) return 1;
  const uint64_t disk_fresh = DiskBytes(dir / "fresh" / "ns");
  const uint64_t mapped_fresh = fresh->GetStats().mapped_bytes();
  const auto info = aged->GetNamespace(kNs);

  std::printf(
      "compaction_bench: %d concepts x 3 versions, %d-d, %d B text, %d assocs; half deleted; "
      "aged in %.1f s\n",
      n, absl::GetFlag(FLAGS_dim), absl::GetFlag(FLAGS_text_bytes), absl::GetFlag(FLAGS_assocs),
      age_s);
  std::printf("live: %d concepts, %d associations, %d vectors\n", info->concept_count(),
              info->association_count(), info->vector_count());
  std::printf("\n%-22s %14s %14s %10s\n", "store", "disk MB", "mapped MB", "vs fresh");
  auto mb = [](uint64_t b) { return b / 1048576.0; };
  std::printf("%-22s %14.1f %14.1f %9.2fx  (reclaimable %.1f MB)\n", "aged, before",
              mb(disk_before), mb(mapped_before), static_cast<double>(disk_before) / disk_fresh,
              mb(reclaimable_before));
  std::printf("%-22s %14.1f %14.1f %9.2fx\n", "aged, compacted", mb(disk_after), mb(mapped_after),
              static_cast<double>(disk_after) / disk_fresh);
  std::printf("%-22s %14.1f %14.1f %9.2fx\n", "fresh load of live", mb(disk_fresh),
              mb(mapped_fresh), 1.0);
  std::printf("mapped vs fresh: before %.2fx, compacted %.2fx\n",
              static_cast<double>(mapped_before) / mapped_fresh,
              static_cast<double>(mapped_after) / mapped_fresh);
  std::printf(
      "\ncompaction: %.2f s, writes waited %.1f ms at the switch (an explicit Checkpoint call, "
      "derived-state file included: median %.1f ms)\n",
      compaction_s, report.last_switch_seconds() * 1e3, checkpoint.Quantile(0.5) * 1e3);
  std::printf("\n%-22s %8s %10s %9s %9s %9s %9s %9s\n", "window", "s", "search/s", "p50 ms",
              "p99 ms", "write p50", "write p99", "write max");
  PrintWindow("without compaction", baseline);
  PrintWindow("during compaction", during);
  std::printf("search p99 during / without: %.2fx\n",
              during.search.Quantile(0.99) / baseline.search.Quantile(0.99));
  aged.reset();
  fresh.reset();
  if (!absl::GetFlag(FLAGS_keep)) std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace engram::bench::storage

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return engram::bench::storage::Main();
}
