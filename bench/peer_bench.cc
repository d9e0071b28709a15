// peer_bench: Engram's storage engine beside a whole-system peer (Kuzu 0.11.3, bench/kuzu/), same
// data files, both in process and single-threaded (docs/benchmarks.md, "Whole-system peer").
//
//   peer_bench --mode=gen --out=DIR [--source=synthetic|wordnet] [--n=100000] [--queries=200]
//              [--seeds=2000] [--pairs=300] [--wordnet_dir=/usr/share/wordnet]
//   peer_bench --mode=engram --data=DIR [--dir=/tmp/engram_peer] [--efs=16,32,64,128,256]
//              [--reps=3]
//
// gen writes a dataset once (deterministic, seed 1):
//   concepts.tsv  id \t attr \t text \t v0,v1,...,v127
//   assocs.tsv    source \t target \t type \t confidence
//   filter.txt    the attr value of the filtered reads
//   queries.tsv   one vector per line
//   truth.tsv     the exact cosine top 10 ids per query (brute force); then the top 10 among
//                 concepts whose attr is filter.txt's (filtered ground truth), one line each
//   seeds.txt     concept ids for the neighbours reads (uniform)
//   pairs.tsv     source \t target for the path reads (uniform, distinct)
// --source=synthetic (--n concepts): clustered vectors, 100 Gaussian centres, each point centre
//   + N(0, 0.35) noise; attr "a" + i % 10, filter "a3"; 3 SEMANTIC associations per concept, to
//   distinct earlier concepts, 2 of 3 within the same cluster, confidence uniform in [0.5, 1);
//   queries are fresh points from the same clusters.
// --source=wordnet: WordNet 3.0's noun graph (Debian's wordnet-base, 82,115 synsets) as
//   `engramctl import wordnet` maps it (cli/engramctl/wordnet.h): id wn-n-<offset>, text
//   "lemmas: gloss", associations HIERARCHICAL (hypernyms, confidence 1), COMPOSITIONAL
//   (holonyms, 1) and SEMANTIC (domains, attributes: 0.6); attr the lexicographer file
//   (its name, or its number "06" without WordNet's lexnames file), filter noun.artifact (14 %,
//   "06"); vectors engram-hybrid's hashing embedder
//   at 128-d of the text; queries the hashing vectors of --queries synsets' glosses alone.
// Both sides load concepts in file order, 1000 per durable batch, each association in the batch
// of the later of its two concepts (the synthetic set's targets are always earlier).
// engram loads it into a fresh store through Engine (--sync=always: every batch of 1000 concepts
// plus their associations is one durable commit; max_batch raised to 8000 for that, as an
// operator can with --max_batch), then measures kNN (sweeping ef), filtered kNN,
// Neighbors (1 hop, both directions, limit 50), FindPaths SHORTEST (max_depth 6) and BEST
// (max_depth 20), max_paths 1, decay 0.85 (FindPaths' default: a path's confidence is the product
// of its hops' confidences times 0.85 per hop, which Kuzu's WSHORTEST with the edge weight
// -ln(confidence x 0.85) maximises; with decay 1 WordNet's many confidence-1 edges cost nothing
// and every connecting path ties). Each line it prints is
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
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "bench/storage_bench_util.h"
#include "cli/engramctl/wordnet.h"
#include "services/hybrid/embed/hashing_embedder.h"
#include "storage-server/engine/engine.h"

ABSL_FLAG(std::string, mode, "", "gen (write the dataset) or engram (measure Engram on it).");
ABSL_FLAG(std::string, out, "", "gen: the directory to write the dataset to.");
ABSL_FLAG(std::string, data, "", "engram: the dataset directory written by --mode=gen.");
ABSL_FLAG(std::string, source, "synthetic", "gen: synthetic (--n concepts) or wordnet.");
ABSL_FLAG(std::string, wordnet_dir, engram::cli::kDefaultWordNetDir,
          "gen --source=wordnet: WordNet 3.0's data files.");
ABSL_FLAG(int64_t, n, 100000, "gen --source=synthetic: concepts.");
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
constexpr float kDecay = 0.85f;  // FindPaths' default; kuzu_peer.mjs weighs edges with it too
constexpr char kDefaultFilterAttr[] = "a3";  // datasets written before filter.txt existed

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

std::string VectorText(const std::vector<float>& v) {
  std::string out;
  for (size_t d = 0; d < v.size(); ++d) absl::StrAppend(&out, d ? "," : "", absl::StrFormat("%.5f", v[d]));
  return out;
}

// The vector a file line `text` (VectorText's) holds, unit length: what both sides index.
std::vector<float> AsWritten(const std::string& text) {
  std::vector<float> out;
  for (absl::string_view p : absl::StrSplit(text, ',')) {
    float x = 0;
    (void)absl::SimpleAtof(p, &x);
    out.push_back(x);
  }
  Normalize(&out);
  return out;
}

struct Dataset {
  std::vector<std::string> ids, attrs, texts;
  std::vector<std::vector<float>> vectors;
  struct Assoc {
    int64_t source, target;
    std::string type;
    float confidence;
  };
  std::vector<Assoc> assocs;
  std::string filter;
  std::vector<std::vector<float>> queries;
};

Dataset Synthetic(int64_t n, int nq, std::mt19937_64& rng) {
  Dataset d;
  d.filter = kDefaultFilterAttr;
  std::normal_distribution<float> gauss(0, 1);
  std::vector<std::vector<float>> centres(kClusters, std::vector<float>(kDim));
  for (auto& c : centres)
    for (float& x : c) x = gauss(rng);
  auto point = [&](int cluster) {
    std::vector<float> v(kDim);
    for (uint32_t i = 0; i < kDim; ++i) v[i] = centres[cluster][i] + 0.35f * gauss(rng);
    return v;
  };
  std::vector<std::vector<int64_t>> members(kClusters);
  for (int64_t i = 0; i < n; ++i) {
    int c = static_cast<int>(rng() % kClusters);
    d.ids.push_back(Id(i));
    d.attrs.push_back(absl::StrCat("a", i % 10));
    d.texts.push_back(absl::StrFormat(
        "concept %d of cluster %d, a synthetic memory for the peer benchmark", i, c));
    d.vectors.push_back(point(c));
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
        d.assocs.push_back({i, dst, "SEMANTIC", conf});
      }
    }
    members[static_cast<size_t>(c)].push_back(i);
  }
  for (int q = 0; q < nq; ++q) d.queries.push_back(point(static_cast<int>(rng() % kClusters)));
  return d;
}

// noun.artifact, the filter of --source=wordnet: "noun.artifact", or "06" where Debian's
// wordnet-base has no lexnames file.
constexpr int kArtifactLexFile = 6;

Dataset WordNet(const std::string& dir, int nq, std::mt19937_64& rng) {
  namespace cli = engram::cli;
  auto synsets = cli::ReadWordNetNouns(dir);
  if (!synsets.ok()) Die(synsets.status().ToString());
  auto lexnames = cli::ReadLexNames(dir);
  if (!lexnames.ok()) Die(lexnames.status().ToString());
  auto embedder = engram::hybrid::HashingEmbedder::Create(kDim);
  if (!embedder.ok()) Die(embedder.status().ToString());
  auto embed = [&](const std::string& text) {
    auto v = (*embedder)->Embed(text);
    if (!v.ok()) Die(v.status().ToString());
    return *std::move(v);
  };
  Dataset d;
  absl::flat_hash_map<std::string, int64_t> index;
  for (const cli::WordNetSynset& synset : *synsets) {
    engram::v1::LearnRequest c = cli::SynsetToLearnRequest(synset, *lexnames);
    index[c.id()] = static_cast<int64_t>(d.ids.size());
    d.ids.push_back(c.id());
    d.attrs.push_back(c.attributes().at("lexfile"));
    if (synset.lex_filenum == kArtifactLexFile) d.filter = d.attrs.back();
    d.texts.push_back(c.content());
    d.vectors.push_back(embed(c.content()));
  }
  for (const engram::v1::AssociateRequest& a : cli::WordNetAssociations(*synsets)) {
    d.assocs.push_back({index.at(a.source()), index.at(a.target()),
                        engram::v1::AssociationType_Name(a.type()), a.confidence().value()});
  }
  for (int q = 0; q < nq; ++q) {
    const cli::WordNetSynset& s = (*synsets)[rng() % synsets->size()];
    d.queries.push_back(embed(absl::StrReplaceAll(s.gloss, {{"_", " "}})));
  }
  return d;
}

int Gen() {
  const fs::path out = absl::GetFlag(FLAGS_out);
  if (out.empty()) Die("--out is required with --mode=gen");
  const std::string source = absl::GetFlag(FLAGS_source);
  const int nq = absl::GetFlag(FLAGS_queries);
  std::mt19937_64 rng(1);
  Dataset d;
  if (source == "synthetic") {
    const int64_t n = absl::GetFlag(FLAGS_n);
    if (n < 100) Die("--n must be at least 100");
    d = Synthetic(n, nq, rng);
  } else if (source == "wordnet") {
    d = WordNet(absl::GetFlag(FLAGS_wordnet_dir), nq, rng);
  } else {
    Die("--source must be synthetic or wordnet, got \"" + source + "\"");
  }
  const int64_t n = static_cast<int64_t>(d.ids.size());
  fs::create_directories(out);
  auto open = [&](const char* name) {
    FILE* f = fopen((out / name).c_str(), "w");
    if (f == nullptr) Die("cannot write to " + (out / name).string());
    return f;
  };
  FILE* cf = open("concepts.tsv");
  std::vector<std::vector<float>> unit(static_cast<size_t>(n));  // as written, for the truth
  for (int64_t i = 0; i < n; ++i) {
    const auto u = static_cast<size_t>(i);
    const std::string text = VectorText(d.vectors[u]);
    fprintf(cf, "%s\t%s\t%s\t%s\n", d.ids[u].c_str(), d.attrs[u].c_str(), d.texts[u].c_str(),
            text.c_str());
    unit[u] = AsWritten(text);
  }
  fclose(cf);
  FILE* af = open("assocs.tsv");
  for (const Dataset::Assoc& a : d.assocs) {
    fprintf(af, "%s\t%s\t%s\t%.3f\n", d.ids[static_cast<size_t>(a.source)].c_str(),
            d.ids[static_cast<size_t>(a.target)].c_str(), a.type.c_str(), a.confidence);
  }
  fclose(af);
  FILE* ff = open("filter.txt");
  fprintf(ff, "%s\n", d.filter.c_str());
  fclose(ff);
  // Queries and their exact top 10 (cosine), unfiltered and filtered.
  FILE* qf = open("queries.tsv");
  FILE* tf = open("truth.tsv");
  std::vector<std::string> all_truth, filtered_truth;
  for (const std::vector<float>& query : d.queries) {
    const std::string text = VectorText(query);
    fprintf(qf, "%s\n", text.c_str());
    const std::vector<float> qv = AsWritten(text);  // scored as both sides read it
    std::vector<std::pair<float, int64_t>> scored(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      float s = 0;
      const float* u = unit[static_cast<size_t>(i)].data();
      for (uint32_t k = 0; k < kDim; ++k) s += qv[k] * u[k];
      scored[static_cast<size_t>(i)] = {-s, i};
    }
    std::sort(scored.begin(), scored.end());
    std::vector<std::string> top, ftop;
    for (const auto& [s, i] : scored) {
      if (top.size() < 10) top.push_back(d.ids[static_cast<size_t>(i)]);
      if (ftop.size() < 10 && d.attrs[static_cast<size_t>(i)] == d.filter) {
        ftop.push_back(d.ids[static_cast<size_t>(i)]);
      }
      if (top.size() == 10 && ftop.size() == 10) break;
    }
    all_truth.push_back(absl::StrJoin(top, "\t"));
    filtered_truth.push_back(absl::StrJoin(ftop, "\t"));
  }
  for (const auto& l : all_truth) fprintf(tf, "%s\n", l.c_str());
  for (const auto& l : filtered_truth) fprintf(tf, "%s\n", l.c_str());
  fclose(qf);
  fclose(tf);
  auto any = [&] { return d.ids[rng() % static_cast<uint64_t>(n)]; };
  FILE* sf = open("seeds.txt");
  for (int s = 0; s < absl::GetFlag(FLAGS_seeds); ++s) fprintf(sf, "%s\n", any().c_str());
  fclose(sf);
  FILE* pf = open("pairs.tsv");
  for (int p = 0; p < absl::GetFlag(FLAGS_pairs); ++p) {
    std::string a = any(), b = any();
    while (b == a) b = any();
    fprintf(pf, "%s\t%s\n", a.c_str(), b.c_str());
  }
  fclose(pf);
  printf("wrote %lld concepts, %zu associations, %d queries (%s) to %s\n",
         static_cast<long long>(n), d.assocs.size(), nq, source.c_str(), out.c_str());
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
  std::string filter_attr = kDefaultFilterAttr;
  if (fs::exists(data / "filter.txt")) filter_attr = ReadTsv(data / "filter.txt").at(0).at(0);
  // Each association goes in the batch of the later of its two concepts.
  absl::flat_hash_map<std::string, size_t> index;
  for (size_t i = 0; i < concepts.size(); ++i) index[concepts[i][0]] = i;
  std::vector<std::vector<size_t>> by_later(concepts.size());
  for (size_t i = 0; i < assocs.size(); ++i) {
    if (assocs[i].size() != 4) Die(absl::StrCat("assocs.tsv line ", i + 1, ": want 4 fields"));
    auto s = index.find(assocs[i][0]), t = index.find(assocs[i][1]);
    if (s == index.end() || t == index.end()) {
      Die(absl::StrCat("assocs.tsv line ", i + 1, ": unknown concept"));
    }
    by_later[std::max(s->second, t->second)].push_back(i);
  }

  const fs::path root = absl::GetFlag(FLAGS_dir);
  fs::remove_all(root);
  es::EngineOptions o;
  o.data_dir = root / "data";
  o.sync_mode = es::wal::SyncMode::kAlways;
  o.create_default_namespace = false;
  o.limits.max_batch = 8000;  // 1000 concepts + their associations in one commit
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
      for (size_t a : by_later[i]) {
        auto* m = w.add_mutations()->mutable_put_association();
        m->set_source(assocs[a][0]);
        m->set_target(assocs[a][1]);
        v1::AssociationType type;
        if (!v1::AssociationType_Parse(assocs[a][2], &type)) Die("bad type in assocs.tsv");
        m->set_type(type);
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
        if (filtered) (*reqs[q].mutable_filter())["attr"] = filter_attr;
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
      r.set_decay(kDecay);
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
