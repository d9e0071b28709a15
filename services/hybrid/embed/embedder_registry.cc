#include "services/hybrid/embed/embedder_registry.h"

#include <algorithm>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/hybrid/embed/hashing_embedder.h"
#include "services/hybrid/embed/use_lite_embedder.h"
#include "common/text/absl_view.h"

namespace engram::hybrid {
namespace {

constexpr std::string_view kWordVectorsPrefix = "word-vectors/";

bool ValidModelName(std::string_view model) {
  if (model.empty() || model.size() > 64 || model == "." || model == "..") return false;
  return std::all_of(model.begin(), model.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

}  // namespace

EmbedderRegistry::EmbedderRegistry(EmbedderRegistryOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::shared_ptr<const Embedder>> EmbedderRegistry::Get(std::string_view name,
                                                                      int dimension) {
  if (dimension < 0) {
    return absl::InvalidArgumentError(absl::StrCat("embedder dimension ", dimension, " < 0"));
  }
  if (name.empty() || name == "hashing") {
    const int d = dimension == 0 ? HashingEmbedder::kDefaultDimension : dimension;
    sync::WriterMutexLock lock(&mu_);
    auto it = hashing_.find(d);
    if (it != hashing_.end()) return it->second;
    auto embedder = HashingEmbedder::Create(d);
    if (!embedder.ok()) return embedder.status();
    std::shared_ptr<const Embedder> shared = *std::move(embedder);
    hashing_.emplace(d, shared);
    return shared;
  }
  if (name == "none") {
    return std::make_shared<const NoneEmbedder>(dimension);
  }
  if (name == "use-lite") {
    auto model = GetUseLite();
    if (!model.ok()) return model.status();
    if (dimension != 0 && dimension != UseLiteEmbedder::kDimension) {
      return absl::FailedPreconditionError(absl::StrCat("embedder use-lite produces ", UseLiteEmbedder::kDimension,
                                                        "-dimensional vectors, the namespace needs ", dimension));
    }
    return model;
  }
  if (name.starts_with(kWordVectorsPrefix)) {
    auto model = GetModel(name.substr(kWordVectorsPrefix.size()));
    if (!model.ok()) return model.status();
    if (dimension != 0 && (*model)->dimension() != dimension) {
      return absl::FailedPreconditionError(
          absl::StrCat("embedder ", AbslView(name), " produces ", (*model)->dimension(),
                       "-dimensional vectors, the namespace needs ", dimension));
    }
    return std::shared_ptr<const Embedder>(*std::move(model));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown embedder \"", AbslView(name),
                   "\" (expected \"hashing\", \"use-lite\", \"word-vectors/<model>\" or \"none\")"));
}

absl::Status EmbedderRegistry::Preload(std::string_view name) { return Get(name).status(); }

absl::StatusOr<std::shared_ptr<const WordVectorsEmbedder>> EmbedderRegistry::GetModel(
    std::string_view model) {
  if (!ValidModelName(model)) {
    return absl::InvalidArgumentError(
        absl::StrCat("embedder \"word-vectors/", AbslView(model),
                     "\": model name must match [A-Za-z0-9_.-]{1,64}"));
  }
  const std::string name = absl::StrCat(AbslView(kWordVectorsPrefix), AbslView(model));
  {
    sync::ReaderMutexLock lock(&mu_);
    auto it = models_.find(name);
    if (it != models_.end()) return it->second;
  }
  if (options_.model_dir.empty()) {
    return absl::NotFoundError(
        absl::StrCat("embedder \"", name, "\": no model directory configured (--model_dir)"));
  }
  sync::MutexLock load_lock(&load_mu_);
  {
    sync::ReaderMutexLock lock(&mu_);
    auto it = models_.find(name);
    if (it != models_.end()) return it->second;  // loaded while we waited
  }
  const std::string directory = (std::filesystem::path(options_.model_dir) / model).string();
  auto loaded = WordVectorsEmbedder::Load(name, directory, options_.word_vectors);
  if (!loaded.ok()) return loaded.status();
  std::shared_ptr<const WordVectorsEmbedder> shared = *std::move(loaded);
  sync::WriterMutexLock lock(&mu_);
  models_.emplace(name, shared);
  return shared;
}

absl::StatusOr<std::shared_ptr<const Embedder>> EmbedderRegistry::GetUseLite() {
  {
    sync::ReaderMutexLock lock(&mu_);
    if (use_lite_ != nullptr) return use_lite_;
  }
  if (options_.model_dir.empty()) {
    return absl::NotFoundError("embedder \"use-lite\": no model directory configured (--model_dir)");
  }
  sync::MutexLock load_lock(&load_mu_);
  {
    sync::ReaderMutexLock lock(&mu_);
    if (use_lite_ != nullptr) return use_lite_;  // loaded while we waited
  }
  auto loaded = UseLiteEmbedder::Load((std::filesystem::path(options_.model_dir) / "use-lite").string());
  if (!loaded.ok()) return loaded.status();
  sync::WriterMutexLock lock(&mu_);
  use_lite_ = *std::move(loaded);
  return use_lite_;
}

std::vector<std::shared_ptr<const WordVectorsEmbedder>> EmbedderRegistry::LoadedModels() const {
  sync::ReaderMutexLock lock(&mu_);
  std::vector<std::shared_ptr<const WordVectorsEmbedder>> out;
  for (const auto& [name, model] : models_) out.push_back(model);
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a->name() < b->name(); });
  return out;
}

}  // namespace engram::hybrid
