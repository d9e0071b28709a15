#include "common/grpc/server_interceptor.h"

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "common/grpc/correlation.h"
#include "common/logging/correlation.h"
#include "common/metrics/metrics.h"
#include "spdlog/spdlog.h"

namespace engram::grpcutil {

namespace hooks = grpc::experimental;
using Hook = grpc::experimental::InterceptionHookPoints;

struct RpcInterceptorFactory::Metrics {
  metrics::CounterFamily* handled = nullptr;
  metrics::HistogramFamily* seconds = nullptr;
  metrics::Gauge* in_flight = nullptr;
};

namespace {

class RpcInterceptor final : public hooks::Interceptor {
 public:
  RpcInterceptor(hooks::ServerRpcInfo* info,
                 std::shared_ptr<const RpcInterceptorFactory::Metrics> metrics,
                 std::shared_ptr<std::atomic<int64_t>> active_calls)
      : metrics_(std::move(metrics)),
        active_calls_(std::move(active_calls)),
        start_(std::chrono::steady_clock::now()) {
    if (active_calls_ != nullptr) active_calls_->fetch_add(1);
    // "/package.Service/Method"
    const std::string_view full = info->method() != nullptr ? info->method() : "";
    const size_t slash = full.rfind('/');
    if (full.size() > 1 && full.front() == '/' && slash != std::string_view::npos && slash > 0) {
      service_ = std::string(full.substr(1, slash - 1));
      method_ = std::string(full.substr(slash + 1));
    } else {
      service_ = "unknown";
      method_ = "unknown";
    }
    if (metrics_ != nullptr) metrics_->in_flight->Increment();
  }

  ~RpcInterceptor() override {
    // No status was sent: the call was cancelled before the handler finished it.
    if (!recorded_) Record(grpc::StatusCode::CANCELLED);
    if (active_calls_ != nullptr) active_calls_->fetch_sub(1);
  }

  void Intercept(hooks::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(Hook::POST_RECV_INITIAL_METADATA)) {
      TakeCorrelationId(methods->GetRecvInitialMetadata());
    }
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_INITIAL_METADATA)) {
      std::multimap<std::string, std::string>* metadata = methods->GetSendInitialMetadata();
      if (metadata != nullptr && !correlation_id_.empty() &&
          metadata->find(kCorrelationIdMetadataKey) == metadata->end()) {
        metadata->emplace(kCorrelationIdMetadataKey, correlation_id_);
      }
    }
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS)) {
      Record(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void TakeCorrelationId(std::multimap<grpc::string_ref, grpc::string_ref>* metadata) {
    if (metadata == nullptr) return;
    auto it = metadata->find(kCorrelationIdMetadataKey);
    if (it != metadata->end()) {
      const std::string_view supplied(it->second.data(), it->second.size());
      if (logging::IsValidCorrelationId(supplied)) {
        correlation_id_ = std::string(supplied);
        return;
      }
    }
    // Absent or unsafe: replace with a fresh id that the handler will read from the metadata.
    // The map holds string_refs; correlation_id_ outlives every read of it (this interceptor
    // lives as long as the call).
    metadata->erase(kCorrelationIdMetadataKey);
    correlation_id_ = logging::NewCorrelationId();
    metadata->emplace(grpc::string_ref(kCorrelationIdMetadataKey),
                      grpc::string_ref(correlation_id_));
  }

  void Record(grpc::StatusCode code) {
    if (recorded_) return;
    recorded_ = true;
    // The access log, at debug level, on whichever thread finishes the call: install the call's
    // correlation id for this line.
    if (spdlog::should_log(spdlog::level::debug)) {
      logging::ScopedCorrelationId scope(correlation_id_);
      const std::chrono::duration<double> ms = std::chrono::steady_clock::now() - start_;
      spdlog::debug("rpc {}/{} -> {} in {:.3f} ms", service_, method_,
                    absl::StatusCodeToString(static_cast<absl::StatusCode>(code)), ms.count() * 1e3);
    }
    if (metrics_ == nullptr) return;
    metrics_->in_flight->Decrement();
    // Unknown methods always end UNIMPLEMENTED; their names come from clients, so they are not
    // used as label values (that would let clients create unbounded series).
    const bool unimplemented = code == grpc::StatusCode::UNIMPLEMENTED;
    const std::string& service = unimplemented ? kUnknown : service_;
    const std::string& method = unimplemented ? kUnknown : method_;
    metrics_->handled
        ->Add({service, method, absl::StatusCodeToString(static_cast<absl::StatusCode>(code))})
        .Increment();
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    metrics_->seconds->Add({service, method}).Observe(elapsed.count());
  }

  inline static const std::string kUnknown = "unknown";

  const std::shared_ptr<const RpcInterceptorFactory::Metrics> metrics_;
  const std::shared_ptr<std::atomic<int64_t>> active_calls_;
  const std::chrono::steady_clock::time_point start_;
  std::string service_;
  std::string method_;
  std::string correlation_id_;
  bool recorded_ = false;
};

}  // namespace

RpcInterceptorFactory::RpcInterceptorFactory(metrics::Registry* registry,
                                             std::shared_ptr<std::atomic<int64_t>> active_calls)
    : active_calls_(std::move(active_calls)) {
  if (registry == nullptr) return;
  auto metrics = std::make_shared<Metrics>();
  metrics->handled = &registry->AddCounter("grpc_server_handled_total",
                                           "gRPC calls completed on the server, by status code.",
                                           {"service", "method", "code"});
  metrics->seconds = &registry->AddHistogram(
      "grpc_server_handling_seconds", "Time from receiving a gRPC call to sending its status.",
      {"service", "method"}, metrics::DefaultLatencyBuckets());
  metrics->in_flight = &registry
                            ->AddGauge("grpc_server_in_flight",
                                       "gRPC calls received and not yet answered (all methods).", {})
                            .Add({});
  metrics_ = std::move(metrics);
}

RpcInterceptorFactory::~RpcInterceptorFactory() = default;

hooks::Interceptor* RpcInterceptorFactory::CreateServerInterceptor(hooks::ServerRpcInfo* info) {
  return new RpcInterceptor(info, metrics_, active_calls_);
}

}  // namespace engram::grpcutil
