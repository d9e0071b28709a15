// SnapshotCalls against a gMock engram-storage stub: what a download does with bytes that do not
// match the server's listing, and what it leaves on disk. (The real round trip, create ->
// download -> restore into a fresh engram-storage, is in tests/api_e2e_test.cc.)
#include "cli/engramctl/snapshot.h"

#include <gmock/gmock.h>
#include <grpcpp/test/mock_stream.h>
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "engram/storage/v1/storage_mock.grpc.pb.h"

namespace engram::cli {
namespace {

namespace sv1 = storage::v1;
using ::testing::_;
using ::testing::DoAll;
using ::testing::HasSubstr;
using ::testing::Invoke;
using ::testing::Return;
using ::testing::SetArgPointee;

std::string Sha256Hex(const std::string& bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

class SnapshotCallsTest : public ::testing::Test {
 protected:
  SnapshotCallsTest()
      : dir_(std::filesystem::temp_directory_path() /
             ("engramctl_snapshot_test_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~SnapshotCallsTest() override { std::filesystem::remove_all(dir_); }

  // The server lists snapshot "s" as `listed`; its download stream sends `sent` in two chunks.
  void Serve(const std::string& listed, const std::string& sent) {
    sv1::ListSnapshotsResponse list;
    sv1::SnapshotInfo* info = list.add_snapshots();
    info->set_name("s");
    info->set_size_bytes(listed.size());
    info->set_sha256(Sha256Hex(listed));
    EXPECT_CALL(stub_, ListSnapshots(_, _, _))
        .WillOnce(DoAll(SetArgPointee<2>(list), Return(grpc::Status::OK)));
    EXPECT_CALL(stub_, DownloadSnapshotRaw(_, _))
        .WillOnce(Invoke([sent](grpc::ClientContext*, const sv1::DownloadSnapshotRequest& request) {
          EXPECT_EQ(request.name(), "s");
          auto* reader = new grpc::testing::MockClientReader<sv1::SnapshotChunk>();
          const size_t half = sent.size() / 2;
          EXPECT_CALL(*reader, Read(_))
              .WillOnce(Invoke([=](sv1::SnapshotChunk* c) { c->set_data(sent.substr(0, half)); return true; }))
              .WillOnce(Invoke([=](sv1::SnapshotChunk* c) { c->set_data(sent.substr(half)); return true; }))
              .WillOnce(Return(false));
          EXPECT_CALL(*reader, Finish()).WillOnce(Return(grpc::Status::OK));
          return reader;
        }));
  }

  std::filesystem::path dir_;
  sv1::MockStorageStub stub_;
  SnapshotCalls calls_{&stub_, {}};
};

TEST_F(SnapshotCallsTest, VerifiedDownloadIsRenamedIntoPlaceWithItsDigest) {
  const std::string archive(3000, 'a');
  Serve(archive, archive);
  const std::string path = (dir_ / "s.tar").string();
  absl::StatusOr<sv1::SnapshotInfo> info = calls_.Download("s", path);
  ASSERT_TRUE(info.ok()) << info.status();
  std::ifstream in(path, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), archive);
  EXPECT_FALSE(std::filesystem::exists(path + ".part"));
  std::ifstream digest(path + ".sha256");
  std::string line;
  std::getline(digest, line);
  EXPECT_EQ(line, Sha256Hex(archive) + "  s.tar");
}

TEST_F(SnapshotCallsTest, BytesThatDoNotMatchTheListingAreDataLossAndLeaveNoFile) {
  std::string tampered(3000, 'a');
  const std::string listed = tampered;
  tampered[1234] = 'b';
  Serve(listed, tampered);
  const std::string path = (dir_ / "s.tar").string();
  absl::Status s = calls_.Download("s", path).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("SHA-256"));
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".part"));
}

TEST_F(SnapshotCallsTest, ATruncatedDownloadIsDataLoss) {
  const std::string listed(3000, 'a');
  Serve(listed, listed.substr(0, 2000));
  const std::string path = (dir_ / "s.tar").string();
  EXPECT_EQ(calls_.Download("s", path).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace engram::cli
