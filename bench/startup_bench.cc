// startup_bench: time from starting engram-storage to SERVING (grpc.health.v1 Check("")) against
// store size, after a clean shutdown (SIGTERM) and after SIGKILL, and the store's footprint
// (data directory, mapped bytes, RSS) per concept.
//
//   startup_bench [--sizes=10000,100000,1000000] [--clean_reps=3] [--kill_reps=2]
//                 [--text_bytes=200] [--assocs=3] [--kill_tail=1000] [--checkpoint_before_kill]
//                 [--load_threads=2] [--ef_construction=64] [--dir=/tmp/engram_startup_bench]
//                 [--reuse] [--keep] [--binary=build/storage-server/engram-storage]
//
// For each size a fresh store is loaded over gRPC (engram-storage --sync=relaxed): concepts in
// batches of 1000 (a `--dim` vector, `--text_bytes` of words as content, 2 attributes), then
// `--assocs` SEMANTIC associations per concept to uniformly random other concepts (batches of
// at most 1000 associations). The benchmark waits until the graph indexed every vector, then (with
// --checkpoint_before_kill) checkpoints, writes a log tail of `--kill_tail` concept updates and
// SIGKILLs the loader: the restart replays that tail from the log. Then:
//   kill:  restart (--sync=always), time to SERVING; warm-up queries; wait for indexing; write
//          another tail and SIGKILL; --kill_reps times.
//   clean: SIGTERM (final checkpoint), restart, time to SERVING; --clean_reps times.
// Per restart it records GetStats().recovery_seconds, mapped_bytes and the process's RSS
// (VmRSS, RssAnon = heap, RssFile = mapped file pages) at SERVING and after a warm-up query set
// (vector, keyword and hybrid searches, gets, neighbours). The clock starts just before fork();
// readiness is polled every ~2 ms on fixed ports chosen before spawning.
//
// --reuse keeps a loaded store (with --keep) and restarts it without loading again, e.g. to
// compare two engram-storage builds on the same data.
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
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
ABSL_FLAG(uint32_t, text_bytes, 200, "Bytes of content per concept.");
ABSL_FLAG(uint32_t, assocs, 3, "Associations per concept (to random other concepts).");
ABSL_FLAG(uint32_t, kill_tail, 1000,
          "Concept updates written after the checkpoint, before each SIGKILL.");
ABSL_FLAG(
    bool, checkpoint_before_kill, true,
    "Checkpoint after loading and before each SIGKILL sample (else the whole load is replayed).");
ABSL_FLAG(int, warmup_queries, 200, "Queries of each kind in the warm-up set.");
ABSL_FLAG(std::string, dir, "/tmp/engram_startup_bench", "Scratch directory.");
ABSL_FLAG(std::string, binary, "build/storage-server/engram-storage", "engram-storage binary.");
ABSL_FLAG(uint32_t, dim, 128, "Vector dimension.");
ABSL_FLAG(double, index_timeout, 3600, "Seconds to wait for indexing to finish.");
ABSL_FLAG(bool, keep, false, "Keep the data directories.");
ABSL_FLAG(bool, reuse, false, "Reuse a store a previous --keep run loaded (same size and flags).");

namespace fs = std::filesystem;
using namespace engram::bench::storage;

namespace {

struct DirUsage {
  uint64_t allocated = 0, apparent = 0;
  std::map<std::string, uint64_t> by_kind;  // allocated bytes by file-name prefix
};

DirUsage Usage(const fs::path& dir) {
  DirUsage u;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    struct stat st;
    if (!e.is_regular_file() || stat(e.path().c_str(), &st) != 0) continue;
    uint64_t a = static_cast<uint64_t>(st.st_blocks) * 512;
    u.allocated += a;
    u.apparent += static_cast<uint64_t>(st.st_size);
    std::string name = e.path().filename().string();
    std::string kind = name;
    for (const char* k : {"records", "vectors", "norms", "hnsw"}) {
      if (name.rfind(k, 0) == 0) kind = k;
    }
    if (name.ends_with(".wal")) kind = "wal";
    u.by_kind[kind] += a;
  }
  return u;
}

// VmRSS / RssAnon / RssFile of `pid` in bytes.
struct Rss {
  uint64_t total = 0, anon = 0, file = 0;
};
Rss ReadRss(pid_t pid) {
  Rss r;
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  auto kb = [](const std::string& l) {
    uint64_t v = 0;
    std::vector<std::string> parts = absl::StrSplit(l, ' ', absl::SkipEmpty());
    if (parts.size() >= 2) (void)absl::SimpleAtoi(parts[1], &v);
    return v * 1024;
  };
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) r.total = kb(line);
    if (line.rfind("RssAnon:", 0) == 0) r.anon = kb(line);
    if (line.rfind("RssFile:", 0) == 0) r.file = kb(line);
  }
  return r;
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

// Seconds until the graph indexed `slots` vector slots (-1 on timeout).
double WaitIndexed(v1::Storage::Stub* stub, uint64_t slots) {
  auto t0 = Clock::now();
  while (SecondsSince(t0) < absl::GetFlag(FLAGS_index_timeout)) {
    v1::NamespaceInfo info = GetNs(stub);
    if (info.indexed_vector_count() >= slots) return SecondsSince(t0);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

// A deterministic text of exactly `bytes` bytes for concept i: its id, then words drawn from a
// skewed 20,000-word vocabulary (so the keyword index holds realistic posting lists).
std::string ConceptText(uint64_t i, uint32_t bytes) {
  std::mt19937_64 rng(i * 0x9E3779B97F4A7C15ull + 1);
  std::string s = absl::StrFormat("concept %010d", i);
  while (s.size() < bytes) {
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    uint32_t w = static_cast<uint32_t>(20000 * u * u * u);
    s.push_back(' ');
    do {
      s.push_back(static_cast<char>('a' + w % 26));
      w /= 26;
    } while (w > 0);
    s.push_back("aeiou"[rng() % 5]);
  }
  s.resize(bytes);
  return s;
}

v1::WriteRequest Concepts(uint64_t first, uint32_t k, const VectorPool& pool, uint64_t version) {
  v1::WriteRequest req = ConceptBatch("bench", first, k, pool);
  const uint32_t text = absl::GetFlag(FLAGS_text_bytes);
  for (int k2 = 0; k2 < req.mutations_size(); ++k2) {
    uint64_t i = first + static_cast<uint64_t>(k2);
    req.mutable_mutations(k2)->mutable_put_concept()->set_content(
        ConceptText(i + version * 0x100000000ull, text));
  }
  return req;
}

v1::WriteRequest Associations(uint64_t first, uint32_t k, uint64_t n) {
  v1::WriteRequest req;
  req.set_namespace_("bench");
  std::mt19937_64 rng(first + 7);
  for (uint64_t src = first; src < first + k; ++src) {
    for (uint32_t a = 0; a < absl::GetFlag(FLAGS_assocs); ++a) {
      uint64_t dst = rng() % n;
      if (dst == src) dst = (dst + 1) % n;
      auto* m = req.add_mutations()->mutable_put_association();
      m->set_source(ConceptId(src));
      m->set_target(ConceptId(dst));
      m->set_type(v1::SEMANTIC);
      m->set_confidence(0.5f + 0.5f * static_cast<float>(rng() % 1000) / 1000.0f);
    }
  }
  return req;
}

bool WriteOk(v1::Storage::Stub* stub, const v1::WriteRequest& req) {
  v1::WriteResponse resp;
  grpc::ClientContext ctx;
  grpc::Status st = stub->Write(&ctx, req, &resp);
  if (!st.ok()) fprintf(stderr, "Write: %s\n", st.error_message().c_str());
  return st.ok();
}

// Runs make(first, k) for batches of `batch` over [0, n) on `threads` connections.
template <typename Make>
bool LoadBatches(const StorageProcess& p, int64_t n, int threads, int64_t batch, Make make) {
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      auto s = p.NewStubOwnConnection(t);
      while (!failed) {
        int64_t first = next.fetch_add(batch);
        if (first >= n) break;
        uint32_t k = static_cast<uint32_t>(std::min<int64_t>(batch, n - first));
        if (!WriteOk(s.get(), make(static_cast<uint64_t>(first), k))) failed = true;
      }
    });
  }
  for (auto& th : ts) th.join();
  return !failed;
}

bool Checkpoint(v1::Storage::Stub* stub) {
  grpc::ClientContext ctx;
  v1::CheckpointResponse resp;
  grpc::Status s = stub->Checkpoint(&ctx, v1::CheckpointRequest(), &resp);
  if (!s.ok()) fprintf(stderr, "Checkpoint: %s\n", s.error_message().c_str());
  return s.ok();
}

// The warm-up query set: vector, keyword and hybrid searches, gets of 10 ids, neighbours.
void WarmUp(v1::Storage::Stub* stub, const VectorPool& pool, int64_t n) {
  std::mt19937_64 rng(99);
  const int q = absl::GetFlag(FLAGS_warmup_queries);
  for (int i = 0; i < q; ++i) {
    uint64_t c = rng() % static_cast<uint64_t>(n);
    std::string text = ConceptText(c, 60).substr(19);  // a few of its words, not its id
    for (int mode : {v1::SEARCH_MODE_VECTOR, v1::SEARCH_MODE_KEYWORD, v1::SEARCH_MODE_HYBRID}) {
      v1::SearchRequest req;
      req.set_namespace_("bench");
      req.set_k(10);
      req.set_mode(static_cast<v1::SearchMode>(mode));
      if (mode != v1::SEARCH_MODE_KEYWORD) {
        const float* v = pool.Get(c + 1);
        req.mutable_vector()->Add(v, v + pool.dim());
      }
      if (mode != v1::SEARCH_MODE_VECTOR) req.set_text(text);
      v1::SearchResponse resp;
      grpc::ClientContext ctx;
      grpc::Status s = stub->Search(&ctx, req, &resp);
      if (!s.ok()) fprintf(stderr, "Search: %s\n", s.error_message().c_str());
    }
    {
      v1::GetConceptsRequest req;
      req.set_namespace_("bench");
      for (int k = 0; k < 10; ++k) req.add_ids(ConceptId(rng() % static_cast<uint64_t>(n)));
      v1::GetConceptsResponse resp;
      grpc::ClientContext ctx;
      (void)stub->GetConcepts(&ctx, req, &resp);
    }
    {
      v1::NeighborsRequest req;
      req.set_namespace_("bench");
      req.set_id(ConceptId(c));
      v1::NeighborsResponse resp;
      grpc::ClientContext ctx;
      grpc::Status s = stub->Neighbors(&ctx, req, &resp);
      if (!s.ok()) fprintf(stderr, "Neighbors: %s\n", s.error_message().c_str());
    }
  }
}

std::string Samples(const std::vector<double>& v) {
  return absl::StrJoin(v, ", ", [](std::string* out, double x) { absl::StrAppend(out, absl::StrFormat("%.3f", x)); });
}

double Mb(uint64_t b) { return static_cast<double>(b) / 1e6; }

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const fs::path root = absl::GetFlag(FLAGS_dir);
  const bool reuse = absl::GetFlag(FLAGS_reuse);
  if (!reuse) fs::remove_all(root);
  fs::create_directories(root);
  const std::string binary = absl::GetFlag(FLAGS_binary);
  const uint32_t kill_tail = absl::GetFlag(FLAGS_kill_tail);
  const bool checkpoint = absl::GetFlag(FLAGS_checkpoint_before_kill);
  VectorPool pool(absl::GetFlag(FLAGS_dim), 8192);

  struct Row {
    int64_t n;
    double load_s = 0, index_s = 0;
    DirUsage usage;
    uint64_t concepts = 0, assocs = 0, mapped = 0;
    Rss rss_serving, rss_warm;
    std::string before_kill;
    std::vector<double> kill, kill_recovery, kill_indexed, clean, clean_recovery, shutdown;
    // An explicit Checkpoint (which writes the derived-state file) with a writer running beside
    // it: how long the RPC took, and the slowest single write meanwhile.
    std::vector<double> checkpoint, checkpoint_write_max;
  };
  std::vector<Row> rows;

  for (absl::string_view sz : absl::StrSplit(absl::GetFlag(FLAGS_sizes), ',', absl::SkipEmpty())) {
    int64_t n;
    if (!absl::SimpleAtoi(sz, &n)) continue;
    Row row;
    row.n = n;
    const fs::path data = root / absl::StrCat("n", n);
    const fs::path slots_file = root / absl::StrCat("n", n, ".slots");
    const std::string log = (root / absl::StrCat("n", n, ".log")).string();
    uint64_t slots = static_cast<uint64_t>(n);  // vector slots written so far
    uint64_t version = 1;                       // content version of the next tail
    auto write_tail = [&](const StorageProcess& p) {
      if (kill_tail == 0) return true;
      auto stub = p.NewStub();
      uint64_t first = (version * 7919) % static_cast<uint64_t>(n);
      first =
          std::min<uint64_t>(first, static_cast<uint64_t>(n) - std::min<uint64_t>(kill_tail, n));
      bool ok =
          WriteOk(stub.get(), Concepts(first, std::min<uint32_t>(kill_tail, n), pool, version));
      slots += std::min<uint32_t>(kill_tail, n);
      ++version;
      return ok;
    };

    const int kill_reps_flag = absl::GetFlag(FLAGS_kill_reps);
    if (reuse && fs::exists(slots_file)) {
      std::ifstream in(slots_file);
      in >> slots >> version;
      fprintf(stderr, "n=%lld: reusing %s (%llu slots)\n", static_cast<long long>(n), data.c_str(),
              static_cast<unsigned long long>(slots));
      if (kill_reps_flag > 0) {  // the first kill sample must follow a real SIGKILL too
        StorageProcess p(binary, data.string(), "relaxed", log);
        if (!p.Spawn({"--drain_seconds=2"}) || p.WaitServing(600) < 0) return 1;
        auto stub = p.NewStub();
        if (checkpoint && !Checkpoint(stub.get())) return 1;
        if (!write_tail(p)) return 1;
        v1::ServerStats st = GetStats(stub.get());
        row.before_kill =
            absl::StrFormat("last_sequence %llu, checkpoint_sequence %llu, log %.1f MB",
                            static_cast<unsigned long long>(st.last_sequence()),
                            static_cast<unsigned long long>(st.checkpoint_sequence()),
                            static_cast<double>(st.log_bytes()) / 1e6);
        p.Stop(SIGKILL);
      }
    } else {
      fs::remove_all(data);
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
      const int threads = absl::GetFlag(FLAGS_load_threads);
      if (!LoadBatches(loader, n, threads, 1000,
                       [&](uint64_t first, uint32_t k) { return Concepts(first, k, pool, 0); })) {
        return 1;
      }
      if (absl::GetFlag(FLAGS_assocs) > 0 &&
          !LoadBatches(loader, n, threads, 1000 / std::max<int64_t>(1, absl::GetFlag(FLAGS_assocs)),
                       [&](uint64_t first, uint32_t k) { return Associations(first, k, n); })) {
        return 1;
      }
      row.load_s = SecondsSince(t0);
      fprintf(stderr, "n=%lld loaded in %.1f s; indexing\n", static_cast<long long>(n), row.load_s);
      if (WaitIndexed(stub.get(), slots) < 0) {
        fprintf(stderr, "indexing did not finish\n");
        return 1;
      }
      row.index_s = SecondsSince(t0);
      if (checkpoint && !Checkpoint(stub.get())) return 1;
      if (!write_tail(loader)) return 1;
      v1::ServerStats st = GetStats(stub.get());
      row.before_kill = absl::StrFormat("last_sequence %llu, checkpoint_sequence %llu, log %.1f MB",
                                        static_cast<unsigned long long>(st.last_sequence()),
                                        static_cast<unsigned long long>(st.checkpoint_sequence()),
                                        static_cast<double>(st.log_bytes()) / 1e6);
      fprintf(stderr, "n=%lld loaded in %.1f s, indexed after %.1f s; before SIGKILL: %s\n",
              static_cast<long long>(n), row.load_s, row.index_s, row.before_kill.c_str());
      loader.Stop(SIGKILL);
    }

    // Restarts: kill_reps after SIGKILL, then clean_reps after SIGTERM. Each restart that is
    // followed by a SIGKILL first (optionally) checkpoints and writes a log tail.
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
      Rss rss = ReadRss(p.pid());
      auto stub = p.NewStub();
      v1::ServerStats st = GetStats(stub.get());
      double recovery = st.recovery_seconds();
      WarmUp(stub.get(), pool, n);
      Rss warm = ReadRss(p.pid());
      double indexed = WaitIndexed(stub.get(), slots);
      if (i + 1 == kill_reps + clean_reps) {  // the footprint, from the last (clean) restart
        row.rss_serving = rss;
        row.rss_warm = warm;
        row.mapped = GetStats(stub.get()).mapped_bytes();
        v1::NamespaceInfo info = GetNs(stub.get());
        row.concepts = info.concept_count();
        row.assocs = info.association_count();
      }
      (after_kill ? row.kill : row.clean).push_back(serving);
      (after_kill ? row.kill_recovery : row.clean_recovery).push_back(recovery);
      if (after_kill) row.kill_indexed.push_back(serving + indexed);
      // The next start follows a SIGKILL while kill samples remain, a SIGTERM otherwise.
      bool next_after_kill = i + 1 < kill_reps;
      if (next_after_kill) {
        if (checkpoint) {
          // Single durable writes back to back while the checkpoint runs.
          std::atomic<bool> stop{false};
          double write_max = 0;
          uint64_t written = 0;
          std::thread writer([&] {
            auto wstub = p.NewStub();
            while (!stop.load()) {
              const auto t0 = Clock::now();
              if (!WriteOk(wstub.get(), Concepts(written % static_cast<uint64_t>(n), 1, pool, version))) {
                break;
              }
              write_max = std::max(write_max, SecondsSince(t0));
              ++written;
            }
          });
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          const auto t0 = Clock::now();
          const bool ok = Checkpoint(stub.get());
          row.checkpoint.push_back(SecondsSince(t0));
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          stop = true;
          writer.join();
          slots += written;
          ++version;
          if (!ok) return 1;
          row.checkpoint_write_max.push_back(write_max);
        }
        if (!write_tail(p)) return 1;
      }
      double stop_s = p.Stop(next_after_kill ? SIGKILL : SIGTERM);
      if (!next_after_kill) row.shutdown.push_back(stop_s);
      fprintf(stderr,
              "n=%lld restart after %s: SERVING %.3f s (engine recovery %.3f s), RSS %.0f MB (warm "
              "%.0f MB), "
              "fully indexed %.3f s; %s %.3f s\n",
              static_cast<long long>(n), after_kill ? "SIGKILL" : "SIGTERM", serving, recovery,
              Mb(rss.total), Mb(warm.total), serving + indexed,
              next_after_kill ? "SIGKILL" : "SIGTERM shutdown took", stop_s);
    }
    row.usage = Usage(data);
    {
      std::ofstream out(slots_file);
      out << slots << " " << version << "\n";
    }
    rows.push_back(row);
    if (!absl::GetFlag(FLAGS_keep)) {
      fs::remove_all(data);
      fs::remove(slots_file);
    }
  }

  printf(
      "| concepts | load s | after SIGKILL: SERVING s | engine recovery s | fully indexed s | "
      "after SIGTERM: SERVING s | engine recovery s | SIGTERM shutdown s |\n");
  printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (auto& r : rows) {
    printf("| %lld | %.1f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n",
           static_cast<long long>(r.n), r.load_s, Median(r.kill), Median(r.kill_recovery),
           Median(r.kill_indexed), Median(r.clean), Median(r.clean_recovery), Median(r.shutdown));
  }
  const double raw_concept = 4.0 * absl::GetFlag(FLAGS_dim) + absl::GetFlag(FLAGS_text_bytes);
  const double raw_assoc = 16 + 16 + 4 + 4;  // two 16-byte ids, type, confidence
  printf(
      "\n| concepts | live concepts | live assocs | data dir MB (allocated) | apparent MB | mapped "
      "MB | RSS at SERVING MB (anon / file) | RSS after warm-up MB (anon / file) | raw B/concept | "
      "data dir B/concept | data dir excl. hnsw + log B/concept | hnsw B/concept |\n");
  printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (auto& r : rows) {
    double c = static_cast<double>(r.n);
    double raw = raw_concept + absl::GetFlag(FLAGS_assocs) * raw_assoc;
    uint64_t hnsw = r.usage.by_kind["hnsw"];
    uint64_t log_b = r.usage.by_kind["wal"];
    printf(
        "| %lld | %llu | %llu | %.0f | %.0f | %.0f | %.0f (%.0f / %.0f) | %.0f (%.0f / %.0f) | "
        "%.0f | %.0f | %.0f | %.0f |\n",
        static_cast<long long>(r.n), static_cast<unsigned long long>(r.concepts),
        static_cast<unsigned long long>(r.assocs), Mb(r.usage.allocated), Mb(r.usage.apparent),
        Mb(r.mapped), Mb(r.rss_serving.total), Mb(r.rss_serving.anon), Mb(r.rss_serving.file),
        Mb(r.rss_warm.total), Mb(r.rss_warm.anon), Mb(r.rss_warm.file), raw,
        static_cast<double>(r.usage.allocated) / c,
        static_cast<double>(r.usage.allocated - hnsw - log_b) / c, static_cast<double>(hnsw) / c);
  }
  printf("\nSamples (s) and data directory by file kind (allocated MB):\n\n");
  for (auto& r : rows) {
    std::string kinds = absl::StrJoin(r.usage.by_kind, ", ", [](std::string* out, const auto& kv) {
      absl::StrAppend(out, kv.first, " ", absl::StrFormat("%.1f", Mb(kv.second)));
    });
    printf(
        "- %lld concepts: loaded %.1f s, indexed %.1f s after load start; before the first "
        "SIGKILL: %s; "
        "SERVING after SIGKILL [%s] (engine recovery [%s]); after SIGTERM [%s] (engine recovery "
        "[%s]); "
        "SIGTERM shutdown [%s]; explicit Checkpoint RPC [%s] with the slowest concurrent write "
        "[%s]; files: %s\n",
        static_cast<long long>(r.n), r.load_s, r.index_s, r.before_kill.c_str(),
        Samples(r.kill).c_str(), Samples(r.kill_recovery).c_str(), Samples(r.clean).c_str(),
        Samples(r.clean_recovery).c_str(), Samples(r.shutdown).c_str(),
        Samples(r.checkpoint).c_str(), Samples(r.checkpoint_write_max).c_str(), kinds.c_str());
  }
  if (!absl::GetFlag(FLAGS_keep)) fs::remove_all(root);
  return 0;
}
