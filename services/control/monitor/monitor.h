// Monitor: scrapes every service instance every `interval`, turns each pair of consecutive scrapes
// into a Tick (status, request rate, error ratio, latency quantiles, version, uptime per instance;
// storage's queue, fsync latency, sizes and per-namespace counts), keeps a bounded history of ticks
// and pushes each new one to subscribers (the server's WebSocket clients). A Tick's JSON is exactly
// the "tick" of docs/control.md.
//
//   MonitorOptions options;
//   options.targets = {{"storage", "127.0.0.1:9103"}, {"hybrid", "engram-hybrid:9102"},
//                      {"api", "engram-api:8080"}};
//   absl::StatusOr<std::unique_ptr<Monitor>> monitor =
//       Monitor::Create(std::move(options), NewBeastHttpFetcher());
//   const Monitor::SubscriptionId id = (*monitor)->Subscribe(
//       [](std::shared_ptr<const Tick> tick) { queue_frame(tick->ToJson()); });  // must not block
//   (*monitor)->Start();
//   ...
//   (*monitor)->Unsubscribe(id);
//   (*monitor)->Stop();
//
// How the numbers are computed (the way Prometheus' rate() and histogram_quantile() would, over the
// time between this scrape and the instance's previous successful metrics scrape, normally one
// interval; see metric_math.h for counter resets and series that appear between scrapes):
//   * requestRate: calls per second, the increase of grpc_server_handled_total plus
//     http_requests_total, without health and metrics traffic (gRPC service
//     grpc.health.v1.Health; HTTP routes /healthz, /readyz, /metrics): probes and this monitor's
//     own scrapes would otherwise dominate an idle service.
//   * errorRatio: server-fault calls / all calls (same exclusions). Server faults are the gRPC
//   codes
//     UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS and HTTP 5xx:
//     what the service (or one behind it) failed to do. Client mistakes (INVALID_ARGUMENT,
//     NOT_FOUND, 4xx), refusals by policy (RESOURCE_EXHAUSTED/429, PERMISSION_DENIED) and
//     cancellations count as calls, not errors, as the alert rules' error ratio does. null when
//     there were no calls in the interval (0/0).
//   * p50/p95/p99Seconds: histogram_quantile over the increase of grpc_server_handling_seconds and
//     http_request_duration_seconds buckets (same exclusions), the two histograms added into one
//     (MergeBuckets: both use metrics::DefaultLatencyBuckets, so this is the plain per-le sum; it
//     stays correct if their bounds ever differ). A gRPC call that engram-api serves for a REST
//     request is counted once, on its own port; an instance serves either, or both for different
//     clients. null when no calls finished in the interval. Quantiles that fall in the +Inf bucket
//     are the highest finite bound (10 s), as in Prometheus.
//   * version: the version label of engram_build_info; uptimeSeconds: tick time minus
//     process_start_time_seconds. null when the service does not export them.
//   * A restart (process_start_time_seconds changed) makes every counter count from zero.
//   * storage: the gauges engram_storage_write_queue_depth, engram_storage_log_bytes (walBytes),
//     engram_storage_mapped_bytes, engram_storage_concepts and engram_storage_associations (summed
//     over namespaces), and fsyncP99Seconds from the engram_storage_fsync_seconds buckets' increase
//     (null when there was no fsync in the interval). With several storage instances the values are
//     added. writerBusy: the increase of engram_storage_writer_seconds_total (every phase) over the
//     interval's seconds, the busy share of the single writer thread, 0..1 (the busiest instance's
//     with several; null on an instance's first scrape). unindexedVectors: the gauge
//     engram_storage_unindexed_vectors (vectors the HNSW indexer has not inserted yet, which every
//     vector search scans exactly), summed. namespaces: per-namespace engram_storage_concepts /
//     engram_storage_associations / engram_storage_unindexed_vectors.
//   * An instance that answers /readyz but whose /metrics fails (or is not valid text) keeps its
//     status, with reason "metrics unavailable: ..." when it has no other reason.
//   * An unreachable instance, or one whose /metrics failed, has null metrics; its last good scrape
//     stays the base for the next rate, so the first tick after it comes back has rates over the
//     whole gap. The first scrape of an instance has null rates (no previous scrape).
//
// Thread-safety: every method is thread-safe. Subscriber callbacks run on the thread that made the
// tick (the monitor's thread, or ScrapeOnce's caller), one tick at a time, in order; they must not
// block (queue the tick and return) and may call Subscribe/Unsubscribe. After Unsubscribe(id)
// returns, that callback is not running and will not be called again (unless Unsubscribe is called
// from inside a callback, which cannot wait for itself; then it is not called again).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "services/control/monitor/prom_text.h"
#include "services/control/monitor/scraper.h"

namespace engram::control {

// One instance in a tick (the contract's "service"). nullopt is JSON null.
struct ServiceStatus {
  std::string id;       // "api@10.0.0.7:8080"
  std::string kind;     // "storage" | "hybrid" | "api" | "control"
  std::string address;  // "10.0.0.7:8080"
  Readiness status = Readiness::kUnreachable;
  std::string reason;  // why not ready; or, when ready, what is degraded (storage: disk full)
  std::optional<std::string> version;
  std::optional<double> uptime_seconds;
  std::optional<double> request_rate;  // Calls per second.
  std::optional<double> error_ratio;   // 0..1.
  std::optional<double> p50_seconds;
  std::optional<double> p95_seconds;
  std::optional<double> p99_seconds;
};

struct StorageSummary {
  std::optional<double> write_queue;
  std::optional<double> fsync_p99_seconds;
  std::optional<double> writer_busy;  // 0..1
  std::optional<double> wal_bytes;
  std::optional<double> mapped_bytes;
  std::optional<double> concepts;
  std::optional<double> associations;
  std::optional<double> unindexed_vectors;
};

struct NamespaceSummary {
  std::string name;
  std::optional<double> concepts;
  std::optional<double> associations;
  std::optional<double> unindexed_vectors;
};

struct Tick {
  absl::Time time;
  std::vector<ServiceStatus> services;  // Target order, each target's addresses sorted.
  StorageSummary storage;
  std::vector<NamespaceSummary> namespaces;  // Sorted by name.

  // {"time":"RFC3339","unixTime":..., "services":[...], "storage":{...}, "namespaces":[...]}
  // exactly as docs/control.md; unknown or non-finite numbers are null, counts and byte sizes
  // are integers.
  nlohmann::json ToJson() const;
};

struct MonitorOptions {
  std::vector<ScrapeTarget> targets;
  absl::Duration interval = absl::Seconds(2);
  // Ticks kept: max(1, ceil(history / interval)).
  absl::Duration history = absl::Minutes(15);
  ScraperOptions scrape;
  PromTextLimits parse;
  // The tick time for the background loop; absl::Now when empty.
  std::function<absl::Time()> clock;
};

class Monitor {
 public:
  using SubscriptionId = uint64_t;
  using Subscriber = std::function<void(std::shared_ptr<const Tick>)>;

  // INVALID_ARGUMENT for a target failing ValidateTarget, a non-positive interval or history, or
  // a null fetcher.
  static absl::StatusOr<std::unique_ptr<Monitor>> Create(MonitorOptions options,
                                                         std::shared_ptr<HttpFetcher> fetcher);
  // Calls Stop().
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Starts the background thread: a scrape at once, then one every interval (a scrape that
  // overruns skips the missed slots). FAILED_PRECONDITION when already started or stopped.
  absl::Status Start();
  // Stops the thread, waiting for a scrape in progress (at most about 2 * request_timeout).
  // Idempotent.
  void Stop();

  // Scrapes every instance now, makes the tick for `now`, stores it and notifies subscribers.
  // For tests and for a server that drives its own schedule; concurrent calls are serialized.
  std::shared_ptr<const Tick> ScrapeOnce(absl::Time now);

  // The newest tick; nullptr before the first scrape.
  std::shared_ptr<const Tick> Latest() const;
  // The kept ticks, oldest first.
  std::vector<std::shared_ptr<const Tick>> History() const;
  // {"intervalSeconds":2,"ticks":[tick...]} (the api/history answer; the WebSocket's first frame
  // adds "type":"history").
  nlohmann::json HistoryJson() const;

  SubscriptionId Subscribe(Subscriber subscriber);
  void Unsubscribe(SubscriptionId id);

  // The raw /metrics text of instance `instance_id` ("api@10.0.0.7:8080") from the latest scrape.
  // NOT_FOUND when the latest scrape has no such instance; UNAVAILABLE (with the reason) when its
  // metrics could not be fetched or parsed.
  absl::StatusOr<std::string> LatestMetricsText(std::string_view instance_id) const;

  absl::Duration interval() const { return options_.interval; }
  size_t history_capacity() const { return capacity_; }

 private:
  // The last good metrics scrape of an instance: the base for the next rates.
  struct Previous {
    absl::Time time;
    std::shared_ptr<const MetricSnapshot> metrics;
  };
  struct LatestText {
    std::shared_ptr<const std::string> text;  // Null when unavailable.
    std::string error;
  };

  Monitor(MonitorOptions options, std::shared_ptr<HttpFetcher> fetcher);
  void Run();
  std::shared_ptr<const Tick> MakeTick(absl::Time now, std::vector<InstanceScrape> scrapes,
                                       std::map<std::string, LatestText>* texts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(scrape_mu_);
  void Publish(std::shared_ptr<const Tick> tick);

  // Constant after construction.
  const MonitorOptions options_;
  const size_t capacity_;
  const Scraper scraper_;

  // Serializes scrapes; guards the per-instance bases of the rates.
  absl::Mutex scrape_mu_;
  std::map<std::string, Previous> previous_ ABSL_GUARDED_BY(scrape_mu_);

  // Held while subscribers are called, so Unsubscribe can wait for a running callback.
  absl::Mutex dispatch_mu_ ABSL_ACQUIRED_AFTER(scrape_mu_);

  mutable absl::Mutex mu_ ABSL_ACQUIRED_AFTER(dispatch_mu_);
  std::deque<std::shared_ptr<const Tick>> ticks_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, LatestText> latest_texts_ ABSL_GUARDED_BY(mu_);
  std::map<SubscriptionId, std::shared_ptr<const Subscriber>> subscribers_ ABSL_GUARDED_BY(mu_);
  SubscriptionId next_subscription_ ABSL_GUARDED_BY(mu_) = 1;

  absl::Notification stop_;
  absl::Mutex lifecycle_mu_;
  std::thread thread_ ABSL_GUARDED_BY(lifecycle_mu_);
  bool stopped_ ABSL_GUARDED_BY(lifecycle_mu_) = false;
};

}  // namespace engram::control
