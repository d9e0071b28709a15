#include "storage-server/vector/vector_store.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"

namespace engram::storage::vector {

namespace {

constexpr char kMetaFile[] = "vectors.meta";
constexpr uint64_t kMagic = 0x3154434556475245;  // "ERGVECT1"
constexpr uint32_t kFormatVersion = 1;

struct Meta {
  uint64_t magic;
  uint32_t version;
  uint32_t dim;
  uint32_t padded_dim;
  uint32_t count;
  uint64_t segment_bytes;
  uint64_t norm_segment_bytes;
  uint64_t checksum;  // XXH64 of the bytes above
};
static_assert(sizeof(Meta) == 48);

uint64_t MetaChecksum(const Meta& m) { return XXH64(&m, offsetof(Meta, checksum), 0); }

}  // namespace

VectorStore::~VectorStore() = default;

absl::StatusOr<std::unique_ptr<VectorStore>> VectorStore::Open(const Options& options) {
  if (options.dim == 0 || options.dim > kMaxDim) {
    return absl::InvalidArgumentError(
        absl::StrCat("dim: must be in [1, ", kMaxDim, "], got ", options.dim));
  }
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("create ", options.dir.string(), ": ", ec.message()));

  std::unique_ptr<VectorStore> store(new VectorStore());
  store->dir_ = options.dir;
  store->dim_ = options.dim;
  store->padded_dim_ = static_cast<uint32_t>(PaddedDim(options.dim));
  uint64_t segment_bytes = options.segment_bytes;
  uint64_t norm_segment_bytes = options.norm_segment_bytes;
  uint32_t count = 0;

  const std::filesystem::path meta_path = options.dir / kMetaFile;
  auto raw = ReadSmallFile(meta_path);
  if (raw.ok()) {
    Meta m;
    if (raw->size() != sizeof(Meta)) {
      return absl::DataLossError(
          absl::StrCat(meta_path.string(), ": size ", raw->size(), ", expected ", sizeof(Meta)));
    }
    std::memcpy(&m, raw->data(), sizeof m);
    if (m.magic != kMagic || m.checksum != MetaChecksum(m)) {
      return absl::DataLossError(absl::StrCat(meta_path.string(), ": bad magic or checksum"));
    }
    if (m.version != kFormatVersion) {
      return absl::FailedPreconditionError(absl::StrCat(meta_path.string(), ": format version ",
                                                        m.version, ", this build reads ",
                                                        kFormatVersion));
    }
    if (m.dim != options.dim || m.padded_dim != store->padded_dim_) {
      return absl::FailedPreconditionError(
          absl::StrCat(meta_path.string(), ": dimension ", m.dim, ", expected ", options.dim));
    }
    segment_bytes = m.segment_bytes;
    norm_segment_bytes = m.norm_segment_bytes;
    count = m.count;
  } else if (!absl::IsNotFound(raw.status())) {
    return raw.status();
  }

  // Mapped read-only and written with pwrite (WriteStaged): see SegmentedFile::Options.
  ASSIGN_OR_RETURN(store->vectors_,
                   RecordArray::Open(options.dir, "vectors", store->padded_dim_ * 4, segment_bytes,
                                     /*read_only_mapping=*/true));
  ASSIGN_OR_RETURN(store->norms_, RecordArray::Open(options.dir, "norms", 4, norm_segment_bytes,
                                                    /*read_only_mapping=*/true));
  if (store->vectors_->records_capacity() < count || store->norms_->records_capacity() < count) {
    return absl::DataLossError(absl::StrCat(options.dir.string(), ": ", kMetaFile, " counts ",
                                            count, " vectors but the segment files hold fewer"));
  }
  store->size_ = count;
  store->flushed_ = count;
  store->published_.store(count, std::memory_order_release);
  if (!raw.ok()) RETURN_IF_ERROR(store->WriteMeta(0));  // fix the layout of a new store
  return store;
}

absl::Status VectorStore::Put(uint32_t slot, const float* v) {
  if (slot != size_) {
    return absl::InvalidArgumentError(absl::StrCat("slot: expected ", size_, ", got ", slot));
  }
  if (size_ == UINT32_MAX) return absl::ResourceExhaustedError("vector store: slots exhausted");
  double norm2 = 0;
  for (uint32_t i = 0; i < dim_; ++i) {
    if (!std::isfinite(v[i])) {
      return absl::InvalidArgumentError(absl::StrCat("vector[", i, "]: not a finite number"));
    }
    norm2 += static_cast<double>(v[i]) * v[i];
  }
  RETURN_IF_ERROR(vectors_->EnsureRecords(uint64_t{slot} + 1));
  RETURN_IF_ERROR(norms_->EnsureRecords(uint64_t{slot} + 1));
  // The slot may hold bytes from before a crash; the padding must read as zero.
  staged_.insert(staged_.end(), v, v + dim_);
  staged_.resize(staged_.size() + (padded_dim_ - dim_), 0.0f);
  staged_norms_.push_back(norm2 > 0 ? static_cast<float>(1.0 / std::sqrt(norm2)) : 0.0f);
  ++size_;
  if (staged_.size() * sizeof(float) >= kStageBytes) return WriteStaged();
  return absl::OkStatus();
}

absl::Status VectorStore::WriteStaged() {
  const auto n = static_cast<uint32_t>(staged_norms_.size());
  if (n == 0) return absl::OkStatus();
  const uint32_t begin = size_ - n;
  RETURN_IF_ERROR(vectors_->Write(begin, staged_.data(), n));
  RETURN_IF_ERROR(norms_->Write(begin, staged_norms_.data(), n));
  staged_.clear();
  staged_norms_.clear();
  return absl::OkStatus();
}

void VectorStore::DropStagedFrom(uint32_t count) {
  const auto n = static_cast<uint32_t>(staged_norms_.size());
  const uint32_t begin = size_ - n;
  const uint32_t keep = count > begin ? std::min(count - begin, n) : 0;
  staged_.resize(size_t{keep} * padded_dim_);
  staged_norms_.resize(keep);
}

void VectorStore::Publish(uint32_t count) {
  if (count > size_) count = size_;
  // Only written slots: if the staged ones cannot be written, they stay unpublished (the engine
  // writes them itself first and stops on a failure).
  if (!WriteStaged().ok()) {
    count = std::min(count, size_ - static_cast<uint32_t>(staged_norms_.size()));
  }
  if (count > published_.load(std::memory_order_relaxed)) {
    published_.store(count, std::memory_order_release);
  }
}

absl::Status VectorStore::Truncate(uint32_t count) {
  if (count < published_.load(std::memory_order_relaxed) || count > size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("truncate: count ", count, " outside [", published_count(), ", ", size_, "]"));
  }
  DropStagedFrom(count);
  size_ = count;
  if (flushed_ > count) {
    // vectors.meta counts slots that no longer exist: record the shorter store first.
    RETURN_IF_ERROR(WriteMeta(count));
    flushed_ = count;
  }
  return absl::OkStatus();
}

absl::Status VectorStore::Rewind(uint32_t count) {
  if (count > size_) {
    return absl::InvalidArgumentError(absl::StrCat("rewind: count ", count, " > size ", size_));
  }
  DropStagedFrom(count);
  size_ = count;
  flushed_ = std::min(flushed_, count);
  published_.store(count, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status VectorStore::Reserve(uint32_t count) {
  RETURN_IF_ERROR(vectors_->EnsureRecords(count));
  return norms_->EnsureRecords(count);
}

absl::Status VectorStore::Flush() {
  RETURN_IF_ERROR(WriteStaged());
  RETURN_IF_ERROR(vectors_->Flush(flushed_, size_));
  RETURN_IF_ERROR(norms_->Flush(flushed_, size_));
  RETURN_IF_ERROR(WriteMeta(size_));
  flushed_ = size_;
  return absl::OkStatus();
}

absl::Status VectorStore::SyncSlots(uint32_t begin, uint32_t end) const {
  RETURN_IF_ERROR(vectors_->Flush(begin, end));
  return norms_->Flush(begin, end);
}

absl::Status VectorStore::WriteMeta(uint32_t count) {
  Meta m{};
  m.magic = kMagic;
  m.version = kFormatVersion;
  m.dim = dim_;
  m.padded_dim = padded_dim_;
  m.count = count;
  m.segment_bytes = vectors_->segment_bytes();
  m.norm_segment_bytes = norms_->segment_bytes();
  m.checksum = MetaChecksum(m);
  return WriteFileAtomically(dir_ / kMetaFile, &m, sizeof m);
}

}  // namespace engram::storage::vector
