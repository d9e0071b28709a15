// StorageService: the thin gRPC adapter of engram.storage.v1.Storage over the Engine.
//
// Converts status with the one mapping in common/status and does nothing else: validation,
// limits and semantics live in the engine. Until the engine is attached (recovery still
// running) every call answers UNAVAILABLE.
//
// Thread-safety: thread-safe. The engine is not owned and must outlive the service.
#pragma once

#include <atomic>

#include "engram/storage/v1/storage.grpc.pb.h"
#include "storage-server/engine/engine.h"

namespace engram::storage {

class StorageService final : public v1::Storage::Service {
 public:
  StorageService() = default;
  void AttachEngine(Engine* engine) { engine_.store(engine, std::memory_order_release); }

  grpc::Status CreateNamespace(grpc::ServerContext*, const v1::CreateNamespaceRequest*, v1::NamespaceInfo*) override;
  grpc::Status GetNamespace(grpc::ServerContext*, const v1::GetNamespaceRequest*, v1::NamespaceInfo*) override;
  grpc::Status ListNamespaces(grpc::ServerContext*, const v1::ListNamespacesRequest*,
                              v1::ListNamespacesResponse*) override;
  grpc::Status DeleteNamespace(grpc::ServerContext*, const v1::DeleteNamespaceRequest*,
                               v1::DeleteNamespaceResponse*) override;
  grpc::Status Write(grpc::ServerContext*, const v1::WriteRequest*, v1::WriteResponse*) override;
  grpc::Status PutConcepts(grpc::ServerContext*, const v1::PutConceptsRequest*, v1::WriteResponse*) override;
  grpc::Status DeleteConcepts(grpc::ServerContext*, const v1::DeleteConceptsRequest*, v1::WriteResponse*) override;
  grpc::Status PutAssociations(grpc::ServerContext*, const v1::PutAssociationsRequest*,
                               v1::WriteResponse*) override;
  grpc::Status DeleteAssociations(grpc::ServerContext*, const v1::DeleteAssociationsRequest*,
                                  v1::WriteResponse*) override;
  grpc::Status GetConcepts(grpc::ServerContext*, const v1::GetConceptsRequest*, v1::GetConceptsResponse*) override;
  grpc::Status Neighbors(grpc::ServerContext*, const v1::NeighborsRequest*, v1::NeighborsResponse*) override;
  grpc::Status FindPaths(grpc::ServerContext*, const v1::FindPathsRequest*, v1::FindPathsResponse*) override;
  grpc::Status Search(grpc::ServerContext*, const v1::SearchRequest*, v1::SearchResponse*) override;
  grpc::Status Scan(grpc::ServerContext*, const v1::ScanRequest*, v1::ScanResponse*) override;
  grpc::Status GetStats(grpc::ServerContext*, const v1::GetStatsRequest*, v1::ServerStats*) override;
  grpc::Status Checkpoint(grpc::ServerContext*, const v1::CheckpointRequest*, v1::CheckpointResponse*) override;
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
  std::atomic<Engine*> engine_{nullptr};
};

}  // namespace engram::storage
