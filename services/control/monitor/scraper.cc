#include "services/control/monitor/scraper.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <functional>
#include <thread>
#include <utility>

#include "absl/strings/str_join.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace engram::control {

namespace {

constexpr std::string_view kKinds[] = {"storage", "hybrid", "api", "control"};
constexpr size_t kMaxReasonBodyChars = 200;

// Runs fn(0..n-1) on up to `max_parallel` threads (inline when one is enough); returns when all
// are done.
void ParallelFor(size_t n, int max_parallel, const std::function<void(size_t)>& fn) {
  const size_t workers = std::min(n, static_cast<size_t>(std::max(1, max_parallel)));
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
  };
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  for (size_t t = 1; t < workers; ++t) threads.emplace_back(work);
  work();
  for (std::thread& thread : threads) thread.join();
}

std::string StatusText(const absl::Status& status) { return std::string(status.message()); }

}  // namespace

absl::StatusOr<HostPort> SplitHostPort(std::string_view host_port) {
  std::string_view host;
  std::string_view port;
  if (!host_port.empty() && host_port.front() == '[') {
    const size_t close = host_port.find(']');
    if (close == std::string_view::npos || close + 1 >= host_port.size() ||
        host_port[close + 1] != ':') {
      return absl::InvalidArgumentError(
          fmt::format("'{}' is not host:port ([ipv6]:port for IPv6)", host_port));
    }
    host = host_port.substr(1, close - 1);
    port = host_port.substr(close + 2);
  } else {
    const size_t colon = host_port.rfind(':');
    if (colon == std::string_view::npos || host_port.find(':') != colon) {
      return absl::InvalidArgumentError(
          fmt::format("'{}' is not host:port ([ipv6]:port for IPv6)", host_port));
    }
    host = host_port.substr(0, colon);
    port = host_port.substr(colon + 1);
  }
  int number = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (host.empty() || port.empty() || ec != std::errc() || ptr != port.data() + port.size() ||
      number < 1 || number > 65535) {
    return absl::InvalidArgumentError(
        fmt::format("'{}' is not host:port with a port in 1-65535", host_port));
  }
  return HostPort{std::string(host), std::string(port)};
}

absl::Status ValidateTarget(const ScrapeTarget& target) {
  if (std::find(std::begin(kKinds), std::end(kKinds), target.kind) == std::end(kKinds)) {
    return absl::InvalidArgumentError(
        fmt::format("target kind '{}' is not one of storage, hybrid, api, control", target.kind));
  }
  absl::StatusOr<HostPort> split = SplitHostPort(target.address);
  if (!split.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("{} target: {}", target.kind, StatusText(split.status())));
  }
  return absl::OkStatus();
}

std::string_view ReadinessName(Readiness readiness) {
  switch (readiness) {
    case Readiness::kReady:
      return "ready";
    case Readiness::kNotReady:
      return "not_ready";
    case Readiness::kUnreachable:
      return "unreachable";
  }
  return "unreachable";
}

namespace {

// "name: reason" for every entry of the JSON array `key` in a /readyz body, joined with "; ".
std::string ReadinessReasons(const std::string& body_text, const char* key) {
  const nlohmann::json body = nlohmann::json::parse(body_text, nullptr,
                                                    /*allow_exceptions=*/false);
  std::vector<std::string> reasons;
  if (body.is_object()) {
    const auto it = body.find(key);
    if (it != body.end() && it->is_array()) {
      for (const nlohmann::json& dependency : *it) {
        if (!dependency.is_object()) continue;
        const std::string name = dependency.value("name", std::string());
        const std::string reason = dependency.value("reason", std::string());
        if (name.empty() && reason.empty()) continue;
        reasons.push_back(reason.empty() ? name : name.empty() ? reason : name + ": " + reason);
      }
    }
  }
  return absl::StrJoin(reasons, "; ");
}

}  // namespace

std::string NotReadyReason(const HttpResponse& response) {
  if (std::string reasons = ReadinessReasons(response.body, "unavailable"); !reasons.empty()) {
    return reasons;
  }
  std::string excerpt = response.body.substr(0, kMaxReasonBodyChars);
  std::replace(excerpt.begin(), excerpt.end(), '\n', ' ');
  if (excerpt.empty()) return fmt::format("GET /readyz answered HTTP {}", response.status);
  return fmt::format("GET /readyz answered HTTP {}: {}", response.status, excerpt);
}

std::string DegradedReason(const HttpResponse& response) {
  return ReadinessReasons(response.body, "degraded");
}

Scraper::Scraper(std::vector<ScrapeTarget> targets, std::shared_ptr<HttpFetcher> fetcher,
                 ScraperOptions options)
    : targets_(std::move(targets)), fetcher_(std::move(fetcher)), options_(options) {}

InstanceScrape Scraper::ScrapeInstance(const std::string& kind, const std::string& address) const {
  InstanceScrape out;
  out.id = kind + "@" + address;
  out.kind = kind;
  out.address = address;
  absl::StatusOr<HttpResponse> ready =
      fetcher_->Get(address, "/readyz", options_.request_timeout, options_.max_readyz_bytes);
  if (!ready.ok()) {
    out.readiness = Readiness::kUnreachable;
    out.reason = StatusText(ready.status());
    out.metrics_error = "not fetched: the instance is unreachable";
    return out;
  }
  if (ready->status == 200) {
    out.readiness = Readiness::kReady;
    out.reason = DegradedReason(*ready);  // ready, but e.g. storage's disk is full
  } else {
    out.readiness = Readiness::kNotReady;
    out.reason = NotReadyReason(*ready);
  }
  absl::StatusOr<HttpResponse> metrics =
      fetcher_->Get(address, "/metrics", options_.request_timeout, options_.max_metrics_bytes);
  if (!metrics.ok()) {
    out.metrics_error = StatusText(metrics.status());
  } else if (metrics->status != 200) {
    out.metrics_error = fmt::format("GET /metrics answered HTTP {}", metrics->status);
  } else {
    out.metrics_text = std::move(metrics->body);
  }
  return out;
}

std::vector<InstanceScrape> Scraper::ScrapeAll() const {
  // Resolve every target (concurrently: one slow DNS answer must not hold up the others).
  std::vector<absl::StatusOr<std::vector<std::string>>> resolved(targets_.size());
  ParallelFor(targets_.size(), options_.max_parallel, [&](size_t i) {
    if (absl::Status valid = ValidateTarget(targets_[i]); !valid.ok()) {
      resolved[i] = valid;
      return;
    }
    resolved[i] = fetcher_->Resolve(targets_[i].address);
    if (resolved[i].ok() && resolved[i]->empty()) {
      resolved[i] = absl::UnavailableError(fmt::format("{} has no addresses", targets_[i].address));
    }
  });

  // One slot per instance, in target order; unresolved targets are filled in directly.
  std::vector<InstanceScrape> instances;
  std::vector<size_t> to_scrape;
  for (size_t t = 0; t < targets_.size(); ++t) {
    const ScrapeTarget& target = targets_[t];
    if (!resolved[t].ok()) {
      InstanceScrape failed;
      failed.id = target.kind + "@" + target.address;
      failed.kind = target.kind;
      failed.address = target.address;
      failed.readiness = Readiness::kUnreachable;
      failed.reason =
          fmt::format("resolving {}: {}", target.address, StatusText(resolved[t].status()));
      failed.metrics_error = "not fetched: the instance is unreachable";
      instances.push_back(std::move(failed));
      continue;
    }
    std::vector<std::string> addresses = *resolved[t];
    std::sort(addresses.begin(), addresses.end());
    addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
    for (std::string& address : addresses) {
      InstanceScrape pending;
      pending.kind = target.kind;
      pending.address = std::move(address);
      to_scrape.push_back(instances.size());
      instances.push_back(std::move(pending));
    }
  }
  // Two targets may resolve to the same instance (same kind and address): scrape it once.
  std::vector<size_t> unique_slots;
  {
    std::vector<std::string> seen;
    for (size_t slot : to_scrape) {
      const std::string id = instances[slot].kind + "@" + instances[slot].address;
      if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
      seen.push_back(id);
      unique_slots.push_back(slot);
    }
  }
  ParallelFor(unique_slots.size(), options_.max_parallel, [&](size_t i) {
    InstanceScrape& slot = instances[unique_slots[i]];
    slot = ScrapeInstance(slot.kind, slot.address);
  });
  // Drop the duplicates that were not scraped (their id is still empty).
  std::erase_if(instances, [](const InstanceScrape& instance) { return instance.id.empty(); });
  return instances;
}

}  // namespace engram::control
