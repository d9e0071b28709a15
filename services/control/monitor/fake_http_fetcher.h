// A scripted HttpFetcher for tests (not part of the library): names resolve to the addresses
// set with SetAddresses (a name never set resolves to itself), and GETs answer what SetResponse
// scripted (UNAVAILABLE "connection refused" otherwise). Thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "services/control/monitor/scraper.h"

namespace engram::control {

class FakeHttpFetcher final : public HttpFetcher {
 public:
  void SetAddresses(std::string host_port, absl::StatusOr<std::vector<std::string>> addresses) {
    absl::MutexLock lock(&mu_);
    addresses_.insert_or_assign(std::move(host_port), std::move(addresses));
  }

  void SetResponse(std::string address, std::string path, absl::StatusOr<HttpResponse> response) {
    absl::MutexLock lock(&mu_);
    responses_.insert_or_assign({std::move(address), std::move(path)}, std::move(response));
  }

  // Convenience: /readyz 200 and /metrics 200 with `metrics`.
  void SetHealthy(const std::string& address, std::string metrics) {
    SetResponse(address, "/readyz", HttpResponse{200, R"({"status":"ok"})"});
    SetResponse(address, "/metrics", HttpResponse{200, std::move(metrics)});
  }

  void SetDown(const std::string& address) {
    SetResponse(address, "/readyz",
                absl::UnavailableError("GET /readyz: cannot connect to " + address +
                                       ": Connection refused"));
    SetResponse(address, "/metrics",
                absl::UnavailableError("GET /metrics: cannot connect to " + address +
                                       ": Connection refused"));
  }

  int gets() const {
    absl::MutexLock lock(&mu_);
    return gets_;
  }

  absl::StatusOr<std::vector<std::string>> Resolve(std::string_view host_port) override {
    absl::MutexLock lock(&mu_);
    auto it = addresses_.find(std::string(host_port));
    if (it == addresses_.end()) return std::vector<std::string>{std::string(host_port)};
    return it->second;
  }

  absl::StatusOr<HttpResponse> Get(std::string_view address, std::string_view path, absl::Duration,
                                   size_t) override {
    absl::MutexLock lock(&mu_);
    ++gets_;
    auto it = responses_.find({std::string(address), std::string(path)});
    if (it == responses_.end()) {
      return absl::UnavailableError("connection refused: " + std::string(address));
    }
    return it->second;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, absl::StatusOr<std::vector<std::string>>> addresses_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, absl::StatusOr<HttpResponse>> responses_
      ABSL_GUARDED_BY(mu_);
  int gets_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace engram::control
