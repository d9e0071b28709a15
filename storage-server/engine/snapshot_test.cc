#include "storage-server/engine/snapshot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

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


// The manifest comes from an uploaded archive: every member is checked for type and range, and the
// error names it (nlohmann's get<int>() of 1e300 was undefined behaviour, an array where an object
// belongs an exception).
TEST(SnapshotArchiveTest, ManifestMembersOfTheWrongTypeOrRangeAreDataLossNamingTheField) {
  auto parse = [](const std::string& fields) {
    return ManifestFromJson(absl::StrCat(R"({"format_version": 1, "name": "x", "create_micros": 0, )",
                                         fields, "}"));
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("sequence": 1e300, "namespaces": [], "parts": [])", "sequence: not an unsigned integer"},
      {R"("sequence": -1, "namespaces": [], "parts": [])", "sequence: negative"},
      {R"("sequence": 1, "namespaces": {}, "parts": [])", "namespaces: not an array"},
      {R"("sequence": 1, "namespaces": [7], "parts": [])", "namespaces[0].id: missing"},
      {R"("sequence": 1, "namespaces": [{"id": 1, "config": [], "arena_end": 0, "slot_count": 0,
          "create_micros": 0}], "parts": [])", "namespaces[0].config: not an object"},
      {R"("sequence": 1, "namespaces": [{"id": 1, "config": {}, "arena_end": 0,
          "slot_count": 4294967296, "create_micros": 0}], "parts": [])",
       "namespaces[0].slot_count: out of range"},
      {R"("sequence": 1, "namespaces": [], "parts": [{"path": "ns/1/f", "size": "big",
          "stored": 1, "sha256": ""}])", "parts[0].size: not an unsigned integer"},
      {R"("sequence": 1, "namespaces": [], "parts": [{"path": "ns/1/f", "size": 1,
          "stored": 2, "sha256": ""}])", "parts[0].stored: more than its size"},
      {R"("sequence": 1, "namespaces": [], "parts": [{"path": 5, "size": 1,
          "stored": 1, "sha256": ""}])", "parts[0].path: not a string"},
  };
  for (const auto& [fields, message] : cases) {
    auto m = parse(fields);
    EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss) << fields;
    EXPECT_THAT(std::string(m.status().message()), HasSubstr(message)) << fields;
  }
  EXPECT_EQ(ManifestFromJson(R"({"format_version": 1e300})").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ManifestFromJson("[1, 2]").status().code(), absl::StatusCode::kDataLoss);
}

// What the manifest says the parts restore to is capped before anything is written: a small
// archive cannot claim terabytes of (sparse) namespace files.
TEST(SnapshotArchiveTest, PartSizesPastTheCapAreResourceExhaustedNamingThePart) {
  auto dir = testing::FreshDir("work");
  std::filesystem::create_directories(dir);
  WriteFile(dir / "small", "abc");
  WriteFile(dir / "big", "hello", 4000);
  auto writer = ArchiveWriter::Create(dir / "a.tar");
  ASSERT_TRUE((*writer)->AddFile("ns/1/small", dir / "small").ok());
  ASSERT_TRUE((*writer)->AddFile("ns/1/big", dir / "big").ok());
  ASSERT_TRUE((*writer)->Finish(SnapshotManifest{}).ok());

  auto refused = ExtractVerified(dir / "a.tar", dir / "out", /*max_restored_bytes=*/4000);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("parts[1].size: 4005 bytes"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("max_snapshot_bytes"));
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));

  auto fits = ExtractVerified(dir / "a.tar", dir / "out", /*max_restored_bytes=*/4008);
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ(std::filesystem::file_size(dir / "out" / "ns/1/big"), 4005u);
}

TEST(SnapshotArchiveTest, APartListedTwiceIsDataLoss) {
  auto dir = testing::FreshDir("work");
  std::filesystem::create_directories(dir);
  WriteFile(dir / "f", "abc");
  auto writer = ArchiveWriter::Create(dir / "a.tar");
  ASSERT_TRUE((*writer)->AddFile("ns/1/f", dir / "f").ok());
  ASSERT_TRUE((*writer)->AddFile("ns/1/f", dir / "f").ok());
  ASSERT_TRUE((*writer)->Finish(SnapshotManifest{}).ok());
  auto refused = ExtractVerified(dir / "a.tar", dir / "out");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("parts[1].path: ns/1/f listed twice"));
}

// An uploaded archive is capped while it arrives: nothing past the cap is written.
TEST(SnapshotArchiveTest, StagedUploadPastTheCapIsResourceExhausted) {
  auto dir = testing::FreshDir("work");
  std::filesystem::create_directories(dir);
  auto staged = StagedUpload::Create(dir / "upload.tar", 10);
  ASSERT_TRUE(staged.ok()) << staged.status();
  EXPECT_TRUE((*staged)->Append("12345").ok());
  EXPECT_TRUE((*staged)->Append("67890").ok());
  absl::Status over = (*staged)->Append("x");
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(over.message()),
              HasSubstr("snapshot upload: more than 10 bytes (max_snapshot_bytes)"));
  EXPECT_EQ((*staged)->bytes(), 10u);
  EXPECT_TRUE((*staged)->Finish().ok());
  EXPECT_EQ((*staged)->Finish().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(std::filesystem::file_size(dir / "upload.tar"), 10u);
}

}  // namespace
}  // namespace engram::storage
