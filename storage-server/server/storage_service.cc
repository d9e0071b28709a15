#include "storage-server/server/storage_service.h"

#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "storage-server/engine/snapshot.h"
#include "common/grpc/correlation.h"
#include "common/status/grpc_status.h"
#include "spdlog/spdlog.h"

namespace engram::storage {

namespace {

using status::ToGrpcStatus;

constexpr size_t kChunkBytes = 1 << 20;

// Runs `fn(engine)` with the correlation id installed, or answers UNAVAILABLE while recovering.
template <typename Fn>
grpc::Status Call(std::atomic<Engine*>& slot, grpc::ServerContext* context, Fn&& fn) {
  grpcutil::RpcScope scope(context);
  Engine* engine = slot.load(std::memory_order_acquire);
  if (engine == nullptr) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "storage is recovering");
  absl::Status s = fn(*engine);
  if (!s.ok() && s.code() != absl::StatusCode::kNotFound && s.code() != absl::StatusCode::kInvalidArgument) {
    spdlog::warn("storage rpc failed: {}", s.ToString());
  }
  return ToGrpcStatus(s);
}

template <typename T>
absl::Status Assign(absl::StatusOr<T> result, T* out) {
  if (!result.ok()) return result.status();
  *out = std::move(*result);
  return absl::OkStatus();
}

}  // namespace

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

grpc::Status StorageService::Write(grpc::ServerContext* c, const v1::WriteRequest* r, v1::WriteResponse* out) {
  return Call(engine_, c, [&](Engine& e) { return Assign(e.Write(*r), out); });
}

grpc::Status StorageService::PutConcepts(grpc::ServerContext* c, const v1::PutConceptsRequest* r,
                                         v1::WriteResponse* out) {
  return Call(engine_, c, [&](Engine& e) {
    v1::WriteRequest w;
    w.set_namespace_(r->namespace_());
    for (const auto& concept_msg : r->concepts()) *w.add_mutations()->mutable_put_concept() = concept_msg;
    return Assign(e.Write(std::move(w)), out);
  });
}

grpc::Status StorageService::DeleteConcepts(grpc::ServerContext* c, const v1::DeleteConceptsRequest* r,
                                            v1::WriteResponse* out) {
  return Call(engine_, c, [&](Engine& e) {
    v1::WriteRequest w;
    w.set_namespace_(r->namespace_());
    for (const auto& id : r->ids()) w.add_mutations()->set_delete_concept(id);
    return Assign(e.Write(std::move(w)), out);
  });
}

grpc::Status StorageService::PutAssociations(grpc::ServerContext* c, const v1::PutAssociationsRequest* r,
                                             v1::WriteResponse* out) {
  return Call(engine_, c, [&](Engine& e) {
    v1::WriteRequest w;
    w.set_namespace_(r->namespace_());
    for (const auto& a : r->associations()) *w.add_mutations()->mutable_put_association() = a;
    return Assign(e.Write(std::move(w)), out);
  });
}

grpc::Status StorageService::DeleteAssociations(grpc::ServerContext* c, const v1::DeleteAssociationsRequest* r,
                                                v1::WriteResponse* out) {
  return Call(engine_, c, [&](Engine& e) {
    v1::WriteRequest w;
    w.set_namespace_(r->namespace_());
    for (const auto& k : r->keys()) *w.add_mutations()->mutable_delete_association() = k;
    return Assign(e.Write(std::move(w)), out);
  });
}

grpc::Status StorageService::GetConcepts(grpc::ServerContext* c, const v1::GetConceptsRequest* r,
                                         v1::GetConceptsResponse* out) {
  return Call(engine_, c, [&](Engine& e) { return Assign(e.GetConcepts(*r), out); });
}

grpc::Status StorageService::Neighbors(grpc::ServerContext* c, const v1::NeighborsRequest* r,
                                       v1::NeighborsResponse* out) {
  return Call(engine_, c, [&](Engine& e) { return Assign(e.Neighbors(*r), out); });
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
