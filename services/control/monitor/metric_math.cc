#include "services/control/monitor/metric_math.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace engram::control {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::string_view LabelValue(const Labels& labels, std::string_view name) {
  auto it = labels.find(name);
  return it == labels.end() ? std::string_view() : std::string_view(it->second);
}

std::optional<double> ParseLe(std::string_view le) {
  const std::optional<double> value = ParsePromValue(le);
  if (!value.has_value() || std::isnan(*value)) return std::nullopt;
  return value;
}

// Series increases of `name` keyed by full label set, for series matching `matchers`.
template <typename Visit>
void ForEachIncrease(const MetricSnapshot& previous, const MetricSnapshot& current,
                     std::string_view name, const std::vector<LabelMatcher>& matchers,
                     Visit visit) {
  const std::span<const Sample> before = previous.Series(name);
  for (const Sample& sample : current.Series(name)) {
    if (!MatchesAll(sample.labels, matchers)) continue;
    // Both spans are sorted by labels.
    const auto it =
        std::lower_bound(before.begin(), before.end(), sample.labels,
                         [](const Sample& s, const Labels& labels) { return s.labels < labels; });
    const double old = (it != before.end() && it->labels == sample.labels) ? it->value : 0.0;
    visit(sample.labels, SeriesIncrease(old, sample.value));
  }
}

// Groups per-series values of `<histogram>_bucket` by their le label into sorted buckets.
std::vector<Bucket> ToBuckets(const std::map<double, double>& by_le) {
  std::vector<Bucket> buckets;
  buckets.reserve(by_le.size());
  for (const auto& [le, count] : by_le) buckets.push_back({le, count});
  return buckets;
}

}  // namespace

bool LabelMatcher::Matches(const Labels& labels) const {
  const std::string_view value = LabelValue(labels, name);
  const bool in = std::find(values.begin(), values.end(), value) != values.end();
  return in != negate;
}

bool MatchesAll(const Labels& labels, const std::vector<LabelMatcher>& matchers) {
  return std::all_of(matchers.begin(), matchers.end(),
                     [&](const LabelMatcher& m) { return m.Matches(labels); });
}

std::optional<double> Sum(const MetricSnapshot& snapshot, std::string_view name,
                          const std::vector<LabelMatcher>& matchers) {
  std::optional<double> total;
  for (const Sample& sample : snapshot.Series(name)) {
    if (!MatchesAll(sample.labels, matchers)) continue;
    total = total.value_or(0.0) + sample.value;
  }
  return total;
}

std::map<Labels, double> SumBy(const MetricSnapshot& snapshot, std::string_view name,
                               std::span<const std::string> by,
                               const std::vector<LabelMatcher>& matchers) {
  std::map<Labels, double> sums;
  for (const Sample& sample : snapshot.Series(name)) {
    if (!MatchesAll(sample.labels, matchers)) continue;
    Labels key;
    for (const std::string& label : by) key[label] = std::string(LabelValue(sample.labels, label));
    sums[key] += sample.value;
  }
  return sums;
}

double SeriesIncrease(double previous, double current) {
  return current < previous ? current : current - previous;
}

std::optional<double> CounterIncrease(const MetricSnapshot& previous, const MetricSnapshot& current,
                                      std::string_view name,
                                      const std::vector<LabelMatcher>& matchers) {
  if (!current.HasFamily(name)) return std::nullopt;
  double total = 0;
  ForEachIncrease(previous, current, name, matchers,
                  [&](const Labels&, double increase) { total += increase; });
  return total;
}

std::vector<Bucket> BucketIncrease(const MetricSnapshot& previous, const MetricSnapshot& current,
                                   std::string_view histogram,
                                   const std::vector<LabelMatcher>& matchers) {
  std::map<double, double> by_le;
  ForEachIncrease(previous, current, std::string(histogram) + "_bucket", matchers,
                  [&](const Labels& labels, double increase) {
                    const std::optional<double> le = ParseLe(LabelValue(labels, "le"));
                    if (le.has_value()) by_le[*le] += increase;
                  });
  return ToBuckets(by_le);
}

std::vector<Bucket> Buckets(const MetricSnapshot& snapshot, std::string_view histogram,
                            const std::vector<LabelMatcher>& matchers) {
  std::map<double, double> by_le;
  for (const Sample& sample : snapshot.Series(std::string(histogram) + "_bucket")) {
    if (!MatchesAll(sample.labels, matchers)) continue;
    const std::optional<double> le = ParseLe(LabelValue(sample.labels, "le"));
    if (le.has_value()) by_le[*le] += sample.value;
  }
  return ToBuckets(by_le);
}

std::vector<Bucket> MergeBuckets(std::span<const std::vector<Bucket>> histograms) {
  // Inputs are sorted by bound (as Buckets and BucketIncrease return them).
  std::vector<double> bounds;
  for (const std::vector<Bucket>& histogram : histograms) {
    for (const Bucket& bucket : histogram) bounds.push_back(bucket.upper_bound);
  }
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  std::vector<Bucket> merged;
  merged.reserve(bounds.size());
  for (double bound : bounds) merged.push_back({bound, 0.0});
  for (const std::vector<Bucket>& histogram : histograms) {
    // Walk the (sorted) input alongside the union of bounds: the input's count at its largest
    // bound <= each union bound.
    size_t next = 0;
    double count = 0;
    for (Bucket& out : merged) {
      while (next < histogram.size() && histogram[next].upper_bound <= out.upper_bound) {
        count = histogram[next].count;
        ++next;
      }
      out.count += count;
    }
  }
  return merged;
}

std::optional<double> HistogramQuantile(double q, std::vector<Bucket> buckets) {
  if (std::isnan(q)) return std::nullopt;
  if (q < 0) return -kInf;
  if (q > 1) return kInf;
  if (buckets.empty()) return std::nullopt;
  std::stable_sort(buckets.begin(), buckets.end(),
                   [](const Bucket& a, const Bucket& b) { return a.upper_bound < b.upper_bound; });
  if (!std::isinf(buckets.back().upper_bound) || buckets.back().upper_bound < 0) {
    return std::nullopt;
  }
  // coalesceBuckets: merge buckets with the same bound.
  std::vector<Bucket> merged;
  for (const Bucket& bucket : buckets) {
    if (!merged.empty() && merged.back().upper_bound == bucket.upper_bound) {
      merged.back().count += bucket.count;
    } else {
      merged.push_back(bucket);
    }
  }
  buckets = std::move(merged);
  // ensureMonotonic: a cumulative count never decreases (scrapes of buckets are not atomic).
  double max = buckets.front().count;
  for (Bucket& bucket : buckets) {
    if (bucket.count > max) {
      max = bucket.count;
    } else {
      bucket.count = max;
    }
  }
  if (buckets.size() < 2) return std::nullopt;
  const double observations = buckets.back().count;
  if (!(observations > 0)) return std::nullopt;
  double rank = q * observations;
  // The first bucket (the +Inf one excluded) whose cumulative count reaches the rank.
  size_t b = 0;
  while (b < buckets.size() - 1 && buckets[b].count < rank) ++b;
  if (b == buckets.size() - 1) return buckets[buckets.size() - 2].upper_bound;
  if (b == 0 && buckets[0].upper_bound <= 0) return buckets[0].upper_bound;
  double bucket_start = 0;
  const double bucket_end = buckets[b].upper_bound;
  double count = buckets[b].count;
  if (b > 0) {
    bucket_start = buckets[b - 1].upper_bound;
    count -= buckets[b - 1].count;
    rank -= buckets[b - 1].count;
  }
  const double result = bucket_start + (bucket_end - bucket_start) * (rank / count);
  if (std::isnan(result)) return std::nullopt;
  return result;
}

}  // namespace engram::control
