#include "common/metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fmt/format.h"

namespace engram::metrics {
namespace {

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "engram::metrics: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || absl::StartsWith(std::string(name), "__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

void ValidateNames(const std::string& name, const std::vector<std::string>& label_names,
                   MetricType type) {
  if (!IsValidMetricName(name)) Die(absl::StrCat("invalid metric name \"", name, "\""));
  std::set<std::string> seen;
  for (const std::string& label : label_names) {
    if (!IsValidLabelName(label)) {
      Die(absl::StrCat("metric ", name, ": invalid label name \"", label, "\""));
    }
    if (type == MetricType::kHistogram && label == "le") {
      Die(absl::StrCat("histogram ", name, ": \"le\" is reserved"));
    }
    if (!seen.insert(label).second) {
      Die(absl::StrCat("metric ", name, ": duplicate label name \"", label, "\""));
    }
  }
}

std::vector<double> ValidateBuckets(const std::string& name, std::vector<double> buckets) {
  if (!buckets.empty() && std::isinf(buckets.back()) && buckets.back() > 0) buckets.pop_back();
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (!std::isfinite(buckets[i])) Die(absl::StrCat("histogram ", name, ": non-finite bucket"));
    if (i > 0 && !(buckets[i - 1] < buckets[i])) {
      Die(absl::StrCat("histogram ", name, ": buckets must be strictly increasing"));
    }
  }
  return buckets;
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// Sample names a family of this type and exposed name writes.
std::vector<std::string> SampleNames(const std::string& name, MetricType type) {
  if (type != MetricType::kHistogram) return {name};
  return {name, name + "_bucket", name + "_sum", name + "_count"};
}

// {a="x",b="y"} (plus le="..." when `le` is given), or "" without labels.
void AppendLabels(const std::vector<std::string>& names, const LabelValues& values,
                  const std::string* le, std::string* out) {
  if (names.empty() && le == nullptr) return;
  out->push_back('{');
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out->push_back(',');
    absl::StrAppend(out, names[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  if (le != nullptr) {
    if (!names.empty()) out->push_back(',');
    absl::StrAppend(out, "le=\"", *le, "\"");
  }
  out->push_back('}');
}

void AppendHeader(const FamilyBase& family, std::string* out) {
  absl::StrAppend(out, "# HELP ", family.name(), " ", EscapeHelp(family.help()), "\n# TYPE ",
                  family.name(), " ", TypeName(family.type()), "\n");
}

void AppendSample(const std::string& name, const std::vector<std::string>& label_names,
                  const LabelValues& values, const std::string& value, std::string* out) {
  out->append(name);
  AppendLabels(label_names, values, nullptr, out);
  absl::StrAppend(out, " ", value, "\n");
}

size_t ThisThreadShard(size_t shard_count) {
  static std::atomic<size_t> next_shard{0};
  thread_local const size_t shard = next_shard.fetch_add(1, std::memory_order_relaxed);
  return shard % shard_count;
}

constexpr size_t kHistogramShards = 8;
// Extra counters allocated after each shard's buckets so two shards never share a cache line.
constexpr size_t kCacheLinePadding = 64 / sizeof(std::atomic<uint64_t>);

}  // namespace

// ---------------------------------------------------------------------------------------------
// Counter, Histogram

void Counter::Increment(double amount) {
  if (!(amount >= 0.0)) return;  // Also rejects NaN.
  value_.fetch_add(amount, std::memory_order_relaxed);
}

uint64_t HistogramSnapshot::CumulativeCount(size_t i) const {
  uint64_t total = 0;
  for (size_t b = 0; b <= i && b < bucket_counts.size(); ++b) total += bucket_counts[b];
  return total;
}

struct alignas(64) Histogram::Shard {
  std::unique_ptr<std::atomic<uint64_t>[]> counts;
  std::atomic<double> sum{0.0};
};

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), shards_(std::make_unique<Shard[]>(kHistogramShards)) {
  for (size_t s = 0; s < kHistogramShards; ++s) {
    // Value-initialized: every counter starts at zero.
    shards_[s].counts =
        std::make_unique<std::atomic<uint64_t>[]>(upper_bounds_.size() + 1 + kCacheLinePadding);
  }
}

Histogram::~Histogram() = default;

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin());
  Shard& shard = shards_[ThisThreadShard(kHistogramShards)];
  shard.counts[bucket].fetch_add(1, std::memory_order_relaxed);
  shard.sum.fetch_add(value, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::Snapshot() const {
  HistogramSnapshot snapshot;
  snapshot.upper_bounds = upper_bounds_;
  snapshot.bucket_counts.assign(upper_bounds_.size() + 1, 0);
  for (size_t s = 0; s < kHistogramShards; ++s) {
    for (size_t b = 0; b < snapshot.bucket_counts.size(); ++b) {
      snapshot.bucket_counts[b] += shards_[s].counts[b].load(std::memory_order_relaxed);
    }
    snapshot.sum += shards_[s].sum.load(std::memory_order_relaxed);
  }
  for (uint64_t c : snapshot.bucket_counts) snapshot.count += c;
  return snapshot;
}

// ---------------------------------------------------------------------------------------------
// Family

template <typename Metric>
Metric& Family<Metric>::Add(const LabelValues& label_values) {
  if (label_values.size() != label_names().size()) {
    Die(absl::StrCat("metric ", name(), ": expected ", label_names().size(), " label values, got ",
                     label_values.size()));
  }
  {
    sync::ReaderMutexLock lock(&mu_);
    auto it = metrics_.find(label_values);
    if (it != metrics_.end()) return *it->second;
  }
  sync::WriterMutexLock lock(&mu_);
  std::unique_ptr<Metric>& slot = metrics_[label_values];
  if (slot == nullptr) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      slot = std::make_unique<Histogram>(upper_bounds_);
    } else {
      slot = std::make_unique<Metric>();
    }
  }
  return *slot;
}

template <typename Metric>
void Family<Metric>::AppendText(std::string* out) const {
  AppendHeader(*this, out);
  sync::ReaderMutexLock lock(&mu_);
  for (const auto& [values, metric] : metrics_) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      const HistogramSnapshot snapshot = metric->Snapshot();
      uint64_t cumulative = 0;
      const std::string bucket_name = name() + "_bucket";
      for (size_t b = 0; b <= snapshot.upper_bounds.size(); ++b) {
        cumulative += snapshot.bucket_counts[b];
        const std::string le = b < snapshot.upper_bounds.size()
                                   ? FormatValue(snapshot.upper_bounds[b])
                                   : std::string("+Inf");
        out->append(bucket_name);
        AppendLabels(label_names(), values, &le, out);
        absl::StrAppend(out, " ", cumulative, "\n");
      }
      AppendSample(name() + "_sum", label_names(), values, FormatValue(snapshot.sum), out);
      AppendSample(name() + "_count", label_names(), values, absl::StrCat(cumulative), out);
    } else {
      AppendSample(name(), label_names(), values, FormatValue(metric->value()), out);
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---------------------------------------------------------------------------------------------
// Registry

// A gauge family whose series come from a callback at scrape time.
class Registry::CallbackFamily final : public FamilyBase {
 public:
  CallbackFamily(std::string name, std::string help, std::vector<std::string> label_names,
                 std::function<LabelledValues()> callback)
      : FamilyBase(std::move(name), std::move(help), std::move(label_names), MetricType::kGauge),
        callback_(std::move(callback)) {}

  void Replace(std::function<LabelledValues()> callback) {
    sync::MutexLock lock(&mu_);
    callback_ = std::move(callback);
  }

  void AppendText(std::string* out) const override {
    LabelledValues values;
    {
      // Held while the callback runs so that Replace/Remove wait for it to finish.
      sync::MutexLock lock(&mu_);
      if (!callback_) return;
      try {
        values = callback_();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "engram::metrics: callback gauge %s threw: %s\n", name().c_str(),
                     e.what());
        return;
      } catch (...) {
        std::fprintf(stderr, "engram::metrics: callback gauge %s threw\n", name().c_str());
        return;
      }
    }
    std::map<LabelValues, double> series;
    for (auto& [labels, value] : values) {
      if (labels.size() != label_names().size()) continue;
      series[std::move(labels)] = value;
    }
    AppendHeader(*this, out);
    for (const auto& [labels, value] : series) {
      AppendSample(name(), label_names(), labels, FormatValue(value), out);
    }
  }

 private:
  mutable sync::Mutex mu_;
  std::function<LabelledValues()> callback_ ABSL_GUARDED_BY(mu_);
};

Registry::Registry() = default;
Registry::~Registry() = default;

void Registry::CheckNoClash(const std::string& name, MetricType type) {
  const std::vector<std::string> mine = SampleNames(name, type);
  auto check = [&](const FamilyBase& other) {
    for (const std::string& theirs : SampleNames(other.name(), other.type())) {
      if (std::find(mine.begin(), mine.end(), theirs) != mine.end()) {
        Die(absl::StrCat("metric ", name, " clashes with already registered ", other.name()));
      }
    }
  };
  for (const auto& [unused, family] : families_) check(*family);
  for (const auto& [unused, family] : callbacks_) check(*family);
}

FamilyBase* Registry::FindCompatible(const std::string& name, MetricType type,
                                     const std::vector<std::string>& label_names,
                                     const std::vector<double>* upper_bounds) {
  if (callbacks_.count(name) > 0) {
    Die(absl::StrCat("metric ", name, " is already registered as a callback gauge"));
  }
  auto it = families_.find(name);
  if (it == families_.end()) return nullptr;
  FamilyBase* family = it->second.get();
  if (family->type() != type) {
    Die(absl::StrCat("metric ", name, " is already registered as a ", TypeName(family->type())));
  }
  if (family->label_names() != label_names) {
    Die(absl::StrCat("metric ", name, " is already registered with labels {",
                     absl::StrJoin(family->label_names(), ","), "}"));
  }
  if (upper_bounds != nullptr &&
      static_cast<HistogramFamily*>(family)->upper_bounds() != *upper_bounds) {
    Die(absl::StrCat("histogram ", name, " is already registered with other buckets"));
  }
  return family;
}

template <typename Metric>
Family<Metric>& Registry::AddFamily(std::string name, std::string help,
                                    std::vector<std::string> label_names, MetricType type,
                                    std::vector<double> upper_bounds) {
  ValidateNames(name, label_names, type);
  sync::WriterMutexLock lock(&mu_);
  if (FamilyBase* existing = FindCompatible(
          name, type, label_names, type == MetricType::kHistogram ? &upper_bounds : nullptr)) {
    return *static_cast<Family<Metric>*>(existing);
  }
  CheckNoClash(name, type);
  auto family = std::unique_ptr<Family<Metric>>(new Family<Metric>(
      name, std::move(help), std::move(label_names), type, std::move(upper_bounds)));
  Family<Metric>& result = *family;
  families_.emplace(std::move(name), std::move(family));
  return result;
}

CounterFamily& Registry::AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names) {
  if (!absl::EndsWith(name, "_total")) name += "_total";
  return AddFamily<Counter>(std::move(name), std::move(help), std::move(label_names),
                            MetricType::kCounter, {});
}

GaugeFamily& Registry::AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names) {
  return AddFamily<Gauge>(std::move(name), std::move(help), std::move(label_names),
                          MetricType::kGauge, {});
}

HistogramFamily& Registry::AddHistogram(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> buckets) {
  std::vector<double> bounds = ValidateBuckets(name, std::move(buckets));
  return AddFamily<Histogram>(std::move(name), std::move(help), std::move(label_names),
                              MetricType::kHistogram, std::move(bounds));
}

void Registry::AddCallbackGauge(std::string name, std::string help,
                                std::function<double()> callback) {
  AddCallbackGauge(std::move(name), std::move(help), {},
                   [callback = std::move(callback)]() -> LabelledValues {
                     return {{LabelValues{}, callback()}};
                   });
}

void Registry::AddCallbackGauge(std::string name, std::string help,
                                std::vector<std::string> label_names,
                                std::function<LabelledValues()> callback) {
  ValidateNames(name, label_names, MetricType::kGauge);
  sync::WriterMutexLock lock(&mu_);
  if (families_.count(name) > 0) {
    Die(absl::StrCat("metric ", name, " is already registered (not as a callback gauge)"));
  }
  auto it = callbacks_.find(name);
  if (it != callbacks_.end()) {
    if (it->second->label_names() != label_names) {
      Die(absl::StrCat("callback gauge ", name, " is already registered with other labels"));
    }
    it->second->Replace(std::move(callback));
    return;
  }
  CheckNoClash(name, MetricType::kGauge);
  auto family = std::make_shared<CallbackFamily>(name, std::move(help), std::move(label_names),
                                                 std::move(callback));
  callbacks_.emplace(std::move(name), std::move(family));
}

void Registry::RemoveCallbackGauge(std::string_view name) {
  std::shared_ptr<CallbackFamily> family;
  {
    sync::WriterMutexLock lock(&mu_);
    auto it = callbacks_.find(name);
    if (it == callbacks_.end()) return;
    family = std::move(it->second);
    callbacks_.erase(it);
  }
  // A scrape may still hold the family: clearing the callback waits for a running call and
  // guarantees no later one.
  family->Replace(nullptr);
}

std::string Registry::Serialize() const {
  std::vector<std::pair<std::string_view, const FamilyBase*>> ordered;
  std::vector<std::shared_ptr<CallbackFamily>> keep_alive;
  {
    sync::ReaderMutexLock lock(&mu_);
    for (const auto& [name, family] : families_) ordered.emplace_back(name, family.get());
    for (const auto& [name, family] : callbacks_) {
      ordered.emplace_back(family->name(), family.get());
      keep_alive.push_back(family);
    }
  }
  // Families themselves are never destroyed before the Registry, so the pointers stay valid.
  std::sort(ordered.begin(), ordered.end());
  std::string out;
  for (const auto& [name, family] : ordered) family->AppendText(&out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Helpers

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  if (!(start > 0) || !(factor > 1) || count < 1) {
    Die(absl::StrCat("ExponentialBuckets(", start, ", ", factor, ", ", count,
                     "): need start > 0, factor > 1, count >= 1"));
  }
  std::vector<double> buckets;
  buckets.reserve(count);
  double bound = start;
  for (int i = 0; i < count; ++i) {
    buckets.push_back(bound);
    bound *= factor;
  }
  return buckets;
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0};
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out.append("\\\\");
        break;
      case '"':
        out.append("\\\"");
        break;
      case '\n':
        out.append("\\n");
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace engram::metrics
