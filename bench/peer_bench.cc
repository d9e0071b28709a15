// peer_bench: Engram's storage engine beside a whole-system peer (Kuzu 0.11.3, bench/kuzu/), same
// data files, both in process and single-threaded (docs/benchmarks.md, "Whole-system peer").
//
//   peer_bench --mode=gen --out=DIR [--n=100000] [--queries=200] [--seeds=2000] [--pairs=300]
//   peer_bench --mode=engram --data=DIR [--dir=/tmp/engram_peer] [--efs=16,32,64,128,256]
//              [--reps=3]
//
// gen writes the synthetic dataset once (deterministic, seed 1):
//   concepts.tsv  id \t attr \t text \t v0,v1,...,v127   (clustered: 100 Gaussian centres, each
//                 point centre + N(0, 0.35) noise; attr = "a" + i % 10, the filter attribute)
//   assocs.tsv    source \t target \t type \t confidence   (3 per concept, to distinct earlier
//                 concepts, 2 of 3 within the same cluster; confidence uniform in [0.5, 1))
//   queries.tsv   one vector per line (fresh points from the same clusters)
//   truth.tsv     the exact cosine top 10 ids per query (brute force); then the top 10 among
//                 concepts with attr == "a3" (filtered ground truth), one line each
//   seeds.txt     concept ids for the neighbours reads
//   pairs.tsv     source \t target for the path reads
// engram loads it into a fresh store through Engine (--sync=always: every batch of 1000 concepts
// plus their associations is one durable commit; max_batch raised to 4000 for that, as an
// operator can with --max_batch), then measures kNN (sweeping ef), filtered kNN,
// Neighbors (1 hop, both directions, limit 50), FindPaths SHORTEST (max_depth 6) and BEST
// (max_depth 20), max_paths 1, decay 1 so that the path confidence is the product of the hops' confidences,
// which Kuzu's WSHORTEST with weight -ln(confidence) minimises). Each line it prints is
// "row<TAB>metric<TAB>value"; bench/kuzu/kuzu_peer.mjs prints the same rows for Kuzu.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/storage_bench_util.h"
#include "storage-server/engine/engine.h"

ABSL_FLAG(std::string, mode, "", "gen (write the dataset) or engram (measure Engram on it).");
ABSL_FLAG(std::string, out, "", "gen: the directory to write the dataset to.");
ABSL_FLAG(std::string, data, "", "engram: the dataset directory written by --mode=gen.");
ABSL_FLAG(int64_t, n, 100000, "gen: concepts.");
ABSL_FLAG(int, queries, 200, "gen: query vectors.");
ABSL_FLAG(int, seeds, 2000, "gen: neighbour seeds.");
ABSL_FLAG(int, pairs, 300, "gen: path pairs.");
ABSL_FLAG(std::string, dir, "/tmp/engram_peer", "engram: scratch store directory (wiped).");
ABSL_FLAG(std::string, efs, "16,32,64,128,256", "engram: HNSW ef values to sweep.");
ABSL_FLAG(int, reps, 3, "engram: repetitions of each read pass (medians are reported).");

namespace fs = std::filesystem;
namespace es = engram::storage;
namespace v1 = engram::storage::v1;
using namespace engram::bench::storage;

namespace {

constexpr uint32_t kDim = 128;
constexpr int kClusters = 100;
constexpr int kAssocs = 3;
constexpr char kFilterAttr[] = "a3";

[[noreturn]] void Die(const std::string& what) {
  fprintf(stderr, "peer_bench: %s\n", what.c_str());
  exit(1);
}

std::string Id(int64_t i) { return absl::StrFormat("c%07d", i); }

void Normalize(std::vector<float>* v) {
  double s = 0;
  for (float x : *v) s += double{x} * x;
  float inv = static_cast<float>(1.0 / std::sqrt(s > 0 ? s : 1));
  for (float& x : *v) x *= inv;
}

int Gen() {
  const fs::path out = absl::GetFlag(FLAGS_out);
  if (out.empty()) Die("--out is required with --mode=gen");
  const int64_t n = absl::GetFlag(FLAGS_n);
  if (n < 100) Die("--n must be at least 100");
  fs::create_directories(out);
  std::mt19937_64 rng(1);
  std::normal_distribution<float> gauss(0, 1);
  std::vector<std::vector<float>> centres(kClusters, std::vector<float>(kDim));
  for (auto& c : centres)
    for (float& x : c) x = gauss(rng);
  auto point = [&](int cluster) {
    std::vector<float> v(kDim);
    for (uint32_t d = 0; d < kDim; ++d) v[d] = centres[cluster][d] + 0.35f * gauss(rng);
    return v;
  };
  std::vector<std::vector<float>> unit(static_cast<size_t>(n));  // normalised, for the truth
  std::vector<int> cluster_of(static_cast<size_t>(n));
  std::vector<std::vector<int64_t>> members(kClusters);
  FILE* cf = fopen((out / "concepts.tsv").c_str(), "w");
  FILE* af = fopen((out / "assocs.tsv").c_str(), "w");
  if (cf == nullptr || af == nullptr) Die("cannot write to " + out.string());
  for (int64_t i = 0; i < n; ++i) {
    int c = static_cast<int>(rng() % kClusters);
    std::vector<float> v = point(c);
    std::string vec;
    for (uint32_t d = 0; d < kDim; ++d) absl::StrAppend(&vec, d ? "," : "", absl::StrFormat("%.5f", v[d]));
    fprintf(cf, "%s\ta%d\tconcept %lld of cluster %d, a synthetic memory for the peer benchmark\t%s\n",
            Id(i).c_str(), static_cast<int>(i % 10), static_cast<long long>(i), c, vec.c_str());
    Normalize(&v);
    unit[static_cast<size_t>(i)] = std::move(v);
    cluster_of[static_cast<size_t>(i)] = c;
    if (i > 0) {
      absl::flat_hash_set<int64_t> targets;  // no duplicate (source, target) pairs
      for (int a = 0; a < kAssocs && static_cast<int64_t>(targets.size()) < i; ++a) {
        int64_t dst;
        const auto& m = members[static_cast<size_t>(c)];
        do {
          if (a < 2 && m.size() > targets.size()) dst = m[rng() % m.size()];
          else dst = static_cast<int64_t>(rng() % static_cast<uint64_t>(i));
        } while (!targets.insert(dst).second);
        float conf = 0.5f + 0.5f * static_cast<float>(rng() % 1000) / 1000.0f;
        fprintf(af, "%s\t%s\tSEMANTIC\t%.3f\n", Id(i).c_str(), Id(dst).c_str(), conf);
      }
    }
    members[static_cast<size_t>(c)].push_back(i);
  }
  fclose(cf);
  fclose(af);
  // Queries and their exact top 10 (cosine), unfiltered and filtered.
  const int nq = absl::GetFlag(FLAGS_queries);
  FILE* qf = fopen((out / "queries.tsv").c_str(), "w");
  FILE* tf = fopen((out / "truth.tsv").c_str(), "w");
  std::vector<std::string> all_truth, filtered_truth;
  for (int q = 0; q < nq; ++q) {
    std::vector<float> v = point(static_cast<int>(rng() % kClusters));
    std::string line;
    for (uint32_t d = 0; d < kDim; ++d) absl::StrAppend(&line, d ? "," : "", absl::StrFormat("%.5f", v[d]));
    fprintf(qf, "%s\n", line.c_str());
    // Score the vector as written (rounded), as both sides read it.
    std::vector<float> qv;
    for (absl::string_view p : absl::StrSplit(line, ',')) {
      float x;
      (void)absl::SimpleAtof(p, &x);
      qv.push_back(x);
    }
    Normalize(&qv);
    std::vector<std::pair<float, int64_t>> scored(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      float s = 0;
      const float* u = unit[static_cast<size_t>(i)].data();
      for (uint32_t d = 0; d < kDim; ++d) s += qv[d] * u[d];
      scored[static_cast<size_t>(i)] = {-s, i};
    }
    std::sort(scored.begin(), scored.end());
    std::vector<std::string> top, ftop;
    for (const auto& [s, i] : scored) {
      if (top.size() < 10) top.push_back(Id(i));
      if (ftop.size() < 10 && i % 10 == 3) ftop.push_back(Id(i));
      if (top.size() == 10 && ftop.size() == 10) break;
    }
    all_truth.push_back(absl::StrJoin(top, "\t"));
    filtered_truth.push_back(absl::StrJoin(ftop, "\t"));
  }
  for (const auto& l : all_truth) fprintf(tf, "%s\n", l.c_str());
  for (const auto& l : filtered_truth) fprintf(tf, "%s\n", l.c_str());
  fclose(qf);
  fclose(tf);
  FILE* sf = fopen((out / "seeds.txt").c_str(), "w");
  for (int s = 0; s < absl::GetFlag(FLAGS_seeds); ++s)
    fprintf(sf, "%s\n", Id(static_cast<int64_t>(rng() % static_cast<uint64_t>(n))).c_str());
  fclose(sf);
  FILE* pf = fopen((out / "pairs.tsv").c_str(), "w");
  for (int p = 0; p < absl::GetFlag(FLAGS_pairs); ++p) {
    int64_t a = static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
    int64_t b = static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
    if (a == b) b = (b + 1) % n;
    fprintf(pf, "%s\t%s\n", Id(a).c_str(), Id(b).c_str());
  }
  fclose(pf);
  printf("wrote %lld concepts, %d queries to %s\n", static_cast<long long>(n), nq, out.c_str());
  return 0;
}

std::vector<std::vector<std::string>> ReadTsv(const fs::path& p) {
  std::ifstream in(p);
  if (!in) Die("cannot read " + p.string());
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    rows.push_back(absl::StrSplit(line, '\t'));
  }
  return rows;
}

std::vector<float> ParseVector(const std::string& s) {
  std::vector<float> v;
  for (absl::string_view p : absl::StrSplit(s, ',')) {
    float x;
    if (!absl::SimpleAtof(p, &x)) Die("bad vector component: " + std::string(p));
    v.push_back(x);
  }
  if (v.size() != kDim) Die(absl::StrCat("vector of ", v.size(), " components, want ", kDim));
  return v;
}

void Row(const std::string& row, const std::string& metric, double value) {
  printf("%s\t%s\t%.4g\n", row.c_str(), metric.c_str(), value);
  fflush(stdout);
}

template <typename F>
double MedianQps(int reps, size_t ops, F&& pass) {
  std::vector<double> qps;
  for (int r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    pass();
    qps.push_back(static_cast<double>(ops) / SecondsSince(t0));
  }
  return Median(qps);
}

int RunEngram() {
  const fs::path data = absl::GetFlag(FLAGS_data);
  if (data.empty()) Die("--data is required with --mode=engram");
  const int reps = absl::GetFlag(FLAGS_reps);
  auto concepts = ReadTsv(data / "concepts.tsv");
  auto assocs = ReadTsv(data / "assocs.tsv");
  auto queries = ReadTsv(data / "queries.tsv");
  auto truth = ReadTsv(data / "truth.tsv");
  auto seeds = ReadTsv(data / "seeds.txt");
  auto pairs = ReadTsv(data / "pairs.tsv");
  const size_t nq = queries.size();
  if (truth.size() != 2 * nq) Die("truth.tsv does not match queries.tsv");
  std::vector<std::vector<float>> qv;
  for (auto& q : queries) qv.push_back(ParseVector(q[0]));
  // Associations grouped by source (each source's associations go in its concept's batch).
  absl::flat_hash_map<std::string, std::vector<size_t>> by_source;
  for (size_t i = 0; i < assocs.size(); ++i) {
    if (assocs[i].size() != 4) Die(absl::StrCat("assocs.tsv line ", i + 1, ": want 4 fields"));
    by_source[assocs[i][0]].push_back(i);
  }

  const fs::path root = absl::GetFlag(FLAGS_dir);
  fs::remove_all(root);
  es::EngineOptions o;
  o.data_dir = root / "data";
  o.sync_mode = es::wal::SyncMode::kAlways;
  o.create_default_namespace = false;
  o.limits.max_batch = 4000;  // 1000 concepts + their 3000 associations in one commit
  auto engine_or = es::Engine::Open(o);
  if (!engine_or.ok()) Die("Engine::Open: " + engine_or.status().ToString());
  std::unique_ptr<es::Engine> engine = std::move(*engine_or);
  // Kuzu's HNSW defaults: mu 30, ml 60, efc 200. Engram: m 16, efConstruction 200.
  if (auto s = engine->CreateNamespace(BenchNamespace("peer", kDim, 16, 200)); !s.ok())
    Die("CreateNamespace: " + s.status().ToString());

  // Ingest: batches of 1000 concepts plus their associations, each one durable commit.
  auto t0 = Clock::now();
  for (size_t first = 0; first < concepts.size(); first += 1000) {
    v1::WriteRequest w;
    w.set_namespace_("peer");
    size_t end = std::min(concepts.size(), first + 1000);
    for (size_t i = first; i < end; ++i) {
      const auto& r = concepts[i];
      if (r.size() != 4) Die(absl::StrCat("concepts.tsv line ", i + 1, ": want 4 fields"));
      auto* c = w.add_mutations()->mutable_put_concept();
      c->set_id(r[0]);
      (*c->mutable_attributes())["attr"] = r[1];
      c->set_content(r[2]);
      std::vector<float> v = ParseVector(r[3]);
      c->mutable_vector()->Add(v.begin(), v.end());
    }
    for (size_t i = first; i < end; ++i) {
      auto it = by_source.find(concepts[i][0]);
      if (it == by_source.end()) continue;
      for (size_t a : it->second) {
        auto* m = w.add_mutations()->mutable_put_association();
        m->set_source(assocs[a][0]);
        m->set_target(assocs[a][1]);
        m->set_type(v1::SEMANTIC);
        float conf;
        if (!absl::SimpleAtof(assocs[a][3], &conf)) Die("bad confidence in assocs.tsv");
        m->set_confidence(conf);
      }
    }
    auto r = engine->Write(std::move(w));
    if (!r.ok()) Die("Write: " + r.status().ToString());
  }
  double ingest_s = SecondsSince(t0);
  engine->WaitForIndexing();
  double indexed_s = SecondsSince(t0);
  Row("ingest", "concepts_per_s", static_cast<double>(concepts.size()) / ingest_s);
  Row("ingest", "seconds", ingest_s);
  Row("ingest+index", "seconds", indexed_s);

  auto recall = [&](const v1::SearchResponse& resp, const std::vector<std::string>& want) {
    absl::flat_hash_set<std::string> w(want.begin(), want.end());
    int hit = 0;
    for (const auto& r : resp.results()) hit += w.contains(r.node().id());
    return static_cast<double>(hit) / static_cast<double>(want.size());
  };
  for (bool filtered : {false, true}) {
    for (int ef : ParseIntList(absl::GetFlag(FLAGS_efs))) {
      std::vector<v1::SearchRequest> reqs(nq);
      for (size_t q = 0; q < nq; ++q) {
        reqs[q].set_namespace_("peer");
        reqs[q].mutable_vector()->Add(qv[q].begin(), qv[q].end());
        reqs[q].set_k(10);
        reqs[q].set_ef(static_cast<uint32_t>(ef));
        if (filtered) (*reqs[q].mutable_filter())["attr"] = kFilterAttr;
      }
      double rec = 0;
      for (size_t q = 0; q < nq; ++q) {
        auto r = engine->Search(reqs[q]);
        if (!r.ok()) Die("Search: " + r.status().ToString());
        rec += recall(*r, truth[(filtered ? nq : 0) + q]);
      }
      double qps = MedianQps(reps, nq, [&] {
        for (const auto& req : reqs) (void)engine->Search(req);
      });
      std::string row = absl::StrCat(filtered ? "filtered_knn" : "knn", " ef=", ef);
      Row(row, "recall@10", rec / static_cast<double>(nq));
      Row(row, "qps", qps);
    }
  }

  std::vector<v1::NeighborsRequest> nreqs;
  for (const auto& s : seeds) {
    v1::NeighborsRequest r;
    r.set_namespace_("peer");
    r.set_id(s[0]);
    r.set_direction(v1::BOTH);
    r.set_limit(50);
    nreqs.push_back(std::move(r));
  }
  double nsum = 0;
  for (const auto& r : nreqs) nsum += static_cast<double>(engine->Neighbors(r)->neighbors_size());
  Row("neighbors", "mean_results", nsum / static_cast<double>(nreqs.size()));
  Row("neighbors", "qps", MedianQps(reps, nreqs.size(), [&] {
        for (const auto& r : nreqs) (void)engine->Neighbors(r);
      }));

  for (v1::PathMode mode : {v1::SHORTEST, v1::BEST}) {
    std::vector<v1::FindPathsRequest> preqs;
    for (const auto& p : pairs) {
      v1::FindPathsRequest r;
      r.set_namespace_("peer");
      r.set_source(p[0]);
      r.set_target(p[1]);
      // SHORTEST: at most 6 hops. BEST: 20 (the limit), since Kuzu's WSHORTEST ignores a hop
      // bound and returns the cheapest path of any length; Engram's best-first search settles
      // each concept once, so under a tight hop bound it can miss the best path.
      r.set_max_depth(mode == v1::SHORTEST ? 6 : 20);
      r.set_max_paths(1);
      r.set_mode(mode);
      r.set_decay(1.0f);
      r.set_direction(v1::BOTH);
      preqs.push_back(std::move(r));
    }
    const std::string row = mode == v1::SHORTEST ? "shortest_path" : "best_path";
    int found = 0, truncated = 0;
    double hops = 0;
    FILE* costs = fopen((root / (row + ".tsv")).c_str(), "w");
    for (const auto& r : preqs) {
      auto resp = engine->FindPaths(r);
      if (!resp.ok()) Die("FindPaths: " + resp.status().ToString());
      truncated += resp->truncated();
      if (resp->paths_size() == 0) {
        fprintf(costs, "%s\t%s\t-\t-\n", r.source().c_str(), r.target().c_str());
        continue;
      }
      ++found;
      const auto& path = resp->paths(0);
      hops += path.hops_size();
      fprintf(costs, "%s\t%s\t%d\t%.6f\n", r.source().c_str(), r.target().c_str(), path.hops_size(),
              -std::log(static_cast<double>(path.confidence())));
    }
    fclose(costs);
    Row(row, "found", found);
    Row(row, "truncated", truncated);
    Row(row, "mean_hops", found ? hops / found : 0);
    Row(row, "qps", MedianQps(reps, preqs.size(), [&] {
          for (const auto& r : preqs) (void)engine->FindPaths(r);
        }));
  }
  if (auto s = engine->Close(); !s.ok()) Die("Close: " + s.ToString());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "gen") return Gen();
  if (mode == "engram") return RunEngram();
  Die("--mode must be gen or engram, got \"" + mode + "\"");
}
