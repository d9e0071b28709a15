// Unary gRPC methods served on completion queues, each call handled inline on the thread that
// takes its event from the queue: no hand-off from a poller to a worker thread per call.
//
// Why not the callback API: in gRPC 1.51 (Debian's) a callback service makes the library start
// "nexting" threads on a shared callback queue, which wait with a 1 s timeout and then sleep
// 100 ms; while one holds the epoll poller role nothing reads the sockets, and every service
// stalled ~100 ms once a second (docs/benchmarks.md). The callback queue is only used without
// those threads when the I/O manager runs in the background, which no Linux poller of 1.51 does.
// The async API on queues of our own, drained by our own threads, has neither the threads nor
// the hand-off.
//
//   class MyService {  // owns the async service and the server
//     v1::Foo::WithAsyncMethod_Get<v1::Foo::Service> service_;
//     grpcutil::AsyncUnaryServer async_;
//     MyService() {
//       async_.AddMethod<v1::GetRequest, v1::GetResponse>(
//           [this](grpc::ServerContext* c, v1::GetRequest* r,
//                  grpc::ServerAsyncResponseWriter<v1::GetResponse>* w,
//                  grpc::ServerCompletionQueue* cq, void* tag) {
//             service_.RequestGet(c, r, w, cq, cq, tag);
//           },
//           [this](grpcutil::AsyncUnaryCall<v1::GetRequest, v1::GetResponse>* call) {
//             *call->response() = ...;         // quick work: inline, on the queue's thread
//             call->Finish(grpc::Status::OK);  // or, from another thread: FinishOnQueue
//           });
//     }
//   };
//   runner.AddAsyncService(&service_, &async_);  // before Start()
//
// Thread-safety: AddMethod before the server starts; the rest is called by ServerRunner and by
// the calls themselves (FinishOnQueue from any thread).
#pragma once

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/sync/mutex.h"
#include "grpcpp/alarm.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/async_unary_call.h"
#include "grpcpp/support/status.h"

namespace engram::grpcutil {

// An event on a completion queue that ServerRunner's async threads drain: every tag put on such
// a queue is a CqTag, and Proceed(ok) runs on the queue's thread.
class CqTag {
 public:
  virtual void Proceed(bool ok) = 0;

 protected:
  ~CqTag() = default;
};

// Serves the async methods of a service on ServerRunner's completion queues
// (ServerRunner::AddAsyncService).
class AsyncServiceDriver {
 public:
  virtual ~AsyncServiceDriver() = default;
  // Once per completion queue, on the queue's thread, after the server started and before the
  // thread takes events: request the first call of every method on `cq`.
  virtual void Arm(grpc::ServerCompletionQueue* cq) = 0;
  // During shutdown, after the server stopped taking calls and before the queues shut down:
  // returns once every call seen has finished and nothing will start an operation on the queues
  // again (calls still arriving are dropped).
  virtual void Quiesce() = 0;
  // Before the server starts: at most `max_calls` calls handled at once (0: no limit); a call
  // arriving while that many are in progress is answered RESOURCE_EXHAUSTED at once (load
  // shedding, like ServerRunner::Options::max_threads for sync methods).
  virtual void SetMaxCalls(int max_calls) = 0;
  // When shutdown begins, before the server stops taking calls: long-lived calls (streams) end
  // once they have sent what they owe, so an idle one does not hold the drain to its timeout.
  virtual void BeginDrain() {}
};

// A long-lived call (a stream) that AsyncUnaryServer::BeginDrain asks to end.
class DrainableCall {
 public:
  // On the call's queue thread: read no more requests; finish once every request read has been
  // answered and sent.
  virtual void Drain() = 0;

 protected:
  ~DrainableCall() = default;
};

// Runs closures on one completion queue's thread. Post() from any thread; the closures posted
// before the queue's thread gets to them share one wake-up (one grpc::Alarm).
class CqExecutor final : public CqTag {
 public:
  explicit CqExecutor(grpc::CompletionQueue* cq) : cq_(cq) {}
  void Post(absl::AnyInvocable<void() &&> fn);
  void Proceed(bool ok) override;

  // The streams open on this queue, for BeginDrain: on the queue's thread only.
  void AddStream(DrainableCall* call) { streams_.insert(call); }
  void RemoveStream(DrainableCall* call) { streams_.erase(call); }
  void DrainStreams();

 private:
  grpc::CompletionQueue* const cq_;
  absl::flat_hash_set<DrainableCall*> streams_;  // the queue's thread only
  grpc::Alarm alarm_;  // set only while !armed_, so never twice before it fires
  sync::Mutex mu_;
  std::vector<absl::AnyInvocable<void() &&>> pending_ ABSL_GUARDED_BY(mu_);
  bool armed_ ABSL_GUARDED_BY(mu_) = false;
};

class AsyncUnaryServer;

// One unary call. Created when the method is requested on a queue; deletes itself once its
// response is sent.
template <class Request, class Response>
class AsyncUnaryCall final : public CqTag {
 public:
  using RequestFn = std::function<void(grpc::ServerContext*, Request*, grpc::ServerAsyncResponseWriter<Response>*,
                                       grpc::ServerCompletionQueue*, void*)>;
  // Must end the call with Finish or FinishOnQueue, exactly once (now or later).
  using HandleFn = std::function<void(AsyncUnaryCall*)>;
  struct Method {
    RequestFn request;
    HandleFn handle;
  };

  grpc::ServerContext* context() { return &context_; }
  const Request& request() const { return request_; }
  Request* mutable_request() { return &request_; }
  Response* response() { return &response_; }
  // The queue the call is served on: asynchronous work the handler starts (e.g. a downstream
  // call, async_client.h) can complete on it and finish the call from its thread.
  grpc::ServerCompletionQueue* queue() { return cq_; }

  // Sends response() (when `status` is OK) or the error, from the queue's thread.
  void Finish(const grpc::Status& status) {
    state_ = State::kFinishing;
    if (status.ok()) {
      responder_.Finish(response_, status, static_cast<CqTag*>(this));
    } else {
      responder_.FinishWithError(status, static_cast<CqTag*>(this));
    }
  }
  // Same, from any thread: the finish runs on the call's queue thread (the response is sent
  // from there, not from the caller's thread, e.g. the storage writer's).
  void FinishOnQueue(grpc::Status status);
  // Finish from the queue's thread with `result`: its value as the response, or its error as
  // `to_grpc(status)` maps it (each service has its own mapping).
  template <typename ToGrpc>
  void FinishWith(absl::StatusOr<Response> result, ToGrpc&& to_grpc) {
    if (!result.ok()) return Finish(to_grpc(result.status()));
    response_ = *std::move(result);
    Finish(grpc::Status::OK);
  }

  void Proceed(bool ok) override;

 private:
  friend class AsyncUnaryServer;
  enum class State { kWaiting, kHandling, kFinishing };

  AsyncUnaryCall(AsyncUnaryServer* server, const Method* method, grpc::ServerCompletionQueue* cq,
                 CqExecutor* executor)
      : server_(server), method_(method), cq_(cq), executor_(executor), responder_(&context_) {}
  // Asks the server for the method's next call on `cq`.
  static void Listen(AsyncUnaryServer* server, const Method* method, grpc::ServerCompletionQueue* cq,
                      CqExecutor* executor) {
    auto* call = new AsyncUnaryCall(server, method, cq, executor);
    method->request(&call->context_, &call->request_, &call->responder_, cq, static_cast<CqTag*>(call));
  }

  AsyncUnaryServer* const server_;
  const Method* const method_;
  grpc::ServerCompletionQueue* const cq_;
  CqExecutor* const executor_;
  State state_ = State::kWaiting;
  bool handled_ = false;  // admitted (counted against the server's limit)
  grpc::ServerContext context_;
  Request request_;
  Response response_;
  grpc::ServerAsyncResponseWriter<Response> responder_;
};

class AsyncUnaryServer final : public AsyncServiceDriver {
 public:
  AsyncUnaryServer() = default;
  AsyncUnaryServer(const AsyncUnaryServer&) = delete;
  AsyncUnaryServer& operator=(const AsyncUnaryServer&) = delete;

  // Serves one method: `request` calls the generated Request<Method> with the queue as both
  // queues; `handle` handles each call on the queue's thread. Before the server starts.
  template <class Request, class Response>
  void AddMethod(typename AsyncUnaryCall<Request, Response>::RequestFn request,
                 typename AsyncUnaryCall<Request, Response>::HandleFn handle) {
    auto method = std::make_shared<typename AsyncUnaryCall<Request, Response>::Method>();
    method->request = std::move(request);
    method->handle = std::move(handle);
    AddListener(method, [this, method = method.get()](grpc::ServerCompletionQueue* cq,
                                                      CqExecutor* executor) {
      AsyncUnaryCall<Request, Response>::Listen(this, method, cq, executor);
    });
  }

  // Serves a method whose calls are not unary (async_stream.h's AddBidiMethod): `listen` requests
  // its first call on each queue; `method` is kept alive with the server. Before it starts.
  void AddListener(std::shared_ptr<void> method,
                   std::function<void(grpc::ServerCompletionQueue*, CqExecutor*)> listen) {
    arms_.push_back(std::move(listen));
    methods_.push_back(std::move(method));
  }

  void Arm(grpc::ServerCompletionQueue* cq) override;
  void Quiesce() override;
  void SetMaxCalls(int max_calls) override { max_calls_ = max_calls; }
  // Every open stream is asked to end (DrainableCall::Drain, on its queue's thread), and streams
  // starting from now on end at once.
  void BeginDrain() override;
  bool draining();

  // For AsyncUnaryCall and AsyncBidiCall: a call arrived: handle it, refuse it (the limit is
  // reached) or drop it (shutting down) / it finished (`handled`: it was admitted).
  enum class Admission { kHandle, kRefuse, kDrop };
  Admission CallArrived();
  void CallDone(bool handled);
  // The refusal's status.
  grpc::Status Busy() const;

 private:
  std::vector<std::shared_ptr<void>> methods_;  // keeps each Method alive
  std::vector<std::function<void(grpc::ServerCompletionQueue*, CqExecutor*)>> arms_;

  sync::Mutex mu_;
  sync::CondVar idle_cv_;  // active_ reached 0
  std::vector<std::unique_ptr<CqExecutor>> executors_ ABSL_GUARDED_BY(mu_);
  int max_calls_ = 0;                     // set before the server starts
  int active_ ABSL_GUARDED_BY(mu_) = 0;   // arrived and not yet finished (refused ones too)
  int handling_ ABSL_GUARDED_BY(mu_) = 0; // admitted and not yet finished
  bool quiescing_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

template <class Request, class Response>
void AsyncUnaryCall<Request, Response>::FinishOnQueue(grpc::Status status) {
  executor_->Post([this, status = std::move(status)]() mutable { Finish(status); });
}

template <class Request, class Response>
void AsyncUnaryCall<Request, Response>::Proceed(bool ok) {
  switch (state_) {
    case State::kWaiting: {
      // !ok: the server is shutting down and will not deliver this call.
      const AsyncUnaryServer::Admission admission =
          ok ? server_->CallArrived() : AsyncUnaryServer::Admission::kDrop;
      if (admission == AsyncUnaryServer::Admission::kDrop) {
        delete this;
        return;
      }
      Listen(server_, method_, cq_, executor_);  // the next call of this method
      if (admission == AsyncUnaryServer::Admission::kRefuse) {
        Finish(server_->Busy());
        return;
      }
      handled_ = true;
      state_ = State::kHandling;
      method_->handle(this);
      return;
    }
    case State::kHandling:  // no event is expected while handling
    case State::kFinishing:
      server_->CallDone(handled_);
      delete this;
      return;
  }
}

}  // namespace engram::grpcutil
