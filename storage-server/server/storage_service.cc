#include "storage-server/server/storage_service.h"

#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "storage-server/engine/snapshot.h"
#include "common/grpc/correlation.h"
#include "common/logging/correlation.h"
#include "common/status/grpc_status.h"
#include "spdlog/spdlog.h"

namespace engram::storage {

namespace {

using status::ToGrpcStatus;

constexpr size_t kChunkBytes = 1 << 20;
// WriteStream's read-ahead (storage.proto): beyond it a stream waits for its answers.
constexpr size_t kWriteStreamMaxUnanswered = 256;

// The status a call answers, logged when unexpected (on the caller's correlation id).
absl::Status Logged(absl::Status s) {
  if (!s.ok() && s.code() != absl::StatusCode::kNotFound && s.code() != absl::StatusCode::kInvalidArgument) {
    spdlog::warn("storage rpc failed: {}", s.ToString());
  }
  return s;
}

// Runs `fn(engine)` with the correlation id installed, or answers UNAVAILABLE while recovering.
template <typename Fn>
grpc::Status Call(std::atomic<Engine*>& slot, grpc::ServerContext* context, Fn&& fn) {
  grpcutil::RpcScope scope(context);
  Engine* engine = slot.load(std::memory_order_acquire);
  if (engine == nullptr) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "storage is recovering");
  return ToGrpcStatus(Logged(fn(*engine)));
}

template <typename T>
absl::Status Assign(absl::StatusOr<T> result, T* out) {
  if (!result.ok()) return result.status();
  *out = std::move(*result);
  return absl::OkStatus();
}

v1::WriteRequest WriteOf(v1::WriteRequest* r) { return std::move(*r); }

v1::WriteRequest WriteOf(v1::PutConceptsRequest* r) {
  v1::WriteRequest w;
  w.set_namespace_(r->namespace_());
  for (auto& concept_msg : *r->mutable_concepts()) {
    *w.add_mutations()->mutable_put_concept() = std::move(concept_msg);
  }
  return w;
}

v1::WriteRequest WriteOf(v1::DeleteConceptsRequest* r) {
  v1::WriteRequest w;
  w.set_namespace_(r->namespace_());
  for (auto& id : *r->mutable_ids()) w.add_mutations()->set_delete_concept(std::move(id));
  return w;
}

v1::WriteRequest WriteOf(v1::PutAssociationsRequest* r) {
  v1::WriteRequest w;
  w.set_namespace_(r->namespace_());
  for (auto& a : *r->mutable_associations()) *w.add_mutations()->mutable_put_association() = std::move(a);
  return w;
}

v1::WriteRequest WriteOf(v1::DeleteAssociationsRequest* r) {
  v1::WriteRequest w;
  w.set_namespace_(r->namespace_());
  for (auto& k : *r->mutable_keys()) *w.add_mutations()->mutable_delete_association() = std::move(k);
  return w;
}

}  // namespace

template <class Request>
void StorageService::AddWriteMethod(
    typename grpcutil::AsyncUnaryCall<Request, v1::WriteResponse>::RequestFn request,
    v1::WriteRequest (*to_write)(Request*)) {
  using CallT = grpcutil::AsyncUnaryCall<Request, v1::WriteResponse>;
  async_.AddMethod<Request, v1::WriteResponse>(std::move(request), [this, to_write](CallT* call) {
    grpcutil::RpcScope scope(call->context());
    StartWrite(to_write(call->mutable_request()), scope.id(),
               [call](absl::StatusOr<v1::WriteResponse> result) {
                 if (!result.ok()) return call->FinishOnQueue(ToGrpcStatus(result.status()));
                 *call->response() = *std::move(result);
                 call->FinishOnQueue(grpc::Status::OK);
               });
  });
}

void StorageService::StartWrite(v1::WriteRequest write, const std::string& correlation_id,
                                Engine::WriteCallback done) {
  Engine* engine = engine_.load(std::memory_order_acquire);
  if (engine == nullptr) return std::move(done)(absl::UnavailableError("storage is recovering"));
  // No thread waits for the group commit: the writer answers, the call's queue thread sends.
  engine->WriteAsync(std::move(write), [done = std::move(done), id = correlation_id](
                                           absl::StatusOr<v1::WriteResponse> result) mutable {
    if (!result.ok()) {
      logging::ScopedCorrelationId log_scope(id);
      return std::move(done)(Logged(result.status()));
    }
    std::move(done)(std::move(result));
  });
}

StorageService::StorageService() {
  // Each Request* is given the queue as both the new-call and the notification queue.
  AddWriteMethod<v1::WriteRequest>(
      [this](grpc::ServerContext* c, v1::WriteRequest* r, grpc::ServerAsyncResponseWriter<v1::WriteResponse>* w,
             grpc::ServerCompletionQueue* cq, void* tag) { RequestWrite(c, r, w, cq, cq, tag); },
      &WriteOf);
  AddWriteMethod<v1::PutConceptsRequest>(
      [this](grpc::ServerContext* c, v1::PutConceptsRequest* r, grpc::ServerAsyncResponseWriter<v1::WriteResponse>* w,
             grpc::ServerCompletionQueue* cq, void* tag) { RequestPutConcepts(c, r, w, cq, cq, tag); },
      &WriteOf);
  AddWriteMethod<v1::DeleteConceptsRequest>(
      [this](grpc::ServerContext* c, v1::DeleteConceptsRequest* r,
             grpc::ServerAsyncResponseWriter<v1::WriteResponse>* w, grpc::ServerCompletionQueue* cq,
             void* tag) { RequestDeleteConcepts(c, r, w, cq, cq, tag); },
      &WriteOf);
  AddWriteMethod<v1::PutAssociationsRequest>(
      [this](grpc::ServerContext* c, v1::PutAssociationsRequest* r,
             grpc::ServerAsyncResponseWriter<v1::WriteResponse>* w, grpc::ServerCompletionQueue* cq,
             void* tag) { RequestPutAssociations(c, r, w, cq, cq, tag); },
      &WriteOf);
  AddWriteMethod<v1::DeleteAssociationsRequest>(
      [this](grpc::ServerContext* c, v1::DeleteAssociationsRequest* r,
             grpc::ServerAsyncResponseWriter<v1::WriteResponse>* w, grpc::ServerCompletionQueue* cq,
             void* tag) { RequestDeleteAssociations(c, r, w, cq, cq, tag); },
      &WriteOf);
  // Each request of a stream is a write of its own; the writer answers it like a unary Write.
  using StreamCall = grpcutil::AsyncBidiCall<v1::WriteRequest, v1::WriteStreamResponse>;
  grpcutil::AddBidiMethod<v1::WriteRequest, v1::WriteStreamResponse>(
      &async_,
      [this](grpc::ServerContext* c,
             grpc::ServerAsyncReaderWriter<v1::WriteStreamResponse, v1::WriteRequest>* stream,
             grpc::ServerCompletionQueue* cq,
             void* tag) { RequestWriteStream(c, stream, cq, cq, tag); },
      [this](StreamCall* call, v1::WriteRequest* request, StreamCall::Answer answer) {
        StartWrite(std::move(*request), call->correlation_id(),
                   [answer = std::move(answer)](absl::StatusOr<v1::WriteResponse> result) mutable {
                     v1::WriteStreamResponse out;
                     if (result.ok()) {
                       *out.mutable_result() = *std::move(result);
                     } else {
                       *out.mutable_error() = status::ToRpcStatus(result.status());
                     }
                     std::move(answer)(std::move(out));
                   });
      },
      kWriteStreamMaxUnanswered);
  // Reads at the published sequence never wait: answered inline on the queue's thread.
  using GetCall = grpcutil::AsyncUnaryCall<v1::GetConceptsRequest, v1::GetConceptsResponse>;
  async_.AddMethod<v1::GetConceptsRequest, v1::GetConceptsResponse>(
      [this](grpc::ServerContext* c, v1::GetConceptsRequest* r,
             grpc::ServerAsyncResponseWriter<v1::GetConceptsResponse>* w, grpc::ServerCompletionQueue* cq,
             void* tag) { RequestGetConcepts(c, r, w, cq, cq, tag); },
      [this](GetCall* call) {
        call->Finish(Call(engine_, call->context(),
                          [&](Engine& e) { return Assign(e.GetConcepts(call->request()), call->response()); }));
      });
  using NeighborsCall = grpcutil::AsyncUnaryCall<v1::NeighborsRequest, v1::NeighborsResponse>;
  async_.AddMethod<v1::NeighborsRequest, v1::NeighborsResponse>(
      [this](grpc::ServerContext* c, v1::NeighborsRequest* r,
             grpc::ServerAsyncResponseWriter<v1::NeighborsResponse>* w, grpc::ServerCompletionQueue* cq,
             void* tag) { RequestNeighbors(c, r, w, cq, cq, tag); },
      [this](NeighborsCall* call) {
        call->Finish(Call(engine_, call->context(),
                          [&](Engine& e) { return Assign(e.Neighbors(call->request()), call->response()); }));
      });
}

grpc::Status StorageService::CreateNamespace(grpc::ServerContext* c, const v1::CreateNamespaceRequest* r,
                                             v1::NamespaceInfo* out) {
  return Call(engine_, c, [&](Engine& e) { return Assign(e.CreateNamespace(r->config()), out); });
}

grpc::Status StorageService::GetNamespace(grpc::ServerContext* c, const v1::GetNamespaceRequest* r,
                                          v1::NamespaceInfo* out) {
  return Call(engine_, c, [&](Engine& e) { return Assign(e.GetNamespace(r->name()), out); });
}

grpc::Status StorageService::ListNamespaces(grpc::ServerContext* c, const v1::ListNamespacesRequest*,
                                            v1::ListNamespacesResponse* out) {
  return Call(engine_, c, [&](Engine& e) {
    for (auto& ns : e.ListNamespaces()) *out->add_namespaces() = std::move(ns);
    return absl::OkStatus();
  });
}

grpc::Status StorageService::DeleteNamespace(grpc::ServerContext* c, const v1::DeleteNamespaceRequest* r,
                                             v1::DeleteNamespaceResponse*) {
  return Call(engine_, c, [&](Engine& e) { return e.DeleteNamespace(r->name()); });
}

grpc::Status StorageService::FindPaths(grpc::ServerContext* c, const v1::FindPathsRequest* r,
                                       v1::FindPathsResponse* out) {
  return Call(engine_, c, [&](Engine& e) { return Assign(e.FindPaths(*r), out); });
}

grpc::Status StorageService::Search(grpc::ServerContext* c, const v1::SearchRequest* r, v1::SearchResponse* out) {
  return Call(engine_, c, [&](Engine& e) { return Assign(e.Search(*r), out); });
}

grpc::Status StorageService::Scan(grpc::ServerContext* c, const v1::ScanRequest* r, v1::ScanResponse* out) {
  return Call(engine_, c, [&](Engine& e) { return Assign(e.Scan(*r), out); });
}

grpc::Status StorageService::GetStats(grpc::ServerContext* c, const v1::GetStatsRequest*, v1::ServerStats* out) {
  return Call(engine_, c, [&](Engine& e) {
    *out = e.GetStats();
    return absl::OkStatus();
  });
}

grpc::Status StorageService::Checkpoint(grpc::ServerContext* c, const v1::CheckpointRequest*,
                                        v1::CheckpointResponse* out) {
  return Call(engine_, c, [&](Engine& e) {
    auto seq = e.Checkpoint();
    if (!seq.ok()) return seq.status();
    out->set_sequence(*seq);
    return absl::OkStatus();
  });
}

grpc::Status StorageService::CompactNamespace(grpc::ServerContext* c,
                                              const v1::CompactNamespaceRequest* r,
                                              v1::NamespaceInfo* out) {
  return Call(engine_, c, [&](Engine& e) { return Assign(e.RequestCompaction(r->name()), out); });
}

grpc::Status StorageService::CreateSnapshot(grpc::ServerContext* c, const v1::CreateSnapshotRequest*,
                                            v1::SnapshotInfo* out) {
  return Call(engine_, c, [&](Engine& e) { return Assign(e.CreateSnapshot(), out); });
}

grpc::Status StorageService::ListSnapshots(grpc::ServerContext* c, const v1::ListSnapshotsRequest*,
                                           v1::ListSnapshotsResponse* out) {
  return Call(engine_, c, [&](Engine& e) {
    auto list = e.ListSnapshots();
    if (!list.ok()) return list.status();
    for (auto& s : *list) *out->add_snapshots() = std::move(s);
    return absl::OkStatus();
  });
}

grpc::Status StorageService::DeleteSnapshot(grpc::ServerContext* c, const v1::DeleteSnapshotRequest* r,
                                            v1::DeleteSnapshotResponse*) {
  return Call(engine_, c, [&](Engine& e) { return e.DeleteSnapshot(r->name()); });
}

grpc::Status StorageService::DownloadSnapshot(grpc::ServerContext* c, const v1::DownloadSnapshotRequest* r,
                                              grpc::ServerWriter<v1::SnapshotChunk>* writer) {
  return Call(engine_, c, [&](Engine& e) -> absl::Status {
    auto path = e.SnapshotPath(r->name());
    if (!path.ok()) return path.status();
    std::ifstream in(*path, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat("snapshot '", r->name(), "' not found"));
    v1::SnapshotChunk chunk;
    std::string buf(kChunkBytes, '\0');
    while (in) {
      in.read(buf.data(), buf.size());
      if (in.gcount() == 0) break;
      chunk.set_data(buf.data(), in.gcount());
      if (!writer->Write(chunk)) return absl::CancelledError("client went away");
      if (c->IsCancelled()) return absl::CancelledError("cancelled");
    }
    return absl::OkStatus();
  });
}

grpc::Status StorageService::RestoreSnapshot(grpc::ServerContext* c,
                                             grpc::ServerReader<v1::RestoreSnapshotChunk>* reader,
                                             v1::RestoreSnapshotResponse* out) {
  return Call(engine_, c, [&](Engine& e) -> absl::Status {
    std::filesystem::path upload =
        e.snapshot_dir() / absl::StrCat("upload-", std::random_device()(), ".tar.partial");
    struct Remove {
      std::filesystem::path p;
      ~Remove() {
        std::error_code ec;
        std::filesystem::remove(p, ec);
      }
    } cleanup{upload};
    {
      // Untrusted bytes: capped while they arrive, and on disk before the restore reads them.
      absl::StatusOr<std::unique_ptr<StagedUpload>> staged =
          StagedUpload::Create(upload, e.limits().max_snapshot_bytes);
      if (!staged.ok()) return staged.status();
      v1::RestoreSnapshotChunk chunk;
      while (reader->Read(&chunk)) {
        if (absl::Status s = (*staged)->Append(chunk.data()); !s.ok()) return s;
      }
      if (absl::Status s = (*staged)->Finish(); !s.ok()) return s;
    }
    if (c->IsCancelled()) return absl::CancelledError("upload cancelled");
    auto info = e.RestoreSnapshot(upload);
    if (!info.ok()) return info.status();
    *out->mutable_snapshot() = std::move(*info);
    *out->mutable_stats() = e.GetStats();
    return absl::OkStatus();
  });
}

}  // namespace engram::storage
