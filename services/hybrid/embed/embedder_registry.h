// EmbedderRegistry: resolves a namespace's embedder name to an Embedder, loading models once.
//
// Names (NamespaceConfig.embedder):
//   "hashing" (or "")        HashingEmbedder at the namespace dimension (384 when 0)
//   "word-vectors/<model>"   WordVectorsEmbedder loaded from <model_dir>/<model>/ (layout in
//                            word_vectors_embedder.h); <model> matches [A-Za-z0-9_.-]{1,64} and is
//                            not "." or "..", so a name can never leave model_dir
//   "use-lite"               UseLiteEmbedder (Universal Sentence Encoder Lite, 512-d) loaded from
//                            <model_dir>/use-lite/ (layout and checks in use_lite_embedder.h)
//   "none"                   NoneEmbedder: Embed fails with FAILED_PRECONDITION
//
// Usage:
//   EmbedderRegistry registry({.model_dir = "/models"});
//   RETURN_IF_ERROR(registry.Preload("word-vectors/glove-6b-300"));  // at startup, for readiness
//   ASSIGN_OR_RETURN(auto embedder, registry.Get(ns.embedder(), ns.dimension()));
//
// Thread-safe. A model is loaded at most once, on first use or Preload; concurrent requests for
// a model being loaded wait for it. A failed load is not remembered: the next Get tries again
// (so fixing the model directory needs no restart).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/sync/mutex.h"
#include "services/hybrid/embed/embedder.h"
#include "services/hybrid/embed/word_vectors_embedder.h"

namespace engram::hybrid {

struct EmbedderRegistryOptions {
  // Root of the models (--model_dir; /models in Kubernetes). Empty: "use-lite" and every
  // "word-vectors/..." name are NOT_FOUND.
  std::string model_dir;
  WordVectorsOptions word_vectors;
};

class EmbedderRegistry {
 public:
  explicit EmbedderRegistry(EmbedderRegistryOptions options);

  // The embedder for `name` producing vectors of `dimension` (0: the embedder's own dimension).
  // Errors: INVALID_ARGUMENT for an unknown or malformed name or a hashing dimension out of
  // range; NOT_FOUND for a missing model; FAILED_PRECONDITION when a model's dimension differs
  // from a non-zero `dimension`; the load error of a malformed model.
  absl::StatusOr<std::shared_ptr<const Embedder>> Get(std::string_view name, int dimension = 0);

  // Loads (or checks) `name` now, e.g. before reporting readiness.
  absl::Status Preload(std::string_view name);

  // The word-vector models loaded so far, by name (for metrics: load_stats()).
  std::vector<std::shared_ptr<const WordVectorsEmbedder>> LoadedModels() const;

 private:
  absl::StatusOr<std::shared_ptr<const WordVectorsEmbedder>> GetModel(std::string_view model);
  absl::StatusOr<std::shared_ptr<const Embedder>> GetUseLite();

  // Constant after construction.
  const EmbedderRegistryOptions options_;

  // sync:: (std::) mutexes rather than absl::Mutex: Debian's Abseil is not TSAN-instrumented.
  // Serialises model loads (slow, rare) without blocking lookups of loaded embedders.
  sync::Mutex load_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable sync::SharedMutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const WordVectorsEmbedder>> models_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int, std::shared_ptr<const Embedder>> hashing_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Embedder> use_lite_ ABSL_GUARDED_BY(mu_);
};

}  // namespace engram::hybrid
