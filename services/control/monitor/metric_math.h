// The PromQL arithmetic the monitor needs, over two scrapes of one instance: counter increases and
// rates (rate()/increase() with counter-reset handling), sums over label-filtered series
// (sum by (...)), and histogram_quantile() over cumulative `_bucket{le}` series.
//
//   const LabelMatcher not_health = LabelMatcher::NotIn("service", {"grpc.health.v1.Health"});
//   std::optional<double> calls =
//       CounterIncrease(previous, current, "grpc_server_handled_total", {not_health});
//   std::vector<Bucket> buckets =
//       BucketIncrease(previous, current, "grpc_server_handling_seconds", {not_health});
//   std::optional<double> p99 = HistogramQuantile(0.99, buckets);
//
// Counter resets are handled as Prometheus does: a series whose value dropped restarted from
// zero, so its increase is its new value. Unlike Prometheus (which needs two samples of a series
// in the range), a series present now but absent from the previous scrape counts from zero: Engram
// services create labelled series on first use, so the first value of a new series (say the first
// INTERNAL error) is all increase since the previous scrape, and must not be lost.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "services/control/monitor/prom_text.h"

namespace engram::control {

// Selects series by one label: the label's value (absent = "") is in `values` (or, when
// `negate`, is not). Like PromQL's label=~"a|b" and label!~"a|b".
struct LabelMatcher {
  std::string name;
  std::vector<std::string> values;
  bool negate = false;

  static LabelMatcher In(std::string name, std::vector<std::string> values) {
    return {std::move(name), std::move(values), false};
  }
  static LabelMatcher NotIn(std::string name, std::vector<std::string> values) {
    return {std::move(name), std::move(values), true};
  }
  bool Matches(const Labels& labels) const;
};

// Whether `labels` satisfies every matcher.
bool MatchesAll(const Labels& labels, const std::vector<LabelMatcher>& matchers);

// sum(name{matchers}): nullopt when no series matches.
std::optional<double> Sum(const MetricSnapshot& snapshot, std::string_view name,
                          const std::vector<LabelMatcher>& matchers = {});

// sum by (by...) (name{matchers}): one entry per distinct combination of the `by` labels (a
// missing label groups as "").
std::map<Labels, double> SumBy(const MetricSnapshot& snapshot, std::string_view name,
                               std::span<const std::string> by,
                               const std::vector<LabelMatcher>& matchers = {});

// The increase of one counter series from `previous` to `current` (reset: `current`).
double SeriesIncrease(double previous, double current);

// sum(increase(name{matchers})) between two scrapes, series matched by their full label sets.
// nullopt when `current` does not know the family (HasFamily false); 0 when it is declared but
// has no matching series yet.
std::optional<double> CounterIncrease(const MetricSnapshot& previous, const MetricSnapshot& current,
                                      std::string_view name,
                                      const std::vector<LabelMatcher>& matchers = {});

// One cumulative histogram bucket: observations <= upper_bound (+Inf for the last).
struct Bucket {
  double upper_bound = 0;
  double count = 0;
  friend bool operator==(const Bucket&, const Bucket&) = default;
};

// sum by (le) (increase(<histogram>_bucket{matchers})) between two scrapes: the cumulative buckets
// of the observations made in between, summed over the matching series, sorted by upper bound.
// Each bucket series gets CounterIncrease's reset handling, as rate() does. `histogram` is the
// family name without "_bucket". Series whose le label is missing or not a number are skipped.
// Empty when there is no matching series.
std::vector<Bucket> BucketIncrease(const MetricSnapshot& previous, const MetricSnapshot& current,
                                   std::string_view histogram,
                                   const std::vector<LabelMatcher>& matchers = {});

// sum by (le) (<histogram>_bucket{matchers}) of one scrape (the totals since process start).
std::vector<Bucket> Buckets(const MetricSnapshot& snapshot, std::string_view histogram,
                            const std::vector<LabelMatcher>& matchers = {});

// Adds cumulative histograms whose bucket bounds may differ: the result has the union of the
// bounds, and at each bound every input contributes its count at its largest bound <= that one
// (the observations it is certain are below). With equal bounds this is the plain per-le sum.
std::vector<Bucket> MergeBuckets(std::span<const std::vector<Bucket>> histograms);

// histogram_quantile(q, buckets) exactly as Prometheus computes it (promql/quantile.go
// bucketQuantile): buckets are sorted and same-bound buckets merged, counts made monotonic, the
// rank q * total is located and interpolated linearly inside its bucket (from 0 for the first
// bucket when its bound is positive); when it falls in the +Inf bucket the highest finite bound is
// returned. q < 0 gives -Inf and q > 1 +Inf. nullopt where Prometheus gives NaN: q is NaN, there is
// no +Inf bucket, fewer than two buckets, or no observations.
std::optional<double> HistogramQuantile(double q, std::vector<Bucket> buckets);

}  // namespace engram::control
