#include "services/api/policy/response_cache.h"

#include <atomic>
#include <list>
#include <memory>
#include <unordered_map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/text/absl_view.h"
#include "common/sync/mutex.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace engram::api {
namespace {

// Bytes charged per entry on top of its key, namespace and value (list node, index slot).
constexpr size_t kEntryOverheadBytes = 128;
// Namespaces whose generation is tracked individually before the table is compacted.
constexpr size_t kMaxTrackedNamespaces = 65536;

// Namespace and key in one string; the length prefix keeps ("a", "bc") apart from ("ab", "c").
std::string EntryKey(std::string_view ns, const std::string& key) {
  return absl::StrCat(ns.size(), ":", AbslView(ns), key);
}

}  // namespace

class ResponseCache::Impl {
 public:
  Impl(ResponseCacheOptions options, Clock clock) : options_(options), clock_(std::move(clock)) {}

  uint64_t Generation(std::string_view ns) const {
    sync::MutexLock lock(&mu_);
    return GenerationLocked(ns);
  }

  std::optional<std::string> Get(std::string_view ns, const std::string& key) {
    if (options_.max_bytes == 0) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    const absl::Time now = clock_();
    std::shared_ptr<const std::string> value;
    {
      sync::MutexLock lock(&mu_);
      auto it = index_.find(EntryKey(ns, key));
      if (it != index_.end()) {
        auto entry = it->second;
        if (entry->generation != GenerationLocked(ns) || now >= entry->expires_at) {
          EraseLocked(entry);
        } else {
          lru_.splice(lru_.begin(), lru_, entry);
          value = entry->value;
        }
      }
    }
    if (!value) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    hits_.fetch_add(1, std::memory_order_relaxed);
    return *value;  // copied outside the lock
  }

  void Put(std::string_view ns, const std::string& key, std::string value, uint64_t generation) {
    if (options_.max_bytes == 0) return;
    std::string entry_key = EntryKey(ns, key);
    const size_t charge = entry_key.size() + value.size() + kEntryOverheadBytes;
    if (charge > options_.max_bytes) return;  // would evict everything and still not fit
    auto shared_value = std::make_shared<const std::string>(std::move(value));
    const absl::Time expires_at = clock_() + options_.ttl;

    sync::MutexLock lock(&mu_);
    // Computed before a write that has since invalidated the namespace: not fresh.
    if (generation != GenerationLocked(ns)) return;
    if (auto it = index_.find(entry_key); it != index_.end()) EraseLocked(it->second);
    lru_.push_front(
        Entry{std::move(entry_key), std::move(shared_value), generation, expires_at, charge});
    index_.emplace(lru_.front().key, lru_.begin());
    bytes_ += charge;
    while (bytes_ > options_.max_bytes) EraseLocked(std::prev(lru_.end()));
  }

  void Invalidate(std::string_view ns) {
    sync::MutexLock lock(&mu_);
    auto it = generations_.find(std::string(ns));
    if (it == generations_.end()) {
      if (generations_.size() >= kMaxTrackedNamespaces) {
        // Forget every namespace's own generation: all of them move to one new floor, which
        // invalidates every entry (and every Put still in flight) at once. Rare and safe.
        floor_ = ++counter_;
        generations_.clear();
        lru_.clear();
        index_.clear();
        bytes_ = 0;
      }
      it = generations_.emplace(std::string(ns), floor_).first;
    }
    it->second = ++counter_;
  }

  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  size_t bytes() const {
    sync::MutexLock lock(&mu_);
    return bytes_;
  }

 private:
  struct Entry {
    std::string key;  // EntryKey(ns, key)
    std::shared_ptr<const std::string> value;
    uint64_t generation;
    absl::Time expires_at;
    size_t bytes;
  };
  using EntryList = std::list<Entry>;

  uint64_t GenerationLocked(std::string_view ns) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = generations_.find(std::string(ns));
    return it == generations_.end() ? floor_ : it->second;
  }

  void EraseLocked(EntryList::iterator entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    bytes_ -= entry->bytes;
    index_.erase(entry->key);
    lru_.erase(entry);
  }

  // Constant after construction.
  const ResponseCacheOptions options_;
  const Clock clock_;

  // sync::Mutex (std::mutex) rather than absl::Mutex: Debian's Abseil is not TSAN-instrumented.
  mutable sync::Mutex mu_;
  EntryList lru_ ABSL_GUARDED_BY(mu_);  // most recently used first
  std::unordered_map<std::string, EntryList::iterator> index_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Generations come from one counter, so a namespace's generation only grows, even across a
  // compaction of generations_ (untracked namespaces are at floor_).
  std::unordered_map<std::string, uint64_t> generations_ ABSL_GUARDED_BY(mu_);
  uint64_t counter_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t floor_ ABSL_GUARDED_BY(mu_) = 0;

  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

ResponseCache::ResponseCache(ResponseCacheOptions options, Clock clock)
    : impl_(std::make_unique<Impl>(options, std::move(clock))) {}

ResponseCache::~ResponseCache() = default;

std::string ResponseCache::Key(std::string_view kind, const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  const google::protobuf::FieldDescriptor* ns_field =
      copy->GetDescriptor()->FindFieldByName("namespace");
  if (ns_field != nullptr) copy->GetReflection()->ClearField(copy.get(), ns_field);

  std::string key = absl::StrCat(kind.size(), ":", AbslView(kind), copy->GetTypeName(), ":");
  copy->ByteSizeLong();  // caches the sizes SerializeWithCachedSizes needs
  {
    google::protobuf::io::StringOutputStream stream(&key);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    copy->SerializeWithCachedSizes(&out);
  }
  return key;
}

uint64_t ResponseCache::Generation(std::string_view ns) const { return impl_->Generation(ns); }

std::optional<std::string> ResponseCache::Get(std::string_view ns, const std::string& key) {
  return impl_->Get(ns, key);
}

void ResponseCache::Put(std::string_view ns, const std::string& key, std::string value,
                        uint64_t generation) {
  impl_->Put(ns, key, std::move(value), generation);
}

void ResponseCache::Invalidate(std::string_view ns) { impl_->Invalidate(ns); }

uint64_t ResponseCache::hits() const { return impl_->hits(); }
uint64_t ResponseCache::misses() const { return impl_->misses(); }
size_t ResponseCache::bytes() const { return impl_->bytes(); }

}  // namespace engram::api
