#include "common/metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <type_traits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fmt/format.h"
#include "prometheus/client_metric.h"
#include "prometheus/metric_type.h"
#include "prometheus/text_serializer.h"

namespace engram::metrics {
namespace {

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "engram::metrics: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

// (Debian's Abseil has its own string_view type, so absl::StartsWith does not take a std one.)
bool HasPrefix(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// "__" prefixes are reserved for Prometheus' own use (prometheus-cpp rejects them too).
bool IsValidMetricName(std::string_view name) {
  if (name.empty() || HasPrefix(name, "__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || HasPrefix(name, "__")) return false;
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

prometheus::MetricType PrometheusType(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return prometheus::MetricType::Counter;
    case MetricType::kGauge:
      return prometheus::MetricType::Gauge;
    case MetricType::kHistogram:
      return prometheus::MetricType::Histogram;
  }
  return prometheus::MetricType::Untyped;
}

// Sample names a family of this type and exposed name writes.
std::vector<std::string> SampleNames(const std::string& name, MetricType type) {
  if (type != MetricType::kHistogram) return {name};
  return {name, name + "_bucket", name + "_sum", name + "_count"};
}

// prometheus-cpp labels (a std::map, so sorted by name) for a family's label values.
prometheus::Labels ToLabels(const std::vector<std::string>& names, const LabelValues& values) {
  prometheus::Labels labels;
  for (size_t i = 0; i < names.size(); ++i) labels.emplace(names[i], values[i]);
  return labels;
}

// Puts each series' labels in the family's declared order (prometheus::Family reports them sorted
// by name) and sorts the series by their label values in that order (it reports them in hash
// order), which is the order the text format has always listed them in.
void Canonicalize(const std::vector<std::string>& label_names,
                  std::vector<prometheus::ClientMetric>* metrics) {
  for (prometheus::ClientMetric& metric : *metrics) {
    std::vector<prometheus::ClientMetric::Label> ordered;
    ordered.reserve(metric.label.size());
    for (const std::string& name : label_names) {
      auto it = std::find_if(metric.label.begin(), metric.label.end(),
                             [&](const prometheus::ClientMetric::Label& l) { return l.name == name; });
      if (it != metric.label.end()) ordered.push_back(std::move(*it));
    }
    metric.label = std::move(ordered);
  }
  std::stable_sort(metrics->begin(), metrics->end(),
                   [](const prometheus::ClientMetric& a, const prometheus::ClientMetric& b) {
                     return std::lexicographical_compare(
                         a.label.begin(), a.label.end(), b.label.begin(), b.label.end(),
                         [](const prometheus::ClientMetric::Label& x,
                            const prometheus::ClientMetric::Label& y) { return x.value < y.value; });
                   });
}

// prometheus::TextSerializer writes a histogram series as _count, _sum, then the buckets; the
// exposition has always been (like the Go client's) the buckets, _sum, then _count. Each series
// is serialized on its own and its lines regrouped by sample name, so the order holds whatever
// order the serializer uses. Lines are safe to split on '\n': the serializer escapes newlines in
// label values, and the only other line, # TYPE, is dropped.
void AppendHistogramSeries(const prometheus::TextSerializer& serializer,
                           const prometheus::MetricFamily& header, prometheus::ClientMetric metric,
                           std::string* out) {
  std::vector<prometheus::MetricFamily> one(1);
  one[0].name = header.name;
  one[0].type = header.type;
  one[0].metric.push_back(std::move(metric));
  const std::string text = serializer.Serialize(one);
  const std::string kinds[] = {header.name + "_bucket", header.name + "_sum",
                               header.name + "_count"};
  std::vector<std::string_view> lines[4];  // One per kind, then anything else.
  const std::string_view all(text);
  for (size_t begin = 0, end; begin < all.size(); begin = end + 1) {
    end = all.find('\n', begin);
    if (end == std::string_view::npos) end = all.size();
    const std::string_view line = all.substr(begin, end - begin);
    if (line.empty() || line[0] == '#') continue;
    size_t kind = 0;
    while (kind < 3 && !(HasPrefix(line, kinds[kind]) && line.size() > kinds[kind].size() &&
                         (line[kinds[kind].size()] == '{' || line[kinds[kind].size()] == ' '))) {
      ++kind;
    }
    lines[kind].push_back(line);
  }
  for (const auto& group : lines) {
    for (std::string_view line : group) {
      out->append(line);
      out->push_back('\n');
    }
  }
}

// Text format 0.0.4 for `families` (as FamilyBase::Collect returns them), in the given order.
void WriteText(std::vector<prometheus::MetricFamily> families, std::string* out) {
  const prometheus::TextSerializer serializer;
  for (prometheus::MetricFamily& family : families) {
    std::vector<prometheus::MetricFamily> one;
    if (family.type != prometheus::MetricType::Histogram) {
      one.push_back(std::move(family));
      out->append(serializer.Serialize(one));
      continue;
    }
    std::vector<prometheus::ClientMetric> series = std::move(family.metric);
    family.metric.clear();
    one.push_back(family);
    out->append(serializer.Serialize(one));  // HELP and TYPE.
    for (prometheus::ClientMetric& metric : series) {
      AppendHistogramSeries(serializer, family, std::move(metric), out);
    }
  }
}

// Registers the prometheus::Family behind one of our families. The Registry's own checks run
// first; should prometheus-cpp still refuse (it throws), that is a programming error like theirs.
template <typename Impl>
prometheus::Family<Impl>& RegisterFamily(prometheus::Registry& registry, const std::string& name,
                                         const std::string& help) {
  try {
    if constexpr (std::is_same_v<Impl, prometheus::Counter>) {
      return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
    } else if constexpr (std::is_same_v<Impl, prometheus::Gauge>) {
      return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
    } else {
      static_assert(std::is_same_v<Impl, prometheus::Histogram>);
      return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
    }
  } catch (const std::exception& e) {
    Die(absl::StrCat("metric ", name, ": prometheus-cpp refused it: ", e.what()));
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Counter, Gauge, Histogram

Counter::Counter() : owned_(std::make_unique<Impl>()), impl_(owned_.get()) {}
Counter::~Counter() = default;

void Counter::Increment(double amount) {
  if (!(amount >= 0.0)) return;  // Also rejects NaN (prometheus::Counter only rejects < 0).
  impl_->Increment(amount);
}

Gauge::Gauge() : owned_(std::make_unique<Impl>()), impl_(owned_.get()) {}
Gauge::~Gauge() = default;

uint64_t HistogramSnapshot::CumulativeCount(size_t i) const {
  uint64_t total = 0;
  for (size_t b = 0; b <= i && b < bucket_counts.size(); ++b) total += bucket_counts[b];
  return total;
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : owned_(std::make_unique<Impl>(upper_bounds)), impl_(owned_.get()) {}
Histogram::~Histogram() = default;

void Histogram::Observe(double value) {
  // prometheus::Histogram would count NaN in the first bucket and make the sum NaN.
  if (std::isnan(value)) return;
  impl_->Observe(value);
}

HistogramSnapshot Histogram::Snapshot() const {
  const prometheus::ClientMetric metric = impl_->Collect();
  HistogramSnapshot snapshot;
  uint64_t previous = 0;
  for (const prometheus::ClientMetric::Bucket& bucket : metric.histogram.bucket) {
    if (std::isfinite(bucket.upper_bound)) snapshot.upper_bounds.push_back(bucket.upper_bound);
    snapshot.bucket_counts.push_back(bucket.cumulative_count - previous);
    previous = bucket.cumulative_count;
  }
  snapshot.count = metric.histogram.sample_count;
  snapshot.sum = metric.histogram.sample_sum;
  return snapshot;
}

// ---------------------------------------------------------------------------------------------
// FamilyBase, Family

void FamilyBase::AppendText(std::string* out) const { WriteText(Collect(), out); }

prometheus::MetricFamily FamilyBase::EmptyMetricFamily() const {
  prometheus::MetricFamily family;
  family.name = name_;
  family.help = EscapeHelp(help_);
  family.type = PrometheusType(type_);
  return family;
}

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
    const prometheus::Labels labels = ToLabels(label_names(), label_values);
    if constexpr (std::is_same_v<Metric, Histogram>) {
      slot.reset(new Histogram(&impl_->Add(labels, upper_bounds_), Histogram::InFamily{}));
    } else {
      slot.reset(new Metric(&impl_->Add(labels)));
    }
  }
  return *slot;
}

template <typename Metric>
std::vector<prometheus::MetricFamily> Family<Metric>::Collect() const {
  prometheus::MetricFamily family = EmptyMetricFamily();
  // prometheus::Family::Collect returns no MetricFamily at all until the first series exists.
  for (prometheus::MetricFamily& collected : impl_->Collect()) {
    for (prometheus::ClientMetric& metric : collected.metric) {
      family.metric.push_back(std::move(metric));
    }
  }
  Canonicalize(label_names(), &family.metric);
  return {std::move(family)};
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

  // No MetricFamily at all once removed, or when the callback throws.
  std::vector<prometheus::MetricFamily> Collect() const override {
    LabelledValues values;
    {
      // Held while the callback runs so that Replace/Remove wait for it to finish.
      sync::MutexLock lock(&mu_);
      if (!callback_) return {};
      try {
        values = callback_();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "engram::metrics: callback gauge %s threw: %s\n", name().c_str(),
                     e.what());
        return {};
      } catch (...) {
        std::fprintf(stderr, "engram::metrics: callback gauge %s threw\n", name().c_str());
        return {};
      }
    }
    std::map<LabelValues, double> series;
    for (auto& [labels, value] : values) {
      if (labels.size() != label_names().size()) continue;
      series[std::move(labels)] = value;
    }
    prometheus::MetricFamily family = EmptyMetricFamily();
    family.metric.reserve(series.size());
    for (const auto& [labels, value] : series) {
      prometheus::ClientMetric metric;
      for (size_t i = 0; i < labels.size(); ++i) {
        metric.label.push_back(prometheus::ClientMetric::Label{label_names()[i], labels[i]});
      }
      metric.gauge.value = value;
      family.metric.push_back(std::move(metric));
    }
    return {std::move(family)};
  }

 private:
  mutable sync::Mutex mu_;
  std::function<LabelledValues()> callback_ ABSL_GUARDED_BY(mu_);
};

// Throw: Registry never asks prometheus-cpp for a name twice (it returns its own family).
Registry::Registry() : prometheus_(prometheus::Registry::InsertBehavior::Throw) {}
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
  prometheus::Family<typename Metric::Impl>& impl =
      RegisterFamily<typename Metric::Impl>(prometheus_, name, help);
  auto family = std::unique_ptr<Family<Metric>>(new Family<Metric>(
      name, std::move(help), std::move(label_names), type, std::move(upper_bounds), &impl));
  Family<Metric>& result = *family;
  families_.emplace(std::move(name), std::move(family));
  return result;
}

CounterFamily& Registry::AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names) {
  // prometheus-cpp 1.0's TextSerializer writes a counter under exactly its family's name, so the
  // prometheus::Family itself carries the suffix.
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
  // Collected outside mu_: callbacks may be slow, and each family locks what it reads.
  std::sort(ordered.begin(), ordered.end());
  std::vector<prometheus::MetricFamily> families;
  families.reserve(ordered.size());
  for (const auto& [name, family] : ordered) {
    for (prometheus::MetricFamily& collected : family->Collect()) {
      families.push_back(std::move(collected));
    }
  }
  std::string out;
  WriteText(std::move(families), &out);
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
