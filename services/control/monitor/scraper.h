// Scraping the services: each configured target (a kind and a host:port whose host may be a DNS
// name listing several replicas, as a Kubernetes headless Service does) is resolved to all its
// addresses, and every instance's GET /readyz and GET /metrics are fetched, all instances
// concurrently.
//
//   auto fetcher = NewBeastHttpFetcher();                       // http_fetcher.h
//   Scraper scraper({{"hybrid", "engram-hybrid:9102"}, {"storage", "127.0.0.1:9103"}},
//                   fetcher, ScraperOptions{.request_timeout = absl::Seconds(1)});
//   for (const InstanceScrape& instance : scraper.ScrapeAll()) { ... }
//
// The HTTP client is the injected HttpFetcher interface, so the monitor is unit-tested without
// sockets; http_fetcher.h has the real one (Boost.Beast).
//
// Thread-safety: Scraper is immutable after construction; ScrapeAll() may be called from several
// threads at once (each call uses its own worker threads). HttpFetcher implementations must be
// thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace engram::control {

struct HttpResponse {
  int status = 0;
  std::string body;
};

// The HTTP client the scraper uses. Thread-safe.
class HttpFetcher {
 public:
  virtual ~HttpFetcher() = default;

  // Every address of "host:port" (host a DNS name, an IPv4 address or a bracketed IPv6 one) as
  // "ip:port" / "[ipv6]:port", sorted and without duplicates. Errors: INVALID_ARGUMENT for a
  // malformed host:port, UNAVAILABLE (or NOT_FOUND) when the name does not resolve.
  virtual absl::StatusOr<std::vector<std::string>> Resolve(std::string_view host_port) = 0;

  // GET http://<address><path>, where address is one that Resolve returned. Waits at most
  // `timeout` in all (connect, send, receive). Any HTTP status is a success. Errors: UNAVAILABLE
  // (connection failed or broke), DEADLINE_EXCEEDED (timeout), RESOURCE_EXHAUSTED (body over
  // max_body_bytes), INVALID_ARGUMENT (malformed address). Messages say what failed.
  virtual absl::StatusOr<HttpResponse> Get(std::string_view address, std::string_view path,
                                           absl::Duration timeout, size_t max_body_bytes) = 0;
};

struct HostPort {
  std::string host;  // Without brackets for IPv6.
  std::string port;  // Decimal, 1-65535.
};
// Splits "host:port" or "[ipv6]:port". INVALID_ARGUMENT when the port is missing or out of range
// or the host is empty.
absl::StatusOr<HostPort> SplitHostPort(std::string_view host_port);

// One configured target.
struct ScrapeTarget {
  std::string kind;     // "storage", "hybrid", "api" or "control".
  std::string address;  // host:port of the service's HTTP port (/readyz, /metrics).
};

// OK when kind is one of the four and address looks like host:port (checked, not resolved).
absl::Status ValidateTarget(const ScrapeTarget& target);

enum class Readiness {
  kReady,        // /readyz answered 200.
  kNotReady,     // /readyz answered anything else (503 with the reasons, normally).
  kUnreachable,  // The name did not resolve, or /readyz could not be fetched (connect, timeout).
};

// "ready", "not_ready", "unreachable" (the contract's spelling).
std::string_view ReadinessName(Readiness readiness);

// What one scrape learned about one instance.
struct InstanceScrape {
  std::string id;  // "<kind>@<address>", e.g. "api@10.0.0.7:8080"; stable across scrapes.
  std::string kind;
  std::string address;  // The resolved "ip:port"; the configured host:port when resolving failed.
  Readiness readiness = Readiness::kUnreachable;
  // Why the instance is not ready or unreachable: for a 503, "name: reason" of every unavailable
  // dependency of the body {"status":"unavailable","unavailable":[{"name","reason"}]} joined by
  // "; "; otherwise the error. Empty when ready.
  std::string reason;
  // The /metrics body when it answered 200; otherwise nullopt and metrics_error says why.
  // /metrics is not fetched from an unreachable instance.
  std::optional<std::string> metrics_text;
  std::string metrics_error;
};

struct ScraperOptions {
  // Per request: a hung instance costs at most two of these (/readyz, then /metrics).
  absl::Duration request_timeout = absl::Seconds(1);
  size_t max_metrics_bytes = size_t{16} << 20;
  size_t max_readyz_bytes = size_t{64} << 10;
  // Instances (and targets, while resolving) scraped at once, one thread each. Beyond this many
  // instances a scrape may take longer than 2 * request_timeout.
  int max_parallel = 64;
};

class Scraper {
 public:
  // `targets` should pass ValidateTarget (an invalid one shows up as an unreachable instance).
  // `fetcher` must not be null.
  Scraper(std::vector<ScrapeTarget> targets, std::shared_ptr<HttpFetcher> fetcher,
          ScraperOptions options);

  // Resolves every target and scrapes every instance, concurrently. Instances come in target
  // order, each target's addresses sorted. A target that does not resolve gives one unreachable
  // instance at its configured address. Never fails: failures are reported per instance.
  std::vector<InstanceScrape> ScrapeAll() const;

  // Scrapes one already-resolved instance (used by ScrapeAll; exposed for tests).
  InstanceScrape ScrapeInstance(const std::string& kind, const std::string& address) const;

  const std::vector<ScrapeTarget>& targets() const { return targets_; }

 private:
  const std::vector<ScrapeTarget> targets_;
  const std::shared_ptr<HttpFetcher> fetcher_;
  const ScraperOptions options_;
};

// The reason text for a /readyz answer other than 200 (exposed for tests): the unavailable
// dependencies of the JSON body, or "HTTP <status>: <start of the body>" when it has none.
std::string NotReadyReason(const HttpResponse& response);

// The reason text of a ready (200) /readyz answer that says "degraded" (e.g. storage refusing
// writes because its disk is full, while it serves reads): its degraded entries, "" when none.
std::string DegradedReason(const HttpResponse& response);

}  // namespace engram::control
