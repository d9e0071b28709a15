// Engram's metrics API over prometheus-cpp core (Debian's prometheus-cpp-dev): counters, gauges,
// histograms and scrape-time callback gauges, grouped into labelled families in a Registry that
// serializes to the Prometheus text exposition format 0.0.4 (what `GET /metrics` serves; checked
// with `promtool check metrics`). Only prometheus-cpp's core library is used: the families and
// metrics live in a prometheus::Registry, callback gauges are prometheus::Collectables, and
// prometheus::TextSerializer writes the text. prometheus-cpp's pull component (its civetweb
// Exposer) is not: the services' Beast HTTP server serves Registry::Serialize().
//
// Usage:
//
//   engram::metrics::Registry registry;
//   auto& requests = registry.AddCounter("engram_learn_requests_total", "Learn calls.",
//                                        {"namespace", "outcome"});
//   engram::metrics::Counter& ok = requests.Add({"default", "ok"});   // resolve once ...
//   ok.Increment();                                                    // ... count many times
//
//   auto& latency = registry.AddHistogram("engram_learn_duration_seconds", "Learn latency.", {},
//                                         engram::metrics::DefaultLatencyBuckets());
//   latency.Add({}).Observe(0.0042);
//
//   registry.AddCallbackGauge("engram_wal_queue_depth", "Writes waiting for fsync.",
//                             [&queue] { return static_cast<double>(queue.size()); });
//
//   std::string text = registry.Serialize();
//
// What this layer adds to prometheus-cpp, so that the exposition is what Engram always exposed:
// counters are registered under "<name>_total" (prometheus-cpp 1.0 exposes a counter under
// exactly the name it was given); labels are written in the order the family declared them (not
// sorted by name) and series sorted by label values; HELP text is escaped; families are sorted by
// name and listed (HELP and TYPE only) before their first series; a histogram series is written
// as its buckets, then _sum, then _count (the Go client's order); registration errors abort with
// a message instead of throwing.
//
// Thread-safety: everything here is thread-safe. Counter and Gauge updates are lock-free (an
// atomic compare-and-swap). Histogram::Observe takes the series' own mutex (prometheus-cpp's;
// about 30 ns uncontended, and observers of one series serialize on it), which is what makes a
// Snapshot consistent. Family::Add takes a lock, so hot paths resolve their metric once and keep
// the reference.
//
// Ownership and lifetime: the Registry owns every family and metric; references returned by
// Add*/Family::Add stay valid (and keep identity) for the Registry's lifetime. Metrics are never
// removed. Callback gauges are the exception: the owner of the state a callback reads must call
// RemoveCallbackGauge() before that state dies, unless the state outlives the Registry.
//
// Errors: registering an invalid name, or a name already used with a different type, label set
// or buckets, and calling Family::Add with the wrong number of label values, are programming
// errors and abort the process with a message (they happen at startup, not per request).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/sync/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace engram::metrics {

// Label values of one metric in a family, in the order of the family's label names.
using LabelValues = std::vector<std::string>;

template <typename Metric>
class Family;

// A monotonically increasing value: a handle on a prometheus::Counter. Lock-free.
class Counter {
 public:
  using Impl = prometheus::Counter;

  // A standalone counter that belongs to no Registry (Registry families create their own).
  Counter();
  ~Counter();
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds `amount`; negative or NaN amounts are ignored (a counter never goes down).
  void Increment(double amount = 1.0);
  double value() const { return impl_->Value(); }

 private:
  template <typename>
  friend class Family;
  explicit Counter(Impl* impl) : impl_(impl) {}

  std::unique_ptr<Impl> owned_;  // Set for a standalone counter only.
  Impl* const impl_;             // Otherwise owned by the family's prometheus::Family.
};

// A value that goes up and down: a handle on a prometheus::Gauge. Lock-free.
class Gauge {
 public:
  using Impl = prometheus::Gauge;

  // A standalone gauge that belongs to no Registry.
  Gauge();
  ~Gauge();
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double value) { impl_->Set(value); }
  void Add(double amount) { impl_->Increment(amount); }
  void Sub(double amount) { impl_->Decrement(amount); }
  void Increment() { impl_->Increment(); }
  void Decrement() { impl_->Decrement(); }
  double value() const { return impl_->Value(); }

 private:
  template <typename>
  friend class Family;
  explicit Gauge(Impl* impl) : impl_(impl) {}

  std::unique_ptr<Impl> owned_;
  Impl* const impl_;
};

// A point-in-time copy of a histogram.
struct HistogramSnapshot {
  std::vector<double> upper_bounds;     // Finite bucket bounds, ascending; +Inf is implicit.
  std::vector<uint64_t> bucket_counts;  // Per bucket, NOT cumulative; size upper_bounds + 1
                                        // (the last is the +Inf bucket).
  uint64_t count = 0;                   // Sum of bucket_counts.
  double sum = 0.0;

  // Observations <= upper_bounds[i] (i == upper_bounds.size() means +Inf, i.e. count).
  uint64_t CumulativeCount(size_t i) const;
};

// Counts observations into fixed buckets (an observation v lands in the first bucket whose
// upper bound is >= v): a handle on a prometheus::Histogram. Observe and Snapshot take the
// histogram's mutex, so a snapshot's buckets, count and sum are from one instant.
class Histogram {
 public:
  using Impl = prometheus::Histogram;

  // A standalone histogram that belongs to no Registry. `upper_bounds` must be finite and
  // strictly increasing (the Registry validates them for its families).
  explicit Histogram(std::vector<double> upper_bounds);
  ~Histogram();
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // NaN observations are ignored.
  void Observe(double value);
  HistogramSnapshot Snapshot() const;

 private:
  template <typename>
  friend class Family;
  struct InFamily {};
  Histogram(Impl* impl, InFamily) : impl_(impl) {}

  std::unique_ptr<Impl> owned_;
  Impl* const impl_;
};

enum class MetricType { kCounter, kGauge, kHistogram };

// Type-independent part of a family; see Family<Metric>. A family is a prometheus::Collectable
// whose Collect() returns exactly one MetricFamily in the form Registry::Serialize() writes.
class FamilyBase : public prometheus::Collectable {
 public:
  ~FamilyBase() override = default;

  // The exposed name (for counters, always ending in "_total").
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  MetricType type() const { return type_; }

  // One MetricFamily, also when there are no series yet (none only for a callback gauge that was
  // removed or whose callback threw): HELP escaped for the text format, each series' labels in
  // label_names() order, series sorted by label values.
  std::vector<prometheus::MetricFamily> Collect() const override = 0;

  // Appends this family's HELP, TYPE and sample lines in text format 0.0.4 (what Serialize
  // writes for it). Families with no metrics yet write only HELP and TYPE.
  void AppendText(std::string* out) const;

 protected:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names,
             MetricType type)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        type_(type) {}

  // The MetricFamily header (name, escaped help, type) with no series.
  prometheus::MetricFamily EmptyMetricFamily() const;

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const MetricType type_;
};

// All metrics of one name, one per distinct tuple of label values: a prometheus::Family owned by
// the Registry's prometheus::Registry, plus the handles this API returns. Thread-safe.
template <typename Metric>
class Family final : public FamilyBase {
 public:
  // Returns the metric for `label_values` (creating it on first use). The same values always
  // return the same object. Aborts if the number of values differs from label_names().size().
  Metric& Add(const LabelValues& label_values);
  Metric& WithLabels(const LabelValues& label_values) { return Add(label_values); }

  std::vector<prometheus::MetricFamily> Collect() const override;

  // Histogram families only: the bucket bounds every member uses.
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names, MetricType type,
         std::vector<double> upper_bounds, prometheus::Family<typename Metric::Impl>* impl)
      : FamilyBase(std::move(name), std::move(help), std::move(label_names), type),
        upper_bounds_(std::move(upper_bounds)),
        impl_(impl) {}

  const std::vector<double> upper_bounds_;
  prometheus::Family<typename Metric::Impl>* const impl_;  // Owned by the Registry.
  mutable sync::SharedMutex mu_;
  // The handles, by label values (the prometheus::Family keys its metrics by label name too).
  std::map<LabelValues, std::unique_ptr<Metric>> metrics_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

// Owns metric families and renders them for a scrape. Thread-safe; see the file comment.
class Registry {
 public:
  // Values of a labelled callback gauge: one (label values, value) pair per series.
  using LabelledValues = std::vector<std::pair<LabelValues, double>>;

  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Counters are exposed as "<name>_total"; `name` may already end in "_total".
  CounterFamily& AddCounter(std::string name, std::string help,
                            std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(std::string name, std::string help,
                        std::vector<std::string> label_names = {});
  // `buckets`: finite, strictly increasing upper bounds (a trailing +Inf is accepted and
  // dropped; the +Inf bucket is always implicit). "le" may not be a label name.
  HistogramFamily& AddHistogram(std::string name, std::string help,
                                std::vector<std::string> label_names, std::vector<double> buckets);

  // A gauge computed at scrape time (queue depths, sizes): a prometheus::Collectable that calls
  // `callback` on every Serialize. The callback runs on the scraping thread, must be fast and
  // thread-safe, and must not call back into this Registry.
  // Registering a name that is already a callback gauge replaces the callback.
  void AddCallbackGauge(std::string name, std::string help, std::function<double()> callback);
  // Labelled variant (e.g. per-namespace counts). Series whose label count is wrong are dropped;
  // if several series share label values, the last one wins.
  void AddCallbackGauge(std::string name, std::string help, std::vector<std::string> label_names,
                        std::function<LabelledValues()> callback);
  // Stops calling the callback registered under `name` (no-op if none). When this returns, the
  // callback is not running and never will again.
  void RemoveCallbackGauge(std::string_view name);

  // Every family in text format 0.0.4, sorted by name (written by prometheus::TextSerializer).
  std::string Serialize() const;

 private:
  class CallbackFamily;

  // Returns the existing family for `name` after checking it is compatible, or nullptr.
  FamilyBase* FindCompatible(const std::string& name, MetricType type,
                             const std::vector<std::string>& label_names,
                             const std::vector<double>* upper_bounds)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CheckNoClash(const std::string& name, MetricType type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  template <typename Metric>
  Family<Metric>& AddFamily(std::string name, std::string help,
                            std::vector<std::string> label_names, MetricType type,
                            std::vector<double> upper_bounds);

  // Owns the prometheus::Family behind every Family<> (and so every metric). Declared first:
  // the handles in families_ point into it and are destroyed before it. Thread-safe itself.
  prometheus::Registry prometheus_;
  mutable sync::SharedMutex mu_;
  // Keyed by exposed name. Families are never removed, except callback families.
  std::map<std::string, std::unique_ptr<FamilyBase>, std::less<>> families_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<CallbackFamily>, std::less<>> callbacks_
      ABSL_GUARDED_BY(mu_);
};

// Bucket helpers for AddHistogram.
//
// `count` bounds start, start*factor, start*factor^2, ...; requires start > 0, factor > 1,
// count >= 1 (aborts otherwise).
std::vector<double> ExponentialBuckets(double start, double factor, int count);
// Request latencies in seconds, 50 µs to 10 s in 1-2.5-5 steps.
std::vector<double> DefaultLatencyBuckets();

// Text-format helpers, exposed for tests and for other exposition code. Serialize() writes
// sample values and label values with prometheus::TextSerializer, which escapes label values as
// EscapeLabelValue does but formats numbers with 16 significant digits and NaN as "Nan" (both
// valid exposition); it does not escape HELP, so the families pass it through EscapeHelp.
//
// A sample value: "+Inf", "-Inf", "NaN" or the shortest decimal that round-trips.
std::string FormatValue(double value);
// Escapes '\\', '"' and newline for use inside a label value's quotes.
std::string EscapeLabelValue(std::string_view value);
// Escapes '\\' and newline for a HELP line.
std::string EscapeHelp(std::string_view help);

}  // namespace engram::metrics
