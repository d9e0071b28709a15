// Engine's indexer thread: inserts published vectors into each namespace's HNSW graph, behind the
// writer (searches scan the not-yet-indexed tail exactly), at a lower scheduling priority.
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spdlog/spdlog.h"
#include "storage-server/engine/engine.h"

namespace engram::storage {

namespace {

constexpr size_t kIndexBatch = 256;  // vectors per namespace per pass

}  // namespace

void Engine::IndexerLoop() {
  // Indexing may trail the log (searches scan the unindexed tail), so on a busy machine the
  // writer and the readers come first: lower this thread's scheduling priority.
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)),
                    options_.indexer_nice) != 0) {
    spdlog::debug("indexer: setpriority failed: {}", std::strerror(errno));
  }
  // Namespaces whose indexing is failing (e.g. no room to grow the graph on a full disk), with
  // the error (logged when it starts or changes and when it recovers, not on every retry) and the
  // time of the next try: once a second, not on every write that wakes this thread.
  struct Failing {
    std::string error;
    absl::Time retry_at;
  };
  absl::flat_hash_map<std::string, Failing> failing;
  while (!stop_indexer_.load()) {
    {
      sync::MutexLock lock(&index_wake_mu_);
      while (indexer_pause_requests_.load() > 0 && !stop_indexer_.load()) {
        index_wake_cv_.Wait(&index_wake_mu_);
      }
    }
    size_t done = 0;
    {
      sync::MutexLock pause(&indexer_mu_);
      auto reg = registry();  // keeps this snapshot of the registry alive for the loop
      for (const auto& [name, ns] : *reg) {
        if (indexer_pause_requests_.load(std::memory_order_relaxed) > 0) break;
        const absl::Time now = absl::Now();
        if (auto it = failing.find(name); it != failing.end() && now < it->second.retry_at) {
          continue;
        }
        auto n = ns->IndexPending(kIndexBatch, &indexer_pause_requests_);
        if (!n.ok()) {
          // Searches still see the vectors (the unindexed tail is scanned exactly); retried below.
          std::string error = n.status().ToString();
          auto [it, inserted] = failing.try_emplace(name);
          if (inserted || it->second.error != error) {
            spdlog::error("namespace {}: indexing failed (retrying every second): {}", name, error);
            it->second.error = std::move(error);
          }
          it->second.retry_at = now + absl::Seconds(1);
          continue;
        }
        if (failing.erase(name) > 0) spdlog::info("namespace {}: indexing resumed", name);
        done += *n;
      }
    }
    if (done == 0 && indexer_pause_requests_.load() == 0) {
      sync::MutexLock lock(&index_wake_mu_);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (!index_work_ &&
             index_wake_cv_.WaitUntil(&index_wake_mu_, deadline) == std::cv_status::no_timeout) {
      }
      index_work_ = false;
    }
  }
}

Engine::IndexerPause::IndexerPause(Engine* engine) : engine_(engine) {
  engine_->indexer_pause_requests_.fetch_add(1);
}

Engine::IndexerPause::~IndexerPause() {
  if (engine_->indexer_pause_requests_.fetch_sub(1) == 1) {
    sync::MutexLock lock(&engine_->index_wake_mu_);
    engine_->index_wake_cv_.SignalAll();
  }
}

void Engine::WakeIndexer() {
  {
    sync::MutexLock lock(&index_wake_mu_);
    index_work_ = true;
  }
  index_wake_cv_.Signal();
}

void Engine::WaitForIndexing() const {
  while (true) {
    bool behind = false;
    auto reg = registry();  // keeps this snapshot of the registry alive for the loop
    for (const auto& [name, ns] : *reg) behind |= ns->indexed_count() < ns->published_slots();
    if (!behind) return;
    absl::SleepFor(absl::Milliseconds(2));
  }
}

}  // namespace engram::storage
