#include "services/hybrid/embed/word_vectors_embedder.h"

#include <Eigen/Dense>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/hybrid/embed/deterministic_math.h"
#include "services/hybrid/embed/hashing_embedder.h"
#include "common/text/tokenizer.h"
#include "common/text/absl_view.h"
#include "spdlog/spdlog.h"

namespace engram::hybrid {
namespace {

constexpr double kEulerGamma = 0.57721566490153286061;

bool FileExists(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

// Visits the character 3..5-grams of "<token>" (code points), as in HashingEmbedder.
template <typename Fn>
void ForEachCharGram(std::string_view token, Fn&& fn) {
  std::string padded = "<";
  padded.append(token).append(">");
  const std::vector<std::string_view> cps = text::SplitCodePoints(padded);
  for (size_t n = 3; n <= 5; ++n) {
    for (size_t start = 0; start + n <= cps.size(); ++start) {
      const char* begin = cps[start].data();
      const char* end = cps[start + n - 1].data() + cps[start + n - 1].size();
      fn(std::string_view(begin, end - begin));
    }
  }
}

uint32_t SubwordBucket(std::string_view gram, uint32_t buckets) {
  return static_cast<uint32_t>(HashingEmbedder::Hash(std::string("o:").append(gram)) % buckets);
}

}  // namespace

WordVectorsEmbedder::WordVectorsEmbedder(std::string name, WordVectorTable table,
                                         const WordVectorsOptions& options)
    : name_(std::move(name)), options_(options), table_(std::move(table)) {}

absl::StatusOr<std::unique_ptr<WordVectorsEmbedder>> WordVectorsEmbedder::Load(
    std::string name, const std::string& directory, const WordVectorsOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (!(options.sif_a > 0) || !std::isfinite(options.sif_a)) {
    return absl::InvalidArgumentError("word vectors: sif_a must be > 0");
  }
  const std::filesystem::path dir(directory);
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(name, ": model directory ", directory, " not found"));
  }

  struct Candidate {
    const char* file;
    bool binary;
  };
  std::vector<Candidate> present;
  for (Candidate c : {Candidate{"vectors.bin", true}, Candidate{"vectors.vec", false},
                      Candidate{"vectors.txt", false}}) {
    if (FileExists(dir / c.file)) present.push_back(c);
  }
  if (present.empty()) {
    return absl::NotFoundError(
        absl::StrCat(name, ": model directory ", directory,
                     " has no vectors file (expected vectors.bin, vectors.vec or vectors.txt)"));
  }
  if (present.size() > 1) {
    std::vector<std::string> names;
    for (const Candidate& c : present) names.push_back(c.file);
    return absl::InvalidArgumentError(absl::StrCat(name, ": model directory ", directory,
                                                   " has several vectors files (",
                                                   absl::StrJoin(names, ", "), "); keep one"));
  }
  const std::string vectors_path = (dir / present[0].file).string();
  absl::StatusOr<WordVectorTable> table =
      present[0].binary ? ReadBinaryWordVectors(vectors_path, options.max_words)
                        : ReadTextWordVectors(vectors_path, options.max_words);
  if (!table.ok()) return table.status();

  auto embedder = std::unique_ptr<WordVectorsEmbedder>(
      new WordVectorsEmbedder(std::move(name), *std::move(table), options));
  LoadStats& stats = embedder->stats_;
  stats.vectors_file = vectors_path;
  stats.format = present[0].binary ? "binary" : "text";
  stats.words = embedder->table_.size();
  stats.duplicate_words = embedder->table_.duplicate_words();
  stats.dimension = embedder->table_.dimension();

  const std::filesystem::path frequencies_path = dir / "frequencies.txt";
  if (FileExists(frequencies_path)) {
    auto frequencies = ReadWordFrequencies(frequencies_path.string());
    if (!frequencies.ok()) return frequencies.status();
    stats.frequencies_from_file = true;
    embedder->ComputeSifWeights(&*frequencies);
  } else {
    embedder->ComputeSifWeights(nullptr);
  }

  double norm_sum = 0;
  for (size_t row = 0; row < embedder->table_.size(); ++row) {
    double n2 = 0;
    for (float x : embedder->table_.vector(row)) n2 += static_cast<double>(x) * x;
    norm_sum += std::sqrt(n2);
  }
  embedder->mean_norm_ = norm_sum / embedder->table_.size();

  if (options.remove_common_component) {
    const std::filesystem::path component_path = dir / "common_component.txt";
    if (FileExists(component_path)) {
      auto component = ReadFloatVector(component_path.string(), embedder->dimension());
      if (!component.ok()) return component.status();
      double n2 = 0;
      for (float x : *component) n2 += static_cast<double>(x) * x;
      if (!(n2 > 0)) {
        return absl::InvalidArgumentError(
            absl::StrCat(component_path.string(), ": the common component is the zero vector"));
      }
      const double inv = 1.0 / std::sqrt(n2);
      for (float& x : *component) x = static_cast<float>(x * inv);
      embedder->common_component_ = *std::move(component);
      stats.common_component_from_file = true;
    } else {
      embedder->ComputeCommonComponent();
    }
  }
  if (options.oov_buckets > 0) embedder->BuildSubwordBuckets();

  stats.memory_bytes =
      embedder->table_.MemoryBytes() + embedder->sif_weights_.capacity() * sizeof(float) +
      embedder->buckets_.capacity() * sizeof(float) + embedder->bucket_filled_.capacity() +
      embedder->common_component_.capacity() * sizeof(float);
  stats.load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info(
      "embedder {}: loaded {} words x {} dims ({} format, {} duplicates) from {} in {:.3f}s, "
      "{:.1f} MiB; SIF frequencies from {}, common component {}",
      embedder->name_, stats.words, stats.dimension, stats.format, stats.duplicate_words,
      vectors_path, stats.load_seconds, stats.memory_bytes / (1024.0 * 1024.0),
      stats.frequencies_from_file ? "frequencies.txt" : "Zipf ranks",
      !options.remove_common_component   ? "off"
      : stats.common_component_from_file ? "from common_component.txt"
                                         : "computed");
  return embedder;
}

void WordVectorsEmbedder::ComputeSifWeights(
    const absl::flat_hash_map<std::string, uint64_t>* frequencies) {
  const size_t n = table_.size();
  const double a = options_.sif_a;
  sif_weights_.resize(n);
  double min_p = 1.0;
  if (frequencies != nullptr) {
    // Words of the model missing from the file count once.
    // Integer sum: the map's iteration order varies between processes, the total must not.
    uint64_t total_count = 0;
    for (const auto& [word, count] : *frequencies) {
      total_count = count > UINT64_MAX - total_count ? UINT64_MAX : total_count + count;
    }
    const double total = static_cast<double>(total_count);
    for (size_t row = 0; row < n; ++row) {
      auto it = frequencies->find(AbslView(table_.word(row)));
      const double count = it == frequencies->end() ? 1.0 : static_cast<double>(it->second);
      const double p = count / total;
      min_p = std::min(min_p, p);
      sif_weights_[row] = static_cast<float>(a / (a + p));
    }
  } else {
    // Zipf: p(rank r) = 1 / (r * H_N), H_N ~ ln N + gamma + 1 / (2N).
    const double harmonic = DeterministicLog(static_cast<double>(n)) + kEulerGamma + 0.5 / n;
    for (size_t row = 0; row < n; ++row) {
      const double p = 1.0 / ((row + 1.0) * harmonic);
      min_p = std::min(min_p, p);
      sif_weights_[row] = static_cast<float>(a / (a + p));
    }
  }
  oov_weight_ = static_cast<float>(a / (a + min_p));
}

void WordVectorsEmbedder::ComputeCommonComponent() {
  const int d = table_.dimension();
  const size_t rows =
      std::min(table_.size(), std::max<size_t>(options_.common_component_sample, 1));
  Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(d, d);
  for (size_t row = 0; row < rows; ++row) {
    const Eigen::Map<const Eigen::VectorXf> v(table_.vector(row).data(), d);
    const Eigen::VectorXd vd = v.cast<double>();
    gram.selfadjointView<Eigen::Lower>().rankUpdate(vd);
  }
  gram = gram.selfadjointView<Eigen::Lower>();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(gram);
  if (solver.info() != Eigen::Success) {
    spdlog::warn("embedder {}: common component did not converge; not removing it", name_);
    return;
  }
  // Eigenvalues ascend: the last column is the top principal direction.
  Eigen::VectorXd u = solver.eigenvectors().col(d - 1);
  if (!(u.norm() > 0)) return;
  u.normalize();
  // Fix the sign (irrelevant to the projection, but keeps the stored vector reproducible).
  Eigen::Index largest = 0;
  u.cwiseAbs().maxCoeff(&largest);
  if (u[largest] < 0) u = -u;
  common_component_.resize(d);
  for (int i = 0; i < d; ++i) common_component_[i] = static_cast<float>(u[i]);
}

void WordVectorsEmbedder::BuildSubwordBuckets() {
  const int d = table_.dimension();
  const uint32_t buckets = options_.oov_buckets;
  std::vector<double> sums(static_cast<size_t>(buckets) * d, 0.0);
  std::vector<uint32_t> counts(buckets, 0);
  const size_t rows = std::min(table_.size(), options_.oov_sample_words);
  std::vector<double> unit(d);
  for (size_t row = 0; row < rows; ++row) {
    const absl::Span<const float> v = table_.vector(row);
    double n2 = 0;
    for (float x : v) n2 += static_cast<double>(x) * x;
    if (!(n2 > 0)) continue;
    const double inv = 1.0 / std::sqrt(n2);
    for (int i = 0; i < d; ++i) unit[i] = v[i] * inv;
    ForEachCharGram(text::LowercaseText(table_.word(row)), [&](std::string_view gram) {
      const uint32_t b = SubwordBucket(gram, buckets);
      double* sum = sums.data() + static_cast<size_t>(b) * d;
      for (int i = 0; i < d; ++i) sum[i] += unit[i];
      ++counts[b];
    });
  }
  buckets_.assign(static_cast<size_t>(buckets) * d, 0.0f);
  bucket_filled_.assign(buckets, 0);
  for (uint32_t b = 0; b < buckets; ++b) {
    if (counts[b] == 0) continue;
    bucket_filled_[b] = 1;
    for (int i = 0; i < d; ++i) {
      buckets_[static_cast<size_t>(b) * d + i] =
          static_cast<float>(sums[static_cast<size_t>(b) * d + i] / counts[b]);
    }
  }
}

std::optional<float> WordVectorsEmbedder::SifWeight(std::string_view word) const {
  const int64_t row = table_.Find(word);
  if (row < 0) return std::nullopt;
  return sif_weights_[row];
}

int64_t WordVectorsEmbedder::FindToken(std::string_view token) const {
  const int64_t row = table_.Find(token);
  if (row >= 0) return row;
  const std::string lower = text::LowercaseText(token);
  return lower == token ? -1 : table_.Find(lower);
}

bool WordVectorsEmbedder::AddSubwordVector(std::string_view token, double weight,
                                           std::vector<double>* sum) const {
  if (buckets_.empty()) return false;
  const int d = table_.dimension();
  std::vector<double> v(d, 0.0);
  int used = 0;
  ForEachCharGram(text::LowercaseText(token), [&](std::string_view gram) {
    const uint32_t b = SubwordBucket(gram, options_.oov_buckets);
    if (!bucket_filled_[b]) return;
    const float* bucket = buckets_.data() + static_cast<size_t>(b) * d;
    for (int i = 0; i < d; ++i) v[i] += bucket[i];
    ++used;
  });
  if (used == 0) return false;
  double n2 = 0;
  for (double x : v) n2 += x * x;
  if (!(n2 > 0)) return false;
  const double scale = weight * mean_norm_ / std::sqrt(n2);
  for (int i = 0; i < d; ++i) (*sum)[i] += v[i] * scale;
  return true;
}

absl::StatusOr<std::vector<float>> WordVectorsEmbedder::Embed(std::string_view text) const {
  const int d = table_.dimension();
  std::vector<double> sum(d, 0.0);
  size_t contributed = 0;
  for (const std::string& token : text::TokenizeText(text, /*lowercase=*/false)) {
    const int64_t row = FindToken(token);
    if (row >= 0) {
      const double w = sif_weights_[row];
      const absl::Span<const float> v = table_.vector(row);
      for (int i = 0; i < d; ++i) sum[i] += w * v[i];
      ++contributed;
    } else if (AddSubwordVector(token, oov_weight_, &sum)) {
      ++contributed;
    }
  }
  std::vector<float> out(d, 0.0f);
  if (contributed == 0) return out;
  for (double& x : sum) x /= static_cast<double>(contributed);
  if (!common_component_.empty()) {
    double dot = 0;
    for (int i = 0; i < d; ++i) dot += common_component_[i] * sum[i];
    for (int i = 0; i < d; ++i) sum[i] -= dot * common_component_[i];
  }
  double n2 = 0;
  for (double x : sum) n2 += x * x;
  if (!(n2 > 0)) return out;
  const double inv = 1.0 / std::sqrt(n2);
  for (int i = 0; i < d; ++i) out[i] = static_cast<float>(sum[i] * inv);
  return out;
}

}  // namespace engram::hybrid
