// EngramCore's streaming calls (v1.1): ReasonStream and ExportNamespace. engram_core.h describes
// their behaviour; the unary calls are in engram_core.cc.
#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/grpc/correlation.h"
#include "common/status/status_macros.h"
#include "services/api/core/conversions.h"
#include "services/api/core/engram_core.h"

namespace engram::api {

namespace sv1 = storage::v1;
namespace hv1 = hybrid::v1;

namespace {

// How often a relay waiting for its dependency asks the sink whether the client is still there.
constexpr auto kClientPollInterval = std::chrono::milliseconds(100);
// Concepts per storage Scan page (and per ExportChunk): storage's maximum page.
constexpr uint32_t kExportPageSize = 1000;

absl::Status ClientWentAway() { return absl::CancelledError("the client went away"); }

// One server-streaming call on a completion queue owned by the relay, with one operation in
// flight at a time. Wait() polls the sink while the operation is pending and cancels the call
// (once) when the client has gone away.
template <typename Sink>
class StreamRelay {
 public:
  StreamRelay(grpc::ClientContext* context, Sink* sink) : context_(context), sink_(sink) {}
  ~StreamRelay() {
    cq_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  grpc::CompletionQueue* cq() { return &cq_; }

  // Waits for the one pending operation; its `ok`.
  bool Wait() {
    void* tag = nullptr;
    bool ok = false;
    while (true) {
      switch (cq_.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + kClientPollInterval)) {
        case grpc::CompletionQueue::GOT_EVENT:
          return ok;
        case grpc::CompletionQueue::SHUTDOWN:
          return false;
        case grpc::CompletionQueue::TIMEOUT:
          if (!client_gone_ && sink_->ClientGone()) ClientGone();
          break;
      }
    }
  }

  // The client is gone: cancel the downstream call.
  void ClientGone() {
    client_gone_ = true;
    context_->TryCancel();
  }
  bool client_gone() const { return client_gone_; }

 private:
  grpc::ClientContext* const context_;
  Sink* const sink_;
  grpc::CompletionQueue cq_;
  bool client_gone_ = false;
};

}  // namespace

absl::Status EngramCore::ReasonStream(const RequestContext& ctx, const v1::ReasonRequest& request,
                                      StreamSink<v1::ReasonEvent>* sink) {
  return Instrumented<bool>(kReasonStream, [&]() -> absl::StatusOr<bool> {
    ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kReader, request.namespace_()));
    RETURN_IF_ERROR(ValidateReason(request, options_.limits));
    const hv1::ReasonRequest req = ToHybrid(NormalizedReason(request));
    CircuitBreaker& breaker = *deps_.hybrid_breaker;
    RETURN_IF_ERROR(breaker.Allow());
    const absl::Duration timeout = call.deadline - deps_.clock();
    if (timeout <= absl::ZeroDuration()) {
      breaker.Record(absl::OkStatus());
      return absl::DeadlineExceededError("hybrid ReasonStream: deadline exceeded");
    }

    grpc::ClientContext context;
    grpcutil::PrepareClientContext(&context, timeout, ctx.correlation_id);
    StreamRelay<StreamSink<v1::ReasonEvent>> relay(&context, sink);
    const absl::Time start = absl::Now();
    std::unique_ptr<grpc::ClientAsyncReaderInterface<hv1::ReasonEvent>> reader =
        deps_.hybrid->PrepareAsyncReasonStream(&context, req, relay.cq());
    reader->StartCall(nullptr);
    if (relay.Wait()) {
      hv1::ReasonEvent event;
      while (true) {
        reader->Read(&event, nullptr);
        if (!relay.Wait()) break;
        if (!relay.client_gone() && !sink->Write(ToV1(event))) relay.ClientGone();
      }
    }
    grpc::Status status;
    reader->Finish(&status, nullptr);
    relay.Wait();
    if (downstream_seconds_ != nullptr) {
      downstream_seconds_->Add({"hybrid", "ReasonStream"})
          .Observe(absl::ToDoubleSeconds(absl::Now() - start));
    }
    if (relay.client_gone()) {
      breaker.Record(absl::OkStatus());  // not the dependency's fault
      return ClientWentAway();
    }
    const absl::Status outcome = status.ok() ? absl::OkStatus()
                                             : MapDownstreamError(Dependency::kHybrid,
                                                                  "ReasonStream", status);
    breaker.Record(outcome);
    RETURN_IF_ERROR(outcome);
    return true;
  }).status();
}

absl::Status EngramCore::ExportNamespace(const RequestContext& ctx,
                                         const v1::ExportNamespaceRequest& request,
                                         StreamSink<v1::ExportChunk>* sink) {
  return Instrumented<bool>(kExportNamespace, [&]() -> absl::StatusOr<bool> {
    ASSIGN_OR_RETURN(Call call, Admit(ctx, Role::kReader, request.namespace_()));
    RETURN_IF_ERROR(ValidateNamespaceName("namespace", request.namespace_()));
    // First the namespace itself, so that an import can recreate it.
    {
      const absl::Time now = deps_.clock();
      call.deadline = std::min(ctx.deadline, now + options_.default_deadline);
      ASSIGN_OR_RETURN(sv1::NamespaceInfo info, FetchNamespace(call, request.namespace_()));
      v1::ExportChunk chunk;
      *chunk.mutable_namespace_() = ToV1(info);
      if (!sink->Write(chunk)) return ClientWentAway();
    }
    uint64_t view = 0;  // the log sequence of the first page: both passes read that view
    for (const bool associations : {false, true}) {
      sv1::ScanRequest scan;
      scan.set_namespace_(request.namespace_());
      scan.set_page_size(kExportPageSize);
      if (associations) {
        scan.set_include_associations(true);
        scan.set_associations_only(true);
        scan.set_view_sequence(view);
      } else {
        scan.set_include_vector(true);
      }
      do {
        if (sink->ClientGone()) return ClientWentAway();
        // Each page gets the default deadline, within the client's own.
        const absl::Time now = deps_.clock();
        call.deadline = std::min(ctx.deadline, now + options_.default_deadline);
        if (call.deadline <= now) return absl::DeadlineExceededError("export: deadline exceeded");
        sv1::ScanResponse page;
        RETURN_IF_ERROR(CallDownstream(
            call, Dependency::kStorage, "Scan", /*idempotent=*/true,
            [&](grpc::ClientContext* c) { return deps_.storage->Scan(c, scan, &page); }));
        if (view == 0) view = page.view_sequence();
        v1::ExportChunk chunk;
        for (const sv1::Concept& c : page.concepts()) {
          *chunk.add_concepts() = ToV1(c, /*include_vector=*/true);
        }
        for (const sv1::Association& a : page.associations()) *chunk.add_associations() = ToV1(a);
        if ((chunk.concepts_size() > 0 || chunk.associations_size() > 0) && !sink->Write(chunk)) {
          return ClientWentAway();
        }
        scan.set_page_token(page.next_page_token());
      } while (!scan.page_token().empty());
    }
    return true;
  }).status();
}

}  // namespace engram::api
