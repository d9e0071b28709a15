// RpcClient: one place where engramctl turns a request into a gRPC call on the public API.
//
//   RpcClient client(stub, {.timeout = absl::Seconds(30), .api_key = key, .correlation_id = id});
//   engram::v1::Concept concept;
//   RETURN_IF_ERROR(client.Call(&Stub::GetConcept, request, &concept));
//
// Every call gets a deadline of now + timeout, the metadata "authorization: Bearer <api_key>"
// (when a key is set) and "x-correlation-id: <correlation_id>". A failed call returns the
// server's code and message with the correlation id attached (exit_codes.h: CorrelationIdOf):
// the id the server echoed back in its trailers when it did, otherwise the one that was sent.
//
// Thread-safe when the stub is (generated stubs are; gMock stubs are too): bulk imports call it
// from several threads. The stub is not owned and must outlive the client.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cli/engramctl/exit_codes.h"
#include "engram/v1/engram.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/sync_stream.h"

namespace engram::cli {

struct CallSettings {
  absl::Duration timeout = absl::Seconds(30);
  std::string api_key;         // empty: no authorization metadata
  std::string correlation_id;  // sent as x-correlation-id on every call of this client
};

class RpcClient {
 public:
  using Stub = engram::v1::Engram::StubInterface;

  RpcClient(Stub* stub, CallSettings settings) : stub_(stub), settings_(std::move(settings)) {}

  template <typename Request, typename Response>
  absl::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response) const {
    grpc::ClientContext context;
    Prepare(&context);
    grpc::Status status = (stub_->*method)(&context, request, response);
    return Finish(context, status);
  }

  // A server-streaming call: `on_message` gets each message as it arrives. `timeout` bounds the
  // whole stream (absl::InfiniteDuration(): no deadline). When `on_message` fails, the call is
  // cancelled and its error returned.
  template <typename Request, typename Response>
  absl::Status Stream(std::unique_ptr<grpc::ClientReaderInterface<Response>> (Stub::*method)(
                          grpc::ClientContext*, const Request&),
                      const Request& request, absl::Duration timeout,
                      const std::function<absl::Status(const Response&)>& on_message) const {
    grpc::ClientContext context;
    Prepare(&context, timeout);
    std::unique_ptr<grpc::ClientReaderInterface<Response>> reader =
        (stub_->*method)(&context, request);
    Response message;
    while (reader->Read(&message)) {
      if (absl::Status status = on_message(message); !status.ok()) {
        context.TryCancel();
        while (reader->Read(&message)) {
        }
        (void)reader->Finish();  // CANCELLED; `status` is the error
        return status;
      }
      message.Clear();
    }
    return Finish(context, reader->Finish());
  }

  const CallSettings& settings() const { return settings_; }

 private:
  void Prepare(grpc::ClientContext* context) const { Prepare(context, settings_.timeout); }
  void Prepare(grpc::ClientContext* context, absl::Duration timeout) const;
  absl::Status Finish(const grpc::ClientContext& context, const grpc::Status& status) const;

  Stub* const stub_;
  const CallSettings settings_;
};

}  // namespace engram::cli
