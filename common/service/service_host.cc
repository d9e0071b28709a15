#include "common/service/service_host.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"

#ifndef ENGRAM_VERSION
#define ENGRAM_VERSION "0.0.0-dev"
#endif

namespace engram::service {

std::string_view Version() { return ENGRAM_VERSION; }

int HostConfig::AsyncCallLimit() const {
  if (grpc_max_threads > 0 && grpc_max_async_calls > 0) {
    return std::min(grpc_max_threads, grpc_max_async_calls);
  }
  return std::max(grpc_max_threads, grpc_max_async_calls);
}

absl::Status HostConfig::Validate() const {
  const auto port_ok = [](int port) { return port >= 0 && port <= 65535; };
  if (!grpc_service.empty() && !port_ok(grpc_port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--grpc_port: ", grpc_port, " is not a port (0..65535)"));
  }
  if (!port_ok(http_port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http_port: ", http_port, " is not a port (0..65535)"));
  }
  if (!grpc_service.empty() && grpc_port != 0 && grpc_port == http_port) {
    return absl::InvalidArgumentError(
        absl::StrCat("--grpc_port and --http_port are both ", grpc_port));
  }
  if (listen_address.empty()) return absl::InvalidArgumentError("--listen_address: empty");
  if (http_threads < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--http_threads: ", http_threads, ", at least 1"));
  }
  if (grpc_max_threads < 0 || (grpc_max_threads > 0 && grpc_max_threads <= grpcutil::ServerRunner::Options{}.max_pollers)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--grpc_max_threads: ", grpc_max_threads, ", must be 0 (no limit) or more than ",
                     grpcutil::ServerRunner::Options{}.max_pollers, " (the polling threads)"));
  }
  if (grpc_max_async_calls < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--grpc_max_async_calls: ", grpc_max_async_calls,
                                                   ", must be 0 (no limit) or positive"));
  }
  if (drain_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--drain_seconds: negative");
  }
  if (max_connection_age <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--max_connection_age_s: must be positive (0 on the flag: never)");
  }
  if (absl::Status s = tls::CheckServerTls(tls); !s.ok()) return s;
  if (!http_client_ca_file.empty()) {
    if (absl::Status s = tls::CheckServerTls(HttpTls()); !s.ok()) return s;
  }
  return absl::OkStatus();
}

tls::ServerTlsConfig HostConfig::HttpTls() const {
  tls::ServerTlsConfig http = tls;
  http.client_ca_file = http_client_ca_file;
  http.client_ca_flag = "--http_tls_client_ca";
  return http;
}

ServiceHost::ServiceHost(HostConfig config) : config_(std::move(config)) {
  metrics_
      .AddGauge("engram_build_info", "Always 1; the labels name the service and its version.",
                {"service", "version"})
      .Add({config_.service, std::string(Version())})
      .Set(1);
  const double start_seconds =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  metrics_.AddGauge("process_start_time_seconds", "Start time of the process since the Unix epoch.", {})
      .Add({})
      .Set(start_seconds);

  http::HttpServer::Options hopts;
  hopts.address = config_.listen_address;
  hopts.port = config_.http_port;
  hopts.threads = std::max(1, config_.http_threads);
  hopts.max_body_bytes = config_.max_body_bytes;
  hopts.idle_timeout = config_.http_idle_timeout;
  hopts.drain_timeout = config_.drain_timeout;
  hopts.metrics = &metrics_;
  hopts.default_headers = config_.default_headers;
  hopts.tls = config_.HttpTls();
  http_ = std::make_unique<http::HttpServer>(hopts);
  // The readiness function is looked up per probe, so SetReadiness may come after construction.
  http::AddStandardRoutes(*http_, &metrics_, [this] {
    return readiness_ ? readiness_() : http::ReadinessReport{};
  });

  if (!config_.grpc_service.empty()) {
    grpcutil::ServerRunner::Options gopts;
    gopts.service_name = config_.grpc_service;
    gopts.grpc_address = absl::StrCat(config_.listen_address, ":", config_.grpc_port);
    gopts.drain_timeout = config_.drain_timeout;
    gopts.max_connection_age = config_.max_connection_age;
    gopts.max_message_bytes = config_.max_message_bytes;
    gopts.max_threads = config_.grpc_max_threads;
    gopts.max_async_calls = config_.AsyncCallLimit();
    gopts.min_pollers = config_.grpc_min_pollers;
    gopts.metrics = &metrics_;
    gopts.tls = config_.tls;
    grpc_ = std::make_unique<grpcutil::ServerRunner>(gopts);
  }
}

ServiceHost::~ServiceHost() { Shutdown(); }

void ServiceHost::SetReadiness(std::function<http::ReadinessReport()> readiness) {
  readiness_ = std::move(readiness);
}

absl::Status ServiceHost::StartHttp() { return http_->Start(); }

absl::Status ServiceHost::StartGrpc() {
  if (grpc_ == nullptr) return absl::OkStatus();
  return grpc_->Start();
}

absl::Status ServiceHost::Start() {
  RETURN_IF_ERROR(StartHttp());
  return StartGrpc();
}

void ServiceHost::SetServing(bool serving) {
  if (grpc_ != nullptr) grpc_->SetServing(serving);
}

void ServiceHost::DrainGrpc() {
  if (grpc_ != nullptr) grpc_->Shutdown();
}

void ServiceHost::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  DrainGrpc();
  http_->Shutdown();
}

}  // namespace engram::service
