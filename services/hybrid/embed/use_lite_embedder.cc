#include "services/hybrid/embed/use_lite_embedder.h"

#include <Eigen/Dense>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/sha256.h"
#include "nlohmann/json.hpp"
#include "services/hybrid/embed/deterministic_math.h"
#include "spdlog/spdlog.h"

namespace engram::hybrid {

const std::array<UseLiteFile, 9> kUseLiteFiles = {{
    {"model.json", "507d11df18b070f99e0ad650b9a4e6534a4cfb05040127e8ce579f00c8fa3b53"},
    {"vocab.json", "1ad860b9720c16cd48e666d664a556b2515c04f5a26a4b53c0372427913b1b8e"},
    {"group1-shard1of7", "8775e61b6a4235ea230a62a0d81f1ff00f5213ce86baa5d89c29e611f8cd7412"},
    {"group1-shard2of7", "deaf897e5eea5be6c71ea62876a092034560b6f6fbc99c87a768076385a465bd"},
    {"group1-shard3of7", "50ee49b0daf620cf0cacda2f5fcc0da5929f4a3e520034844b6f8d9f3f4ec936"},
    {"group1-shard4of7", "c1a50daae51e7c6e1e904f5d8d638a8658a0a1d310b9345cd7a368866304d596"},
    {"group1-shard5of7", "410cde3029282e5f601c782985cbb5caa96977f6705dec981c98dd02e93fec6b"},
    {"group1-shard6of7", "83ef116b2b98dc98e03547280ca0166142fbf6b4547bf1d9e6d13a8f518c088b"},
    {"group1-shard7of7", "a29a5e08ee3afd839250b9187b89f1d3163749b5b1807bb175341a16c6012689"},
}};

namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMatrixMap = Eigen::Map<const Matrix>;
using ConstVectorMap = Eigen::Map<const Eigen::RowVectorXf>;

constexpr int kWidth0 = 256;  // layer 0 input
constexpr int kWidth = 512;   // everything after layer 0's attention
constexpr int kHidden = 1536;
constexpr int kHeads = 4;
constexpr float kLayerNormEpsilon = 1e-6f;
constexpr int kVocabularyRows = 8002;

constexpr absl::string_view kEncode = "module_apply_default/Encoder_en/KonaTransformer/Encode/";
constexpr absl::string_view kKernels = "module/Encoder_en/KonaTransformer/Encode/";

absl::StatusOr<std::string> ReadVerified(const std::filesystem::path& dir, const UseLiteFile& file) {
  const std::filesystem::path path = dir / file.name;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("use-lite model: ", path.string(),
                                            " is missing (the build installs the model into "
                                            "<build>/models/use-lite; --model_dir names the parent)"));
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    return absl::UnavailableError(absl::StrCat("use-lite model: cannot read ", path.string()));
  }
  const std::string digest = crypto::Sha256Hex(bytes);
  if (digest != file.sha256) {
    return absl::DataLossError(absl::StrCat("use-lite model: ", path.string(), " is damaged (SHA-256 ",
                                            digest, ", expected ", file.sha256, ", ",
                                            bytes.size(), " bytes)"));
  }
  return bytes;
}

// out = LN(x) with per-column scale and bias; rows are tokens.
Matrix LayerNorm(const Matrix& x, const float* scale, const float* bias) {
  const int d = static_cast<int>(x.cols());
  Matrix out(x.rows(), d);
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    float sum = 0;
    for (int c = 0; c < d; ++c) sum += x(r, c);
    const float mean = sum / d;
    float squares = 0;
    for (int c = 0; c < d; ++c) squares += (x(r, c) - mean) * (x(r, c) - mean);
    const float inv = 1.0f / std::sqrt(squares / d + kLayerNormEpsilon);
    for (int c = 0; c < d; ++c) out(r, c) = (scale[c] * inv) * (x(r, c) - mean) + bias[c];
  }
  return out;
}

// x W + b, W: in x out (row-major, as TensorFlow stores kernels).
Matrix Dense(const Matrix& x, const float* w, const float* b, int out) {
  Matrix y = x * ConstMatrixMap(w, x.cols(), out);
  y.rowwise() += ConstVectorMap(b, out);
  return y;
}

}  // namespace

struct UseLiteEmbedder::Layer {
  int input_width = 0;
  int head_width = 0;  // per head
  float query_scale = 0;
  const float *ln_scale = nullptr, *ln_bias = nullptr;
  const float *qkv = nullptr, *qkv_bias = nullptr;        // input x 3*heads*head_width
  const float *output = nullptr, *output_bias = nullptr;  // heads*head_width x kWidth
  const float *residual = nullptr, *residual_bias = nullptr;  // layer 0 only: input x kWidth
  const float *ffn_ln_scale = nullptr, *ffn_ln_bias = nullptr;
  const float *ffn1 = nullptr, *ffn1_bias = nullptr;  // kWidth x kHidden
  const float *ffn2 = nullptr, *ffn2_bias = nullptr;  // kHidden x kWidth

  // One layer over one text's tokens (rows).
  Matrix Apply(const Matrix& x) const {
    const int n = static_cast<int>(x.rows());
    const int attention_width = kHeads * head_width;
    const Matrix h = LayerNorm(x, ln_scale, ln_bias);
    const Matrix qkv_out = Dense(h, qkv, qkv_bias, 3 * attention_width);
    Matrix attended(n, attention_width);
    Matrix scores(n, n);
    for (int head = 0; head < kHeads; ++head) {
      const int q0 = head * head_width;
      const int k0 = attention_width + q0;
      const int v0 = 2 * attention_width + q0;
      scores.noalias() = (qkv_out.middleCols(q0, head_width) * query_scale) *
                         qkv_out.middleCols(k0, head_width).transpose();
      for (int r = 0; r < n; ++r) {
        const float top = scores.row(r).maxCoeff();
        float total = 0;
        for (int c = 0; c < n; ++c) {
          scores(r, c) = static_cast<float>(DeterministicExp(scores(r, c) - top));
          total += scores(r, c);
        }
        scores.row(r) /= total;
      }
      attended.middleCols(q0, head_width).noalias() = scores * qkv_out.middleCols(v0, head_width);
    }
    Matrix y = Dense(attended, output, output_bias, kWidth);
    if (residual != nullptr) {
      y += Dense(x, residual, residual_bias, kWidth);
    } else {
      y += x;
    }
    Matrix f = Dense(LayerNorm(y, ffn_ln_scale, ffn_ln_bias), ffn1, ffn1_bias, kHidden).cwiseMax(0.0f);
    return Dense(f, ffn2, ffn2_bias, kWidth) + y;
  }
};

absl::StatusOr<std::shared_ptr<const UseLiteEmbedder>> UseLiteEmbedder::Load(const std::string& directory) {
  const auto started = std::chrono::steady_clock::now();
  const std::filesystem::path dir(directory);
  std::vector<std::string> files;
  for (const UseLiteFile& file : kUseLiteFiles) {
    absl::StatusOr<std::string> bytes = ReadVerified(dir, file);
    if (!bytes.ok()) return bytes.status();
    files.push_back(*std::move(bytes));
  }
  std::shared_ptr<UseLiteEmbedder> e(new UseLiteEmbedder());
  absl::StatusOr<UseLiteTokenizer> tokenizer =
      UseLiteTokenizer::FromVocabularyJson(files[1], (dir / "vocab.json").string());
  if (!tokenizer.ok()) return tokenizer.status();
  e->tokenizer_.emplace(*std::move(tokenizer));

  // The weights: shards concatenated; names, shapes and offsets from the manifest.
  size_t total = 0;
  for (size_t i = 2; i < files.size(); ++i) total += files[i].size();
  e->weights_.resize(total / sizeof(float));
  size_t at = 0;
  for (size_t i = 2; i < files.size(); ++i) {
    std::memcpy(reinterpret_cast<char*>(e->weights_.data()) + at, files[i].data(), files[i].size());
    at += files[i].size();
  }
  const std::string manifest_name = (dir / "model.json").string();
  const nlohmann::json model = nlohmann::json::parse(files[0], nullptr, /*allow_exceptions=*/false);
  if (model.is_discarded() || !model.contains("weightsManifest")) {
    return absl::InvalidArgumentError(absl::StrCat(manifest_name, ": no weightsManifest"));
  }
  struct Weight {
    size_t offset;  // floats
    std::vector<int64_t> shape;
  };
  absl::flat_hash_map<std::string, Weight> weights;
  size_t offset = 0;
  for (const nlohmann::json& group : model["weightsManifest"]) {
    for (const nlohmann::json& w : group.value("weights", nlohmann::json::array())) {
      std::vector<int64_t> shape = w.value("shape", std::vector<int64_t>{});
      size_t count = 1;
      for (int64_t d : shape) count *= static_cast<size_t>(d);
      weights[w.value("name", "")] = {offset, shape};
      offset += count;  // float32 and int32 are both 4 bytes
    }
  }
  if (offset != e->weights_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(manifest_name, ": the manifest describes ", offset * 4,
                                                   " bytes of weights, the shards hold ", total));
  }
  absl::Status missing = absl::OkStatus();
  const auto get = [&](absl::string_view prefix, absl::string_view name,
                       std::vector<int64_t> shape) -> const float* {
    const std::string full = absl::StrCat(prefix, name);
    auto it = weights.find(full);
    if (it == weights.end() || it->second.shape != shape) {
      if (missing.ok()) {
        missing = absl::InvalidArgumentError(
            absl::StrCat(manifest_name, ": weight ", full, it == weights.end() ? " is missing" : " has another shape"));
      }
      return nullptr;
    }
    return e->weights_.data() + it->second.offset;
  };
  e->embeddings_ = get("", "module/Embeddings_en", {kVocabularyRows, kWidth0});
  e->vocabulary_rows_ = kVocabularyRows;
  const float* rates = get(kEncode, "TransformerStack/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1", {1, 128});
  for (int i = 0; i < 2; ++i) {
    auto layer = std::make_unique<Layer>();
    const int in = i == 0 ? kWidth0 : kWidth;
    layer->input_width = in;
    layer->head_width = i == 0 ? 64 : 128;
    layer->query_scale = i == 0 ? 0.125f : 0.0883883461356163f;
    const std::string l = absl::StrCat("Layer_", i, "/TransformerLayer/");
    const std::string s = absl::StrCat("TransformerStack/Layer_", i, "/TransformerLayer/");
    const int aw = kHeads * layer->head_width;
    layer->ln_scale = get(kEncode, l + "layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat", {in});
    layer->ln_bias = get(kEncode, l + "layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat", {in});
    layer->qkv = get(kKernels, l + "MultiheadAttention/qkv_transform_single/kernel/part_0", {1, 1, in, 3 * aw});
    layer->qkv_bias = get(kEncode, l + "MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat", {3 * aw});
    layer->output = get(kKernels, l + "MultiheadAttention/output_transform_single/kernel/part_0", {1, 1, aw, kWidth});
    layer->output_bias = get(kEncode, l + "MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat", {kWidth});
    if (i == 0) {
      layer->residual = get(kEncode, l + "dense/kernel/ConcatPartitions/concat", {in, kWidth});
      layer->residual_bias = get(kEncode, l + "dense/bias/ConcatPartitions/concat", {kWidth});
    }
    layer->ffn_ln_scale = get(kEncode, l + "FFN/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat", {kWidth});
    layer->ffn_ln_bias = get(kEncode, l + "FFN/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat", {kWidth});
    layer->ffn1 = get(kEncode, s + "FFN/conv1/Tensordot/Reshape_1", {kWidth, kHidden});
    layer->ffn1_bias = get(kEncode, l + "FFN/conv1/bias/ConcatPartitions/concat", {kHidden});
    layer->ffn2 = get(kEncode, s + "FFN/conv2/Tensordot/Reshape_1", {kHidden, kWidth});
    layer->ffn2_bias = get(kEncode, l + "FFN/conv2/bias/ConcatPartitions/concat", {kWidth});
    e->layers_[i] = std::move(layer);
  }
  e->tanh_weights_ = get("", "module/Encoder_en/hidden_layers/tanh_layer_0/weights", {kWidth, kWidth});
  e->tanh_bias_ = get("", "module/Encoder_en/hidden_layers/tanh_layer_0/bias", {kWidth});
  if (!missing.ok()) return missing;

  // The position signal: [sin(p w_j) for j < 128, cos(p w_j) for j < 128] for each position p.
  e->position_.resize(static_cast<size_t>(kMaxTokens) * kWidth0);
  for (int p = 0; p < kMaxTokens; ++p) {
    for (int j = 0; j < 128; ++j) {
      double sin_x = 0, cos_x = 0;
      DeterministicSinCos(static_cast<double>(static_cast<float>(p) * rates[j]), &sin_x, &cos_x);
      e->position_[p * kWidth0 + j] = static_cast<float>(sin_x);
      e->position_[p * kWidth0 + 128 + j] = static_cast<float>(cos_x);
    }
  }
  spdlog::info("embedder use-lite loaded from {} ({} vocabulary pieces, {:.1f} MB of weights) in {} ms",
               directory, e->tokenizer_->vocabulary_size(), total / 1e6,
               std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
  return std::shared_ptr<const UseLiteEmbedder>(std::move(e));
}

std::vector<float> UseLiteEmbedder::EmbedIds(absl::Span<const int> ids) const {
  const int n = std::min<int>(static_cast<int>(ids.size()), kMaxTokens);
  if (n == 0) return std::vector<float>(kDimension, 0.0f);
  Matrix x(n, kWidth0);
  for (int t = 0; t < n; ++t) {
    const int id = ids[t] >= 0 && ids[t] < vocabulary_rows_ ? ids[t] : 0;
    const ConstVectorMap row(embeddings_ + static_cast<size_t>(id) * kWidth0, kWidth0);
    // As the graph adds them: the embedding, plus (the embedding plus the position signal).
    x.row(t) = row + (row + ConstVectorMap(position_.data() + t * kWidth0, kWidth0));
  }
  x = layers_[0]->Apply(x);
  x = layers_[1]->Apply(x);
  const Eigen::RowVectorXf mean = x.colwise().sum() / static_cast<float>(n);
  Eigen::RowVectorXf t = mean * ConstMatrixMap(tanh_weights_, kWidth, kWidth) + ConstVectorMap(tanh_bias_, kWidth);
  float squares = 0;
  for (int i = 0; i < kWidth; ++i) {
    t[i] = static_cast<float>(DeterministicTanh(t[i]));
    squares += t[i] * t[i];
  }
  const float inv = 1.0f / std::sqrt(std::max(squares, 1e-12f));
  std::vector<float> out(kDimension);
  for (int i = 0; i < kWidth; ++i) out[i] = t[i] * inv;
  return out;
}

absl::StatusOr<std::vector<float>> UseLiteEmbedder::Embed(std::string_view text) const {
  return EmbedIds(tokenizer_->Encode(text));
}

absl::StatusOr<std::vector<std::vector<float>>> UseLiteEmbedder::EmbedBatch(
    absl::Span<const std::string_view> texts) const {
  // Text by text: Eigen's products sum a row differently depending on where the row falls in a
  // larger matrix, so stacking a batch's tokens would make a vector depend on its batch (and it
  // measured no faster: bench/hybrid_bench --sections=use-lite).
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  for (std::string_view text : texts) out.push_back(EmbedIds(tokenizer_->Encode(text)));
  return out;
}

}  // namespace engram::hybrid
