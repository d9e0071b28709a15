#include "storage-server/vector/hnsw_index.h"

#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"
#include "common/sync/mutex.h"

namespace engram::storage::vector {

namespace internal {

// Per-thread search state, reused across searches and inserts so a query allocates nothing once
// warm. Visited marks are epochs: bumping the epoch clears the set in O(1).
struct HnswScratch {
  std::vector<uint16_t> visited;
  uint16_t epoch = 0;
  std::vector<HnswCandidate> candidates;  // min-heap on dist: the frontier
  std::vector<HnswCandidate> results;     // max-heap on dist: the best ef found
  std::vector<uint32_t> ids;              // unvisited neighbours of the node being expanded
  std::vector<HnswCandidate> selected;    // neighbours chosen for the inserted node
  std::vector<HnswCandidate> pool;        // candidates when pruning a neighbour's list
  std::vector<HnswCandidate> pruned;
  std::vector<float> query;
  std::vector<int16_t> code_query;  // quantized search: the kernel's query table

  uint16_t NewEpoch(uint32_t count) {
    if (visited.size() < count) visited.resize(std::max<size_t>(count, visited.size() * 3 / 2));
    if (++epoch == 0) {
      std::fill(visited.begin(), visited.end(), 0);
      epoch = 1;
    }
    return epoch;
  }
};

}  // namespace internal

namespace {

using internal::HnswCandidate;

constexpr char kMetaFile[] = "hnsw.meta";
constexpr char kQuantFile[] = "hnsw_quant.params";
constexpr char kCodesPrefix[] = "hnsw_codes";
constexpr uint64_t kQuantMagic = 0x31385153474e4545;  // "EENGSQ81"
constexpr uint32_t kQuantVersion = 1;

// hnsw_quant.params: this header, the ScalarQuantizer's ranges, then an XXH64 of all before it.
struct QuantHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t metric;
  uint32_t dim;
  uint32_t padded_dim;
  uint32_t train_count;  // the ranges come from slots [0, train_count)
  uint32_t reserved;
  uint64_t code_segment_bytes;
};
static_assert(sizeof(QuantHeader) == 40);
constexpr uint64_t kMagic = 0x31574e48474e4545;  // "EENGHNW1"
constexpr uint32_t kFormatVersion = 1;

struct Meta {
  uint64_t magic;
  uint32_t version;
  uint32_t metric;
  uint32_t dim;
  uint32_t m;
  uint32_t m0;
  uint32_t ef_construction;
  uint64_t level_seed;
  uint64_t link_segment_bytes;
  uint64_t upper_segment_bytes;
  uint32_t node_count;
  uint32_t reserved;
  uint64_t entry;  // (max_level + 1) << 32 | entry node; 0 when empty
  uint64_t upper_used;
  uint64_t checksum;  // XXH64 of the bytes above
};
static_assert(sizeof(Meta) == 88);

uint64_t MetaChecksum(const Meta& m) { return XXH64(&m, offsetof(Meta, checksum), 0); }

inline uint32_t LoadWord(const uint32_t* p) {
  return std::atomic_ref<uint32_t>(*const_cast<uint32_t*>(p)).load(std::memory_order_relaxed);
}
inline void StoreWord(uint32_t* p, uint32_t v) {
  std::atomic_ref<uint32_t>(*p).store(v, std::memory_order_relaxed);
}

inline uint64_t PackEntry(uint32_t node, int level) {
  return (static_cast<uint64_t>(level + 1) << 32) | node;
}

// Orders by (dist, id): the max-heap of results keeps the worst on top, and sorting with it gives
// best first with ties broken by slot.
struct Worse {
  bool operator()(const HnswCandidate& a, const HnswCandidate& b) const {
    return a.dist < b.dist || (a.dist == b.dist && a.id < b.id);
  }
};
struct Farther {
  bool operator()(const HnswCandidate& a, const HnswCandidate& b) const { return Worse()(b, a); }
};

// splitmix64 of the slot-th element of the sequence seeded by `seed`.
inline uint64_t SlotHash(uint64_t seed, uint32_t slot) {
  uint64_t x = seed + (uint64_t{slot} + 1) * 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Prefetching a whole 128-d vector (8 lines) beats prefetching its first line and hoping the
// hardware prefetcher catches the rest; past 1 KiB it does.
constexpr size_t kMaxPrefetchBytes = 1024;

}  // namespace

// Distances for one query (lower is better): squared L2, -dot, or -cosine. For cosine the query
// is unit length and the stored vector's inverse norm scales the dot product.
template <Metric kMetric>
struct HnswIndex::Dist {
  const VectorStore* store;
  DistanceKernel kernel;
  const float* query;
  size_t padded_dim;

  float operator()(uint32_t id) const {
    float raw = kernel(query, store->Get(id), padded_dim);
    if constexpr (kMetric == Metric::kL2) return raw;
    if constexpr (kMetric == Metric::kInnerProduct) return -raw;
    return -raw * store->InverseNorm(id);
  }
  float Between(uint32_t a, uint32_t b) const {
    float raw = kernel(store->Get(a), store->Get(b), padded_dim);
    if constexpr (kMetric == Metric::kL2) return raw;
    if constexpr (kMetric == Metric::kInnerProduct) return -raw;
    return -raw * store->InverseNorm(a) * store->InverseNorm(b);
  }
  void Prefetch(uint32_t id) const {
    const char* p = reinterpret_cast<const char*>(store->Get(id));
    const size_t bytes = std::min(padded_dim * sizeof(float), kMaxPrefetchBytes);
    for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off, 0, 3);
    if constexpr (kMetric == Metric::kCosine) {
      __builtin_prefetch(reinterpret_cast<const char*>(&store->InverseNorm(id)), 0, 3);
    }
  }
};

// Quantized distances for one query (lower is better), on the scale of Dist: an int16 query table
// against the 8-bit codes (for cosine, of the unit vector); see ScalarQuantizer. A code record is
// [padded_dim code bytes][float L2Term].
template <Metric kMetric>
struct HnswIndex::CodeDist {
  const RecordArray* codes;
  CodeDotKernel kernel;
  const int16_t* table;
  float scale;
  float offset;
  size_t padded_dim;

  const uint8_t* Code(uint32_t id) const { return reinterpret_cast<const uint8_t*>(codes->At(id)); }
  float operator()(uint32_t id) const {
    const uint8_t* code = Code(id);
    const float k = kernel(table, code, padded_dim);
    if constexpr (kMetric == Metric::kL2) {
      float term;
      std::memcpy(&term, code + padded_dim, sizeof term);
      return offset + term + scale * k;
    }
    return -(offset + scale * k);
  }
  void Prefetch(uint32_t id) const {
    const char* p = reinterpret_cast<const char*>(Code(id));
    for (size_t off = 0; off < std::min(padded_dim, kMaxPrefetchBytes); off += 64) {
      __builtin_prefetch(p + off, 0, 3);
    }
    __builtin_prefetch(p + padded_dim + sizeof(float) - 1, 0, 3);
  }
};

namespace internal {

// Scratch objects for concurrent searches, reused so a warm search allocates nothing. A pool
// rather than thread_local: memory follows the number of concurrent searches (like hnswlib's
// VisitedListPool), not the number of threads that ever searched, and dies with the index.
class HnswScratchPool {
 public:
  std::unique_ptr<HnswScratch> Take() {
    {
      sync::MutexLock lock(&mu_);
      if (!free_.empty()) {
        std::unique_ptr<HnswScratch> s = std::move(free_.back());
        free_.pop_back();
        return s;
      }
    }
    return std::make_unique<HnswScratch>();
  }
  void Return(std::unique_ptr<HnswScratch> s) {
    sync::MutexLock lock(&mu_);
    free_.push_back(std::move(s));
  }

 private:
  sync::Mutex mu_;
  std::vector<std::unique_ptr<HnswScratch>> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal

namespace {

class PooledScratch {
 public:
  explicit PooledScratch(internal::HnswScratchPool& pool) : pool_(pool), s_(pool.Take()) {}
  ~PooledScratch() { pool_.Return(std::move(s_)); }
  internal::HnswScratch& operator*() const { return *s_; }

 private:
  internal::HnswScratchPool& pool_;
  std::unique_ptr<internal::HnswScratch> s_;
};

}  // namespace

HnswIndex::HnswIndex(const Options& options, const VectorStore* store)
    : dir_(options.dir),
      store_(store),
      metric_(options.metric),
      params_{options.params.M, std::max(options.params.ef_construction, options.params.M),
              options.params.level_seed},
      m0_(2 * options.params.M),
      kernels_(Kernels()),
      scratch_pool_(std::make_unique<internal::HnswScratchPool>()),
      quantization_(options.quantization),
      train_count_(std::max<uint32_t>(options.quantization_train_count, 1)),
      insert_scratch_(std::make_unique<internal::HnswScratch>()) {
  // P(level >= l) = M^-l, i.e. hnswlib's floor(-ln(U) / ln(M)), computed in integers so that it
  // is the same on every machine.
  level_thresholds_[0] = std::numeric_limits<uint64_t>::max();
  for (int l = 1; l <= kMaxLevel + 1; ++l) {
    level_thresholds_[l] = level_thresholds_[l - 1] / params_.M;
  }
}

HnswIndex::~HnswIndex() = default;

int HnswIndex::LevelOf(uint32_t slot) const {
  const uint64_t h = SlotHash(params_.level_seed, slot);
  int level = 0;
  while (level < kMaxLevel && h < level_thresholds_[level + 1]) ++level;
  return level;
}

absl::StatusOr<std::unique_ptr<HnswIndex>> HnswIndex::Open(const Options& options,
                                                           const VectorStore* store) {
  if (store == nullptr) return absl::InvalidArgumentError("hnsw: no vector store");
  if (options.params.M < 2 || options.params.M > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("hnsw M: must be in [2, 128], got ", options.params.M));
  }
  if (options.params.ef_construction > 4096) {
    return absl::InvalidArgumentError(absl::StrCat("hnsw ef_construction: must be <= 4096, got ",
                                                   options.params.ef_construction));
  }
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("create ", options.dir.string(), ": ", ec.message()));

  std::unique_ptr<HnswIndex> index(new HnswIndex(options, store));
  Options effective = options;
  const std::filesystem::path meta_path = options.dir / kMetaFile;
  auto raw = ReadSmallFile(meta_path);
  Meta meta{};
  const bool exists = raw.ok();
  if (exists) {
    if (raw->size() != sizeof(Meta)) {
      return absl::DataLossError(
          absl::StrCat(meta_path.string(), ": size ", raw->size(), ", expected ", sizeof(Meta)));
    }
    std::memcpy(&meta, raw->data(), sizeof meta);
    if (meta.magic != kMagic || meta.checksum != MetaChecksum(meta)) {
      return absl::DataLossError(absl::StrCat(meta_path.string(), ": bad magic or checksum"));
    }
    if (meta.version != kFormatVersion) {
      return absl::FailedPreconditionError(absl::StrCat(meta_path.string(), ": format version ",
                                                        meta.version, ", this build reads ",
                                                        kFormatVersion));
    }
    if (meta.metric != static_cast<uint32_t>(index->metric_) || meta.dim != store->dim() ||
        meta.m != index->params_.M || meta.m0 != index->m0_ ||
        meta.ef_construction != index->params_.ef_construction ||
        meta.level_seed != index->params_.level_seed) {
      return absl::FailedPreconditionError(absl::StrCat(
          meta_path.string(), ": built with metric ", meta.metric, " dim ", meta.dim, " M ", meta.m,
          " ef_construction ", meta.ef_construction, ", opened with metric ",
          static_cast<uint32_t>(index->metric_), " dim ", store->dim(), " M ", index->params_.M,
          " ef_construction ", index->params_.ef_construction));
    }
    effective.link_segment_bytes = meta.link_segment_bytes;
    effective.upper_segment_bytes = meta.upper_segment_bytes;
  } else if (!absl::IsNotFound(raw.status())) {
    return raw.status();
  }

  ASSIGN_OR_RETURN(index->links_, RecordArray::Open(options.dir, "hnsw_links", (index->m0_ + 2) * 4,
                                                    effective.link_segment_bytes));
  ASSIGN_OR_RETURN(index->upper_,
                   SegmentedFile::Open({options.dir, "hnsw_upper", effective.upper_segment_bytes}));
  if (!exists) {
    RETURN_IF_ERROR(index->WriteMeta(0, 0, 0));
    if (index->quantization_ != Quantization::kNone) {
      RETURN_IF_ERROR(index->LoadQuantizer(options, 0));
    }
    return index;
  }

  const uint32_t count = meta.node_count;
  const uint32_t ep = static_cast<uint32_t>(meta.entry);
  const int max_level = static_cast<int>(meta.entry >> 32) - 1;
  if (index->links_->records_capacity() < count || index->upper_->capacity() < meta.upper_used) {
    return absl::DataLossError(absl::StrCat(options.dir.string(), ": ", kMetaFile, " counts ",
                                            count, " nodes but the link files are shorter"));
  }
  if ((count == 0) != (meta.entry == 0) ||
      (count > 0 && (ep >= count || max_level < 0 || max_level > kMaxLevel))) {
    return absl::DataLossError(absl::StrCat(meta_path.string(), ": inconsistent entry point"));
  }
  if (store->published_count() < count) {
    return absl::FailedPreconditionError(absl::StrCat(
        options.dir.string(), ": the index covers ", count, " vectors but the vector store has ",
        store->published_count(), " (flush the store before checkpointing the index)"));
  }
  index->count_.store(count, std::memory_order_release);
  index->entry_.store(meta.entry, std::memory_order_release);
  index->upper_used_.store(meta.upper_used, std::memory_order_release);
  index->checkpointed_ = count;
  if (index->quantization_ != Quantization::kNone) {
    RETURN_IF_ERROR(index->LoadQuantizer(options, count));
  }
  return index;
}

absl::Status HnswIndex::LoadQuantizer(const Options& options, uint32_t count) {
  const std::filesystem::path path = dir_ / kQuantFile;
  const uint32_t pd = store_->padded_dim();
  uint64_t segment_bytes = options.code_segment_bytes;
  std::unique_ptr<const ScalarQuantizer> loaded;
  auto raw = ReadSmallFile(path);
  if (raw.ok()) {
    QuantHeader h{};
    const size_t ranges = size_t{pd} * 2 * sizeof(float);
    if (raw->size() != sizeof h + ranges + sizeof(uint64_t)) {
      return absl::DataLossError(absl::StrCat(path.string(), ": size ", raw->size()));
    }
    std::memcpy(&h, raw->data(), sizeof h);
    uint64_t checksum;
    std::memcpy(&checksum, raw->data() + sizeof h + ranges, sizeof checksum);
    if (h.magic != kQuantMagic || checksum != XXH64(raw->data(), sizeof h + ranges, 0)) {
      return absl::DataLossError(absl::StrCat(path.string(), ": bad magic or checksum"));
    }
    if (h.version != kQuantVersion || h.metric != static_cast<uint32_t>(metric_) ||
        h.dim != store_->dim() || h.padded_dim != pd) {
      return absl::FailedPreconditionError(absl::StrCat(path.string(), ": version ", h.version,
                                                        " metric ", h.metric, " dim ", h.dim,
                                                        " does not match this index"));
    }
    segment_bytes = h.code_segment_bytes;
    // Ranges trained past the checkpoint (a crash before the next one) are retrained later:
    // training is a pure function of the first slots, which the log replay puts back the same.
    if (h.train_count <= count) {
      ASSIGN_OR_RETURN(ScalarQuantizer q,
                       ScalarQuantizer::Parse(std::string_view(*raw).substr(sizeof h, ranges),
                                              store_->dim(), pd));
      loaded = std::make_unique<const ScalarQuantizer>(std::move(q));
    }
  } else if (!absl::IsNotFound(raw.status())) {
    return raw.status();
  }
  ASSIGN_OR_RETURN(codes_,
                   RecordArray::Open(dir_, kCodesPrefix, pd + sizeof(float), segment_bytes));
  if (loaded != nullptr) {
    if (codes_->records_capacity() < count) {
      return absl::DataLossError(absl::StrCat(dir_.string(), ": ", kCodesPrefix, " files hold ",
                                              codes_->records_capacity(), " codes, need ", count));
    }
    quantizer_ = std::move(loaded);
    codes_flushed_ = count;
    quantized_.store(true, std::memory_order_release);
    return absl::OkStatus();
  }
  // Built without quantization (or trained after the last checkpoint): derive the codes now.
  if (count >= train_count_) return Train(count);
  return absl::OkStatus();
}

void HnswIndex::EncodeSlot(const ScalarQuantizer& quantizer, uint32_t slot, Scratch& s) {
  const size_t pd = store_->padded_dim();
  s.query.resize(pd);
  internal::PrepareQuery(metric_, store_->Get(slot), store_->dim(), pd, s.query.data());
  WriteCode(quantizer, s.query.data(), slot);
}

void HnswIndex::WriteCode(const ScalarQuantizer& quantizer, const float* x, uint32_t slot) {
  uint8_t* record = reinterpret_cast<uint8_t*>(codes_->At(slot));
  quantizer.Encode(x, record);
  const float term = quantizer.L2Term(record);
  std::memcpy(record + store_->padded_dim(), &term, sizeof term);
}

absl::Status HnswIndex::Train(uint32_t end) {
  const uint32_t pd = store_->padded_dim();
  const uint32_t n = std::min(train_count_, end);
  Scratch& s = *insert_scratch_;
  std::vector<float> rows(size_t{n} * pd);
  for (uint32_t i = 0; i < n; ++i) {
    internal::PrepareQuery(metric_, store_->Get(i), store_->dim(), pd, &rows[size_t{i} * pd]);
  }
  auto trained = std::make_unique<const ScalarQuantizer>(ScalarQuantizer::Train(
      store_->dim(), pd, n, [&](uint32_t i) { return &rows[size_t{i} * pd]; }));
  RETURN_IF_ERROR(codes_->EnsureRecords(end));
  for (uint32_t i = 0; i < n; ++i) {
    WriteCode(*trained, &rows[size_t{i} * pd], i);
  }
  for (uint32_t i = n; i < end; ++i) EncodeSlot(*trained, i, s);
  RETURN_IF_ERROR(codes_->Flush(0, end));

  QuantHeader h{};
  h.magic = kQuantMagic;
  h.version = kQuantVersion;
  h.metric = static_cast<uint32_t>(metric_);
  h.dim = store_->dim();
  h.padded_dim = pd;
  h.train_count = n;
  h.code_segment_bytes = codes_->segment_bytes();
  std::string file(reinterpret_cast<const char*>(&h), sizeof h);
  file += trained->Serialize();
  const uint64_t checksum = XXH64(file.data(), file.size(), 0);
  file.append(reinterpret_cast<const char*>(&checksum), sizeof checksum);
  RETURN_IF_ERROR(WriteFileAtomically(dir_ / kQuantFile, file.data(), file.size()));

  quantizer_ = std::move(trained);
  codes_flushed_ = end;
  quantized_.store(true, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status HnswIndex::EncodeUpTo(uint32_t end) {
  if (quantizer_ == nullptr) {
    return end >= train_count_ ? Train(end) : absl::OkStatus();
  }
  RETURN_IF_ERROR(codes_->EnsureRecords(end));
  EncodeSlot(*quantizer_, end - 1, *insert_scratch_);
  return absl::OkStatus();
}

uint64_t HnswIndex::code_bytes_per_vector() const {
  return quantized() ? store_->padded_dim() + sizeof(float) : 0;
}

uint32_t* HnswIndex::List(uint32_t id, int level) const {
  if (level == 0) return Record(id);
  if (LevelOf(id) < level) return nullptr;
  const uint64_t upper_words = LoadWord(Record(id) + 1 + m0_);
  const uint64_t begin = (upper_words + uint64_t(level - 1) * (1 + params_.M)) * 4;
  const uint64_t end = begin + uint64_t{1 + params_.M} * 4;
  // Only corrupt files fail these; the indexer allocates inside one mapped segment.
  if (end > upper_->capacity() || upper_->ContiguousEnd(begin) < end) return nullptr;
  return reinterpret_cast<uint32_t*>(upper_->At(begin));
}

int HnswIndex::max_level() const {
  uint64_t e = entry_.load(std::memory_order_acquire);
  return static_cast<int>(e >> 32) - 1;
}

uint64_t HnswIndex::graph_bytes() const {
  return uint64_t{indexed_count()} * links_->record_bytes() +
         upper_used_.load(std::memory_order_relaxed);
}

double HnswIndex::graph_bytes_per_vector() const {
  uint32_t n = indexed_count();
  return n == 0 ? 0.0 : static_cast<double>(graph_bytes()) / n;
}

uint64_t HnswIndex::mapped_bytes() const {
  return links_->mapped_bytes() + upper_->capacity() +
         (codes_ != nullptr ? codes_->mapped_bytes() : 0);
}

// ---------------------------------------------------------------------------------------------
// Search

template <typename D>
HnswCandidate HnswIndex::Greedy(const D& dist, Candidate cur, int level, uint32_t count) const {
  for (bool changed = true; changed;) {
    changed = false;
    const uint32_t* list = List(cur.id, level);
    if (list == nullptr) break;
    const uint32_t n = std::min(LoadWord(list), params_.M);
    for (uint32_t j = 0; j < n; ++j) {
      const uint32_t id = LoadWord(list + 1 + j);
      if (id >= count) continue;  // not yet published, or left over from before a crash
      const float d = dist(id);
      if (d < cur.dist) {
        cur = {d, id};
        changed = true;
      }
    }
  }
  return cur;
}

// The ef-bounded best-first search of one level (Algorithm 2 of the paper), as hnswlib's
// searchBaseLayerST: with a filter, rejected nodes are expanded like any other but never enter
// `results`, and the search does not stop before it holds ef allowed nodes or runs out of graph.
template <bool kFiltered, typename D>
void HnswIndex::SearchLevel(const D& dist, Candidate entry, int level, size_t ef,
                            const SlotFilter* filter, uint32_t count, Scratch& s) const {
  const uint16_t epoch = s.NewEpoch(count);
  uint16_t* const visited = s.visited.data();
  auto& candidates = s.candidates;
  auto& results = s.results;
  candidates.clear();
  results.clear();
  const uint32_t max_links = level == 0 ? m0_ : params_.M;
  if (s.ids.size() < max_links) s.ids.resize(max_links);
  uint32_t* const ids = s.ids.data();

  visited[entry.id] = epoch;
  float bound = std::numeric_limits<float>::infinity();
  if (!kFiltered || filter->Allowed(entry.id)) {
    results.push_back(entry);
    bound = entry.dist;
  }
  candidates.push_back(entry);

  while (!candidates.empty()) {
    const Candidate current = candidates.front();
    if (current.dist > bound && (!kFiltered || results.size() >= ef)) break;
    std::pop_heap(candidates.begin(), candidates.end(), Farther());
    candidates.pop_back();

    const uint32_t* list = List(current.id, level);
    if (list == nullptr) continue;
    const uint32_t n = std::min(LoadWord(list), max_links);
    uint32_t m = 0;
    for (uint32_t j = 0; j < n; ++j) {
      const uint32_t id = LoadWord(list + 1 + j);
      if (id >= count || visited[id] == epoch) continue;
      visited[id] = epoch;
      ids[m++] = id;
    }
    constexpr uint32_t kAhead = 2;
    for (uint32_t j = 0; j < std::min(m, kAhead); ++j) dist.Prefetch(ids[j]);
    for (uint32_t j = 0; j < m; ++j) {
      if (j + kAhead < m) dist.Prefetch(ids[j + kAhead]);
      const uint32_t id = ids[j];
      const float d = dist(id);
      if (results.size() < ef || d < bound) {
        candidates.push_back({d, id});
        std::push_heap(candidates.begin(), candidates.end(), Farther());
        if (!kFiltered || filter->Allowed(id)) {
          results.push_back({d, id});
          std::push_heap(results.begin(), results.end(), Worse());
          if (results.size() > ef) {
            std::pop_heap(results.begin(), results.end(), Worse());
            results.pop_back();
          }
        }
        if (!results.empty()) bound = results.front().dist;
      }
    }
    if (!candidates.empty() && level == 0) {
      __builtin_prefetch(Record(candidates.front().id), 0, 3);
    }
  }
}

template <Metric kMetric>
SearchResults HnswIndex::SearchImpl(const float* query, size_t k, size_t ef,
                                    const SlotFilter* filter) const {
  SearchResults out;
  const uint64_t entry = entry_.load(std::memory_order_acquire);
  if (k == 0 || entry == 0) return out;
  // Read after entry_: a published entry point is always below this count.
  const uint32_t count = count_.load(std::memory_order_acquire);

  PooledScratch pooled(*scratch_pool_);
  Scratch& s = *pooled;
  const size_t pd = store_->padded_dim();
  s.query.resize(pd);
  internal::PrepareQuery(kMetric, query, store_->dim(), pd, s.query.data());
  const DistanceKernel kernel = kMetric == Metric::kL2 ? kernels_.l2_sqr : kernels_.dot;
  const Dist<kMetric> dist{store_, kernel, s.query.data(), pd};

  ef = std::max(ef, k);
  if (quantized_.load(std::memory_order_acquire)) {
    return SearchQuantized(dist, k, ef, filter, entry, count, s);
  }
  const uint32_t ep = static_cast<uint32_t>(entry);
  const int top = static_cast<int>(entry >> 32) - 1;
  Candidate cur{dist(ep), ep};
  for (int level = top; level > 0; --level) cur = Greedy(dist, cur, level, count);

  if (filter != nullptr) {
    SearchLevel<true>(dist, cur, 0, ef, filter, count, s);
  } else {
    SearchLevel<false>(dist, cur, 0, ef, nullptr, count, s);
  }
  std::sort_heap(s.results.begin(), s.results.end(), Worse());
  const size_t n = std::min(k, s.results.size());
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.emplace_back(-s.results[i].dist, s.results[i].id);
  return out;
}

// The quantized distances for the query of `dist` (its int16 table in s.code_query).
template <Metric kMetric>
HnswIndex::CodeDist<kMetric> HnswIndex::CodeDistFor(const Dist<kMetric>& dist, Scratch& s) const {
  const size_t pd = store_->padded_dim();
  s.code_query.resize(pd);
  CodeDist<kMetric> code{codes_.get(), kernels_.code_dot, s.code_query.data(), 0, 0, pd};
  if constexpr (kMetric == Metric::kL2) {
    quantizer_->PrepareL2(dist.query, s.code_query.data(), &code.scale, &code.offset);
  } else {
    quantizer_->PrepareDot(dist.query, s.code_query.data(), &code.scale, &code.offset);
  }
  return code;
}

// Replaces the candidates' quantized distances with the float ones (order unchanged).
template <Metric kMetric>
void HnswIndex::Rescore(const Dist<kMetric>& dist, std::vector<Candidate>& candidates) {
  for (const Candidate& c : candidates) dist.Prefetch(c.id);
  for (Candidate& c : candidates) c.dist = dist(c.id);
}

// The traversal with int8 codes, then the float re-rank of its ef candidates.
template <Metric kMetric>
SearchResults HnswIndex::SearchQuantized(const Dist<kMetric>& dist, size_t k, size_t ef,
                                         const SlotFilter* filter, uint64_t entry, uint32_t count,
                                         Scratch& s) const {
  const CodeDist<kMetric> code = CodeDistFor(dist, s);
  const uint32_t ep = static_cast<uint32_t>(entry);
  const int top = static_cast<int>(entry >> 32) - 1;
  Candidate cur{code(ep), ep};
  for (int level = top; level > 0; --level) cur = Greedy(code, cur, level, count);
  if (filter != nullptr) {
    SearchLevel<true>(code, cur, 0, ef, filter, count, s);
  } else {
    SearchLevel<false>(code, cur, 0, ef, nullptr, count, s);
  }
  Rescore(dist, s.results);
  const size_t n = std::min(k, s.results.size());
  std::partial_sort(s.results.begin(), s.results.begin() + n, s.results.end(), Worse());
  SearchResults out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.emplace_back(-s.results[i].dist, s.results[i].id);
  return out;
}

SearchResults HnswIndex::Search(const float* query, size_t k, size_t ef,
                                const SlotFilter* filter) const {
  switch (metric_) {
    case Metric::kL2:
      return SearchImpl<Metric::kL2>(query, k, ef, filter);
    case Metric::kInnerProduct:
      return SearchImpl<Metric::kInnerProduct>(query, k, ef, filter);
    case Metric::kCosine:
      break;
  }
  return SearchImpl<Metric::kCosine>(query, k, ef, filter);
}

SearchResults HnswIndex::ExactSearch(const float* query, size_t k, uint32_t slot_begin,
                                     uint32_t slot_end, const SlotFilter* filter) const {
  return vector::ExactSearch(*store_, metric_, query, k, slot_begin, slot_end, filter);
}

// ---------------------------------------------------------------------------------------------
// Insert

// hnswlib's getNeighborsByHeuristic2: walk the candidates nearest first and keep one only if it
// is closer to the base than to every neighbour kept so far. Fewer than m candidates are all kept.
template <Metric kMetric>
void HnswIndex::SelectNeighbors(const Dist<kMetric>& dist, const std::vector<Candidate>& sorted,
                                size_t m, std::vector<Candidate>& out) const {
  out.clear();
  if (sorted.size() < m) {
    out = sorted;
    return;
  }
  for (const Candidate& c : sorted) {
    if (out.size() >= m) break;
    bool good = true;
    for (const Candidate& kept : out) {
      if (dist.Between(kept.id, c.id) < c.dist) {
        good = false;
        break;
      }
    }
    if (good) out.push_back(c);
  }
}

// Adds the back-link node -> new_id at `level`, pruning node's list with the heuristic when full.
template <Metric kMetric>
void HnswIndex::AddLink(const Dist<kMetric>& dist, uint32_t node, uint32_t new_id, int level,
                        Scratch& s) {
  uint32_t* list = List(node, level);
  if (list == nullptr) return;
  const uint32_t max_links = level == 0 ? m0_ : params_.M;
  const uint32_t n = std::min(LoadWord(list), max_links);
  bool clean = true;  // false if the list holds ids from an insert lost in a crash
  for (uint32_t j = 0; j < n; ++j) clean &= LoadWord(list + 1 + j) < new_id;
  if (clean && n < max_links) {
    StoreWord(list + 1 + n, new_id);
    StoreWord(list, n + 1);
    return;
  }
  s.pool.clear();
  s.pool.push_back({dist.Between(node, new_id), new_id});
  for (uint32_t j = 0; j < n; ++j) {
    const uint32_t id = LoadWord(list + 1 + j);
    if (id < new_id) s.pool.push_back({dist.Between(node, id), id});
  }
  std::sort(s.pool.begin(), s.pool.end(), Worse());
  const std::vector<Candidate>* keep = &s.pool;
  if (s.pool.size() > max_links) {
    SelectNeighbors(dist, s.pool, max_links, s.pruned);
    keep = &s.pruned;
  }
  // Readers may see a mix of old and new entries for a moment; every one is a valid node id.
  for (size_t j = 0; j < keep->size(); ++j) StoreWord(list + 1 + j, (*keep)[j].id);
  StoreWord(list, static_cast<uint32_t>(keep->size()));
}

template <Metric kMetric>
absl::Status HnswIndex::InsertImpl(uint32_t slot) {
  const int level = LevelOf(slot);
  RETURN_IF_ERROR(links_->EnsureRecords(uint64_t{slot} + 1));
  uint64_t upper_used = upper_used_.load(std::memory_order_relaxed);
  uint64_t upper_begin = 0;
  if (level > 0) {
    const uint64_t bytes = uint64_t(level) * (1 + params_.M) * 4;
    if (bytes > upper_->segment_bytes()) {
      return absl::InternalError("hnsw: upper links do not fit a segment");
    }
    upper_begin = upper_used;
    if (upper_->ContiguousEnd(upper_begin) < upper_begin + bytes) {
      upper_begin = upper_->ContiguousEnd(upper_begin);
    }
    if ((upper_begin + bytes) / 4 > std::numeric_limits<uint32_t>::max()) {
      return absl::ResourceExhaustedError("hnsw: upper link file is full");
    }
    RETURN_IF_ERROR(upper_->EnsureCapacity(upper_begin + bytes));
    upper_used = upper_begin + bytes;
  }
  // Nothing below can fail.
  uint32_t* record = Record(slot);
  StoreWord(record, 0);
  StoreWord(record + 1 + m0_, static_cast<uint32_t>(upper_begin / 4));
  for (int l = 0; l < level; ++l) {
    StoreWord(
        reinterpret_cast<uint32_t*>(upper_->At(upper_begin + uint64_t(l) * (1 + params_.M) * 4)),
        0);
  }
  upper_used_.store(upper_used, std::memory_order_relaxed);

  const uint64_t entry = entry_.load(std::memory_order_relaxed);
  if (entry == 0) {
    count_.store(slot + 1, std::memory_order_release);
    entry_.store(PackEntry(slot, level), std::memory_order_release);
    return absl::OkStatus();
  }

  Scratch& s = *insert_scratch_;
  const size_t pd = store_->padded_dim();
  s.query.resize(pd);
  internal::PrepareQuery(kMetric, store_->Get(slot), store_->dim(), pd, s.query.data());
  const DistanceKernel kernel = kMetric == Metric::kL2 ? kernels_.l2_sqr : kernels_.dot;
  const Dist<kMetric> dist{store_, kernel, s.query.data(), pd};

  const uint32_t ep = static_cast<uint32_t>(entry);
  const int top = static_cast<int>(entry >> 32) - 1;
  // The graph search for the new node's neighbours runs on `traverse`: the float distances, or,
  // once the namespace is quantized, the 8-bit codes (a quarter of the bytes per visited node),
  // as a quantized query does. The candidates are then re-scored with the floats, and the
  // neighbours chosen and the back-links pruned on the floats, so the graph keeps float quality.
  auto link = [&](const auto& traverse, bool rescore) {
    Candidate cur{traverse(ep), ep};
    for (int l = top; l > level; --l) cur = Greedy(traverse, cur, l, slot);
    for (int l = std::min(level, top); l >= 0; --l) {
      SearchLevel<false>(traverse, cur, l, params_.ef_construction, nullptr, slot, s);
      if (rescore) {
        Rescore(dist, s.results);
        std::sort(s.results.begin(), s.results.end(), Worse());
      } else {
        std::sort_heap(s.results.begin(), s.results.end(), Worse());
      }
      SelectNeighbors(dist, s.results, params_.M, s.selected);
      uint32_t* own = List(slot, l);
      for (size_t j = 0; j < s.selected.size(); ++j) StoreWord(own + 1 + j, s.selected[j].id);
      StoreWord(own, static_cast<uint32_t>(s.selected.size()));
      for (const Candidate& c : s.selected) AddLink(dist, c.id, slot, l, s);
      cur = {traverse(s.selected.front().id), s.selected.front().id};
    }
  };
  if (quantized_.load(std::memory_order_relaxed)) {  // set by this (the indexer) thread
    link(CodeDistFor(dist, s), /*rescore=*/true);
  } else {
    link(dist, /*rescore=*/false);
  }

  count_.store(slot + 1, std::memory_order_release);
  if (level > top) entry_.store(PackEntry(slot, level), std::memory_order_release);
  return absl::OkStatus();
}

absl::Status HnswIndex::Insert(uint32_t slot) {
  const uint32_t count = count_.load(std::memory_order_relaxed);
  if (slot != count) {
    return absl::InvalidArgumentError(
        absl::StrCat("hnsw insert: slot ", slot, ", expected the next slot ", count));
  }
  // Acquire: the vector's bytes happen-before this insert and thus every search that sees it.
  if (slot >= store_->published_count()) {
    return absl::FailedPreconditionError(
        absl::StrCat("hnsw insert: slot ", slot, " is not published in the vector store"));
  }
  // The code goes in before InsertImpl publishes the node (its release of count_ covers it).
  if (quantization_ != Quantization::kNone) RETURN_IF_ERROR(EncodeUpTo(slot + 1));
  switch (metric_) {
    case Metric::kL2:
      return InsertImpl<Metric::kL2>(slot);
    case Metric::kInnerProduct:
      return InsertImpl<Metric::kInnerProduct>(slot);
    case Metric::kCosine:
      break;
  }
  return InsertImpl<Metric::kCosine>(slot);
}

// ---------------------------------------------------------------------------------------------
// Persistence

absl::Status HnswIndex::Checkpoint() {
  const uint32_t count = count_.load(std::memory_order_relaxed);
  const uint64_t entry = entry_.load(std::memory_order_relaxed);
  const uint64_t upper_used = upper_used_.load(std::memory_order_relaxed);
  // Old nodes' lists change on every insert, so the whole graph is flushed; msync writes only
  // the dirty pages.
  RETURN_IF_ERROR(links_->Flush(0, count));
  RETURN_IF_ERROR(upper_->Flush(0, upper_used));
  if (quantized_.load(std::memory_order_relaxed) && codes_flushed_ < count) {
    RETURN_IF_ERROR(codes_->Flush(codes_flushed_, count));
    codes_flushed_ = count;
  }
  RETURN_IF_ERROR(WriteMeta(count, entry, upper_used));
  checkpointed_ = count;
  return absl::OkStatus();
}

absl::Status HnswIndex::WriteMeta(uint32_t count, uint64_t entry, uint64_t upper_used) {
  Meta m{};
  m.magic = kMagic;
  m.version = kFormatVersion;
  m.metric = static_cast<uint32_t>(metric_);
  m.dim = store_->dim();
  m.m = params_.M;
  m.m0 = m0_;
  m.ef_construction = params_.ef_construction;
  m.level_seed = params_.level_seed;
  m.link_segment_bytes = links_->segment_bytes();
  m.upper_segment_bytes = upper_->segment_bytes();
  m.node_count = count;
  m.entry = entry;
  m.upper_used = upper_used;
  m.checksum = MetaChecksum(m);
  return WriteFileAtomically(dir_ / kMetaFile, &m, sizeof m);
}

}  // namespace engram::storage::vector
