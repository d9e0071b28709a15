// read_bench: get-by-id and neighbors throughput and latency, in process (Engine) and over gRPC on
// loopback to the real engram-storage binary.
//
//   read_bench [--n=100000] [--assocs=3] [--threads=1,8] [--seconds=3] [--reps=3]
//              [--dir=/tmp/engram_read_bench] [--binary=build/storage-server/engram-storage]
//              [--async_client_threads=2] [--open_loop_rates=5000,10000]
//
// Loads --n concepts (id, ~100 bytes of content, 2 attributes, 128-d vector) with --assocs
// SEMANTIC associations each (to random earlier concepts) into a fresh store through Engine
// (--sync=relaxed, batches of 1000), waits for the HNSW indexer to finish (so it does not steal
// CPU from the reads), then measures with the engine in process, closes it, starts
// engram-storage on the same directory and measures over gRPC twice: one channel per client
// thread with synchronous stubs, and --async_client_threads client threads keeping the same number
// of calls in flight on completion queues (RunAsyncUnary; how a production client pipelines), each
// with the server's and the client's CPU per call. Both are closed loops (each completion starts the
// next call), which run the machine flat out; --open_loop_rates adds cells at fixed call rates
// below saturation, timed from each call's scheduled start (latency at a given load). Operations: GetConcepts of one random id (include_vector=false) and
// Neighbors of one random id (default limit 50, all types, both directions). Each (mode, op,
// threads) cell runs --seconds, --reps times, interleaved; the table shows medians.
#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "bench/storage_bench_util.h"
#include "storage-server/engine/engine.h"

ABSL_FLAG(int64_t, n, 100000, "Concepts to load.");
ABSL_FLAG(uint32_t, assocs, 3, "Associations per concept.");
ABSL_FLAG(std::string, threads, "1,8", "Client threads.");
ABSL_FLAG(double, seconds, 3, "Duration of each measurement.");
ABSL_FLAG(int, reps, 3, "Repetitions (medians are reported).");
ABSL_FLAG(std::string, dir, "/tmp/engram_read_bench", "Scratch directory (wiped).");
ABSL_FLAG(std::string, binary, "build/storage-server/engram-storage", "engram-storage binary.");
ABSL_FLAG(uint32_t, dim, 128, "Vector dimension.");
ABSL_FLAG(uint32_t, ef_construction, 100, "HNSW efConstruction of the namespace (load speed only).");
ABSL_FLAG(std::string, async_client_threads, "2",
          "Client threads of the pipelining (completion-queue) client; a list runs each.");
ABSL_FLAG(std::string, open_loop_rates, "",
          "Calls/s of open-loop cells (calls started on a fixed schedule, at most the largest "
          "--threads in flight, latency from each call's scheduled start); empty: none.");

namespace fs = std::filesystem;
namespace es = engram::storage;
using namespace engram::bench::storage;

namespace {

struct Result {
  double ops_per_s = 0, p50_us = 0, p99_us = 0, p999_us = 0;
  double server_cpu_us = -1, client_cpu_us = -1;  // gRPC only: CPU per call, each side
  double elapsed_s = 0;
};

// op(thread, id_index) performs one read; returns false on error.
Result Measure(int threads, int64_t n, const std::function<bool(int, uint64_t)>& op) {
  const double secs = absl::GetFlag(FLAGS_seconds);
  std::vector<Latencies> lat(static_cast<size_t>(threads));
  std::atomic<bool> stop{false}, failed{false};
  std::vector<std::thread> ts;
  auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t) * 7919 + 1);
      auto& l = lat[static_cast<size_t>(t)];
      l.s.reserve(1 << 20);
      while (!stop.load(std::memory_order_relaxed)) {
        uint64_t id = rng() % static_cast<uint64_t>(n);
        auto r0 = Clock::now();
        if (!op(t, id)) {
          failed = true;
          return;
        }
        l.Add(SecondsSince(r0));
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(secs));
  stop = true;
  for (auto& th : ts) th.join();
  double elapsed = SecondsSince(t0);
  if (failed) {
    fprintf(stderr, "read failed\n");
    exit(1);
  }
  Latencies all;
  for (auto& l : lat) all.Merge(l);
  Result r;
  r.ops_per_s = static_cast<double>(all.s.size()) / elapsed;
  r.elapsed_s = elapsed;
  r.p50_us = all.Quantile(0.5) * 1e6;
  r.p99_us = all.Quantile(0.99) * 1e6;
  r.p999_us = all.Quantile(0.999) * 1e6;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const fs::path root = absl::GetFlag(FLAGS_dir);
  const fs::path data = root / "data";
  const int64_t n = absl::GetFlag(FLAGS_n);
  const int reps = absl::GetFlag(FLAGS_reps);
  const std::vector<int> thread_counts = ParseIntList(absl::GetFlag(FLAGS_threads));
  fs::remove_all(root);
  fs::create_directories(root);

  // Load.
  es::EngineOptions o;
  o.data_dir = data;
  o.sync_mode = es::wal::SyncMode::kRelaxed;
  o.create_default_namespace = false;
  auto engine_or = es::Engine::Open(o);
  if (!engine_or.ok()) {
    fprintf(stderr, "Engine::Open: %s\n", engine_or.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<es::Engine> engine = std::move(*engine_or);
  VectorPool pool(absl::GetFlag(FLAGS_dim), 8192);
  if (auto s = engine->CreateNamespace(
          BenchNamespace("bench", pool.dim(), 16, absl::GetFlag(FLAGS_ef_construction)));
      !s.ok()) {
    fprintf(stderr, "CreateNamespace: %s\n", s.status().ToString().c_str());
    return 1;
  }
  auto t_load = Clock::now();
  std::mt19937_64 rng(1);
  const uint32_t assocs = absl::GetFlag(FLAGS_assocs);
  // Batches of <= 1000 mutations: concepts and their associations.
  const uint32_t per_batch = std::max<uint32_t>(1, 1000 / (1 + assocs));
  for (int64_t first = 0; first < n; first += per_batch) {
    uint32_t k = static_cast<uint32_t>(std::min<int64_t>(per_batch, n - first));
    auto w = engine->Write(ConceptBatch("bench", static_cast<uint64_t>(first), k, pool, assocs, &rng));
    if (!w.ok()) {
      fprintf(stderr, "Write: %s\n", w.status().ToString().c_str());
      return 1;
    }
  }
  double load_s = SecondsSince(t_load);
  engine->WaitForIndexing();
  double index_s = SecondsSince(t_load);
  auto info = engine->GetNamespace("bench");
  printf("Loaded %lld concepts, %llu associations in %.1f s (indexed after %.1f s).\n\n",
         static_cast<long long>(n), static_cast<unsigned long long>(info->association_count()), load_s,
         index_s);

  // Sanity: every id resolves, neighbors non-empty for a late concept.
  {
    v1::GetConceptsRequest g;
    g.set_namespace_("bench");
    g.add_ids(ConceptId(static_cast<uint64_t>(n - 1)));
    auto r = engine->GetConcepts(g);
    v1::NeighborsRequest nr;
    nr.set_namespace_("bench");
    nr.set_id(ConceptId(static_cast<uint64_t>(n - 1)));
    auto nb = engine->Neighbors(nr);
    if (!r.ok() || r->concepts_size() != 1 || !nb.ok() || nb->neighbors_size() == 0) {
      fprintf(stderr, "sanity check failed\n");
      return 1;
    }
  }

  // cells[(mode, op, threads)] -> results over reps
  std::map<std::tuple<std::string, std::string, int>, std::vector<Result>> cells;
  auto in_process = [&](const std::string& op, int threads) {
    return Measure(threads, n, [&](int, uint64_t i) {
      if (op == "get") {
        v1::GetConceptsRequest g;
        g.set_namespace_("bench");
        g.add_ids(ConceptId(i));
        auto r = engine->GetConcepts(g);
        return r.ok() && r->concepts_size() == 1;
      }
      v1::NeighborsRequest nr;
      nr.set_namespace_("bench");
      nr.set_id(ConceptId(i));
      auto r = engine->Neighbors(nr);
      return r.ok();
    });
  };
  for (int rep = 0; rep < reps; ++rep) {
    for (const char* op : {"get", "neighbors"}) {
      for (int t : thread_counts) {
        Result r = in_process(op, t);
        fprintf(stderr, "rep %d in-process %-9s threads %d: %.0f ops/s p50 %.1f us p99 %.1f us\n", rep, op,
                t, r.ops_per_s, r.p50_us, r.p99_us);
        cells[{"in process", op, t}].push_back(r);
      }
    }
  }
  if (auto s = engine->Close(); !s.ok()) {
    fprintf(stderr, "Close: %s\n", s.ToString().c_str());
    return 1;
  }
  engine.reset();

  // gRPC.
  StorageProcess proc(absl::GetFlag(FLAGS_binary), data.string(), "always", (root / "server.log").string());
  if (!proc.Spawn({"--drain_seconds=2"})) return 1;
  double serving = proc.WaitServing(120);
  if (serving < 0) {
    fprintf(stderr, "engram-storage did not become SERVING; see %s\n", proc.log_path().c_str());
    return 1;
  }
  printf("engram-storage SERVING after %.3f s on the loaded store.\n\n", serving);
  int max_threads = *std::max_element(thread_counts.begin(), thread_counts.end());
  std::vector<std::unique_ptr<v1::Storage::Stub>> stubs;
  for (int i = 0; i < max_threads; ++i) stubs.push_back(proc.NewStubOwnConnection(i));
  auto over_grpc = [&](const std::string& op, int threads) {
    return Measure(threads, n, [&](int t, uint64_t i) {
      grpc::ClientContext ctx;
      auto& stub = stubs[static_cast<size_t>(t)];
      if (op == "get") {
        v1::GetConceptsRequest g;
        g.set_namespace_("bench");
        g.add_ids(ConceptId(i));
        v1::GetConceptsResponse resp;
        grpc::Status s = stub->GetConcepts(&ctx, g, &resp);
        return s.ok() && resp.concepts_size() == 1;
      }
      v1::NeighborsRequest nr;
      nr.set_namespace_("bench");
      nr.set_id(ConceptId(i));
      v1::NeighborsResponse resp;
      return stub->Neighbors(&ctx, nr, &resp).ok();
    });
  };
  // The same calls from client threads that keep `inflight` calls in flight on completion queues
  // (closed loop), or start `rate` calls/s with at most `inflight` outstanding (open loop).
  const std::vector<int> async_thread_counts = ParseIntList(absl::GetFlag(FLAGS_async_client_threads));
  std::vector<double> open_loop_rates;
  for (int r : ParseIntList(absl::GetFlag(FLAGS_open_loop_rates))) open_loop_rates.push_back(r);
  std::vector<std::unique_ptr<v1::Storage::Stub>> async_stubs;
  for (int i = 0; i < *std::max_element(async_thread_counts.begin(), async_thread_counts.end()); ++i) {
    async_stubs.push_back(proc.NewStubOwnConnection(1000 + i));
  }
  auto over_grpc_async = [&](const std::string& op, int inflight, int max_client_threads, double rate) {
    const int client_threads = std::min(inflight, max_client_threads);
    std::vector<std::mt19937_64> rngs;
    for (int t = 0; t < client_threads; ++t) rngs.emplace_back(static_cast<uint64_t>(t) * 7919 + 1);
    auto id = [&](int t) { return ConceptId(rngs[static_cast<size_t>(t)]() % static_cast<uint64_t>(n)); };
    AsyncLoadResult a;
    const double secs = absl::GetFlag(FLAGS_seconds);
    if (op == "get") {
      std::function<bool(int, v1::GetConceptsRequest*)> next = [&](int t, v1::GetConceptsRequest* g) {
        g->set_namespace_("bench");
        g->add_ids(id(t));
        return true;
      };
      std::function<std::unique_ptr<grpc::ClientAsyncResponseReader<v1::GetConceptsResponse>>(
          int, grpc::ClientContext*, const v1::GetConceptsRequest&, grpc::CompletionQueue*)>
          prepare = [&](int t, grpc::ClientContext* ctx, const v1::GetConceptsRequest& g,
                        grpc::CompletionQueue* cq) {
            return async_stubs[static_cast<size_t>(t)]->PrepareAsyncGetConcepts(ctx, g, cq);
          };
      std::function<bool(const v1::GetConceptsResponse&)> check = [](const v1::GetConceptsResponse& r) {
        return r.concepts_size() == 1;
      };
      a = rate > 0 ? RunOpenLoopUnary(rate, inflight, secs, next, prepare, check)
                   : RunAsyncUnary(client_threads, inflight, secs, next, prepare, check);
    } else {
      std::function<bool(int, v1::NeighborsRequest*)> next = [&](int t, v1::NeighborsRequest* nr) {
        nr->set_namespace_("bench");
        nr->set_id(id(t));
        return true;
      };
      std::function<std::unique_ptr<grpc::ClientAsyncResponseReader<v1::NeighborsResponse>>(
          int, grpc::ClientContext*, const v1::NeighborsRequest&, grpc::CompletionQueue*)>
          prepare = [&](int t, grpc::ClientContext* ctx, const v1::NeighborsRequest& nr,
                        grpc::CompletionQueue* cq) {
            return async_stubs[static_cast<size_t>(t)]->PrepareAsyncNeighbors(ctx, nr, cq);
          };
      std::function<bool(const v1::NeighborsResponse&)> check = [](const v1::NeighborsResponse&) { return true; };
      a = rate > 0 ? RunOpenLoopUnary(rate, inflight, secs, next, prepare, check)
                   : RunAsyncUnary(client_threads, inflight, secs, next, prepare, check);
    }
    if (a.failed) exit(1);
    Result r;
    r.ops_per_s = static_cast<double>(a.calls) / a.elapsed_s;
    r.elapsed_s = a.elapsed_s;
    r.p50_us = a.latency.Quantile(0.5) * 1e6;
    r.p99_us = a.latency.Quantile(0.99) * 1e6;
    r.p999_us = a.latency.Quantile(0.999) * 1e6;
    return r;
  };
  // Each measurement with the server's and the client's CPU per call.
  auto with_cpu = [&](const std::function<Result()>& measure) {
    const double server0 = ProcessCpuSeconds(proc.pid()), client0 = ProcessCpuSeconds();
    Result r = measure();
    const double calls = r.ops_per_s * r.elapsed_s;
    if (calls > 0) {
      r.server_cpu_us = (ProcessCpuSeconds(proc.pid()) - server0) / calls * 1e6;
      r.client_cpu_us = (ProcessCpuSeconds() - client0) / calls * 1e6;
    }
    return r;
  };
  // Warm up the connections.
  for (int t : thread_counts) {
    over_grpc("get", t);
    over_grpc_async("get", t, async_thread_counts[0], 0);
  }
  const int max_inflight = *std::max_element(thread_counts.begin(), thread_counts.end());
  std::vector<std::string> modes = {"in process", "gRPC loopback"};
  auto async_mode = [](int client_threads) {
    return absl::StrFormat("gRPC loopback, async client (%d thread%s)", client_threads,
                           client_threads == 1 ? "" : "s");
  };
  auto open_mode = [](double rate) { return absl::StrFormat("gRPC loopback, open loop at %.0f/s", rate); };
  for (int ct : async_thread_counts) modes.push_back(async_mode(ct));
  for (double rate : open_loop_rates) modes.push_back(open_mode(rate));
  for (int rep = 0; rep < reps; ++rep) {
    for (const char* op : {"get", "neighbors"}) {
      for (int t : thread_counts) {
        Result r = with_cpu([&] { return over_grpc(op, t); });
        fprintf(stderr, "rep %d grpc %-9s threads %d: %.0f ops/s p50 %.1f us p99 %.1f us, cpu server %.1f us client %.1f us\n",
                rep, op, t, r.ops_per_s, r.p50_us, r.p99_us, r.server_cpu_us, r.client_cpu_us);
        cells[{"gRPC loopback", op, t}].push_back(r);
        for (int ct : async_thread_counts) {
          r = with_cpu([&] { return over_grpc_async(op, t, ct, 0); });
          fprintf(stderr, "rep %d grpc-async (%d client threads) %-9s in flight %d: %.0f ops/s p50 %.1f us p99 %.1f us, cpu server %.1f us client %.1f us\n",
                  rep, ct, op, t, r.ops_per_s, r.p50_us, r.p99_us, r.server_cpu_us, r.client_cpu_us);
          cells[{async_mode(ct), op, t}].push_back(r);
        }
      }
      for (double rate : open_loop_rates) {
        Result r = with_cpu([&] { return over_grpc_async(op, max_inflight, 1, rate); });
        fprintf(stderr, "rep %d grpc open loop %.0f/s %-9s at most %d in flight: %.0f ops/s p50 %.1f us p99 %.1f us, cpu server %.1f us client %.1f us\n",
                rep, rate, op, max_inflight, r.ops_per_s, r.p50_us, r.p99_us, r.server_cpu_us, r.client_cpu_us);
        cells[{open_mode(rate), op, max_inflight}].push_back(r);
      }
    }
  }
  proc.Stop(SIGTERM);

  printf("Medians over %d repetitions of %.1f s each.\n\n", reps, absl::GetFlag(FLAGS_seconds));
  printf("| mode | operation | calls in flight | ops/s | p50 us | p99 us | p99.9 us | server CPU us/call | client CPU us/call |\n");
  printf("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const std::string& mode : modes) {
    for (const char* op : {"get", "neighbors"}) {
      for (int t : thread_counts) {
        auto it = cells.find({mode, op, t});
        if (it == cells.end()) continue;  // open-loop cells run at the largest in-flight bound only
        auto& v = it->second;
        auto med = [&](double Result::*f) {
          std::vector<double> x;
          for (auto& r : v) x.push_back(r.*f);
          return Median(x);
        };
        std::string cpu = mode == "in process"
                              ? " | "
                              : absl::StrFormat("%.1f | %.1f", med(&Result::server_cpu_us), med(&Result::client_cpu_us));
        printf("| %s | %s | %d | %.0f | %.1f | %.1f | %.1f | %s |\n", mode.c_str(),
               std::string(op) == "get" ? "get-by-id" : "neighbors", t, med(&Result::ops_per_s),
               med(&Result::p50_us), med(&Result::p99_us), med(&Result::p999_us), cpu.c_str());
      }
    }
  }
  fs::remove_all(root);
  return 0;
}
