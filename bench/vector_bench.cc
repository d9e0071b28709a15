// vector_bench: Engram's HNSW index against hnswlib and FAISS, on the same data, same M and
// efConstruction, in one run.
//
//   vector_bench [--dataset=clustered|uniform] [--n=1000000] [--dim=128] [--nq=1000]
//                [--fvecs=base.fvecs --queries=query.fvecs [--gt=groundtruth.ivecs]]
//                [--metric=l2|ip|cosine] [--M=16] [--ef_construction=200]
//                [--efs=16,32,64,128,256] [--k=10] [--repeats=3]
//                [--peers=faiss,faiss_sq8,hnswlib,hnswlib_native,engram,engram_int8]
//                [--dir=/tmp/engram_vector_bench]
//                [--out=results.md]
//
// Everything is single-threaded: builds insert one vector at a time (FAISS with
// omp_set_num_threads(1)), queries run one at a time (FAISS gets the whole query batch in one
// call, on one thread, because its per-call setup allocates a visited table). Ground truth is
// FAISS IndexFlat (or --gt). Each (ef, peer) query loop runs --repeats times, interleaved across
// peers so that noise from other processes hits all of them alike; the table reports the median.
// Throughput is also given per CPU-second of the benchmark thread, which a busy machine disturbs
// less than wall time.
//
// The 8-bit rows: "engram HnswIndex int8" is the same index with Quantization::kInt8 (graph
// walked with int8 codes, ef candidates re-ranked with the float vectors); "faiss IndexHNSWSQ"
// is FAISS's 8-bit scalar quantizer (QT_8bit, per-dimension ranges) under HNSW, which builds
// and searches with the codes and does not re-rank.
//
// hnswlib 0.6.2 picks its SIMD kernels at compile time (__AVX__ / __AVX512F__). Built with the
// project's flags (no -march) it only has SSE; Engram dispatches at run time. For a fair fight
// this file is compiled a second time with -march=native and ENGRAM_VECTOR_BENCH_NATIVE_HNSWLIB,
// which then defines only the "hnswlib_native" peer (hnswlib in a renamed namespace), into a
// shared library with hidden visibility: its -march=native instantiations of std templates stay
// inside it instead of being merged with (and possibly replacing) the project-flags ones.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

// ---------------------------------------------------------------------------------------------
// Shared by both compilations of this file.

namespace engram::bench::vector {

enum class BenchMetric { kL2, kInnerProduct, kCosine };

// One library under test. Build() and Search() are timed by the caller.
class AnnPeer {
 public:
  virtual ~AnnPeer() = default;
  virtual std::string name() const = 0;
  virtual std::string kernels() const = 0;
  // `data` is n x dim row-major; for cosine it is already normalised (except for Engram, which
  // gets the raw vectors and normalises by itself).
  virtual void Build(const float* data, size_t n) = 0;
  // For each of the nq queries, k ids (padded with UINT32_MAX) into `ids`.
  virtual void Search(const float* queries, size_t nq, size_t k, size_t ef,
                      std::vector<uint32_t>& ids) = 0;
};

std::unique_ptr<AnnPeer> MakeHnswlibNativePeer(size_t dim, BenchMetric metric, size_t m,
                                               size_t ef_construction, size_t max_elements);

}  // namespace engram::bench::vector

// ---------------------------------------------------------------------------------------------
// hnswlib peer, compiled once with the project's flags and once with -march=native.

#include <cpuid.h>
#include <x86intrin.h>

#if defined(ENGRAM_VECTOR_BENCH_NATIVE_HNSWLIB)
// hnswlib.h defines non-inline globals and templates; rename them so the two builds of hnswlib
// in this binary do not collide.
#define hnswlib hnswlib_native
#define cpuid hnswlib_native_cpuid
#define xgetbv hnswlib_native_xgetbv
#define AVXCapable hnswlib_native_AVXCapable
#define AVX512Capable hnswlib_native_AVX512Capable
#endif
#include <hnswlib/hnswlib.h>

namespace engram::bench::vector {
namespace {

std::string HnswlibKernels() {
#if defined(USE_AVX512)
  if (AVX512Capable()) return "AVX-512 (compile-time, -march=native)";
#endif
#if defined(USE_AVX)
  if (AVXCapable()) return "AVX (compile-time)";
#endif
#if defined(USE_SSE)
  return "SSE (compile-time; no -march)";
#else
  return "scalar";
#endif
}

class HnswlibPeer final : public AnnPeer {
 public:
  HnswlibPeer(std::string name, size_t dim, BenchMetric metric, size_t m, size_t ef_construction,
              size_t max_elements)
      : name_(std::move(name)), dim_(dim) {
    if (metric == BenchMetric::kL2) {
      space_ = std::make_unique<hnswlib::L2Space>(dim);
    } else {
      space_ = std::make_unique<hnswlib::InnerProductSpace>(dim);
    }
    index_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), max_elements, m,
                                                               ef_construction);
  }
  std::string name() const override { return name_; }
  std::string kernels() const override { return HnswlibKernels(); }
  void Build(const float* data, size_t n) override {
    for (size_t i = 0; i < n; ++i) index_->addPoint(data + i * dim_, i);
  }
  void Search(const float* queries, size_t nq, size_t k, size_t ef,
              std::vector<uint32_t>& ids) override {
    index_->setEf(ef);
    ids.assign(nq * k, UINT32_MAX);
    for (size_t q = 0; q < nq; ++q) {
      auto result = index_->searchKnn(queries + q * dim_, k);
      size_t n = result.size();
      while (!result.empty()) {
        ids[q * k + --n] = static_cast<uint32_t>(result.top().second);
        result.pop();
      }
    }
  }

 private:
  std::string name_;
  size_t dim_;
  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index_;
};

}  // namespace

#if defined(ENGRAM_VECTOR_BENCH_NATIVE_HNSWLIB)
__attribute__((visibility("default"))) std::unique_ptr<AnnPeer> MakeHnswlibNativePeer(
    size_t dim, BenchMetric metric, size_t m, size_t ef_construction, size_t max_elements) {
  return std::make_unique<HnswlibPeer>("hnswlib -march=native", dim, metric, m, ef_construction,
                                       max_elements);
}
#endif

}  // namespace engram::bench::vector

#if !defined(ENGRAM_VECTOR_BENCH_NATIVE_HNSWLIB)
// ---------------------------------------------------------------------------------------------
// The benchmark proper (project flags).

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/utils/distances.h>
#include <malloc.h>
#include <omp.h>
#include <sys/utsname.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <unordered_set>

#include "storage-server/vector/hnsw_index.h"
#include "storage-server/vector/vector_store.h"

namespace engram::bench::vector {
namespace {

namespace ev = ::engram::storage::vector;

// ---- flags ------------------------------------------------------------------------------------

struct Flags {
  std::string dataset = "clustered";
  size_t n = 1'000'000;
  size_t dim = 128;
  size_t nq = 1000;
  size_t clusters = 1000;
  double spread = 1.0;
  std::string fvecs, queries, gt;
  std::string metric = "l2";
  size_t m = 16;
  size_t ef_construction = 200;
  std::vector<size_t> efs = {16, 32, 64, 128, 256};
  size_t k = 10;
  size_t repeats = 3;
  std::string peers = "faiss,faiss_sq8,hnswlib,hnswlib_native,engram,engram_int8";
  std::string dir = "/tmp/engram_vector_bench";
  std::string out;
  uint64_t seed = 1;
};

[[noreturn]] void Usage(const std::string& error) {
  std::fprintf(stderr, "vector_bench: %s\nsee the comment at the top of bench/vector_bench.cc\n",
               error.c_str());
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || arg.find('=') == std::string::npos) Usage("bad flag " + arg);
    std::string key = arg.substr(2, arg.find('=') - 2);
    std::string value = arg.substr(arg.find('=') + 1);
    auto num = [&] {
      char* end = nullptr;
      unsigned long long v = std::strtoull(value.c_str(), &end, 10);
      if (end == value.c_str() || *end != '\0') Usage("bad number in " + arg);
      return static_cast<size_t>(v);
    };
    if (key == "dataset")
      f.dataset = value;
    else if (key == "n")
      f.n = num();
    else if (key == "dim")
      f.dim = num();
    else if (key == "nq")
      f.nq = num();
    else if (key == "clusters")
      f.clusters = num();
    else if (key == "spread")
      f.spread = std::atof(value.c_str());
    else if (key == "fvecs")
      f.fvecs = value;
    else if (key == "queries")
      f.queries = value;
    else if (key == "gt")
      f.gt = value;
    else if (key == "metric")
      f.metric = value;
    else if (key == "M")
      f.m = num();
    else if (key == "ef_construction")
      f.ef_construction = num();
    else if (key == "k")
      f.k = num();
    else if (key == "repeats")
      f.repeats = num();
    else if (key == "peers")
      f.peers = value;
    else if (key == "dir")
      f.dir = value;
    else if (key == "out")
      f.out = value;
    else if (key == "seed")
      f.seed = num();
    else if (key == "efs") {
      f.efs.clear();
      std::stringstream ss(value);
      for (std::string item; std::getline(ss, item, ',');) f.efs.push_back(std::stoul(item));
    } else {
      Usage("unknown flag --" + key);
    }
  }
  if (f.metric != "l2" && f.metric != "ip" && f.metric != "cosine") Usage("--metric=l2|ip|cosine");
  if (f.fvecs.empty() && f.dataset != "clustered" && f.dataset != "uniform") {
    Usage("--dataset=clustered|uniform, or --fvecs and --queries");
  }
  if (!f.fvecs.empty() && f.queries.empty()) Usage("--fvecs needs --queries");
  if (f.repeats == 0 || f.k == 0) Usage("--repeats and --k must be positive");
  return f;
}

bool HasPeer(const Flags& f, const std::string& name) {
  std::stringstream ss(f.peers);
  for (std::string item; std::getline(ss, item, ',');) {
    if (item == name) return true;
  }
  return false;
}

// ---- data ---------------------------------------------------------------------------------------

// Rows of `dim` floats from an .fvecs/.ivecs file (each row: int32 dim, then dim values).
template <typename T>
std::vector<T> ReadVecs(const std::string& path, size_t max_rows, size_t* dim) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Usage("cannot open " + path);
  std::vector<T> out;
  int32_t d = 0;
  size_t rows = 0;
  while (rows < max_rows && in.read(reinterpret_cast<char*>(&d), 4)) {
    if (d <= 0 || (*dim != 0 && static_cast<size_t>(d) != *dim)) Usage("bad row in " + path);
    *dim = static_cast<size_t>(d);
    size_t old = out.size();
    out.resize(old + *dim);
    if (!in.read(reinterpret_cast<char*>(&out[old]), *dim * sizeof(T))) Usage("short " + path);
    ++rows;
  }
  return out;
}

// Gaussian blobs: centres uniform in [-1, 1]^dim, each point a centre plus N(0, spread^2 / dim)
// per coordinate, so the distance of a point to its centre is about `spread` whatever dim is.
std::vector<float> Clustered(size_t n, size_t dim, size_t clusters, double spread,
                             std::mt19937_64& rng, const std::vector<float>& centres) {
  std::normal_distribution<float> noise(0.0f, static_cast<float>(spread / std::sqrt(dim)));
  std::vector<float> out(n * dim);
  for (size_t i = 0; i < n; ++i) {
    const float* c = &centres[(rng() % clusters) * dim];
    for (size_t d = 0; d < dim; ++d) out[i * dim + d] = c[d] + noise(rng);
  }
  return out;
}

std::vector<float> Uniform(size_t n, size_t dim, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> out(n * dim);
  for (float& x : out) x = u(rng);
  return out;
}

void Normalize(std::vector<float>& v, size_t dim) {
  for (size_t i = 0; i < v.size(); i += dim) {
    double n2 = 0;
    for (size_t d = 0; d < dim; ++d) n2 += double{v[i + d]} * v[i + d];
    if (n2 <= 0) continue;
    float inv = static_cast<float>(1 / std::sqrt(n2));
    for (size_t d = 0; d < dim; ++d) v[i + d] *= inv;
  }
}

// ---- measurement --------------------------------------------------------------------------------

struct Timer {
  std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
  double cpu = ThreadCpu();
  static double ThreadCpu() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
  }
  double WallSeconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  }
  double CpuSeconds() const { return ThreadCpu() - cpu; }
};

size_t HeapBytes() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double RecallAtK(const std::vector<uint32_t>& ids, const std::vector<uint32_t>& gt, size_t nq,
                 size_t k, size_t gt_k) {
  size_t hits = 0;
  for (size_t q = 0; q < nq; ++q) {
    std::unordered_set<uint32_t> truth(gt.begin() + q * gt_k, gt.begin() + q * gt_k + k);
    for (size_t j = 0; j < k; ++j) hits += truth.count(ids[q * k + j]);
  }
  return static_cast<double>(hits) / (nq * k);
}

// ---- peers --------------------------------------------------------------------------------------

// FAISS's HNSW over flat float vectors (IndexHNSWFlat) or 8-bit scalar-quantized ones
// (IndexHNSWSQ, QT_8bit: trained on the data, no float re-rank), same M and efConstruction.
template <typename Index>
class FaissHnswPeer final : public AnnPeer {
 public:
  FaissHnswPeer(size_t dim, BenchMetric metric, size_t m, size_t ef_construction)
      : index_(MakeIndex(dim,
                         metric == BenchMetric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT,
                         m)) {
    index_.hnsw.efConstruction = static_cast<int>(ef_construction);
  }
  std::string name() const override {
    return kQuantized ? "faiss IndexHNSWSQ (QT_8bit)" : "faiss IndexHNSWFlat";
  }
  std::string kernels() const override { return "Debian libfaiss 1.7.3 build (generic x86-64)"; }
  void Build(const float* data, size_t n) override {
    if (kQuantized) index_.train(static_cast<faiss::Index::idx_t>(n), data);
    index_.add(static_cast<faiss::Index::idx_t>(n), data);
  }
  void Search(const float* queries, size_t nq, size_t k, size_t ef,
              std::vector<uint32_t>& ids) override {
    index_.hnsw.efSearch = static_cast<int>(ef);
    std::vector<float> dist(nq * k);
    std::vector<faiss::Index::idx_t> labels(nq * k);
    index_.search(static_cast<faiss::Index::idx_t>(nq), queries,
                  static_cast<faiss::Index::idx_t>(k), dist.data(), labels.data());
    ids.resize(nq * k);
    for (size_t i = 0; i < nq * k; ++i) {
      ids[i] = labels[i] < 0 ? UINT32_MAX : static_cast<uint32_t>(labels[i]);
    }
  }

 private:
  static constexpr bool kQuantized = std::is_same_v<Index, faiss::IndexHNSWSQ>;
  static Index MakeIndex(size_t dim, faiss::MetricType metric, size_t m) {
    if constexpr (kQuantized) {
      return Index(static_cast<int>(dim), faiss::ScalarQuantizer::QT_8bit, static_cast<int>(m),
                   metric);
    } else {
      return Index(static_cast<int>(dim), static_cast<int>(m), metric);
    }
  }
  Index index_;
};
using FaissPeer = FaissHnswPeer<faiss::IndexHNSWFlat>;
using FaissSqPeer = FaissHnswPeer<faiss::IndexHNSWSQ>;

class EngramPeer final : public AnnPeer {
 public:
  EngramPeer(std::filesystem::path dir, size_t dim, BenchMetric metric, size_t m,
             size_t ef_construction, ev::Quantization quantization)
      : dir_(std::move(dir)), dim_(dim), quantization_(quantization) {
    metric_ = metric == BenchMetric::kL2             ? ev::Metric::kL2
              : metric == BenchMetric::kInnerProduct ? ev::Metric::kInnerProduct
                                                     : ev::Metric::kCosine;
    params_.M = static_cast<uint32_t>(m);
    params_.ef_construction = static_cast<uint32_t>(ef_construction);
    std::filesystem::remove_all(dir_);
    Open();
  }
  std::string name() const override {
    return quantization_ == ev::Quantization::kInt8 ? "engram HnswIndex int8" : "engram HnswIndex";
  }
  std::string kernels() const override {
    return std::string(index_->kernel_isa()) + " (run-time dispatch)";
  }
  void Build(const float* data, size_t n) override {
    for (size_t i = 0; i < n; ++i) Check(store_->Put(static_cast<uint32_t>(i), data + i * dim_));
    store_->Publish(static_cast<uint32_t>(n));
    for (size_t i = 0; i < n; ++i) Check(index_->Insert(static_cast<uint32_t>(i)));
  }
  void Search(const float* queries, size_t nq, size_t k, size_t ef,
              std::vector<uint32_t>& ids) override {
    ids.assign(nq * k, UINT32_MAX);
    for (size_t q = 0; q < nq; ++q) {
      ev::SearchResults r = index_->Search(queries + q * dim_, k, ef);
      for (size_t j = 0; j < r.size(); ++j) ids[q * k + j] = r[j].second;
    }
  }
  void Checkpoint() {
    Check(store_->Flush());
    Check(index_->Checkpoint());
  }
  void Close() {
    index_.reset();
    store_.reset();
  }
  void Open() {
    auto store = ev::VectorStore::Open({dir_, static_cast<uint32_t>(dim_)});
    Check(store.status());
    store_ = std::move(*store);
    ev::HnswIndex::Options options{dir_, metric_, params_};
    options.quantization = quantization_;
    auto index = ev::HnswIndex::Open(options, store_.get());
    Check(index.status());
    index_ = std::move(*index);
  }
  double BytesPerVector() const {
    return store_->bytes_per_vector() + index_->graph_bytes_per_vector() +
           index_->code_bytes_per_vector();
  }
  bool quantized() const { return index_->quantized(); }
  uint64_t MappedBytes() const { return store_->mapped_bytes() + index_->mapped_bytes(); }
  uint32_t indexed_count() const { return index_->indexed_count(); }
  int max_level() const { return index_->max_level(); }

 private:
  static void Check(const absl::Status& s) {
    if (!s.ok()) {
      std::fprintf(stderr, "engram: %s\n", s.ToString().c_str());
      std::exit(1);
    }
  }
  std::filesystem::path dir_;
  size_t dim_;
  ev::Metric metric_;
  ev::HnswParams params_;
  ev::Quantization quantization_;
  std::unique_ptr<ev::VectorStore> store_;
  std::unique_ptr<ev::HnswIndex> index_;
};

struct BuildResult {
  std::string name, kernels;
  double wall = 0, cpu = 0, bytes_per_vector = 0;
  std::string bytes_note;
};

std::string Fmt(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

int Run(const Flags& flags) {
  omp_set_num_threads(1);
  const BenchMetric metric = flags.metric == "l2"   ? BenchMetric::kL2
                             : flags.metric == "ip" ? BenchMetric::kInnerProduct
                                                    : BenchMetric::kCosine;
  std::ostringstream md;  // the report

  // ---- data
  size_t dim = flags.fvecs.empty() ? flags.dim : 0;
  std::vector<float> base, queries;
  std::vector<uint32_t> gt;
  size_t gt_k = flags.k;
  std::string dataset;
  Timer gen;
  if (!flags.fvecs.empty()) {
    base = ReadVecs<float>(flags.fvecs, flags.n, &dim);
    queries = ReadVecs<float>(flags.queries, flags.nq, &dim);
    dataset = flags.fvecs;
  } else {
    std::mt19937_64 rng(flags.seed);
    if (flags.dataset == "clustered") {
      std::uniform_real_distribution<float> u(-1.0f, 1.0f);
      std::vector<float> centres(flags.clusters * dim);
      for (float& c : centres) c = u(rng);
      base = Clustered(flags.n, dim, flags.clusters, flags.spread, rng, centres);
      queries = Clustered(flags.nq, dim, flags.clusters, flags.spread, rng, centres);
      dataset = "clustered (" + std::to_string(flags.clusters) + " gaussian clusters, spread " +
                Fmt("%.2f", flags.spread) + ", seed " + std::to_string(flags.seed) + ")";
    } else {
      base = Uniform(flags.n, dim, rng);
      queries = Uniform(flags.nq, dim, rng);
      dataset = "uniform [0,1)^d (seed " + std::to_string(flags.seed) + ")";
    }
  }
  const size_t n = base.size() / dim, nq = queries.size() / dim, k = flags.k;
  std::fprintf(stderr, "data: %zu x %zu base, %zu queries (%.1f s)\n", n, dim, nq,
               gen.WallSeconds());
  // Engram gets the raw vectors for cosine (it keeps them, normalising on the fly); the peers
  // get normalised copies and inner product, as their users would do.
  std::vector<float> raw_base, raw_queries;
  if (metric == BenchMetric::kCosine) {
    raw_base = base;
    raw_queries = queries;
    Normalize(base, dim);
    Normalize(queries, dim);
  }
  const std::vector<float>& engram_base = raw_base.empty() ? base : raw_base;
  const std::vector<float>& engram_queries = raw_queries.empty() ? queries : raw_queries;

  // ---- ground truth
  Timer gt_timer;
  if (!flags.gt.empty()) {
    size_t gdim = 0;
    std::vector<int32_t> raw = ReadVecs<int32_t>(flags.gt, nq, &gdim);
    if (gdim < k || raw.size() / gdim != nq) Usage("--gt does not match --queries / --k");
    gt.assign(raw.begin(), raw.end());
    gt_k = gdim;
  } else {
    faiss::IndexFlat flat(static_cast<int>(dim), metric == BenchMetric::kL2
                                                     ? faiss::METRIC_L2
                                                     : faiss::METRIC_INNER_PRODUCT);
    flat.add(static_cast<faiss::Index::idx_t>(n), base.data());
    std::vector<float> d(nq * k);
    std::vector<faiss::Index::idx_t> l(nq * k);
    flat.search(static_cast<faiss::Index::idx_t>(nq), queries.data(),
                static_cast<faiss::Index::idx_t>(k), d.data(), l.data());
    gt.assign(l.begin(), l.end());
  }
  std::fprintf(stderr, "ground truth: %.1f s\n", gt_timer.WallSeconds());

  // ---- builds
  std::vector<std::unique_ptr<AnnPeer>> peers;
  std::vector<BuildResult> builds;
  EngramPeer* engram = nullptr;
  double reopen_ms = -1, first_query_ms = -1, checkpoint_s = -1;
  // Heap growth is measured from before the peer is constructed: hnswlib allocates its arrays
  // for max_elements in the constructor.
  auto build = [&](const std::function<std::unique_ptr<AnnPeer>()>& make, const float* data) {
    const size_t heap_before = HeapBytes();
    Timer t;
    std::unique_ptr<AnnPeer> peer = make();
    std::fprintf(stderr, "building %s ...\n", peer->name().c_str());
    peer->Build(data, n);
    BuildResult r{peer->name(), peer->kernels(), t.WallSeconds(), t.CpuSeconds()};
    const double heap = (static_cast<double>(HeapBytes()) - static_cast<double>(heap_before)) / n;
    if (auto* e = dynamic_cast<EngramPeer*>(peer.get())) {
      r.bytes_per_vector = e->BytesPerVector() + std::max(0.0, heap);
      r.bytes_note = std::string("files in use: vector + norm + links") +
                     (e->quantized() ? " + int8 codes; " : "; ") +
                     Fmt("%.0f", e->MappedBytes() / double(n)) + " mapped incl. segment slack";
    } else {
      r.bytes_per_vector = heap;
      r.bytes_note = "heap growth, mallinfo2";
    }
    std::fprintf(stderr, "  %.1f s wall, %.1f s cpu\n", r.wall, r.cpu);
    builds.push_back(r);
    peers.push_back(std::move(peer));
  };
  if (HasPeer(flags, "faiss")) {
    build([&] { return std::make_unique<FaissPeer>(dim, metric, flags.m, flags.ef_construction); },
          base.data());
  }
  if (HasPeer(flags, "faiss_sq8")) {
    build(
        [&] { return std::make_unique<FaissSqPeer>(dim, metric, flags.m, flags.ef_construction); },
        base.data());
  }
  if (HasPeer(flags, "hnswlib")) {
    build(
        [&] {
          return std::make_unique<HnswlibPeer>("hnswlib", dim, metric, flags.m,
                                               flags.ef_construction, n);
        },
        base.data());
  }
  if (HasPeer(flags, "hnswlib_native")) {
#if defined(ENGRAM_VECTOR_BENCH_HAVE_NATIVE_HNSWLIB)
    // Built with -march=native for the build machine; run it on that machine only.
    build([&] { return MakeHnswlibNativePeer(dim, metric, flags.m, flags.ef_construction, n); },
          base.data());
#else
    std::fprintf(stderr, "skipping hnswlib_native: not built (compiler without -march=native)\n");
#endif
  }
  struct Persistence {
    std::string name;
    double checkpoint_s, reopen_ms, first_query_ms;
  };
  std::vector<Persistence> persistence;
  for (const auto& [peer_name, quantization] :
       {std::pair{"engram", ev::Quantization::kNone},
        std::pair{"engram_int8", ev::Quantization::kInt8}}) {
    if (!HasPeer(flags, peer_name)) continue;
    build(
        [&] {
          auto peer = std::make_unique<EngramPeer>(
              flags.dir + (quantization == ev::Quantization::kInt8 ? "_int8" : ""), dim, metric,
              flags.m, flags.ef_construction, quantization);
          engram = peer.get();
          return peer;
        },
        engram_base.data());
    Timer cp;
    engram->Checkpoint();
    checkpoint_s = cp.WallSeconds();
    engram->Close();
    Timer reopen;
    engram->Open();
    reopen_ms = reopen.WallSeconds() * 1e3;
    Timer first;
    std::vector<uint32_t> ids;
    engram->Search(engram_queries.data(), 1, k, 64, ids);
    first_query_ms = first.WallSeconds() * 1e3;
    if (engram->indexed_count() != n) Usage("engram reopened with the wrong node count");
    persistence.push_back({engram->name(), checkpoint_s, reopen_ms, first_query_ms});
  }

  // ---- query sweep, interleaved across peers
  struct Cell {
    double recall = 0;
    std::vector<double> qps_wall, qps_cpu;
  };
  std::map<std::pair<size_t, size_t>, Cell> cells;  // (ef index, peer index)
  std::vector<uint32_t> ids;
  for (size_t e = 0; e < flags.efs.size(); ++e) {
    for (size_t rep = 0; rep < flags.repeats; ++rep) {
      for (size_t p = 0; p < peers.size(); ++p) {
        const float* qs = dynamic_cast<EngramPeer*>(peers[p].get()) != nullptr
                              ? engram_queries.data()
                              : queries.data();
        Timer t;
        peers[p]->Search(qs, nq, k, flags.efs[e], ids);
        Cell& c = cells[{e, p}];
        c.qps_wall.push_back(nq / t.WallSeconds());
        c.qps_cpu.push_back(nq / t.CpuSeconds());
        if (rep == 0) c.recall = RecallAtK(ids, gt, nq, k, gt_k);
      }
    }
    std::fprintf(stderr, "ef=%zu done\n", flags.efs[e]);
  }

  // ---- report
  std::string metric_name = flags.metric == "ip" ? "inner product" : flags.metric;
  md << "**Data**: " << dataset << ", " << n << " x " << dim << ", " << nq << " queries, metric "
     << metric_name << ". **Params**: M=" << flags.m
     << " (2M on level 0), efConstruction=" << flags.ef_construction << ", k=" << k
     << ", single thread, median of " << flags.repeats << " query loops.\n\n";
  md << "| library | distance kernels | build s (wall) | build vectors/s (wall) | "
        "build vectors/s (cpu) | bytes/vector |\n|---|---|---:|---:|---:|---:|\n";
  for (const BuildResult& b : builds) {
    md << "| " << b.name << " | " << b.kernels << " | " << Fmt("%.1f", b.wall) << " | "
       << Fmt("%.0f", n / b.wall) << " | " << Fmt("%.0f", n / b.cpu) << " | "
       << Fmt("%.0f", b.bytes_per_vector) << " (" << b.bytes_note << ") |\n";
  }
  md << "\n";
  // QPS ratio against hnswlib (the same-flags build) measured in the same loops.
  // And against Engram's float index, for the int8 row.
  size_t ref = SIZE_MAX, engram_ref = SIZE_MAX;
  for (size_t p = 0; p < peers.size(); ++p) {
    if (peers[p]->name() == "hnswlib") ref = p;
    if (peers[p]->name() == "engram HnswIndex") engram_ref = p;
  }
  md << "| ef | library | recall@" << k << " | QPS (median, wall) | QPS (per cpu-s) |"
     << (ref != SIZE_MAX ? " QPS / hnswlib |" : "")
     << (engram_ref != SIZE_MAX ? " QPS / engram float |" : "") << "\n|---:|---|---:|---:|---:|"
     << (ref != SIZE_MAX ? "---:|" : "") << (engram_ref != SIZE_MAX ? "---:|" : "") << "\n";
  for (size_t e = 0; e < flags.efs.size(); ++e) {
    for (size_t p = 0; p < peers.size(); ++p) {
      const Cell& c = cells[{e, p}];
      md << "| " << flags.efs[e] << " | " << peers[p]->name() << " | " << Fmt("%.4f", c.recall)
         << " | " << Fmt("%.0f", Median(c.qps_wall)) << " | " << Fmt("%.0f", Median(c.qps_cpu))
         << " |";
      if (ref != SIZE_MAX) {
        md << " " << Fmt("%.2f", Median(c.qps_wall) / Median(cells[{e, ref}].qps_wall)) << " |";
      }
      if (engram_ref != SIZE_MAX) {
        md << " " << Fmt("%.2f", Median(c.qps_wall) / Median(cells[{e, engram_ref}].qps_wall))
           << " |";
      }
      md << "\n";
    }
  }
  for (const Persistence& e : persistence) {
    md << "\n"
       << e.name << " persistence: Checkpoint() (msync + header) " << Fmt("%.2f", e.checkpoint_s)
       << " s; clean reopen (map segments, read header, no rebuild) " << Fmt("%.1f", e.reopen_ms)
       << " ms; first query after reopen " << Fmt("%.2f", e.first_query_ms)
       << " ms (page cache warm); top level " << engram->max_level() << ".\n";
  }
  std::string report = md.str();
  std::fputs(report.c_str(), stdout);
  if (!flags.out.empty()) std::ofstream(flags.out) << report;
  return 0;
}

}  // namespace
}  // namespace engram::bench::vector

int main(int argc, char** argv) {
  return engram::bench::vector::Run(engram::bench::vector::ParseFlags(argc, argv));
}

#endif  // !ENGRAM_VECTOR_BENCH_NATIVE_HNSWLIB
