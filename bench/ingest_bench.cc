// ingest_bench: acknowledged durable writes per second of concepts with 128-d vectors, Engram's
// storage engine against LMDB doing the same writes with the same durability, in one run.
//
//   ingest_bench [--concurrency=1,16,64] [--batches=1,100,1000] [--cell_seconds=3]
//                [--max_concepts_per_cell=100000] [--reps=3]
//                [--peers=engine,lmdb[,grpc][,grpc-async][,grpc-stream][,grpc-stream:D]]
//                [--relaxed_cells=1x1,64x1,1x1000] [--dir=/tmp/engram_ingest_bench]
//                [--binary=build/storage-server/engram-storage] [--server_flags=--a=1,--b=2]
//
// A cell is (concurrency C, batch B): C client threads each send requests of B new concepts
// (id, ~100 bytes of content, 2 attributes, a 128-d vector) back to back and time each request
// until it is acknowledged. A cell ends when --cell_seconds have passed or
// --max_concepts_per_cell concepts were sent (every thread sends at least one request).
// Throughput = acknowledged concepts / wall time of the cell.
//
// Peers, each on a fresh directory per cell:
//   engine: engram::storage::Engine in process, --sync=always (fsync of the log before ack;
//           concurrent requests share one fsync through group commit). The HNSW indexer runs
//           concurrently with its default parameters (M 16, efConstruction 200) and may trail.
//   lmdb:   one LMDB write transaction per client request holding B puts of the same serialized
//           v1::Concept keyed by its id; mdb_env_open flags 0 = default durability (the commit
//           fdatasyncs before returning). Concurrent writers serialize on LMDB's writer lock.
//   grpc:   the real engram-storage binary (child process, loopback), Write RPC, --sync=always,
//           C client threads with synchronous stubs.
//   grpc-async: the same server; 2 client threads (--client_threads) keep C requests in flight on
//           completion queues (how a production client pipelines).
//   grpc-stream: the same server and 2 client threads, but C WriteStream streams, each with one
//           write in flight (a write is sent when the previous one's answer came): single writes
//           in turn on an open stream instead of a call each.
//   grpc-stream:D: C/D WriteStream streams (rounded up) with D writes in flight each, still C
//           in all: a client pipelining single writes on a few streams. Each write is still its
//           own request, applied, made durable and answered on its own; the server sends the
//           answers one fsync made durable together, and the client its waiting writes.
//           The grpc rows report the server's and the client's CPU per concept (/proc and
//           getrusage from the cell's start until the index caught up, below).
// After each engine and grpc cell the bench waits until the HNSW graph holds every written vector
// (engram_storage_indexed_vectors) and reports how long that took after the last acknowledgement
// and the concepts per second counted until then: the rate writes can be sustained with the
// index keeping up. The acknowledged rate alone can outrun the indexer.
// The synchronous grpc client sends a request refused with RESOURCE_EXHAUSTED (a full queue, or
// the server's --max_unindexed_vectors) again after a backoff (10 ms doubling to 200 ms), as
// engramctl does; the refusals are counted. --search_threads=N adds N threads sending vector
// searches (k 10) back to back during each grpc cell and after it until the index caught up, and
// reports their rate and latency in both phases: what the writes, and the unindexed tail they
// leave, cost searches. (The client CPU per concept then includes the searches'.)
// --relaxed_cells adds rows for the engine with --sync=relaxed (fdatasync at most every 100 ms;
// NOT durable on a machine crash), labelled as such.
//
// Peers run interleaved within each repetition; the table shows medians over --reps.
#include <fcntl.h>
#include <lmdb.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/storage_bench_util.h"
#include "common/metrics/metrics.h"
#include "storage-server/engine/engine.h"

ABSL_FLAG(std::string, concurrency, "1,16,64", "Client threads per cell.");
ABSL_FLAG(std::string, batches, "1,100,1000", "Concepts per request.");
ABSL_FLAG(double, cell_seconds, 3, "Time cap per cell.");
ABSL_FLAG(int64_t, max_concepts_per_cell, 100000, "Concept cap per cell.");
ABSL_FLAG(int, reps, 3, "Repetitions (medians are reported).");
ABSL_FLAG(std::string, peers, "engine,lmdb",
          "engine, lmdb, grpc, grpc-async, grpc-stream, grpc-stream:D (D writes in flight per stream).");
ABSL_FLAG(std::string, relaxed_cells, "1x1,64x1,1x1000",
          "CxB cells also run for the engine with --sync=relaxed (empty: none).");
ABSL_FLAG(std::string, dir, "/tmp/engram_ingest_bench", "Scratch directory (wiped).");
ABSL_FLAG(std::string, binary, "build/storage-server/engram-storage", "engram-storage for --peers=grpc.");
ABSL_FLAG(uint32_t, dim, 128, "Vector dimension.");
ABSL_FLAG(int, client_threads, 2, "Client threads of the grpc-async and grpc-stream cells.");
ABSL_FLAG(std::string, server_flags, "",
          "Extra engram-storage flags for the grpc cells, comma-separated (e.g. --indexer_nice=19).");
ABSL_FLAG(int, search_threads, 0,
          "grpc cells: threads that each send vector searches (k 10, the server's default ef) back "
          "to back while the cell writes and until the index caught up, to show what the writes "
          "cost searches.");
ABSL_FLAG(double, index_wait_seconds, 300,
          "After an engine or grpc cell, how long to wait for the HNSW graph to hold every written vector "
          "(0: do not wait).");
ABSL_FLAG(int, fsync_probe, 200, "fdatasync calls of the raw-disk probe (0: skip).");

namespace fs = std::filesystem;
namespace es = engram::storage;
using namespace engram::bench::storage;

namespace {

struct CellResult {
  double writes_per_s = 0, p50_ms = 0, p99_ms = 0, max_ms = 0;
  double fsync_ms = -1, group = -1;  // engine and grpc: mean fsync latency, mean requests per group
  double server_cpu_us = -1, client_cpu_us = -1;  // grpc only: CPU per concept, each side
  // engine and grpc: the writer thread's time per concept by phase
  // (engram_storage_writer_seconds_total{phase}, kWriterPhases order), and its busy share.
  std::array<double, 6> writer_us = {-1, -1, -1, -1, -1, -1};
  double writer_busy = -1;
  int64_t concepts = 0;
  // engine and grpc: seconds after the last acknowledgement until the HNSW graph held every
  // written vector, and the concepts per second counted until then (the rate the indexer sustains).
  double index_lag_s = -1, indexed_per_s = -1;
  // grpc: requests refused with RESOURCE_EXHAUSTED and sent again (the synchronous client
  // retries them with backoff); with --search_threads, the searches' rate and latency.
  int64_t refused = 0;
  double searches_per_s = -1, search_p50_ms = -1, search_p99_ms = -1;
  double search_after_p50_ms = -1;  // after the last acknowledgement, until the index caught up
};
constexpr const char* kWriterPhases[] = {"apply", "log", "finish", "sync", "publish", "checkpoint"};

// One client request: builds it, sets *start, sends it and waits for the acknowledgement.
// Returns false on error (printed). Latency = now - *start (building is not timed).
using RequestFn = std::function<bool(int thread, uint64_t first, uint32_t n, Clock::time_point* start)>;

CellResult RunCell(int conc, uint32_t batch, const RequestFn& fn) {
  const double cap_s = absl::GetFlag(FLAGS_cell_seconds);
  const int64_t cap_n = absl::GetFlag(FLAGS_max_concepts_per_cell);
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::atomic<bool> failed{false};
  std::vector<Latencies> lat(static_cast<size_t>(conc));
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < conc; ++t) {
    threads.emplace_back([&, t] {
      bool first_request = true;
      while (!failed.load()) {
        if (!first_request && (SecondsSince(t0) >= cap_s || next.load() >= cap_n)) break;
        first_request = false;
        int64_t first = next.fetch_add(batch);
        Clock::time_point r0;
        if (!fn(t, static_cast<uint64_t>(first), batch, &r0)) {
          failed = true;
          break;
        }
        lat[static_cast<size_t>(t)].Add(SecondsSince(r0));
        done.fetch_add(batch);
      }
    });
  }
  for (auto& th : threads) th.join();
  double elapsed = SecondsSince(t0);
  Latencies all;
  for (auto& l : lat) all.Merge(l);
  CellResult r;
  r.concepts = done.load();
  r.writes_per_s = static_cast<double>(r.concepts) / elapsed;
  r.p50_ms = all.Quantile(0.5) * 1e3;
  r.p99_ms = all.Quantile(0.99) * 1e3;
  r.max_ms = all.Quantile(1.0) * 1e3;
  if (failed) r.writes_per_s = -1;
  return r;
}

// Mean fsync latency and requests per group commit between two /metrics texts.
void GroupCommitStats(const std::string& before, const std::string& after, CellResult* r) {
  auto delta = [&](const std::string& name) { return PromValue(after, name) - PromValue(before, name); };
  double fs_n = delta("engram_storage_fsync_seconds_count");
  if (fs_n > 0) r->fsync_ms = delta("engram_storage_fsync_seconds_sum") / fs_n * 1e3;
  double g_n = delta("engram_storage_group_commit_requests_count");
  if (g_n > 0) r->group = delta("engram_storage_group_commit_requests_sum") / g_n;
  if (r->concepts <= 0 || r->writes_per_s <= 0) return;
  double busy_s = 0;
  for (size_t p = 0; p < r->writer_us.size(); ++p) {
    const double s = delta(absl::StrCat("engram_storage_writer_seconds_total{phase=\"", kWriterPhases[p], "\"}"));
    r->writer_us[p] = s / static_cast<double>(r->concepts) * 1e6;
    busy_s += s;
  }
  r->writer_busy = busy_s / (static_cast<double>(r->concepts) / r->writes_per_s);
}

// Waits until engram_storage_indexed_vectors{namespace="bench"} in `metrics()` reaches r->concepts
// (at most --index_wait_seconds), then sets r->index_lag_s and r->indexed_per_s.
void WaitIndexed(const std::function<std::string()>& metrics, CellResult* r) {
  if (r->concepts <= 0 || r->writes_per_s <= 0 || absl::GetFlag(FLAGS_index_wait_seconds) <= 0) return;
  const auto t0 = Clock::now();
  const double cap_s = absl::GetFlag(FLAGS_index_wait_seconds);
  while (PromValue(metrics(), "engram_storage_indexed_vectors{namespace=\"bench\"}") <
         static_cast<double>(r->concepts)) {
    if (SecondsSince(t0) > cap_s) {
      fprintf(stderr, "the index did not catch up within %.0f s\n", cap_s);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r->index_lag_s = SecondsSince(t0);
  r->indexed_per_s =
      static_cast<double>(r->concepts) / (static_cast<double>(r->concepts) / r->writes_per_s + r->index_lag_s);
}

CellResult EngineCell(const fs::path& dir, int conc, uint32_t batch, es::wal::SyncMode sync,
                      const VectorPool& pool) {
  engram::metrics::Registry registry;
  es::EngineOptions o;
  o.data_dir = dir;
  o.sync_mode = sync;
  o.create_default_namespace = false;
  o.metrics = &registry;
  auto engine = es::Engine::Open(o);
  if (!engine.ok()) {
    fprintf(stderr, "Engine::Open: %s\n", engine.status().ToString().c_str());
    exit(1);
  }
  auto ns = (*engine)->CreateNamespace(BenchNamespace("bench", pool.dim(), 0, 0));
  if (!ns.ok()) {
    fprintf(stderr, "CreateNamespace: %s\n", ns.status().ToString().c_str());
    exit(1);
  }
  std::string before = registry.Serialize();
  CellResult r = RunCell(conc, batch, [&](int, uint64_t first, uint32_t n, Clock::time_point* start) {
    v1::WriteRequest req = ConceptBatch("bench", first, n, pool);
    *start = Clock::now();
    auto w = (*engine)->Write(std::move(req));
    if (!w.ok()) fprintf(stderr, "Write: %s\n", w.status().ToString().c_str());
    return w.ok();
  });
  GroupCommitStats(before, registry.Serialize(), &r);
  WaitIndexed([&] { return registry.Serialize(); }, &r);
  // Closing is not timed (it waits for the indexer's current insert and writes a checkpoint).
  (void)(*engine)->Close();
  return r;
}

void Check(int rc, const char* what) {
  if (rc != 0) {
    fprintf(stderr, "%s: %s\n", what, mdb_strerror(rc));
    exit(1);
  }
}

CellResult LmdbCell(const fs::path& dir, int conc, uint32_t batch, const VectorPool& pool) {
  fs::create_directories(dir);
  MDB_env* env;
  Check(mdb_env_create(&env), "mdb_env_create");
  Check(mdb_env_set_mapsize(env, size_t{16} << 30), "mdb_env_set_mapsize");
  Check(mdb_env_set_maxreaders(env, 256), "mdb_env_set_maxreaders");
  Check(mdb_env_open(env, dir.c_str(), 0, 0644), "mdb_env_open");  // default durability
  MDB_dbi dbi;
  {
    MDB_txn* txn;
    Check(mdb_txn_begin(env, nullptr, 0, &txn), "mdb_txn_begin");
    Check(mdb_dbi_open(txn, nullptr, 0, &dbi), "mdb_dbi_open");
    Check(mdb_txn_commit(txn), "mdb_txn_commit");
  }
  // The record is built (serialized) before the request is timed, like the engine's request.
  CellResult r = RunCell(conc, batch, [&](int, uint64_t first, uint32_t n, Clock::time_point* start) {
    std::vector<std::pair<std::string, std::string>> records(n);
    v1::Concept c;
    for (uint32_t k = 0; k < n; ++k) {
      c.Clear();
      FillConcept(first + k, pool, &c);
      records[k].first = c.id();
      c.SerializeToString(&records[k].second);
    }
    *start = Clock::now();
    MDB_txn* txn;
    int rc = mdb_txn_begin(env, nullptr, 0, &txn);
    if (rc != 0) {
      fprintf(stderr, "mdb_txn_begin: %s\n", mdb_strerror(rc));
      return false;
    }
    for (auto& [key, value] : records) {
      MDB_val k{key.size(), key.data()};
      MDB_val v{value.size(), value.data()};
      rc = mdb_put(txn, dbi, &k, &v, 0);
      if (rc != 0) {
        fprintf(stderr, "mdb_put: %s\n", mdb_strerror(rc));
        mdb_txn_abort(txn);
        return false;
      }
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0) fprintf(stderr, "mdb_txn_commit: %s\n", mdb_strerror(rc));
    return rc == 0;
  });
  mdb_env_close(env);
  return r;
}

// How a grpc cell's client sends: synchronous stubs, asynchronous unary calls, or streams.
enum class GrpcClient { kSync, kAsync, kStream };

// The real engram-storage binary on loopback. kAsync: --client_threads threads with a completion
// queue each keep `conc` requests in flight (RunAsyncUnary); kStream: the same threads hold
// `conc` writes in flight on WriteStreams, `stream_depth` on each (RunAsyncStreams); kSync:
// `conc` threads with synchronous stubs, one channel per 8 threads. Either way the server and client CPU per concept
// are recorded, so the server's cost can be read apart from the client's on a shared machine.

CellResult GrpcCell(const fs::path& dir, int conc, uint32_t batch, const VectorPool& pool, GrpcClient client,
                    int stream_depth = 1) {
  const bool async = client != GrpcClient::kSync;
  fs::create_directories(dir);
  StorageProcess proc(absl::GetFlag(FLAGS_binary), dir.string(), "always",
                      (dir.parent_path() / (dir.filename().string() + ".log")).string());
  std::vector<std::string> flags = absl::StrSplit(absl::GetFlag(FLAGS_server_flags), ',', absl::SkipEmpty());
  flags.push_back("--drain_seconds=2");
  if (!proc.Spawn(flags) || proc.WaitServing(60) < 0) {
    fprintf(stderr, "engram-storage did not become SERVING (log %s)\n", proc.log_path().c_str());
    exit(1);
  }
  auto stub = proc.NewStub();
  {
    grpc::ClientContext ctx;
    v1::CreateNamespaceRequest req;
    *req.mutable_config() = BenchNamespace("bench", pool.dim(), 0, 0);
    v1::NamespaceInfo info;
    grpc::Status s = stub->CreateNamespace(&ctx, req, &info);
    if (!s.ok()) {
      fprintf(stderr, "CreateNamespace: %s\n", s.error_message().c_str());
      exit(1);
    }
  }
  const int client_threads = async ? std::min(conc, std::max(1, absl::GetFlag(FLAGS_client_threads))) : conc;
  std::vector<std::unique_ptr<v1::Storage::Stub>> stubs;
  for (int i = 0; i < (async ? client_threads : (conc + 7) / 8); ++i) {
    stubs.push_back(proc.NewStubOwnConnection(i));
  }
  // Searches beside the writes, each thread on its own connection; random queries from the pool.
  // phase 0: the cell writes; 1: the writes are over, the index catches up; 2: stop.
  std::atomic<int> phase{0};
  const size_t search_threads = static_cast<size_t>(absl::GetFlag(FLAGS_search_threads));
  std::vector<Latencies> search_lat[2] = {std::vector<Latencies>(search_threads),
                                          std::vector<Latencies>(search_threads)};
  std::vector<std::thread> searchers;
  for (size_t t = 0; t < search_threads; ++t) {
    searchers.emplace_back([&, t, stub = proc.NewStubOwnConnection(1000 + static_cast<int>(t))] {
      std::mt19937_64 rng(t);
      for (int p; (p = phase.load()) < 2;) {
        v1::SearchRequest req;
        req.set_namespace_("bench");
        req.set_k(10);
        const float* v = pool.Get(rng());
        req.mutable_vector()->Add(v, v + pool.dim());
        v1::SearchResponse resp;
        grpc::ClientContext ctx;
        const auto t0 = Clock::now();
        grpc::Status st = stub->Search(&ctx, req, &resp);
        if (!st.ok()) {
          fprintf(stderr, "Search: %d %s\n", st.error_code(), st.error_message().c_str());
          return;
        }
        search_lat[p][t].Add(SecondsSince(t0));
      }
    });
  }
  const auto cell_start = Clock::now();
  const double server_cpu0 = ProcessCpuSeconds(proc.pid()), client_cpu0 = ProcessCpuSeconds();
  const std::string metrics0 = HttpGetRaw(proc.http_port(), "/metrics");
  std::atomic<int64_t> refused{0};
  CellResult r;
  if (async) {
    const int64_t cap_n = absl::GetFlag(FLAGS_max_concepts_per_cell);
    std::atomic<int64_t> next{0};
    auto next_request = [&](int, v1::WriteRequest* req) {
      int64_t first = next.fetch_add(batch);
      if (first >= cap_n && first >= int64_t{batch} * conc) return false;
      *req = ConceptBatch("bench", static_cast<uint64_t>(first), batch, pool);
      return true;
    };
    AsyncLoadResult a;
    if (client == GrpcClient::kStream) {
      const int streams = (conc + stream_depth - 1) / stream_depth;
      a = RunAsyncStreams<v1::WriteRequest, v1::WriteStreamResponse>(
          std::min(client_threads, streams), streams, stream_depth, absl::GetFlag(FLAGS_cell_seconds), next_request,
          [&](int t, grpc::ClientContext* ctx, grpc::CompletionQueue* cq) {
            return stubs[static_cast<size_t>(t)]->PrepareAsyncWriteStream(ctx, cq);
          },
          [](const v1::WriteStreamResponse& r) {
            if (r.has_error()) fprintf(stderr, "WriteStream: %d %s\n", r.error().code(), r.error().message().c_str());
            return r.has_result();
          });
    } else {
      a = RunAsyncUnary<v1::WriteRequest, v1::WriteResponse>(
          client_threads, conc, absl::GetFlag(FLAGS_cell_seconds), next_request,
          [&](int t, grpc::ClientContext* ctx, const v1::WriteRequest& req, grpc::CompletionQueue* cq) {
            return stubs[static_cast<size_t>(t)]->PrepareAsyncWrite(ctx, req, cq);
          },
          [](const v1::WriteResponse&) { return true; });
    }
    r.concepts = a.calls * batch;
    r.writes_per_s = a.failed ? -1 : static_cast<double>(r.concepts) / a.elapsed_s;
    r.p50_ms = a.latency.Quantile(0.5) * 1e3;
    r.p99_ms = a.latency.Quantile(0.99) * 1e3;
    r.max_ms = a.latency.Quantile(1.0) * 1e3;
  } else {
    r = RunCell(conc, batch, [&](int t, uint64_t first, uint32_t n, Clock::time_point* start) {
      v1::WriteRequest req = ConceptBatch("bench", first, n, pool);
      v1::WriteResponse resp;
      *start = Clock::now();
      // A refused request (a full queue, --max_unindexed_vectors) is sent again after a backoff,
      // as engramctl does; its latency runs from the first send to the acknowledgement.
      for (auto backoff = std::chrono::milliseconds(10);; backoff = std::min(2 * backoff, std::chrono::milliseconds(200))) {
        grpc::ClientContext ctx;
        grpc::Status s = stubs[static_cast<size_t>(t / 8)]->Write(&ctx, req, &resp);
        if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          refused.fetch_add(1);
          std::this_thread::sleep_for(backoff);
          continue;
        }
        if (!s.ok()) fprintf(stderr, "Write: %d %s\n", s.error_code(), s.error_message().c_str());
        return s.ok();
      }
    });
  }
  phase = 1;
  const double write_s = SecondsSince(cell_start);
  r.refused = refused.load();
  const std::string metrics1 = HttpGetRaw(proc.http_port(), "/metrics");
  GroupCommitStats(metrics0, metrics1, &r);
  WaitIndexed([&] { return HttpGetRaw(proc.http_port(), "/metrics"); }, &r);
  phase = 2;
  for (auto& th : searchers) th.join();
  if (!searchers.empty()) {
    Latencies during, after;
    for (auto& l : search_lat[0]) during.Merge(l);
    for (auto& l : search_lat[1]) after.Merge(l);
    r.searches_per_s = static_cast<double>(during.s.size()) / write_s;
    r.search_p50_ms = during.Quantile(0.5) * 1e3;
    r.search_p99_ms = during.Quantile(0.99) * 1e3;
    if (!after.s.empty()) r.search_after_p50_ms = after.Quantile(0.5) * 1e3;
  }
  if (r.concepts > 0) {
    // The server's CPU includes its HNSW indexer's until the graph held every written vector.
    r.server_cpu_us = (ProcessCpuSeconds(proc.pid()) - server_cpu0) / static_cast<double>(r.concepts) * 1e6;
    r.client_cpu_us = (ProcessCpuSeconds() - client_cpu0) / static_cast<double>(r.concepts) * 1e6;
  }
  proc.Stop(SIGTERM);
  return r;
}

// Raw-disk durability cost on this machine: 4 KiB writes + fdatasync, appending (the file grows,
// so the journal commits too) and overwriting a preallocated file (data only).
void FsyncProbe(const fs::path& dir, int n) {
  if (n <= 0) return;
  fs::create_directories(dir);
  fs::path f = dir / "fsync_probe";
  std::string block(4096, 'x');
  for (bool append : {true, false}) {
    int fd = open(f.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!append) {
      for (int i = 0; i < n; ++i) (void)!write(fd, block.data(), block.size());
      fsync(fd);
    }
    Latencies lat;
    for (int i = 0; i < n; ++i) {
      if (pwrite(fd, block.data(), block.size(), static_cast<off_t>(i) * 4096) < 0) break;
      auto t0 = Clock::now();
      fdatasync(fd);
      lat.Add(SecondsSince(t0));
    }
    close(fd);
    fs::remove(f);
    printf("fdatasync probe (%d x 4 KiB %s + fdatasync on %s): p50 %.3f ms, p99 %.3f ms\n", n,
           append ? "append" : "overwrite of a preallocated file", dir.c_str(), lat.Quantile(0.5) * 1e3,
           lat.Quantile(0.99) * 1e3);
  }
  printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const fs::path root = absl::GetFlag(FLAGS_dir);
  fs::remove_all(root);
  fs::create_directories(root);
  VectorPool pool(absl::GetFlag(FLAGS_dim), 4096);
  FsyncProbe(root, absl::GetFlag(FLAGS_fsync_probe));

  struct Cell {
    int conc;
    uint32_t batch;
    std::string peer;  // engine, engine-relaxed, lmdb, grpc
  };
  std::vector<Cell> cells;
  std::vector<std::string> peers = absl::StrSplit(absl::GetFlag(FLAGS_peers), ',', absl::SkipEmpty());
  for (int c : ParseIntList(absl::GetFlag(FLAGS_concurrency))) {
    for (int b : ParseIntList(absl::GetFlag(FLAGS_batches))) {
      for (const auto& p : peers) cells.push_back({c, static_cast<uint32_t>(b), p});
    }
  }
  for (absl::string_view cb : absl::StrSplit(absl::GetFlag(FLAGS_relaxed_cells), ',', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(cb, 'x');
    int c, b;
    if (parts.size() == 2 && absl::SimpleAtoi(parts[0], &c) && absl::SimpleAtoi(parts[1], &b)) {
      cells.push_back({c, static_cast<uint32_t>(b), "engine-relaxed"});
    }
  }

  const int reps = absl::GetFlag(FLAGS_reps);
  std::map<size_t, std::vector<CellResult>> results;
  int run = 0;
  for (int rep = 0; rep < reps; ++rep) {
    for (size_t i = 0; i < cells.size(); ++i) {
      const Cell& cell = cells[i];
      fs::path dir = root / absl::StrCat("run", run++);
      CellResult r;
      if (cell.peer == "engine") {
        r = EngineCell(dir, cell.conc, cell.batch, es::wal::SyncMode::kAlways, pool);
      } else if (cell.peer == "engine-relaxed") {
        r = EngineCell(dir, cell.conc, cell.batch, es::wal::SyncMode::kRelaxed, pool);
      } else if (cell.peer == "lmdb") {
        r = LmdbCell(dir, cell.conc, cell.batch, pool);
      } else if (cell.peer == "grpc" || cell.peer == "grpc-async") {
        r = GrpcCell(dir, cell.conc, cell.batch, pool, cell.peer == "grpc" ? GrpcClient::kSync : GrpcClient::kAsync);
      } else if (int depth = 1; cell.peer == "grpc-stream" ||
                                (absl::StartsWith(cell.peer, "grpc-stream:") &&
                                 absl::SimpleAtoi(cell.peer.substr(12), &depth) && depth >= 1)) {
        r = GrpcCell(dir, cell.conc, cell.batch, pool, GrpcClient::kStream, depth);
      } else {
        fprintf(stderr, "unknown peer %s\n", cell.peer.c_str());
        return 2;
      }
      fs::remove_all(dir);
      fprintf(stderr,
              "rep %d  C=%-3d B=%-5u %-15s %9.0f writes/s  p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms  "
              "(%lld concepts, "
              "fsync %.3f ms, group %.1f, server cpu %.1f us, client cpu %.1f us, writer busy %.2f, "
              "indexed %.3f s later: %.0f/s, refused %lld, searches %.0f/s p50 %.3f ms p99 %.3f ms, "
              "then p50 %.3f ms until indexed)\n",
              rep, cell.conc, cell.batch, cell.peer.c_str(), r.writes_per_s, r.p50_ms, r.p99_ms,
              r.max_ms, static_cast<long long>(r.concepts), r.fsync_ms, r.group, r.server_cpu_us, r.client_cpu_us,
              r.writer_busy, r.index_lag_s, r.indexed_per_s, static_cast<long long>(r.refused),
              r.searches_per_s, r.search_p50_ms, r.search_p99_ms, r.search_after_p50_ms);
      results[i].push_back(r);
    }
  }

  auto med = [&](size_t i, double CellResult::*f) {
    std::vector<double> v;
    for (auto& r : results[i]) v.push_back(r.*f);
    return Median(v);
  };
  auto find = [&](int c, uint32_t b, const std::string& p) -> ssize_t {
    for (size_t i = 0; i < cells.size(); ++i) {
      if (cells[i].conc == c && cells[i].batch == b && cells[i].peer == p) return static_cast<ssize_t>(i);
    }
    return -1;
  };
  printf("Medians over %d repetitions (cell cap %.1f s / %lld concepts).\n\n", reps,
         absl::GetFlag(FLAGS_cell_seconds), static_cast<long long>(absl::GetFlag(FLAGS_max_concepts_per_cell)));
  printf("| concurrency | batch | peer | writes/s | p50 ack ms | p99 ack ms | max ack ms | vs LMDB | vs in process | fsync ms "
         "| reqs/group | server CPU us/concept | client CPU us/concept | index caught up s after | written and indexed/s |\n");
  printf("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (size_t i = 0; i < cells.size(); ++i) {
    const Cell& c = cells[i];
    std::string ratio = "";
    ssize_t l = find(c.conc, c.batch, "lmdb");
    if (c.peer != "lmdb" && l >= 0) {
      ratio = absl::StrFormat("%.2fx", med(i, &CellResult::writes_per_s) /
                                           med(static_cast<size_t>(l), &CellResult::writes_per_s));
    }
    std::string vs_engine = "";
    ssize_t e = find(c.conc, c.batch, "engine");
    if (c.peer.rfind("grpc", 0) == 0 && e >= 0) {
      vs_engine = absl::StrFormat("%.2fx", med(i, &CellResult::writes_per_s) /
                                               med(static_cast<size_t>(e), &CellResult::writes_per_s));
    }
    std::string cpu_server = "", cpu_client = "";
    if (c.peer.rfind("grpc", 0) == 0) {
      cpu_server = absl::StrFormat("%.1f", med(i, &CellResult::server_cpu_us));
      cpu_client = absl::StrFormat("%.1f", med(i, &CellResult::client_cpu_us));
    }
    std::string label = c.peer == "engine-relaxed" ? "engine --sync=relaxed (not durable)" : c.peer;
    std::string fsync = c.peer != "lmdb" ? absl::StrFormat("%.3f", med(i, &CellResult::fsync_ms)) : "";
    std::string group = c.peer != "lmdb" ? absl::StrFormat("%.1f", med(i, &CellResult::group)) : "";
    std::string lag = "", indexed = "";
    if (c.peer != "lmdb" && med(i, &CellResult::index_lag_s) >= 0) {  // not with --index_wait_seconds=0
      lag = absl::StrFormat("%.3f", med(i, &CellResult::index_lag_s));
      indexed = absl::StrFormat("%.0f", med(i, &CellResult::indexed_per_s));
    }
    printf("| %d | %u | %s | %.0f | %.3f | %.3f | %.3f | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.conc, c.batch,
           label.c_str(), med(i, &CellResult::writes_per_s), med(i, &CellResult::p50_ms),
           med(i, &CellResult::p99_ms), med(i, &CellResult::max_ms), ratio.c_str(), vs_engine.c_str(), fsync.c_str(), group.c_str(),
           cpu_server.c_str(), cpu_client.c_str(), lag.c_str(), indexed.c_str());
  }
  // Where the single writer's time went (engram_storage_writer_seconds_total{phase}), per concept.
  printf("\n| concurrency | batch | peer | writer busy | writer us/concept: apply | log | finish | sync | "
         "publish | checkpoint |\n");
  printf("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (size_t i = 0; i < cells.size(); ++i) {
    const Cell& c = cells[i];
    if (c.peer == "lmdb") continue;
    std::string row = absl::StrFormat("| %d | %u | %s | %.2f |", c.conc, c.batch, c.peer, med(i, &CellResult::writer_busy));
    for (size_t p = 0; p < std::size(kWriterPhases); ++p) {
      std::vector<double> v;
      for (auto& r : results[i]) v.push_back(r.writer_us[p]);
      absl::StrAppendFormat(&row, " %.3f |", Median(v));
    }
    printf("%s\n", row.c_str());
  }
  // What the writes cost searches beside them (--search_threads), and the requests refused.
  bool refusals = false;
  for (const auto& [i, rs] : results) {
    for (const CellResult& r : rs) refusals |= r.refused > 0;
  }
  if (absl::GetFlag(FLAGS_search_threads) > 0 || refusals) {
    printf("\n| concurrency | batch | peer | refused and resent | searches/s while writing | search p50 ms | "
           "search p99 ms | search p50 ms after the writes, until indexed |\n");
    printf("|---:|---:|---|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < cells.size(); ++i) {
      const Cell& c = cells[i];
      if (c.peer.rfind("grpc", 0) != 0) continue;
      std::vector<double> refused;
      for (auto& r : results[i]) refused.push_back(static_cast<double>(r.refused));
      printf("| %d | %u | %s | %.0f | %.0f | %.3f | %.3f | %.3f |\n", c.conc, c.batch, c.peer.c_str(),
             Median(refused), med(i, &CellResult::searches_per_s), med(i, &CellResult::search_p50_ms),
             med(i, &CellResult::search_p99_ms), med(i, &CellResult::search_after_p50_ms));
    }
  }
  fs::remove_all(root);
  return 0;
}
