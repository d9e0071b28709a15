#include "storage-server/engine/snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

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
  }
  j["parts"] = nlohmann::json::array();
  for (const SnapshotPart& p : m.parts) {
    j["parts"].push_back({{"path", p.path}, {"size", p.size}, {"stored", p.stored}, {"sha256", p.sha256}});
  }
  return j.dump(2);
}

absl::StatusOr<SnapshotManifest> ManifestFromJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError("snapshot manifest: not valid JSON");
  SnapshotManifest m;
  try {
    m.format_version = j.at("format_version").get<int>();
    if (m.format_version != kSnapshotFormatVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("snapshot manifest: format_version ", m.format_version, " is not supported (expected ",
                       kSnapshotFormatVersion, ")"));
    }
    m.name = j.at("name").get<std::string>();
    m.sequence = j.at("sequence").get<uint64_t>();
    m.create_micros = j.at("create_micros").get<int64_t>();
    for (const auto& ns : j.at("namespaces")) {
      NamespaceState s;
      s.id = ns.at("id").get<uint64_t>();
      if (!google::protobuf::util::JsonStringToMessage(ns.at("config").dump(), &s.config).ok()) {
        return absl::DataLossError("snapshot manifest: bad namespace config");
      }
      s.arena_end = ns.at("arena_end").get<uint64_t>();
      s.slot_count = ns.at("slot_count").get<uint32_t>();
      s.create_micros = ns.at("create_micros").get<int64_t>();
      m.namespaces.push_back(std::move(s));
    }
    for (const auto& p : j.at("parts")) {
      m.parts.push_back({p.at("path").get<std::string>(), p.at("size").get<uint64_t>(),
                         p.at("stored").get<uint64_t>(), p.at("sha256").get<std::string>()});
    }
  } catch (const nlohmann::json::exception& e) {
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

absl::StatusOr<SnapshotManifest> ExtractVerified(const std::filesystem::path& archive,
                                                 const std::filesystem::path& staging) {
  ASSIGN_OR_RETURN(SnapshotManifest manifest, ReadManifest(archive));
  absl::flat_hash_map<std::string, const SnapshotPart*> expected;
  for (const SnapshotPart& p : manifest.parts) {
    if (!SafeRelativePath(p.path)) return absl::DataLossError(absl::StrCat("snapshot part path not allowed: ", p.path));
    expected[p.path] = &p;
  }
  size_t seen = 0;
  RETURN_IF_ERROR(WalkArchive(archive, [&](const std::string& name, uint64_t size,
                                           std::ifstream& in) -> absl::StatusOr<bool> {
    if (name == kManifestName) return false;
    auto it = expected.find(name);
    if (it == expected.end()) return absl::DataLossError(absl::StrCat("snapshot: unexpected part ", name));
    const SnapshotPart& part = *it->second;
    if (size != part.stored || part.stored > part.size) {
      return absl::DataLossError(absl::StrCat("snapshot: part ", name, " has the wrong size"));
    }
    std::filesystem::path out_path = staging / name;
    std::filesystem::create_directories(out_path.parent_path());
    std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
    Sha256 sha;
    std::vector<char> buf(kIoChunk);
    uint64_t left = size;
    while (left > 0) {
      size_t n = std::min<uint64_t>(kIoChunk, left);
      if (!in.read(buf.data(), n)) return absl::DataLossError(absl::StrCat("snapshot: part ", name, " truncated"));
      sha.Update(buf.data(), n);
      out.write(buf.data(), n);
      left -= n;
    }
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("write ", out_path.string()));
    if (sha.HexDigest() != part.sha256) {
      return absl::DataLossError(absl::StrCat("snapshot: checksum mismatch in part ", name));
    }
    std::filesystem::resize_file(out_path, part.size);
    ++seen;
    return true;
  }));
  if (seen != manifest.parts.size()) {
    return absl::DataLossError(absl::StrFormat("snapshot: %d of %d parts present", seen, manifest.parts.size()));
  }
  return manifest;
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
