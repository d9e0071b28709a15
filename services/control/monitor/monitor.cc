#include "services/control/monitor/monitor.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "fmt/format.h"
#include "services/control/monitor/metric_math.h"

namespace engram::control {

namespace {

// The Monitor whose subscribers this thread is calling, if any (so Unsubscribe from inside a
// callback does not wait for itself).
thread_local const Monitor* tls_dispatching = nullptr;

constexpr std::string_view kGrpcHandled = "grpc_server_handled_total";
constexpr std::string_view kGrpcSeconds = "grpc_server_handling_seconds";
constexpr std::string_view kHttpRequests = "http_requests_total";
constexpr std::string_view kHttpSeconds = "http_request_duration_seconds";

const std::vector<LabelMatcher>& GrpcCalls() {
  static const auto* matchers =
      new std::vector<LabelMatcher>{LabelMatcher::NotIn("service", {"grpc.health.v1.Health"})};
  return *matchers;
}

const std::vector<LabelMatcher>& HttpCalls() {
  static const auto* matchers = new std::vector<LabelMatcher>{
      LabelMatcher::NotIn("route", {"/healthz", "/readyz", "/metrics"})};
  return *matchers;
}

const std::vector<LabelMatcher>& GrpcErrors() {
  static const auto* matchers = [] {
    auto* m = new std::vector<LabelMatcher>(GrpcCalls());
    m->push_back(LabelMatcher::In("code", {"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED",
                                           "INTERNAL", "UNAVAILABLE", "DATA_LOSS"}));
    return m;
  }();
  return *matchers;
}

const std::vector<LabelMatcher>& HttpErrors() {
  static const auto* matchers = [] {
    std::vector<std::string> codes;
    for (int code = 500; code <= 599; ++code) codes.push_back(std::to_string(code));
    auto* m = new std::vector<LabelMatcher>(HttpCalls());
    m->push_back(LabelMatcher::In("code", std::move(codes)));
    return m;
  }();
  return *matchers;
}

// A gauge family's sum; 0 when the family is declared without series, nullopt when unknown.
std::optional<double> GaugeSum(const MetricSnapshot& snapshot, std::string_view name) {
  if (std::optional<double> sum = Sum(snapshot, name); sum.has_value()) return sum;
  if (snapshot.HasFamily(name)) return 0.0;
  return std::nullopt;
}

std::optional<double> FirstValue(const MetricSnapshot& snapshot, std::string_view name) {
  const std::span<const Sample> series = snapshot.Series(name);
  if (series.empty() || !std::isfinite(series.front().value)) return std::nullopt;
  return series.front().value;
}

void AddTo(std::optional<double>* total, std::optional<double> value) {
  if (value.has_value()) *total = total->value_or(0.0) + *value;
}

std::optional<double> Add(std::optional<double> a, std::optional<double> b) {
  if (!a.has_value()) return b;
  if (!b.has_value()) return a;
  return *a + *b;
}

nlohmann::json Number(const std::optional<double>& value) {
  if (!value.has_value() || !std::isfinite(*value)) return nullptr;
  return *value;
}

// Counts and byte sizes: integers when they are whole numbers.
nlohmann::json Count(const std::optional<double>& value) {
  if (!value.has_value() || !std::isfinite(*value)) return nullptr;
  if (std::floor(*value) == *value && std::fabs(*value) < 9.0e15) {
    return static_cast<int64_t>(*value);
  }
  return *value;
}

// The metrics of one instance between its previous good scrape and this one.
void FillRates(const MetricSnapshot& base, const MetricSnapshot& current, double seconds,
               ServiceStatus* out) {
  const std::optional<double> grpc_calls =
      CounterIncrease(base, current, kGrpcHandled, GrpcCalls());
  const std::optional<double> http_calls =
      CounterIncrease(base, current, kHttpRequests, HttpCalls());
  const std::optional<double> calls = Add(grpc_calls, http_calls);
  if (calls.has_value()) {
    out->request_rate = *calls / seconds;
    if (*calls > 0) {
      const double errors =
          CounterIncrease(base, current, kGrpcHandled, GrpcErrors()).value_or(0.0) +
          CounterIncrease(base, current, kHttpRequests, HttpErrors()).value_or(0.0);
      out->error_ratio = std::clamp(errors / *calls, 0.0, 1.0);
    }
  }
  const std::vector<std::vector<Bucket>> histograms = {
      BucketIncrease(base, current, kGrpcSeconds, GrpcCalls()),
      BucketIncrease(base, current, kHttpSeconds, HttpCalls())};
  const std::vector<Bucket> buckets = MergeBuckets(histograms);
  out->p50_seconds = HistogramQuantile(0.5, buckets);
  out->p95_seconds = HistogramQuantile(0.95, buckets);
  out->p99_seconds = HistogramQuantile(0.99, buckets);
}

size_t Capacity(const MonitorOptions& options) {
  if (options.interval <= absl::ZeroDuration()) return 1;
  const double ticks = std::ceil(absl::FDivDuration(options.history, options.interval));
  return static_cast<size_t>(std::clamp(ticks, 1.0, 1e7));
}

}  // namespace

nlohmann::json Tick::ToJson() const {
  nlohmann::json services_json = nlohmann::json::array();
  for (const ServiceStatus& s : services) {
    services_json.push_back({
        {"id", s.id},
        {"kind", s.kind},
        {"address", s.address},
        {"status", std::string(ReadinessName(s.status))},
        {"reason", s.reason},
        {"version", s.version.has_value() ? nlohmann::json(*s.version) : nlohmann::json(nullptr)},
        {"uptimeSeconds", Number(s.uptime_seconds)},
        {"requestRate", Number(s.request_rate)},
        {"errorRatio", Number(s.error_ratio)},
        {"p50Seconds", Number(s.p50_seconds)},
        {"p95Seconds", Number(s.p95_seconds)},
        {"p99Seconds", Number(s.p99_seconds)},
    });
  }
  nlohmann::json namespaces_json = nlohmann::json::array();
  for (const NamespaceSummary& ns : namespaces) {
    namespaces_json.push_back({{"name", ns.name},
                               {"concepts", Count(ns.concepts)},
                               {"associations", Count(ns.associations)},
                               {"unindexedVectors", Count(ns.unindexed_vectors)}});
  }
  return {
      {"time", absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ", time, absl::UTCTimeZone())},
      {"unixTime", static_cast<double>(absl::ToUnixMillis(time)) / 1000.0},
      {"services", std::move(services_json)},
      {"storage",
       {{"writeQueue", Count(storage.write_queue)},
        {"fsyncP99Seconds", Number(storage.fsync_p99_seconds)},
        {"writerBusy", Number(storage.writer_busy)},
        {"walBytes", Count(storage.wal_bytes)},
        {"mappedBytes", Count(storage.mapped_bytes)},
        {"concepts", Count(storage.concepts)},
        {"associations", Count(storage.associations)},
        {"unindexedVectors", Count(storage.unindexed_vectors)}}},
      {"namespaces", std::move(namespaces_json)},
  };
}

absl::StatusOr<std::unique_ptr<Monitor>> Monitor::Create(MonitorOptions options,
                                                         std::shared_ptr<HttpFetcher> fetcher) {
  if (fetcher == nullptr) return absl::InvalidArgumentError("monitor: no HTTP fetcher");
  if (options.interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("monitor: the scrape interval must be positive");
  }
  if (options.history <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("monitor: the history length must be positive");
  }
  for (const ScrapeTarget& target : options.targets) {
    if (absl::Status s = ValidateTarget(target); !s.ok()) return s;
  }
  if (!options.clock) options.clock = [] { return absl::Now(); };
  return std::unique_ptr<Monitor>(new Monitor(std::move(options), std::move(fetcher)));
}

Monitor::Monitor(MonitorOptions options, std::shared_ptr<HttpFetcher> fetcher)
    : options_(std::move(options)),
      capacity_(Capacity(options_)),
      scraper_(options_.targets, std::move(fetcher), options_.scrape) {}

Monitor::~Monitor() { Stop(); }

absl::Status Monitor::Start() {
  absl::MutexLock lock(&lifecycle_mu_);
  if (thread_.joinable() || stopped_) {
    return absl::FailedPreconditionError("monitor: already started or stopped");
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void Monitor::Stop() {
  absl::MutexLock lock(&lifecycle_mu_);
  stopped_ = true;
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void Monitor::Run() {
  absl::Time next = options_.clock();
  while (!stop_.HasBeenNotified()) {
    ScrapeOnce(options_.clock());
    const absl::Time now = options_.clock();
    while (next <= now) next += options_.interval;  // Skips the slots an overrun missed.
    stop_.WaitForNotificationWithTimeout(next - now);
  }
}

std::shared_ptr<const Tick> Monitor::ScrapeOnce(absl::Time now) {
  std::vector<InstanceScrape> scrapes = scraper_.ScrapeAll();
  absl::MutexLock scrape_lock(&scrape_mu_);
  std::map<std::string, LatestText> texts;
  std::shared_ptr<const Tick> tick = MakeTick(now, std::move(scrapes), &texts);
  {
    absl::MutexLock lock(&mu_);
    ticks_.push_back(tick);
    while (ticks_.size() > capacity_) ticks_.pop_front();
    latest_texts_ = std::move(texts);
  }
  Publish(tick);
  return tick;
}

std::shared_ptr<const Tick> Monitor::MakeTick(absl::Time now, std::vector<InstanceScrape> scrapes,
                                              std::map<std::string, LatestText>* texts) {
  auto tick = std::make_shared<Tick>();
  tick->time = now;
  const double unix_now = absl::ToUnixMicros(now) / 1e6;
  std::map<std::string, Previous> next_previous;
  std::vector<std::vector<Bucket>> fsync_histograms;
  std::map<std::string, NamespaceSummary> namespaces;

  for (InstanceScrape& scrape : scrapes) {
    ServiceStatus service;
    service.id = scrape.id;
    service.kind = scrape.kind;
    service.address = scrape.address;
    service.status = scrape.readiness;
    service.reason = scrape.reason;

    std::shared_ptr<const MetricSnapshot> current;
    LatestText& text = (*texts)[scrape.id];
    if (scrape.metrics_text.has_value()) {
      absl::StatusOr<MetricSnapshot> parsed =
          MetricSnapshot::Parse(*scrape.metrics_text, options_.parse);
      if (parsed.ok()) {
        current = std::make_shared<const MetricSnapshot>(*std::move(parsed));
        text.text = std::make_shared<const std::string>(std::move(*scrape.metrics_text));
      } else {
        text.error = fmt::format("{}: /metrics is not valid Prometheus text: {}", scrape.id,
                                 std::string(parsed.status().message()));
      }
    } else {
      text.error = fmt::format(
          "{}: {}", scrape.id,
          scrape.readiness == Readiness::kUnreachable ? scrape.reason : scrape.metrics_error);
    }
    if (current == nullptr && scrape.readiness != Readiness::kUnreachable &&
        service.reason.empty()) {
      service.reason = "metrics unavailable: " + text.error;
    }

    const auto previous_it = previous_.find(scrape.id);
    const Previous* previous = previous_it == previous_.end() ? nullptr : &previous_it->second;
    if (current != nullptr) {
      const MetricSnapshot& cur = *current;
      if (const std::span<const Sample> info = cur.Series("engram_build_info"); !info.empty()) {
        if (auto it = info.front().labels.find("version"); it != info.front().labels.end()) {
          service.version = it->second;
        }
      }
      const std::optional<double> start = FirstValue(cur, "process_start_time_seconds");
      if (start.has_value()) service.uptime_seconds = std::max(0.0, unix_now - *start);

      std::optional<MetricSnapshot> restarted_base;
      const MetricSnapshot* base = nullptr;
      double seconds = 0;
      if (previous != nullptr && now > previous->time) {
        seconds = absl::ToDoubleSeconds(now - previous->time);
        base = previous->metrics.get();
        const std::optional<double> old_start =
            FirstValue(*previous->metrics, "process_start_time_seconds");
        if (start.has_value() && old_start.has_value() && *start != *old_start) {
          restarted_base.emplace();  // Restarted: every counter counts from zero.
          base = &*restarted_base;
        }
        FillRates(*base, cur, seconds, &service);
      }

      if (scrape.kind == "storage") {
        StorageSummary& storage = tick->storage;
        AddTo(&storage.write_queue, GaugeSum(cur, "engram_storage_write_queue_depth"));
        AddTo(&storage.wal_bytes, GaugeSum(cur, "engram_storage_log_bytes"));
        AddTo(&storage.mapped_bytes, GaugeSum(cur, "engram_storage_mapped_bytes"));
        AddTo(&storage.concepts, GaugeSum(cur, "engram_storage_concepts"));
        AddTo(&storage.associations, GaugeSum(cur, "engram_storage_associations"));
        AddTo(&storage.unindexed_vectors, GaugeSum(cur, "engram_storage_unindexed_vectors"));
        if (base != nullptr) {
          fsync_histograms.push_back(BucketIncrease(*base, cur, "engram_storage_fsync_seconds"));
          if (const std::optional<double> busy =
                  CounterIncrease(*base, cur, "engram_storage_writer_seconds_total");
              busy.has_value() && seconds > 0) {
            // A share of one thread: the scrape interval's jitter can make it exceed 1 a little.
            const double share = std::min(1.0, *busy / seconds);
            storage.writer_busy = std::max(storage.writer_busy.value_or(0.0), share);
          }
        }
        const std::vector<std::string> by = {"namespace"};
        for (const auto& [labels, value] : SumBy(cur, "engram_storage_concepts", by)) {
          NamespaceSummary& ns = namespaces[labels.at("namespace")];
          AddTo(&ns.concepts, value);
        }
        for (const auto& [labels, value] : SumBy(cur, "engram_storage_associations", by)) {
          NamespaceSummary& ns = namespaces[labels.at("namespace")];
          AddTo(&ns.associations, value);
        }
        for (const auto& [labels, value] : SumBy(cur, "engram_storage_unindexed_vectors", by)) {
          NamespaceSummary& ns = namespaces[labels.at("namespace")];
          AddTo(&ns.unindexed_vectors, value);
        }
      }
      next_previous[scrape.id] = Previous{now, current};
    } else if (previous != nullptr) {
      // Unreachable or no metrics this time: the last good scrape stays the base.
      next_previous[scrape.id] = *previous;
    }
    tick->services.push_back(std::move(service));
  }

  if (!fsync_histograms.empty()) {
    tick->storage.fsync_p99_seconds = HistogramQuantile(0.99, MergeBuckets(fsync_histograms));
  }
  for (auto& [name, ns] : namespaces) {
    ns.name = name;
    tick->namespaces.push_back(std::move(ns));
  }
  // Instances that no longer resolve are forgotten.
  previous_ = std::move(next_previous);
  return tick;
}

void Monitor::Publish(std::shared_ptr<const Tick> tick) {
  absl::MutexLock dispatch_lock(&dispatch_mu_);
  std::vector<std::pair<SubscriptionId, std::shared_ptr<const Subscriber>>> subscribers;
  {
    absl::MutexLock lock(&mu_);
    subscribers.assign(subscribers_.begin(), subscribers_.end());
  }
  const Monitor* const outer = tls_dispatching;
  tls_dispatching = this;
  for (const auto& [id, subscriber] : subscribers) {
    {
      // Unsubscribed by an earlier callback of this round?
      absl::MutexLock lock(&mu_);
      if (subscribers_.find(id) == subscribers_.end()) continue;
    }
    (*subscriber)(tick);
  }
  tls_dispatching = outer;
}

std::shared_ptr<const Tick> Monitor::Latest() const {
  absl::MutexLock lock(&mu_);
  return ticks_.empty() ? nullptr : ticks_.back();
}

std::vector<std::shared_ptr<const Tick>> Monitor::History() const {
  absl::MutexLock lock(&mu_);
  return {ticks_.begin(), ticks_.end()};
}

nlohmann::json Monitor::HistoryJson() const {
  nlohmann::json ticks = nlohmann::json::array();
  for (const std::shared_ptr<const Tick>& tick : History()) ticks.push_back(tick->ToJson());
  return {{"intervalSeconds", Count(absl::ToDoubleSeconds(options_.interval))},
          {"ticks", std::move(ticks)}};
}

Monitor::SubscriptionId Monitor::Subscribe(Subscriber subscriber) {
  absl::MutexLock lock(&mu_);
  const SubscriptionId id = next_subscription_++;
  subscribers_.emplace(id, std::make_shared<const Subscriber>(std::move(subscriber)));
  return id;
}

void Monitor::Unsubscribe(SubscriptionId id) {
  {
    absl::MutexLock lock(&mu_);
    subscribers_.erase(id);
  }
  // Wait for a round of callbacks in progress on another thread (it may be calling this one).
  if (tls_dispatching != this) absl::MutexLock wait(&dispatch_mu_);
}

absl::StatusOr<std::string> Monitor::LatestMetricsText(std::string_view instance_id) const {
  absl::MutexLock lock(&mu_);
  const auto it = latest_texts_.find(std::string(instance_id));
  if (it == latest_texts_.end()) {
    return absl::NotFoundError(
        fmt::format("no service instance '{}' in the latest scrape", instance_id));
  }
  if (it->second.text == nullptr) return absl::UnavailableError(it->second.error);
  return *it->second.text;
}

}  // namespace engram::control
