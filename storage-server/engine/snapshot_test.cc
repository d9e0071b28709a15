#include "storage-server/engine/snapshot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "storage-server/engine/testing/engine_fixture.h"

namespace engram::storage {
namespace {

using ::testing::HasSubstr;

void WriteFile(const std::filesystem::path& p, const std::string& data, size_t zeros = 0) {
  std::ofstream out(p, std::ios::binary);
  out << data << std::string(zeros, '\0');
}

TEST(SnapshotArchiveTest, RoundTripTrimsTrailingZerosAndRestoresSizes) {
  auto dir = testing::FreshDir("work");
  std::filesystem::create_directories(dir / "src");
  WriteFile(dir / "src" / "records.000000", "hello", 1 << 20);
  WriteFile(dir / "src" / "hnsw.meta", std::string(700, 'm'));
  auto writer = ArchiveWriter::Create(dir / "a.tar");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->AddFile("ns/3/records.000000", dir / "src" / "records.000000").ok());
  ASSERT_TRUE((*writer)->AddFile("ns/3/hnsw.meta", dir / "src" / "hnsw.meta").ok());
  SnapshotManifest m;
  m.name = "snap-x";
  m.sequence = 42;
  NamespaceState ns;
  ns.id = 3;
  ns.config.set_name("n");
  ns.config.set_dimension(4);
  ns.arena_end = 64;
  m.namespaces.push_back(ns);
  auto sha = (*writer)->Finish(m);
  ASSERT_TRUE(sha.ok());
  EXPECT_LT(std::filesystem::file_size(dir / "a.tar"), 8192u);  // the zeros are not stored
  EXPECT_EQ(*sha, *Sha256File(dir / "a.tar"));

  auto manifest = ReadManifest(dir / "a.tar");
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->sequence, 42u);
  ASSERT_EQ(manifest->parts.size(), 2u);
  EXPECT_EQ(manifest->parts[0].stored, 5u);
  EXPECT_EQ(manifest->namespaces[0].config.dimension(), 4u);

  auto extracted = ExtractVerified(dir / "a.tar", dir / "out");
  ASSERT_TRUE(extracted.ok()) << extracted.status();
  EXPECT_EQ(std::filesystem::file_size(dir / "out" / "ns/3/records.000000"), (1u << 20) + 5);
  std::ifstream in(dir / "out" / "ns/3/records.000000");
  std::string head(5, ' ');
  in.read(head.data(), 5);
  EXPECT_EQ(head, "hello");
}

TEST(SnapshotArchiveTest, RejectsDamageAndUnsafePaths) {
  auto dir = testing::FreshDir("work");
  std::filesystem::create_directories(dir);
  WriteFile(dir / "f", std::string(2000, 'x'));
  {
    auto writer = ArchiveWriter::Create(dir / "a.tar");
    ASSERT_TRUE((*writer)->AddFile("ns/1/f", dir / "f").ok());
    ASSERT_TRUE((*writer)->Finish(SnapshotManifest{}).ok());
  }
  std::filesystem::copy_file(dir / "a.tar", dir / "b.tar");
  {
    std::fstream f(dir / "b.tar", std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(512 + 1000);
    f.put('y');
  }
  auto bad = ExtractVerified(dir / "b.tar", dir / "out");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("checksum mismatch in part ns/1/f"));

  {
    auto writer = ArchiveWriter::Create(dir / "c.tar");
    ASSERT_TRUE((*writer)->AddFile("ns/../../escape", dir / "f").ok());
    ASSERT_TRUE((*writer)->Finish(SnapshotManifest{}).ok());
  }
  auto unsafe = ExtractVerified(dir / "c.tar", dir / "out2");
  EXPECT_EQ(unsafe.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(std::filesystem::exists(dir / "escape"));

  std::filesystem::resize_file(dir / "a.tar", 700);
  EXPECT_EQ(ReadManifest(dir / "a.tar").status().code(), absl::StatusCode::kDataLoss);
}

TEST(SnapshotArchiveTest, UnknownFormatVersionIsRefused) {
  auto m = ManifestFromJson(R"({"format_version": 99, "name": "x", "sequence": 1, "create_micros": 0,
                                "namespaces": [], "parts": []})");
  EXPECT_EQ(m.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace engram::storage
