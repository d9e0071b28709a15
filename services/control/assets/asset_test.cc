#include "services/control/assets/asset.h"

#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/control/server/control_server.h"

namespace engram::control {
namespace {

using ::testing::Contains;
using ::testing::Pair;

std::string Gunzip(const std::string& gz) {
  z_stream z{};
  inflateInit2(&z, 15 + 16);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  inflate(&z, Z_FINISH);
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}

std::string HeaderOf(const http::Response& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "";
}

http::Request Get(std::vector<std::pair<std::string, std::string>> headers = {}) {
  http::Request r;
  r.method = "GET";
  for (auto& [n, v] : headers) r.headers[n] = v;
  return r;
}

TEST(MimeType, ByExtension) {
  EXPECT_EQ(MimeType("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(MimeType("assets/a-1.JS"), "text/javascript; charset=utf-8");
  EXPECT_EQ(MimeType("assets/a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(MimeType("x.svg"), "image/svg+xml");
  EXPECT_EQ(MimeType("noext"), "application/octet-stream");
}

TEST(ServeAsset, GzipWhenAcceptedWithVaryAndSecurityHeaders) {
  const Asset a = MakeAsset("assets/app-1234.js", std::string(5000, 'x'));
  ASSERT_FALSE(a.gzip.empty());
  http::Response plain = ServeAsset(a, Get());
  EXPECT_EQ(plain.body, a.raw);
  EXPECT_EQ(HeaderOf(plain, "Content-Encoding"), "");
  http::Response gz = ServeAsset(a, Get({{"Accept-Encoding", "br, gzip;q=0.8"}}));
  EXPECT_EQ(HeaderOf(gz, "Content-Encoding"), "gzip");
  EXPECT_EQ(Gunzip(gz.body), a.raw);
  EXPECT_EQ(ServeAsset(a, Get({{"Accept-Encoding", "gzip;q=0"}})).body, a.raw);
  for (const http::Response& r : {plain, gz}) {
    EXPECT_EQ(r.content_type, "text/javascript; charset=utf-8");
    EXPECT_EQ(HeaderOf(r, "Vary"), "Accept-Encoding");
    EXPECT_EQ(HeaderOf(r, "X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(HeaderOf(r, "X-Frame-Options"), "DENY");
    EXPECT_THAT(HeaderOf(r, "Content-Security-Policy"), ::testing::StartsWith("default-src 'self'"));
    EXPECT_EQ(HeaderOf(r, "Cache-Control"), "public, max-age=31536000, immutable");
  }
}

TEST(ServeAsset, IndexIsRevalidatedWithEtagAnd304) {
  const Asset index = MakeAsset("index.html", "<html>hello</html>");
  http::Response first = ServeAsset(index, Get());
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(HeaderOf(first, "Cache-Control"), "no-cache");
  const std::string etag = HeaderOf(first, "ETag");
  ASSERT_FALSE(etag.empty());
  http::Response again = ServeAsset(index, Get({{"If-None-Match", etag}}));
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(ServeAsset(index, Get({{"If-None-Match", "\"other\""}})).status, 200);
  // A changed file has another ETag.
  EXPECT_NE(MakeAsset("index.html", "<html>bye</html>").etag, index.etag);
}

TEST(ServeAsset, HeadHasHeadersOnly) {
  const Asset index = MakeAsset("index.html", "<html>hello</html>");
  http::Request head = Get();
  head.method = "HEAD";
  http::Response r = ServeAsset(index, head);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(HeaderOf(r, "ETag"), index.etag);
}

TEST(AssetSet, FromDirectoryAndMissingIndex) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "ui_assets";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "assets");
  std::ofstream(dir / "assets" / "a.js") << "console.log(1)";
  EXPECT_EQ(AssetSet::FromDirectory(dir.string()).status().code(), absl::StatusCode::kInvalidArgument);
  std::ofstream(dir / "index.html") << "<html></html>";
  absl::StatusOr<AssetSet> set = AssetSet::FromDirectory(dir.string());
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_NE(set->Find("assets/a.js"), nullptr);
  EXPECT_EQ(set->Find("assets/a.js")->raw, "console.log(1)");
  EXPECT_EQ(set->Find("missing.js"), nullptr);
  EXPECT_EQ(AssetSet::FromDirectory((dir / "nope").string()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(AssetSet, EmbeddedCopyHasTheBuiltApp) {
  const AssetSet embedded = AssetSet::Embedded();
  const Asset* index = embedded.Find("index.html");
  ASSERT_NE(index, nullptr);
  EXPECT_THAT(index->raw, ::testing::HasSubstr("<!doctype html>"));
  // Vite's output is referenced relatively, so the UI works under any base path.
  EXPECT_THAT(index->raw, ::testing::Not(::testing::HasSubstr("src=\"/")));
  EXPECT_THAT(index->raw, ::testing::Not(::testing::HasSubstr("href=\"/")));
}

}  // namespace
}  // namespace engram::control
