// Asynchronous unary client calls and timers whose completions run as CqTags (async_unary.h) on
// a completion queue of the caller's choosing:
//   * the queue an async server method is served on (AsyncUnaryCall::queue()): the downstream
//     call's answer continues the request on that queue's thread, with no thread hand-off and no
//     thread blocked while it waits;
//   * a queue of the caller's own, drained by LocalQueue::RunUntil: a synchronous caller (the
//     REST gateway, a test) runs the same asynchronous code and waits for it.
//
//   grpcutil::StartUnaryCall<v1::SearchResponse>(
//       cq, std::move(client_context),
//       [&](grpc::ClientContext* c, grpc::CompletionQueue* q) { return stub->PrepareAsyncSearch(c, req, q); },
//       [](grpc::Status status, v1::SearchResponse response) { ... on the queue's thread ... });
//
//   grpcutil::RunOnQueue(cq, absl::Now() + backoff, [](bool ok) { ... later, on the queue's thread ... });
//
// Every tag on such a queue must be a CqTag. The queue must not shut down while calls or timers
// started on it are pending (a server's queues shut down after AsyncServiceDriver::Quiesce, i.e.
// after every call served on them has finished, and with it everything it started).
//
// Thread-safety: StartUnaryCall and RunOnQueue may be called from any thread.
#pragma once

#include <memory>
#include <optional>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "common/grpc/async_unary.h"
#include "grpcpp/alarm.h"
#include "grpcpp/client_context.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/support/async_unary_call.h"
#include "grpcpp/support/status.h"

namespace engram::grpcutil {

// Runs `fn(ok)` on `cq`'s thread once `when` has come (at once for a time already past);
// ok is false when the timer was cancelled by the queue shutting down.
void RunOnQueue(grpc::CompletionQueue* cq, absl::Time when, absl::AnyInvocable<void(bool) &&> fn);

template <class Response>
using UnaryDone = absl::AnyInvocable<void(grpc::Status, Response) &&>;

namespace internal {

template <class Response>
class UnaryClientCall final : public CqTag {
 public:
  UnaryClientCall(std::unique_ptr<grpc::ClientContext> context, UnaryDone<Response> done)
      : context_(std::move(context)), done_(std::move(done)) {}
  void Proceed(bool /*ok: always true for Finish*/) override {
    UnaryDone<Response> done = std::move(done_);
    grpc::Status status = std::move(status_);
    Response response = std::move(response_);
    delete this;  // before `done`, which may start the next call or finish the server's
    std::move(done)(std::move(status), std::move(response));
  }

  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientAsyncResponseReaderInterface<Response>> reader_;
  Response response_;
  grpc::Status status_;
  UnaryDone<Response> done_;
};

}  // namespace internal

// Starts one unary call with `context` (deadline and metadata already set): `prepare(context,
// cq)` returns the stub's PrepareAsync<Method> reader. `done` runs once, on `cq`'s thread, with
// the call's status and response.
template <class Response, class Prepare>
void StartUnaryCall(grpc::CompletionQueue* cq, std::unique_ptr<grpc::ClientContext> context,
                    Prepare&& prepare, UnaryDone<Response> done) {
  auto* call = new internal::UnaryClientCall<Response>(std::move(context), std::move(done));
  call->reader_ = prepare(call->context_.get(), cq);
  call->reader_->StartCall();
  call->reader_->Finish(&call->response_, &call->status_, static_cast<CqTag*>(call));
}

// A completion queue drained by the calling thread: runs asynchronous code synchronously.
//
//   grpcutil::LocalQueue queue;
//   std::optional<absl::Status> result;
//   StartSomething(queue.cq(), [&](absl::Status s) { result = s; });
//   queue.RunUntil([&] { return result.has_value(); });
class LocalQueue {
 public:
  LocalQueue() = default;
  LocalQueue(const LocalQueue&) = delete;
  LocalQueue& operator=(const LocalQueue&) = delete;
  // Shuts the queue down and drains it (nothing may be pending: RunUntil until done first).
  ~LocalQueue();

  grpc::CompletionQueue* cq() { return &cq_; }
  // Runs the queue's tags on this thread until `done()` is true (checked before each wait).
  template <class Done>
  void RunUntil(Done&& done) {
    void* tag = nullptr;
    bool ok = false;
    while (!done() && cq_.Next(&tag, &ok)) static_cast<CqTag*>(tag)->Proceed(ok);
  }

 private:
  grpc::CompletionQueue cq_;
};

// Runs asynchronous code to completion on this thread: `start(cq, done)` starts it on a
// LocalQueue's queue; returns the value it passes to `done`.
//
//   absl::StatusOr<R> r = grpcutil::RunLocally<absl::StatusOr<R>>(
//       [&](grpc::CompletionQueue* cq, absl::AnyInvocable<void(absl::StatusOr<R>) &&> done) {
//         core.SearchAsync(ctx, request, cq, std::move(done));
//       });
template <class T, class Start>
T RunLocally(Start&& start) {
  LocalQueue queue;
  std::optional<T> result;
  start(queue.cq(), absl::AnyInvocable<void(T) &&>([&result](T value) { result.emplace(std::move(value)); }));
  queue.RunUntil([&result] { return result.has_value(); });
  return *std::move(result);
}

}  // namespace engram::grpcutil
