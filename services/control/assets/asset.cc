#include "services/control/assets/asset.h"

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/sha256.h"

namespace engram::control {

namespace {

std::string Gzip(std::string_view raw) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header with no name and mtime 0, so builds are reproducible.
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out(deflateBound(&z, raw.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END ? out : std::string();
}

}  // namespace

std::string_view MimeType(std::string_view path) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"},
      {".webmanifest", "application/manifest+json"},
  };
  const size_t dot = path.rfind('.');
  if (dot != std::string_view::npos) {
    const std::string ext = absl::AsciiStrToLower(std::string(path.substr(dot)));
    for (const auto& [e, mime] : kTypes) {
      if (ext == e) return mime;
    }
  }
  return "application/octet-stream";
}

Asset MakeAsset(std::string path, std::string raw) {
  Asset a;
  a.mime = std::string(MimeType(path));
  a.path = std::move(path);
  a.etag = absl::StrCat("\"", crypto::Sha256Hex(raw).substr(0, 16), "\"");
  std::string gz = Gzip(raw);
  if (!gz.empty() && gz.size() < raw.size()) a.gzip = std::move(gz);
  a.raw = std::move(raw);
  return a;
}

absl::StatusOr<AssetSet> AssetSet::FromDirectory(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("--ui_dir: ", dir, " is not a directory"));
  }
  std::map<std::string, Asset, std::less<>> assets;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (!in.good() && !in.eof()) {
      return absl::UnavailableError(absl::StrCat("--ui_dir: cannot read ", it->path().string()));
    }
    std::string rel = fs::relative(it->path(), dir, ec).generic_string();
    assets.emplace(rel, MakeAsset(rel, bytes.str()));
  }
  if (ec) return absl::UnavailableError(absl::StrCat("--ui_dir: ", dir, ": ", ec.message()));
  if (!assets.contains("index.html")) {
    return absl::InvalidArgumentError(absl::StrCat("--ui_dir: ", dir, " has no index.html"));
  }
  return AssetSet(std::move(assets));
}

const Asset* AssetSet::Find(std::string_view path) const {
  auto it = assets_.find(path);
  return it == assets_.end() ? nullptr : &it->second;
}

}  // namespace engram::control
