// Bidirectional-streaming methods served on AsyncUnaryServer's completion queues, for clients
// that send many small requests one after another (storage's WriteStream): each request is
// handed to the handler on the queue's thread as it arrives, the handler answers it now or later
// from any thread, and the answers go out in the order the requests came. A message on an open
// stream costs both sides a fraction of a unary call (no new HTTP/2 stream, no headers or
// trailers per request).
//
//   grpcutil::AddBidiMethod<v1::PutRequest, v1::PutAnswer>(
//       &async_,  // the service's AsyncUnaryServer
//       [this](grpc::ServerContext* c, grpc::ServerAsyncReaderWriter<v1::PutAnswer,
//       v1::PutRequest>* s,
//              grpc::ServerCompletionQueue* cq, void* tag) { service_.RequestPut(c, s, cq, cq,
//              tag); },
//       [this](grpcutil::AsyncBidiCall<v1::PutRequest, v1::PutAnswer>* call, v1::PutRequest*
//       request,
//              grpcutil::AsyncBidiCall<v1::PutRequest, v1::PutAnswer>::Answer answer) {
//         store_.PutAsync(std::move(*request), [answer = std::move(answer)](v1::PutAnswer a)
//         mutable {
//           std::move(answer)(std::move(a));  // exactly once, any thread
//         });
//       },
//       /*max_unanswered=*/256);
//
// Flow control: at most `max_unanswered` requests of one stream are read and not yet answered and
// sent; the stream reads no further until answers go out, so a client that sends faster than the
// handler answers is held back by HTTP/2's window, not by the server's memory.
//
// End of a stream: once the client half-closes and every request is answered and sent, the call
// finishes OK. If the client goes away, the answers still owed are dropped once they come (the
// handler is never left holding a dead call), then the call ends. When the server begins to
// shut down (AsyncUnaryServer::BeginDrain) a stream reads no more requests and, once every
// request it read is answered and sent, finishes UNAVAILABLE: a request without an answer was not
// read, so not handled, and can be sent again on a new stream (to the next server).
//
// A stream counts as one call against AsyncUnaryServer::SetMaxCalls while it is open.
//
// Correlation id: one per stream (the caller's, or a new one), sent back in the stream's initial
// metadata and installed as the thread's logging id while the handler runs for each request;
// correlation_id() gives it to work that answers from another thread.
//
// Thread-safety: every member runs on the call's queue thread, except Answer, which may be called
// from any thread (it posts to the queue).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "common/grpc/async_unary.h"
#include "common/grpc/correlation.h"
#include "common/logging/correlation.h"
#include "grpcpp/support/async_stream.h"

namespace engram::grpcutil {

template <class Request, class Response>
class AsyncBidiCall final : public DrainableCall {
 public:
  using Stream = grpc::ServerAsyncReaderWriter<Response, Request>;
  using RequestFn =
      std::function<void(grpc::ServerContext*, Stream*, grpc::ServerCompletionQueue*, void*)>;
  // Answers one request: must be called exactly once, from any thread.
  using Answer = absl::AnyInvocable<void(Response) &&>;
  // Handles one request on the queue's thread; `request` is valid only during the call (it may be
  // moved from).
  using HandleFn = std::function<void(AsyncBidiCall*, Request* request, Answer answer)>;
  struct Method {
    RequestFn request;
    HandleFn handle;
    size_t max_unanswered;
  };

  grpc::ServerContext* context() { return &context_; }
  const std::string& correlation_id() const { return correlation_id_; }

  // Asks the server for the method's next stream on `cq`.
  static void Listen(AsyncUnaryServer* server, const Method* method,
                     grpc::ServerCompletionQueue* cq, CqExecutor* executor) {
    auto* call = new AsyncBidiCall(server, method, cq, executor);
    method->request(&call->context_, &call->stream_, cq, &call->started_);
  }

 private:
  // One kind of event of the call; Proceed runs the call's member for it.
  class Event final : public CqTag {
   public:
    Event(AsyncBidiCall* call, void (AsyncBidiCall::*on)(bool)) : call_(call), on_(on) {}
    void Proceed(bool ok) override { (call_->*on_)(ok); }

   private:
    AsyncBidiCall* const call_;
    void (AsyncBidiCall::*const on_)(bool);
  };

  AsyncBidiCall(AsyncUnaryServer* server, const Method* method, grpc::ServerCompletionQueue* cq,
                CqExecutor* executor)
      : server_(server), method_(method), cq_(cq), executor_(executor), stream_(&context_) {}

  void OnStarted(bool ok) {
    // !ok: the server is shutting down and will not deliver this stream.
    const AsyncUnaryServer::Admission admission =
        ok ? server_->CallArrived() : AsyncUnaryServer::Admission::kDrop;
    if (admission == AsyncUnaryServer::Admission::kDrop) {
      delete this;
      return;
    }
    Listen(server_, method_, cq_, executor_);  // the next stream of this method
    if (admission == AsyncUnaryServer::Admission::kRefuse) {
      finishing_ = true;
      stream_.Finish(server_->Busy(), &finished_);
      return;
    }
    handled_ = true;
    correlation_id_ = CorrelationIdFrom(context_);
    context_.AddInitialMetadata(kCorrelationIdMetadataKey, correlation_id_);
    executor_->AddStream(this);
    // A drain that began before this registration asks no more: end at once.
    if (server_->draining()) draining_ = true;
    ReadMore();
    MaybeFinish();
  }

  void Drain() override {
    draining_ = true;
    MaybeFinish();
  }

  // Reads the next request unless one is being read, the client is done or gone, or the stream
  // owes as many answers as it may.
  void ReadMore() {
    if (reading_ || read_done_ || broken_ || draining_ || finishing_ ||
        answers_.size() >= method_->max_unanswered) {
      return;
    }
    reading_ = true;
    stream_.Read(&request_, &read_);
  }

  void OnRead(bool ok) {
    reading_ = false;
    if (finishing_) {  // the read a drain finished the stream under
      MaybeDelete();
      return;
    }
    if (!ok || broken_) {  // the client half-closed, or the stream is gone
      read_done_ = true;
      MaybeFinish();
      return;
    }
    const uint64_t index = first_index_ + answers_.size();
    answers_.emplace_back();
    ++unanswered_;
    {
      logging::ScopedCorrelationId log_scope(correlation_id_);
      method_->handle(this, &request_, [this, index](Response response) {
        executor_->Post([this, index, response = std::move(response)]() mutable {
          OnAnswer(index, std::move(response));
        });
      });
    }
    ReadMore();
  }

  void OnAnswer(uint64_t index, Response response) {
    answers_[index - first_index_] = std::move(response);
    --unanswered_;
    WriteNext();
    MaybeFinish();
  }

  // Sends the oldest answer when it is ready and no write is in flight (one at a time, in order).
  // When the answer after it is ready too, this one is written with gRPC's buffer hint: it waits
  // in the stream's buffer (the write completes at once) and the whole run of ready answers, e.g.
  // the writes one fsync made durable, leaves in one send instead of a syscall each. The run's
  // last answer is written without the hint, which sends the buffer. Never the stream's first
  // answer: it carries the initial metadata, and gRPC completes that write only once the headers
  // are sent, so the next write would never be issued.
  void WriteNext() {
    if (writing_ || broken_ || answers_.empty() || !answers_.front().has_value()) return;
    writing_ = true;
    grpc::WriteOptions options;
    if (first_index_ > 0 && answers_.size() > 1 && answers_[1].has_value()) {
      options.set_buffer_hint();
    }
    stream_.Write(*answers_.front(), options, &written_);
  }

  void OnWritten(bool ok) {
    writing_ = false;
    answers_.pop_front();
    ++first_index_;
    if (!ok) broken_ = true;  // the client is gone: answers still owed are dropped
    WriteNext();
    ReadMore();
    MaybeFinish();
  }

  // Finishes the stream once nothing is owed: the client is gone, or it half-closed, or the
  // server is draining, and every request read is answered and sent. A drain may finish it while
  // a read is outstanding (the read then fails); the call is deleted once both are back.
  void MaybeFinish() {
    if (finishing_ || writing_ || unanswered_ > 0) return;
    grpc::Status status;
    if (broken_) {
      status = grpc::Status::CANCELLED;
    } else if (read_done_ && answers_.empty()) {
      status = grpc::Status::OK;
    } else if (draining_ && answers_.empty()) {
      status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            "the server is shutting down: every request read from this stream "
                            "was answered; send the rest again on a new stream");
    } else {
      return;
    }
    if (reading_ && !draining_) return;  // a half-close or a broken stream: the read fails soon
    finishing_ = true;
    stream_.Finish(status, &finished_);
  }

  void OnFinished(bool /*ok*/) {
    finished_done_ = true;
    MaybeDelete();
  }

  void MaybeDelete() {
    if (!finished_done_ || reading_) return;
    executor_->RemoveStream(this);
    server_->CallDone(handled_);
    delete this;
  }

  AsyncUnaryServer* const server_;
  const Method* const method_;
  grpc::ServerCompletionQueue* const cq_;
  CqExecutor* const executor_;
  grpc::ServerContext context_;
  std::string correlation_id_;
  Stream stream_;
  Request request_;
  Event started_{this, &AsyncBidiCall::OnStarted};
  Event read_{this, &AsyncBidiCall::OnRead};
  Event written_{this, &AsyncBidiCall::OnWritten};
  Event finished_{this, &AsyncBidiCall::OnFinished};
  // Requests read and not yet sent, oldest first: their answers once given.
  std::deque<std::optional<Response>> answers_;
  uint64_t first_index_ = 0;  // the index of answers_.front() among the stream's requests
  size_t unanswered_ = 0;     // handed to the handler and not yet answered
  bool handled_ = false;      // admitted (counted against the server's limit)
  bool reading_ = false;
  bool read_done_ = false;
  bool writing_ = false;
  bool broken_ = false;    // a write failed: the client is gone
  bool draining_ = false;  // the server is shutting down: read no more
  bool finishing_ = false;
  bool finished_done_ = false;
};

// Serves a bidirectional-streaming method on `server`'s queues: `request` calls the generated
// Request<Method> with the queue as both queues; `handle` handles each request of a stream on the
// queue's thread. Before the server starts.
template <class Request, class Response>
void AddBidiMethod(AsyncUnaryServer* server,
                   typename AsyncBidiCall<Request, Response>::RequestFn request,
                   typename AsyncBidiCall<Request, Response>::HandleFn handle,
                   size_t max_unanswered) {
  using Call = AsyncBidiCall<Request, Response>;
  auto method = std::make_shared<typename Call::Method>();
  method->request = std::move(request);
  method->handle = std::move(handle);
  method->max_unanswered = std::max<size_t>(1, max_unanswered);
  server->AddListener(method, [server, method = method.get()](grpc::ServerCompletionQueue* cq,
                                                              CqExecutor* executor) {
    Call::Listen(server, method, cq, executor);
  });
}

}  // namespace engram::grpcutil
