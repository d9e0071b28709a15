#include "cli/engramctl/snapshot.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "cli/engramctl/atomic_file.h"
#include "common/crypto/sha256.h"
#include "common/status/grpc_status.h"
#include "common/status/status_macros.h"
#include "grpcpp/client_context.h"

namespace engram::cli {
namespace {

namespace sv1 = storage::v1;

constexpr size_t kChunkBytes = 1 << 20;

absl::Status ErrnoError(const std::string& what, const std::string& path) {
  const int error = errno;
  return absl::Status(absl::ErrnoToStatusCode(error),
                      absl::StrCat(what, " ", path, ": ", std::strerror(error)));
}

absl::Status Grpc(const char* method, const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status s = status::FromGrpcStatus(status);
  return absl::Status(s.code(), absl::StrCat("engram-storage ", method, ": ", s.message()));
}

}  // namespace

SnapshotCalls::SnapshotCalls(sv1::Storage::StubInterface* stub, SnapshotCallOptions options)
    : stub_(stub), options_(std::move(options)) {}

void SnapshotCalls::Prepare(grpc::ClientContext* context) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  if (!options_.correlation_id.empty()) {
    context->AddMetadata("x-correlation-id", options_.correlation_id);
  }
}

absl::StatusOr<sv1::SnapshotInfo> SnapshotCalls::Create() const {
  grpc::ClientContext context;
  Prepare(&context);
  sv1::SnapshotInfo info;
  RETURN_IF_ERROR(Grpc("CreateSnapshot", stub_->CreateSnapshot(&context, {}, &info)));
  return info;
}

absl::StatusOr<std::vector<sv1::SnapshotInfo>> SnapshotCalls::List() const {
  grpc::ClientContext context;
  Prepare(&context);
  sv1::ListSnapshotsResponse response;
  RETURN_IF_ERROR(Grpc("ListSnapshots", stub_->ListSnapshots(&context, {}, &response)));
  return std::vector<sv1::SnapshotInfo>(response.snapshots().begin(), response.snapshots().end());
}

absl::Status SnapshotCalls::Delete(const std::string& name) const {
  grpc::ClientContext context;
  Prepare(&context);
  sv1::DeleteSnapshotRequest request;
  request.set_name(name);
  sv1::DeleteSnapshotResponse response;
  return Grpc("DeleteSnapshot", stub_->DeleteSnapshot(&context, request, &response));
}

absl::StatusOr<sv1::SnapshotInfo> SnapshotCalls::Download(const std::string& name,
                                                          const std::string& path) const {
  // The digest to check against comes from the server's listing.
  ASSIGN_OR_RETURN(std::vector<sv1::SnapshotInfo> all, List());
  const sv1::SnapshotInfo* info = nullptr;
  for (const sv1::SnapshotInfo& s : all) {
    if (s.name() == name) info = &s;
  }
  if (info == nullptr) return absl::NotFoundError(absl::StrCat("snapshot '", name, "': no such snapshot"));

  ASSIGN_OR_RETURN(AtomicFile file, AtomicFile::Create(path));
  grpc::ClientContext context;
  Prepare(&context);
  sv1::DownloadSnapshotRequest request;
  request.set_name(name);
  std::unique_ptr<grpc::ClientReaderInterface<sv1::SnapshotChunk>> reader =
      stub_->DownloadSnapshot(&context, request);
  crypto::Sha256 sha;
  sv1::SnapshotChunk chunk;
  while (reader->Read(&chunk)) {
    sha.Update(chunk.data());
    if (absl::Status s = file.Append(chunk.data()); !s.ok()) {
      context.TryCancel();
      reader->Finish();
      return s;
    }
  }
  RETURN_IF_ERROR(Grpc("DownloadSnapshot", reader->Finish()));
  const std::string hex = sha.HexDigest();
  if (file.bytes() != info->size_bytes() || hex != info->sha256()) {
    return absl::DataLossError(absl::StrFormat(
        "snapshot '%s': downloaded %d bytes with SHA-256 %s, the server lists %d bytes with %s",
        name, file.bytes(), hex, info->size_bytes(), info->sha256()));
  }
  RETURN_IF_ERROR(file.Commit());
  // Beside the archive, in `sha256sum -c` format.
  std::ofstream digest_file(path + ".sha256", std::ios::trunc);
  digest_file << hex << "  " << path.substr(path.rfind('/') + 1) << "\n";
  digest_file.close();
  if (!digest_file) {
    return absl::InternalError(absl::StrCat("the archive is saved and verified at ", path,
                                            ", but writing ", path, ".sha256 failed"));
  }
  return *info;
}

absl::StatusOr<sv1::RestoreSnapshotResponse> SnapshotCalls::Restore(const std::string& path) const {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError("cannot open", path);
  grpc::ClientContext context;
  Prepare(&context);
  sv1::RestoreSnapshotResponse response;
  std::unique_ptr<grpc::ClientWriterInterface<sv1::RestoreSnapshotChunk>> writer =
      stub_->RestoreSnapshot(&context, &response);
  std::string buffer(kChunkBytes, '\0');
  sv1::RestoreSnapshotChunk chunk;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::streamsize n = in.gcount();
    if (n <= 0) break;
    chunk.set_data(buffer.data(), static_cast<size_t>(n));
    if (!writer->Write(chunk)) break;  // the server ended the call; Finish() says why
  }
  if (in.bad()) {
    context.TryCancel();
    writer->Finish();
    return absl::DataLossError(absl::StrCat("read ", path, " failed"));
  }
  writer->WritesDone();
  RETURN_IF_ERROR(Grpc("RestoreSnapshot", writer->Finish()));
  return response;
}

std::string RenderSnapshot(const sv1::SnapshotInfo& info) {
  return absl::StrFormat("%s  %.1f MiB  seq %d  %s  sha256 %s  namespaces %s\n", info.name(),
                         static_cast<double>(info.size_bytes()) / (1 << 20), info.sequence(),
                         absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                                          absl::FromUnixSeconds(info.create_time().seconds()),
                                          absl::UTCTimeZone()),
                         info.sha256().substr(0, 16), absl::StrJoin(info.namespaces(), ", "));
}

}  // namespace engram::cli
