// Static assets of the control UI: the built web app, embedded in the binary (or read from
// --ui_dir), each with its MIME type, a strong ETag and a pre-compressed gzip copy.
//
// Thread-safety: an AssetSet is immutable after construction.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace engram::control {

struct Asset {
  std::string path;  // relative to the UI root, "/"-separated, e.g. "assets/index-3f2a.js"
  std::string mime;
  std::string etag;  // "\"<first 16 hex of SHA-256>\""
  std::string raw;
  std::string gzip;  // empty when compressing does not make it smaller
};

// MIME type by file extension ("application/octet-stream" when unknown).
std::string_view MimeType(std::string_view path);
// Builds an asset: MIME, ETag, gzip (level 9, deterministic: no name or time in the header).
Asset MakeAsset(std::string path, std::string raw);

class AssetSet {
 public:
  AssetSet() = default;
  explicit AssetSet(std::map<std::string, Asset, std::less<>> assets) : assets_(std::move(assets)) {}
  // Every regular file under `dir` (recursively). NOT_FOUND / INVALID_ARGUMENT naming the
  // directory when it is missing or holds no index.html.
  static absl::StatusOr<AssetSet> FromDirectory(const std::string& dir);
  // The copy built into the binary by services/control/assets/embed_assets.
  static AssetSet Embedded();

  const Asset* Find(std::string_view path) const;
  const std::map<std::string, Asset, std::less<>>& all() const { return assets_; }

 private:
  std::map<std::string, Asset, std::less<>> assets_;
};

}  // namespace engram::control
