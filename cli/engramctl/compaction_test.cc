// engramctl storage (compaction.h) against a gMock engram-storage stub: which status ends a
// --wait, the poll interval and timeout on a fake clock, the output and the exit codes. (The real
// round trip against engram-storage: tests/control_integration_test.cc drives the same RPCs
// through engram-control; tests/control/control_ui_e2e.sh through the browser.)
#include "cli/engramctl/compaction.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "cli/engramctl/engramctl.h"
#include "cli/engramctl/exit_codes.h"
#include "cli/engramctl/test_util.h"
#include "engram/storage/v1/storage_mock.grpc.pb.h"

namespace engram::cli {
namespace {

namespace sv1 = storage::v1;
using ::testing::_;
using ::testing::DoAll;
using ::testing::HasSubstr;
using ::testing::Return;
using ::testing::SetArgPointee;
using testing_util::EqualsProto;
using testing_util::FromText;

// The namespace "n" with its compaction in `state`; `end_seconds` 0 means no compaction finished
// yet.
sv1::NamespaceInfo Info(const char* state, int64_t end_seconds, uint32_t generation = 0,
                        const std::string& error = "") {
  sv1::NamespaceInfo info = FromText<sv1::NamespaceInfo>(absl::StrCat(
      R"pb(config { name: "n" }
           concept_count: 3
           vector_count: 2
           unindexed_vector_count: 1
           data_bytes: 5242880
           reclaimable_bytes: 1536
           compaction { state:)pb",
      state, "}"));
  info.set_generation(generation);
  if (end_seconds != 0) {
    sv1::CompactionStatus* c = info.mutable_compaction();
    c->mutable_last_start_time()->set_seconds(end_seconds - 2);
    c->mutable_last_end_time()->set_seconds(end_seconds);
    c->set_last_error(error);
    if (error.empty()) {
      c->set_last_bytes_before(12897484);  // 12.3 MiB
      c->set_last_bytes_after(4299161);    // 4.1 MiB
      c->set_last_switch_seconds(0.003);
      c->set_last_cut_sequence(77);
    }
  }
  return info;
}

class CompactionTest : public ::testing::Test {
 protected:
  CompactionTest() {
    wait_.now = [this] { return clock_; };
    wait_.sleep = [this](absl::Duration d) {
      sleeps_.push_back(d);
      clock_ += d;
    };
  }

  // Runs an engramctl command line with this stub as engram-storage (the public API is never used).
  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    CliIo io;
    io.out = &out_;
    io.err = &err_;
    io.getenv = [](const std::string&) { return std::nullopt; };
    io.now = wait_.now;
    io.sleep = wait_.sleep;
    return RunEngramctl(
        args, io,
        [](const GlobalOptions&)
            -> absl::StatusOr<std::shared_ptr<engram::v1::Engram::StubInterface>> {
          return absl::InternalError("the public API is not used by storage");
        },
        [this](const GlobalOptions& options)
            -> absl::StatusOr<std::shared_ptr<sv1::Storage::StubInterface>> {
          storage_addr_ = options.storage_addr;
          return std::shared_ptr<sv1::Storage::StubInterface>(&stub_, [](auto*) {});
        });
  }

  sv1::MockStorageStub stub_;
  CompactionCalls calls_{&stub_, {}};
  absl::Time clock_ = absl::FromUnixSeconds(1000);
  std::vector<absl::Duration> sleeps_;
  CompactionWait wait_;
  std::ostringstream out_, err_;
  std::string storage_addr_;
};

TEST_F(CompactionTest, WaitEndsAtTheFirstIdleWithANewEndTimeAndPollsEvery500ms) {
  EXPECT_CALL(stub_, GetNamespace(_, EqualsProto(R"pb(name: "n")pb"), _))
      .WillOnce(DoAll(SetArgPointee<2>(Info("RUNNING", 500)), Return(grpc::Status::OK)))
      // the previous compaction's end time: not the one asked for (a stale answer)
      .WillOnce(DoAll(SetArgPointee<2>(Info("IDLE", 500)), Return(grpc::Status::OK)))
      .WillOnce(DoAll(SetArgPointee<2>(Info("IDLE", 1001, 1)), Return(grpc::Status::OK)));
  absl::StatusOr<sv1::NamespaceInfo> done = calls_.Wait("n", Info("QUEUED", 500), wait_);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->generation(), 1u);
  EXPECT_EQ(sleeps_, std::vector<absl::Duration>(3, absl::Milliseconds(500)));
  EXPECT_TRUE(CompactionResult(*done).ok());
}

TEST_F(CompactionTest, AnIdleAnswerIsTheFinishedCompactionItself) {
  EXPECT_CALL(stub_, GetNamespace(_, _, _)).Times(0);
  absl::StatusOr<sv1::NamespaceInfo> done = calls_.Wait("n", Info("IDLE", 1000, 1), wait_);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->generation(), 1u);
}

TEST_F(CompactionTest, WaitGivesUpAfterItsTimeoutAndNamesTheState) {
  EXPECT_CALL(stub_, GetNamespace(_, _, _))
      .WillRepeatedly(DoAll(SetArgPointee<2>(Info("RUNNING", 0)), Return(grpc::Status::OK)));
  wait_.timeout = absl::Seconds(3);
  absl::Status s = calls_.Wait("n", Info("QUEUED", 0), wait_).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("compaction still running after 3s"));
  EXPECT_EQ(sleeps_.size(), 6u);
}

TEST_F(CompactionTest, ANamespaceDeletedWhileWaitingEndsTheWait) {
  EXPECT_CALL(stub_, GetNamespace(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "namespace 'n' not found")));
  absl::Status s = calls_.Wait("n", Info("QUEUED", 0), wait_).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr("engram-storage GetNamespace: namespace 'n'"));
}

TEST_F(CompactionTest, Rendering) {
  EXPECT_EQ(HumanBytes(812), "812 B");
  EXPECT_EQ(HumanBytes(12897484), "12.3 MiB");
  EXPECT_EQ(HumanBytes(uint64_t{3} << 30), "3.0 GiB");
  EXPECT_EQ(RenderCompactionState(Info("QUEUED", 0).compaction()), "queued");
  EXPECT_EQ(RenderCompactionState(Info("IDLE", 1000).compaction()),
            "idle, last 1970-01-01T00:16:40Z: 12.3 MiB -> 4.1 MiB, writes waited 3 ms");
  EXPECT_EQ(
      RenderCompactionState(Info("IDLE", 1000, 0, "RESOURCE_EXHAUSTED: disk full").compaction()),
      "idle, last 1970-01-01T00:16:40Z: failed: RESOURCE_EXHAUSTED: disk full");
  EXPECT_EQ(RenderCompacted(Info("IDLE", 1000, 1)),
            "compacted n: generation 1, 12.3 MiB -> 4.1 MiB on disk, writes waited 3 ms, took 2s "
            "(1.5 KiB reclaimable now)\n");
}

TEST_F(CompactionTest, CompactWaitPrintsTheResult) {
  EXPECT_CALL(stub_, CompactNamespace(_, EqualsProto(R"pb(name: "n")pb"), _))
      .WillOnce(DoAll(SetArgPointee<2>(Info("QUEUED", 0)), Return(grpc::Status::OK)));
  EXPECT_CALL(stub_, GetNamespace(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Info("RUNNING", 0)), Return(grpc::Status::OK)))
      .WillOnce(DoAll(SetArgPointee<2>(Info("IDLE", 1001, 1)), Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"storage", "compact", "n", "--wait", "--storage_addr", "s:1"}), kExitOk)
      << err_.str();
  EXPECT_EQ(storage_addr_, "s:1");
  EXPECT_EQ(out_.str(),
            "compacted n: generation 1, 12.3 MiB -> 4.1 MiB on disk, writes waited 3 ms, took 2s "
            "(1.5 KiB reclaimable now)\n");
}

TEST_F(CompactionTest, ACompactionThatFailedExitsNonZeroWithItsError) {
  EXPECT_CALL(stub_, CompactNamespace(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Info("RUNNING", 0)), Return(grpc::Status::OK)));
  EXPECT_CALL(stub_, GetNamespace(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Info("IDLE", 1001, 0, "RESOURCE_EXHAUSTED: disk full")),
                      Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"storage", "compact", "n", "--wait"}), kExitOther);
  EXPECT_EQ(out_.str(), "");
  EXPECT_THAT(err_.str(),
              HasSubstr("compaction of namespace 'n' failed: RESOURCE_EXHAUSTED: disk full"));
}

TEST_F(CompactionTest, CompactWithoutWaitReturnsAtOnce) {
  EXPECT_CALL(stub_, CompactNamespace(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Info("QUEUED", 0)), Return(grpc::Status::OK)));
  EXPECT_CALL(stub_, GetNamespace(_, _, _)).Times(0);
  EXPECT_EQ(Run({"storage", "compact", "n"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("compaction of n: queued (generation 0, 1.5 KiB reclaimable)"));
  // An unknown namespace: storage's NOT_FOUND, exit 3.
  EXPECT_CALL(stub_, CompactNamespace(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "namespace 'x' not found")));
  EXPECT_EQ(Run({"storage", "compact", "x"}), kExitNotFound);
  EXPECT_THAT(err_.str(), HasSubstr("engram-storage CompactNamespace: namespace 'x' not found"));
}

TEST_F(CompactionTest, NamespacesTableAndJson) {
  sv1::ListNamespacesResponse list;
  *list.add_namespaces() = Info("IDLE", 1000, 1);
  *list.add_namespaces() = Info("RUNNING", 0);
  list.mutable_namespaces(1)->mutable_config()->set_name("wordnet");
  EXPECT_CALL(stub_, ListNamespaces(_, _, _))
      .WillRepeatedly(DoAll(SetArgPointee<2>(list), Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"storage", "namespaces"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(),
            "NAME                       CONCEPTS    VECTORS UNINDEXED        DATA RECLAIMABLE  GEN  COMPACTION\n"
            "n                                 3          2         1     5.0 MiB     1.5 KiB    1  idle, last "
            "1970-01-01T00:16:40Z: 12.3 MiB -> 4.1 MiB, writes waited 3 ms\n"
            "wordnet                           3          2         1     5.0 MiB     1.5 KiB    0  running\n");
  EXPECT_EQ(Run({"storage", "namespaces", "--output", "json"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr(R"("reclaimableBytes":"1536")"));
  EXPECT_THAT(out_.str(), HasSubstr(R"("unindexedVectorCount":"1")"));
  EXPECT_THAT(out_.str(), HasSubstr(R"("state":"RUNNING")"));
}

TEST_F(CompactionTest, UsageErrorsNameTheProblemAndNeverCallStorage) {
  const std::map<std::vector<std::string>, std::string> cases = {
      {{"storage"}, "storage: expected namespaces or compact"},
      {{"storage", "frobnicate"}, "storage: 'frobnicate' is not namespaces or compact"},
      {{"storage", "compact"}, "storage compact: missing argument <NAME>"},
      {{"storage", "compact", "a", "b"}, "storage compact: unexpected argument 'b'"},
      {{"storage", "compact", "a", "--wait_timeout", "0"},
       "storage compact: --wait_timeout: 0 is out of range"},
      {{"storage", "namespaces", "--wait"}, "storage namespaces: unknown flag --wait"},
      {{"storage", "namespaces", "extra"}, "storage namespaces: unexpected argument 'extra'"},
  };
  EXPECT_CALL(stub_, CompactNamespace(_, _, _)).Times(0);
  EXPECT_CALL(stub_, ListNamespaces(_, _, _)).Times(0);
  for (const auto& [args, message] : cases) {
    EXPECT_EQ(Run(args), kExitUsage) << args.back();
    EXPECT_THAT(err_.str(), HasSubstr(message)) << args.back();
  }
}

TEST_F(CompactionTest, HelpListsTheActionsAndFlags) {
  EXPECT_EQ(Run({"help", "storage"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("storage namespaces | compact NAME [--wait]"));
  EXPECT_THAT(out_.str(), HasSubstr("--wait_timeout"));
  EXPECT_EQ(Run({"help"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("storage compact NAME [--wait]"));
}

}  // namespace
}  // namespace engram::cli
