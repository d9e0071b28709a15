// StorageService: the thin gRPC adapter of engram.storage.v1.Storage over the Engine.
//
// Converts status with the one mapping in common/status and does nothing else: validation,
// limits and semantics live in the engine. Until the engine is attached (recovery still
// running) every call answers UNAVAILABLE.
//
// Threads: the hot methods — the five unary writes, WriteStream, GetConcepts and Neighbors — are
// async methods served by async_driver() on ServerRunner's completion-queue threads, inline, with
// no hand-off per call (common/grpc/async_unary.h, async_stream.h). A write does not hold a thread while it waits
// for its group commit: Engine::WriteAsync answers from the writer thread, which hands the
// response back to the call's queue thread. The other methods (search, paths, scan, snapshots,
// namespaces, stats) are sync methods on the sync pool: they are long or rare, and would hold a
// queue thread.
//
// Thread-safety: thread-safe. The engine is not owned and must outlive the service; register
// with ServerRunner::AddAsyncService(&service, service.async_driver()).
#pragma once

#include <atomic>

#include "common/grpc/async_stream.h"
#include "common/grpc/async_unary.h"
#include "engram/storage/v1/storage.grpc.pb.h"
#include "storage-server/engine/engine.h"

namespace engram::storage {

// The generated service with the hot methods async (their sync overrides are final).
using StorageServiceBase = v1::Storage::WithAsyncMethod_Write<v1::Storage::WithAsyncMethod_PutConcepts<
    v1::Storage::WithAsyncMethod_DeleteConcepts<v1::Storage::WithAsyncMethod_PutAssociations<
        v1::Storage::WithAsyncMethod_DeleteAssociations<v1::Storage::WithAsyncMethod_WriteStream<
            v1::Storage::WithAsyncMethod_GetConcepts<
                v1::Storage::WithAsyncMethod_Neighbors<v1::Storage::Service>>>>>>>>;

class StorageService final : public StorageServiceBase {
 public:
  StorageService();
  void AttachEngine(Engine* engine) { engine_.store(engine, std::memory_order_release); }
  grpcutil::AsyncServiceDriver* async_driver() { return &async_; }

  grpc::Status CreateNamespace(grpc::ServerContext*, const v1::CreateNamespaceRequest*, v1::NamespaceInfo*) override;
  grpc::Status GetNamespace(grpc::ServerContext*, const v1::GetNamespaceRequest*, v1::NamespaceInfo*) override;
  grpc::Status ListNamespaces(grpc::ServerContext*, const v1::ListNamespacesRequest*,
                              v1::ListNamespacesResponse*) override;
  grpc::Status DeleteNamespace(grpc::ServerContext*, const v1::DeleteNamespaceRequest*,
                               v1::DeleteNamespaceResponse*) override;
  grpc::Status FindPaths(grpc::ServerContext*, const v1::FindPathsRequest*, v1::FindPathsResponse*) override;
  grpc::Status Search(grpc::ServerContext*, const v1::SearchRequest*, v1::SearchResponse*) override;
  grpc::Status Scan(grpc::ServerContext*, const v1::ScanRequest*, v1::ScanResponse*) override;
  grpc::Status GetStats(grpc::ServerContext*, const v1::GetStatsRequest*, v1::ServerStats*) override;
  grpc::Status Checkpoint(grpc::ServerContext*, const v1::CheckpointRequest*, v1::CheckpointResponse*) override;
  grpc::Status CompactNamespace(grpc::ServerContext*, const v1::CompactNamespaceRequest*,
                                v1::NamespaceInfo*) override;
  grpc::Status CreateSnapshot(grpc::ServerContext*, const v1::CreateSnapshotRequest*, v1::SnapshotInfo*) override;
  grpc::Status ListSnapshots(grpc::ServerContext*, const v1::ListSnapshotsRequest*,
                             v1::ListSnapshotsResponse*) override;
  grpc::Status DeleteSnapshot(grpc::ServerContext*, const v1::DeleteSnapshotRequest*,
                              v1::DeleteSnapshotResponse*) override;
  grpc::Status DownloadSnapshot(grpc::ServerContext*, const v1::DownloadSnapshotRequest*,
                                grpc::ServerWriter<v1::SnapshotChunk>*) override;
  grpc::Status RestoreSnapshot(grpc::ServerContext*, grpc::ServerReader<v1::RestoreSnapshotChunk>*,
                               v1::RestoreSnapshotResponse*) override;

 private:
  // Registers an async write method whose request `to_write` turns into a WriteRequest (it may
  // move from the request).
  template <class Request>
  void AddWriteMethod(typename grpcutil::AsyncUnaryCall<Request, v1::WriteResponse>::RequestFn request,
                      v1::WriteRequest (*to_write)(Request*));

  // Hands `write` to the engine (or answers UNAVAILABLE while it recovers); `done` gets the
  // result from the writer thread, an unexpected error already logged under `correlation_id`.
  void StartWrite(v1::WriteRequest write, const std::string& correlation_id,
                  Engine::WriteCallback done);

  std::atomic<Engine*> engine_{nullptr};
  grpcutil::AsyncUnaryServer async_;
};

}  // namespace engram::storage
