#include "storage-server/engine/snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <string_view>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crypto/sha256.h"
#include "common/status/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "storage-server/io/out_of_space.h"

namespace engram::storage {

namespace {

constexpr size_t kBlock = 512;
constexpr size_t kIoChunk = 1 << 20;
constexpr const char* kManifestName = "MANIFEST.json";

using crypto::Sha256;

void Octal(char* field, size_t width, uint64_t value) {
  // width includes the terminating NUL; values too large use GNU base-256.
  if (width == 12 && value >= (uint64_t{1} << 33)) {
    std::memset(field, 0, width);
    field[0] = static_cast<char>(0x80);
    for (int i = 11; i >= 4; --i) {
      field[i] = static_cast<char>(value & 0xFF);
      value >>= 8;
    }
    return;
  }
  std::snprintf(field, width, "%0*llo", static_cast<int>(width - 1), static_cast<unsigned long long>(value));
}

uint64_t ParseSize(const char* field) {
  if (static_cast<unsigned char>(field[0]) & 0x80) {
    uint64_t v = 0;
    for (int i = 4; i < 12; ++i) v = (v << 8) | static_cast<unsigned char>(field[i]);
    return v;
  }
  uint64_t v = 0;
  for (int i = 0; i < 12 && field[i] >= '0' && field[i] <= '7'; ++i) v = v * 8 + (field[i] - '0');
  return v;
}

void MakeHeader(char* h, const std::string& name, uint64_t size) {
  std::memset(h, 0, kBlock);
  std::memcpy(h, name.data(), std::min<size_t>(name.size(), 99));
  Octal(h + 100, 8, 0644);
  Octal(h + 108, 8, 0);
  Octal(h + 116, 8, 0);
  Octal(h + 124, 12, size);
  Octal(h + 136, 12, 0);
  h[156] = '0';
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (size_t i = 0; i < kBlock; ++i) sum += static_cast<unsigned char>(h[i]);
  std::snprintf(h + 148, 8, "%06o", sum);
  h[155] = ' ';
}

bool HeaderChecksumOk(const char* h) {
  unsigned stored = 0;
  for (int i = 148; i < 156 && h[i] >= '0' && h[i] <= '7'; ++i) stored = stored * 8 + (h[i] - '0');
  unsigned sum = 0;
  for (size_t i = 0; i < kBlock; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
  return sum == stored;
}

bool SafeRelativePath(const std::string& p) {
  if (p.empty() || p[0] == '/' || p.find("..") != std::string::npos) return false;
  return p.rfind("ns/", 0) == 0;
}

// Reads entry headers one by one. Calls fn(name, size, stream) with the stream positioned at the
// entry's data; fn must consume exactly `size` bytes or return false to stop.
template <typename Fn>
absl::Status WalkArchive(const std::filesystem::path& path, Fn&& fn) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("snapshot archive ", path.string(), " not found"));
  char h[kBlock];
  uint64_t offset = 0;
  while (true) {
    if (!in.read(h, kBlock)) {
      return absl::DataLossError(absl::StrFormat("%s: truncated archive at offset %d", path.string(), offset));
    }
    bool zero = true;
    for (char c : h) zero &= (c == 0);
    if (zero) return absl::OkStatus();
    if (!HeaderChecksumOk(h)) {
      return absl::DataLossError(absl::StrFormat("%s: corrupt entry header at offset %d", path.string(), offset));
    }
    std::string name(h, strnlen(h, 100));
    uint64_t size = ParseSize(h + 124);
    offset += kBlock;
    std::streampos data_start = in.tellg();
    absl::StatusOr<bool> more = fn(name, size, in);
    if (!more.ok()) return more.status();
    if (!*more) return absl::OkStatus();
    uint64_t padded = (size + kBlock - 1) / kBlock * kBlock;
    in.clear();
    in.seekg(data_start + static_cast<std::streamoff>(padded));
    offset += padded;
  }
}

}  // namespace

std::string ManifestToJson(const SnapshotManifest& m) {
  nlohmann::json j;
  j["format_version"] = m.format_version;
  j["name"] = m.name;
  j["sequence"] = m.sequence;
  j["create_micros"] = m.create_micros;
  j["namespaces"] = nlohmann::json::array();
  for (const NamespaceState& s : m.namespaces) {
    std::string config;
    (void)google::protobuf::util::MessageToJsonString(s.config, &config);
    j["namespaces"].push_back({{"id", s.id},
                               {"name", s.config.name()},
                               {"config", nlohmann::json::parse(config)},
                               {"arena_end", s.arena_end},
                               {"slot_count", s.slot_count},
                               {"create_micros", s.create_micros}});
    if (s.generation != 0) j["namespaces"].back()["generation"] = s.generation;
    if (s.compacted_seq != 0) j["namespaces"].back()["compacted_seq"] = s.compacted_seq;
  }
  j["parts"] = nlohmann::json::array();
  for (const SnapshotPart& p : m.parts) {
    j["parts"].push_back({{"path", p.path}, {"size", p.size}, {"stored", p.stored}, {"sha256", p.sha256}});
  }
  return j.dump(2);
}

namespace {

// Typed members of the manifest. Bytes from a client (an uploaded archive): every member is checked
// for presence, type and range before it is converted, and the error names the field.
const nlohmann::json* Member(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

absl::Status BadField(const std::string& field, const char* why) {
  return absl::DataLossError(absl::StrCat("snapshot manifest: ", field, ": ", why));
}

// An integer member in [min, max] (JSON floats such as 1e300 are refused, not converted).
absl::StatusOr<int64_t> SignedField(const nlohmann::json& object, const char* key,
                                    const std::string& where, int64_t min, int64_t max) {
  const std::string field = where.empty() ? key : absl::StrCat(where, ".", key);
  const nlohmann::json* v = Member(object, key);
  if (v == nullptr) return BadField(field, "missing");
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) return BadField(field, "out of range");
    return static_cast<int64_t>(u);
  }
  if (!v->is_number_integer()) return BadField(field, "not an integer");
  int64_t i = v->get<int64_t>();
  if (i < min || i > max) return BadField(field, "out of range");
  return i;
}

absl::StatusOr<uint64_t> UnsignedField(const nlohmann::json& object, const char* key,
                                       const std::string& where, uint64_t max) {
  const std::string field = where.empty() ? key : absl::StrCat(where, ".", key);
  const nlohmann::json* v = Member(object, key);
  if (v == nullptr) return BadField(field, "missing");
  if (!v->is_number_unsigned()) {
    return BadField(field, v->is_number_integer() ? "negative" : "not an unsigned integer");
  }
  uint64_t u = v->get<uint64_t>();
  if (u > max) return BadField(field, "out of range");
  return u;
}

absl::StatusOr<std::string> StringField(const nlohmann::json& object, const char* key,
                                        const std::string& where) {
  const std::string field = where.empty() ? key : absl::StrCat(where, ".", key);
  const nlohmann::json* v = Member(object, key);
  if (v == nullptr) return BadField(field, "missing");
  if (!v->is_string()) return BadField(field, "not a string");
  return v->get<std::string>();
}

absl::StatusOr<const nlohmann::json*> ArrayField(const nlohmann::json& object, const char* key) {
  const nlohmann::json* v = Member(object, key);
  if (v == nullptr) return BadField(key, "missing");
  if (!v->is_array()) return BadField(key, "not an array");
  return v;
}

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
constexpr int64_t kMinI64 = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxI64 = std::numeric_limits<int64_t>::max();

}  // namespace

absl::StatusOr<SnapshotManifest> ManifestFromJson(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError("snapshot manifest: not valid JSON");
  SnapshotManifest m;
  // Every access below is checked first; the catch only keeps a missed case (a bug) off the data
  // path as an error instead of an exception.
  try {
    ASSIGN_OR_RETURN(int64_t version, SignedField(j, "format_version", "", kMinI64, kMaxI64));
    if (version != kSnapshotFormatVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("snapshot manifest: format_version ", version, " is not supported (expected ",
                       kSnapshotFormatVersion, ")"));
    }
    m.format_version = static_cast<int>(version);
    ASSIGN_OR_RETURN(m.name, StringField(j, "name", ""));
    ASSIGN_OR_RETURN(m.sequence, UnsignedField(j, "sequence", "", kMaxU64));
    ASSIGN_OR_RETURN(m.create_micros, SignedField(j, "create_micros", "", kMinI64, kMaxI64));
    ASSIGN_OR_RETURN(const nlohmann::json* namespaces, ArrayField(j, "namespaces"));
    for (size_t i = 0; i < namespaces->size(); ++i) {
      const nlohmann::json& ns = (*namespaces)[i];
      const std::string where = absl::StrCat("namespaces[", i, "]");
      NamespaceState s;
      ASSIGN_OR_RETURN(s.id, UnsignedField(ns, "id", where, kMaxU64));
      const nlohmann::json* config = Member(ns, "config");
      if (config == nullptr || !config->is_object()) return BadField(where + ".config", "not an object");
      if (!google::protobuf::util::JsonStringToMessage(config->dump(), &s.config).ok()) {
        return BadField(where + ".config", "not a namespace config");
      }
      ASSIGN_OR_RETURN(s.arena_end, UnsignedField(ns, "arena_end", where, kMaxU64));
      ASSIGN_OR_RETURN(s.slot_count,
                       UnsignedField(ns, "slot_count", where, std::numeric_limits<uint32_t>::max()));
      ASSIGN_OR_RETURN(s.create_micros, SignedField(ns, "create_micros", where, kMinI64, kMaxI64));
      // Written only when not 0 (compacted namespaces).
      if (Member(ns, "generation") != nullptr) {
        ASSIGN_OR_RETURN(s.generation, UnsignedField(ns, "generation", where,
                                                     std::numeric_limits<uint32_t>::max()));
      }
      if (Member(ns, "compacted_seq") != nullptr) {
        ASSIGN_OR_RETURN(s.compacted_seq, UnsignedField(ns, "compacted_seq", where, kMaxU64));
      }
      m.namespaces.push_back(std::move(s));
    }
    ASSIGN_OR_RETURN(const nlohmann::json* parts, ArrayField(j, "parts"));
    for (size_t i = 0; i < parts->size(); ++i) {
      const nlohmann::json& p = (*parts)[i];
      const std::string where = absl::StrCat("parts[", i, "]");
      SnapshotPart part;
      ASSIGN_OR_RETURN(part.path, StringField(p, "path", where));
      ASSIGN_OR_RETURN(part.size, UnsignedField(p, "size", where, kMaxU64));
      ASSIGN_OR_RETURN(part.stored, UnsignedField(p, "stored", where, kMaxU64));
      ASSIGN_OR_RETURN(part.sha256, StringField(p, "sha256", where));
      if (part.stored > part.size) return BadField(where + ".stored", "more than its size");
      m.parts.push_back(std::move(part));
    }
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("snapshot manifest: ", e.what()));
  }
  return m;
}

absl::StatusOr<std::unique_ptr<ArchiveWriter>> ArchiveWriter::Create(const std::filesystem::path& path) {
  std::unique_ptr<ArchiveWriter> w(new ArchiveWriter());
  w->path_ = path;
  w->file_ = std::fopen(path.c_str(), "wb");
  if (w->file_ == nullptr) {
    const int err = errno;
    std::string msg = absl::StrCat("create ", path.string(), ": ", std::strerror(err));
    return IsOutOfSpaceErrno(err) ? OutOfSpaceError(msg) : absl::InternalError(msg);
  }
  w->archive_sha_ = new Sha256();
  return w;
}

ArchiveWriter::~ArchiveWriter() {
  if (file_ != nullptr) std::fclose(file_);
  delete static_cast<Sha256*>(archive_sha_);
}

absl::Status ArchiveWriter::Write(const void* data, size_t n) {
  if (std::fwrite(data, 1, n, file_) != n) {
    int err = errno;
    std::string msg = absl::StrCat("write ", path_.string(), " (", offset_,
                                   " bytes written): ", std::strerror(err));
    return IsOutOfSpaceErrno(err) ? OutOfSpaceError(msg) : absl::InternalError(msg);
  }
  static_cast<Sha256*>(archive_sha_)->Update(data, n);
  offset_ += n;
  return absl::OkStatus();
}

absl::Status ArchiveWriter::WriteEntry(const std::string& name, uint64_t size) {
  if (name.size() > 99) return absl::InternalError(absl::StrCat("archive name too long: ", name));
  char h[kBlock];
  MakeHeader(h, name, size);
  return Write(h, kBlock);
}

absl::Status ArchiveWriter::AddFile(const std::string& archive_path, const std::filesystem::path& source) {
  std::ifstream in(source, std::ios::binary);
  if (!in) return absl::InternalError(absl::StrCat("open ", source.string()));
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(source, ec);
  if (ec) return absl::InternalError(absl::StrCat("stat ", source.string(), ": ", ec.message()));
  // Find the last non-zero byte: mapped segment files are mostly preallocated zeros.
  uint64_t stored = 0;
  {
    std::vector<char> buf(kIoChunk);
    uint64_t pos = 0;
    while (pos < size) {
      size_t n = std::min<uint64_t>(kIoChunk, size - pos);
      in.read(buf.data(), n);
      for (size_t i = n; i > 0; --i) {
        if (buf[i - 1] != 0) {
          stored = pos + i;
          break;
        }
      }
      pos += n;
    }
  }
  RETURN_IF_ERROR(WriteEntry(archive_path, stored));
  in.clear();
  in.seekg(0);
  Sha256 sha;
  std::vector<char> buf(kIoChunk);
  uint64_t left = stored;
  while (left > 0) {
    size_t n = std::min<uint64_t>(kIoChunk, left);
    if (!in.read(buf.data(), n)) return absl::InternalError(absl::StrCat("read ", source.string()));
    sha.Update(buf.data(), n);
    RETURN_IF_ERROR(Write(buf.data(), n));
    left -= n;
  }
  static const char zeros[kBlock] = {};
  if (stored % kBlock) RETURN_IF_ERROR(Write(zeros, kBlock - stored % kBlock));
  parts_.push_back({archive_path, size, stored, sha.HexDigest()});
  return absl::OkStatus();
}

absl::StatusOr<std::string> ArchiveWriter::Finish(SnapshotManifest manifest) {
  manifest.parts = parts_;
  std::string json = ManifestToJson(manifest);
  RETURN_IF_ERROR(WriteEntry(kManifestName, json.size()));
  RETURN_IF_ERROR(Write(json.data(), json.size()));
  static const char zeros[kBlock * 2] = {};
  if (json.size() % kBlock) RETURN_IF_ERROR(Write(zeros, kBlock - json.size() % kBlock));
  RETURN_IF_ERROR(Write(zeros, kBlock * 2));
  if (std::fflush(file_) != 0 || ::fsync(fileno(file_)) != 0) {
    const int err = errno;
    std::string msg = absl::StrCat("flush ", path_.string(), " (", offset_,
                                   " bytes written): ", std::strerror(err));
    return IsOutOfSpaceErrno(err) ? OutOfSpaceError(msg) : absl::InternalError(msg);
  }
  std::fclose(file_);
  file_ = nullptr;
  return static_cast<Sha256*>(archive_sha_)->HexDigest();
}

absl::StatusOr<SnapshotManifest> ReadManifest(const std::filesystem::path& archive) {
  std::string json;
  bool found = false;
  RETURN_IF_ERROR(WalkArchive(archive, [&](const std::string& name, uint64_t size,
                                           std::ifstream& in) -> absl::StatusOr<bool> {
    if (name != kManifestName) return true;
    if (size > (64 << 20)) return absl::DataLossError("snapshot manifest too large");
    json.resize(size);
    if (!in.read(json.data(), size)) return absl::DataLossError("snapshot manifest truncated");
    found = true;
    return false;
  }));
  if (!found) return absl::DataLossError(absl::StrCat(archive.string(), ": no manifest"));
  return ManifestFromJson(json);
}

namespace {

absl::Status ErrnoStatus(const char* what, const std::filesystem::path& path, int err) {
  std::string msg = absl::StrCat(what, " ", path.string(), ": ", std::strerror(err));
  return err == ENOSPC ? absl::ResourceExhaustedError(msg) : absl::InternalError(msg);
}

// Makes the entries created in `dir` durable.
absl::Status SyncDir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  return rc == 0 ? absl::OkStatus() : ErrnoStatus("fsync", dir, err);
}

absl::Status WriteAll(int fd, const char* data, size_t n, const std::filesystem::path& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return ErrnoStatus("write", path, errno);
    data += w;
    n -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SnapshotManifest> ExtractVerified(const std::filesystem::path& archive,
                                                 const std::filesystem::path& staging,
                                                 uint64_t max_restored_bytes) {
  ASSIGN_OR_RETURN(SnapshotManifest manifest, ReadManifest(archive));
  absl::flat_hash_map<std::string, const SnapshotPart*> expected;
  uint64_t total = 0;
  for (size_t i = 0; i < manifest.parts.size(); ++i) {
    const SnapshotPart& p = manifest.parts[i];
    if (!SafeRelativePath(p.path)) return absl::DataLossError(absl::StrCat("snapshot part path not allowed: ", p.path));
    if (p.size > max_restored_bytes - total) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "snapshot manifest: parts[", i, "].size: ", p.size, " bytes take the restored files past ",
          max_restored_bytes, " bytes (max_snapshot_bytes)"));
    }
    total += p.size;
    if (!expected.emplace(p.path, &p).second) {
      return absl::DataLossError(absl::StrCat("snapshot manifest: parts[", i, "].path: ", p.path, " listed twice"));
    }
  }
  std::set<std::string> dirs;  // created for the parts; fsynced at the end
  absl::flat_hash_set<std::string> seen;
  RETURN_IF_ERROR(WalkArchive(archive, [&](const std::string& name, uint64_t size,
                                           std::ifstream& in) -> absl::StatusOr<bool> {
    if (name == kManifestName) return false;
    auto it = expected.find(name);
    if (it == expected.end()) return absl::DataLossError(absl::StrCat("snapshot: unexpected part ", name));
    if (!seen.insert(name).second) return absl::DataLossError(absl::StrCat("snapshot: part ", name, " stored twice"));
    const SnapshotPart& part = *it->second;
    if (size != part.stored) {
      return absl::DataLossError(absl::StrCat("snapshot: part ", name, " has the wrong size"));
    }
    std::filesystem::path out_path = staging / name;
    std::error_code ec;
    std::filesystem::create_directories(out_path.parent_path(), ec);
    if (ec) return absl::InternalError(absl::StrCat("create ", out_path.parent_path().string(), ": ", ec.message()));
    for (std::filesystem::path d = out_path.parent_path(); d != staging.parent_path() && !d.empty();
         d = d.parent_path()) {
      dirs.insert(d.string());
      if (d == staging) break;
    }
    int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("create", out_path, errno);
    absl::Cleanup close_fd = [fd] { ::close(fd); };
    Sha256 sha;
    std::vector<char> buf(kIoChunk);
    uint64_t left = size;
    while (left > 0) {
      size_t n = std::min<uint64_t>(kIoChunk, left);
      if (!in.read(buf.data(), n)) return absl::DataLossError(absl::StrCat("snapshot: part ", name, " truncated"));
      sha.Update(buf.data(), n);
      RETURN_IF_ERROR(WriteAll(fd, buf.data(), n, out_path));
      left -= n;
    }
    if (sha.HexDigest() != part.sha256) {
      return absl::DataLossError(absl::StrCat("snapshot: checksum mismatch in part ", name));
    }
    // The trailing zeros the archive does not store (part.size is capped above).
    if (::ftruncate(fd, static_cast<off_t>(part.size)) != 0) return ErrnoStatus("extend", out_path, errno);
    // Staged files are installed by rename: they must be on disk before anything refers to them.
    if (::fsync(fd) != 0) return ErrnoStatus("fsync", out_path, errno);
    return true;
  }));
  if (seen.size() != manifest.parts.size()) {
    return absl::DataLossError(absl::StrFormat("snapshot: %d of %d parts present", seen.size(), manifest.parts.size()));
  }
  for (const std::string& d : dirs) RETURN_IF_ERROR(SyncDir(d));
  return manifest;
}

absl::StatusOr<std::unique_ptr<StagedUpload>> StagedUpload::Create(const std::filesystem::path& path,
                                                                    uint64_t max_bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("create", path, errno);
  return std::unique_ptr<StagedUpload>(new StagedUpload(path, max_bytes, fd));
}

StagedUpload::~StagedUpload() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status StagedUpload::Append(std::string_view data) {
  if (fd_ < 0) return absl::FailedPreconditionError("snapshot upload: already finished");
  if (data.size() > max_bytes_ - bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat("snapshot upload: more than ", max_bytes_,
                                                     " bytes (max_snapshot_bytes)"));
  }
  RETURN_IF_ERROR(WriteAll(fd_, data.data(), data.size(), path_));
  bytes_ += data.size();
  return absl::OkStatus();
}

absl::Status StagedUpload::Finish() {
  if (fd_ < 0) return absl::FailedPreconditionError("snapshot upload: already finished");
  int fd = fd_;
  fd_ = -1;
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus("fsync", path_, err);
  }
  if (::close(fd) != 0) return ErrnoStatus("close", path_, errno);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Sha256File(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), " not found"));
  Sha256 sha;
  std::vector<char> buf(kIoChunk);
  while (in) {
    in.read(buf.data(), buf.size());
    sha.Update(buf.data(), in.gcount());
  }
  return sha.HexDigest();
}

}  // namespace engram::storage
