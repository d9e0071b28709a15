#include "services/api/server/api_server.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc/channel.h"
#include "common/http/standard_routes.h"
#include "common/status/status_macros.h"
#include "common/tls/grpc_credentials.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/api/rest/rest_gateway.h"
#include "spdlog/spdlog.h"

namespace engram::api {

namespace {

const char* StateName(grpc_connectivity_state s) {
  switch (s) {
    case GRPC_CHANNEL_IDLE:
      return "idle";
    case GRPC_CHANNEL_CONNECTING:
      return "connecting";
    case GRPC_CHANNEL_READY:
      return "ready";
    case GRPC_CHANNEL_TRANSIENT_FAILURE:
      return "transient failure";
    case GRPC_CHANNEL_SHUTDOWN:
      return "shut down";
  }
  return "unknown";
}

constexpr int kMaxResponseBytes = 64 << 20;

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target, bool round_robin,
                                           absl::Duration max_backoff,
                                           const tls::ClientTlsConfig& tls_config) {
  return grpc_util::MakeDownstreamChannel(target, {.round_robin = round_robin,
                                                   .max_reconnect_backoff = max_backoff,
                                                   .max_message_bytes = kMaxResponseBytes,
                                                   .tls = tls_config});
}

service::HostConfig Named(service::HostConfig host) {
  host.service = "engram-api";
  host.grpc_service = "engram.v1.Engram";
  // Responses may be larger than the largest accepted REST body.
  host.max_message_bytes =
      static_cast<int>(std::max<size_t>(host.max_body_bytes, kMaxResponseBytes));
  return host;
}

}  // namespace

absl::Status ApiServerConfig::Validate() const {
  if (absl::Status s = tls::CheckClientTls(downstream_tls); !s.ok()) return s;
  if (auth_enabled && api_keys_file.empty()) {
    return absl::InvalidArgumentError(
        "--api_keys_file is required with --auth=enabled (or pass --auth=disabled for local "
        "development)");
  }
  if (rate_limits.key_rate < 0 || rate_limits.key_burst < 0) {
    return absl::InvalidArgumentError("--key_rate / --key_burst: must be >= 0");
  }
  if (rate_limits.namespace_rate < 0 || rate_limits.namespace_burst < 0) {
    return absl::InvalidArgumentError("--namespace_rate / --namespace_burst: must be >= 0");
  }
  if (core.default_deadline <= absl::ZeroDuration() || core.max_deadline < core.default_deadline) {
    return absl::InvalidArgumentError(
        "--default_deadline_ms must be > 0 and --max_deadline_ms at least as long");
  }
  if (cache_ttl < absl::ZeroDuration()) return absl::InvalidArgumentError("--cache_ttl_ms: negative");
  if (core.page_token_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--page_token_ttl_s: must be > 0");
  }
  return absl::OkStatus();
}

std::string WithResolver(const std::string& target) {
  for (const char* scheme : {"dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "xds:"}) {
    if (absl::StartsWith(target, scheme)) return target;
  }
  return "dns:///" + target;
}

ApiServer::ApiServer(ApiServerConfig config)
    : config_(std::move(config)),
      host_(Named(config_.host)),
      keys_(config_.api_keys_file),
      limiter_(config_.rate_limits),
      cache_(ResponseCacheOptions{.max_bytes = config_.cache_bytes, .ttl = config_.cache_ttl}) {
  storage_.name = "storage";
  storage_.target = config_.storage_address;
  storage_.channel = MakeChannel(storage_.target, /*round_robin=*/false,
                                 config_.max_reconnect_backoff, config_.downstream_tls);
  storage_.breaker = std::make_unique<CircuitBreaker>("storage", config_.breaker);
  hybrid_.name = "hybrid";
  hybrid_.target = WithResolver(config_.hybrid_address);
  hybrid_.channel = MakeChannel(hybrid_.target, /*round_robin=*/true, config_.max_reconnect_backoff,
                                config_.downstream_tls);
  hybrid_.breaker = std::make_unique<CircuitBreaker>("hybrid", config_.breaker);
  storage_stub_ = storage::v1::Storage::NewStub(storage_.channel);
  hybrid_stub_ = hybrid::v1::Hybrid::NewStub(hybrid_.channel);

  EngramCoreDeps deps;
  deps.storage = storage_stub_.get();
  deps.hybrid = hybrid_stub_.get();
  deps.keys = &keys_;
  deps.limiter = &limiter_;
  deps.cache = config_.cache_bytes > 0 ? &cache_ : nullptr;
  deps.storage_breaker = storage_.breaker.get();
  deps.hybrid_breaker = hybrid_.breaker.get();
  deps.metrics = &host_.metrics();
  EngramCoreOptions core_options = config_.core;
  core_options.auth_enabled = config_.auth_enabled;
  core_ = std::make_unique<EngramCore>(std::move(deps), core_options);
  service_ = std::make_unique<EngramService>(core_.get());

  auto& reloads = host_.metrics().AddCounter("engram_api_keys_reloads_total",
                                      "Re-reads of the API keys file that changed the keys (ok) or "
                                      "were refused, keeping the keys in force (error).",
                                      {"result"});
  keys_reloaded_ = &reloads.Add({"ok"});
  keys_reload_failed_ = &reloads.Add({"error"});
  host_.metrics().AddCallbackGauge("engram_api_keys", "API keys in force.",
                            [this] { return static_cast<double>(keys_.Current()->size()); });
  for (Dependency* d : {&storage_, &hybrid_}) {
    grpc::Channel* channel = d->channel.get();
    host_.metrics().AddCallbackGauge(
        absl::StrCat("engram_api_", d->name, "_connected"),
        absl::StrCat("1 when the ", d->name, " channel is connected."),
        [channel] { return channel->GetState(false) == GRPC_CHANNEL_READY ? 1.0 : 0.0; });
  }

  host_.SetReadiness([this] { return Readiness(); });
  RegisterRestRoutes(host_.http(), *core_);

  host_.grpc()->AddAsyncService(service_.get(), service_->async_driver());
}

ApiServer::~ApiServer() {
  Shutdown();
  host_.metrics().RemoveCallbackGauge("engram_api_storage_connected");
  host_.metrics().RemoveCallbackGauge("engram_api_keys");
  host_.metrics().RemoveCallbackGauge("engram_api_hybrid_connected");
}

absl::Status ApiServer::Start() {
  if (started_) return absl::FailedPreconditionError("ApiServer already started");
  started_ = true;
  if (config_.auth_enabled) {
    if (config_.api_keys_file.empty()) {
      return absl::InvalidArgumentError(
          "auth is enabled but no API keys file was given (--api_keys_file)");
    }
    // Names the file and the entry; an empty file is refused (every call would be).
    RETURN_IF_ERROR(keys_.Reload().status());
    keys_checked_ = absl::Now();
    spdlog::info("auth enabled: {} API keys loaded from {}", keys_.Current()->size(),
                 config_.api_keys_file);
  } else {
    spdlog::warn(
        "auth DISABLED: every caller may do anything on every namespace (development only)");
  }
  RETURN_IF_ERROR(host_.Start());
  storage_.channel->GetState(/*try_to_connect=*/true);
  hybrid_.channel->GetState(/*try_to_connect=*/true);
  host_.SetServing(true);
  prober_ = std::thread([this] { ProbeLoop(); });
  return absl::OkStatus();
}

void ApiServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  {
    sync::MutexLock lock(&probe_mu_);
    stopping_ = true;
  }
  probe_cv_.SignalAll();
  if (prober_.joinable()) prober_.join();
  host_.Shutdown();
}

http::ReadinessReport ApiServer::Readiness() {
  http::ReadinessReport report;
  for (Dependency* d : {&storage_, &hybrid_}) {
    const grpc_connectivity_state state = d->channel->GetState(/*try_to_connect=*/true);
    if (state != GRPC_CHANNEL_READY) {
      report.unavailable.push_back({d->name, absl::StrCat(d->target, ": ", StateName(state))});
    } else if (d->breaker->state() != CircuitBreaker::State::kClosed) {
      report.unavailable.push_back(
          {d->name, absl::StrCat(d->target, ": circuit open after repeated failures")});
    }
  }
  return report;
}

void ApiServer::ProbeLoop() {
  sync::MutexLock lock(&probe_mu_);
  while (!stopping_) {
    const auto deadline =
        std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(config_.probe_interval);
    while (!stopping_ &&
           probe_cv_.WaitUntil(&probe_mu_, deadline) == std::cv_status::no_timeout) {
    }
    if (stopping_) break;
    lock.Unlock();
    Probe(storage_);
    Probe(hybrid_);
    if (config_.auth_enabled && absl::Now() - keys_checked_ >= config_.keys_reload_interval) {
      ReloadKeys();
    }
    lock.Lock();
  }
}

void ApiServer::ReloadKeys() {
  keys_checked_ = absl::Now();
  absl::StatusOr<bool> changed = keys_.Reload();
  if (!changed.ok()) {
    keys_reload_failed_->Increment();
    spdlog::error("API keys not reloaded, the {} keys in force stay: {}", keys_.Current()->size(),
                  changed.status().ToString());
  } else if (*changed) {
    keys_reloaded_->Increment();
    spdlog::info("API keys reloaded: {} keys from {}", keys_.Current()->size(), config_.api_keys_file);
  }
}

void ApiServer::Probe(Dependency& d) {
  if (d.breaker->state() == CircuitBreaker::State::kClosed) return;
  if (!d.breaker->Allow().ok()) return;  // still within open_duration, or a probe is in flight
  auto stub = grpc::health::v1::Health::NewStub(d.channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  grpc::health::v1::HealthCheckRequest request;  // "": the whole server
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status s = stub->Check(&context, request, &response);
  absl::Status outcome;
  if (!s.ok()) {
    outcome = absl::UnavailableError(absl::StrCat(d.name, " health check: ", s.error_message()));
  } else if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    outcome = absl::UnavailableError(absl::StrCat(d.name, " is not serving yet"));
  }
  d.breaker->Record(outcome);
  if (outcome.ok()) {
    spdlog::info("{} is back: circuit closed", d.name);
  } else {
    spdlog::debug("{} probe: {}", d.name, outcome.ToString());
  }
}

}  // namespace engram::api
