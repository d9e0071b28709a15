// Test helpers for engramctl: protobuf matchers and a MockEngramStub that a StubFactory can hand
// out.
#pragma once

#include <gmock/gmock.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engram/v1/engram_mock.grpc.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/support/sync_stream.h"

namespace engram::cli::testing_util {

// Matches a message equal to the text-format `text`.
MATCHER_P(EqualsProto, text, "") {
  std::decay_t<decltype(arg)> expected;
  if (!google::protobuf::TextFormat::ParseFromString(text, &expected)) {
    *result_listener << "bad expected text: " << text;
    return false;
  }
  std::string diff;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  if (differencer.Compare(expected, arg)) return true;
  *result_listener << "differences: " << diff;
  return false;
}

template <typename T>
T FromText(const std::string& text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

// A non-owning shared_ptr to a stub the test owns.
inline std::shared_ptr<engram::v1::Engram::StubInterface> Borrow(
    engram::v1::Engram::StubInterface* stub) {
  return std::shared_ptr<engram::v1::Engram::StubInterface>(stub, [](auto*) {});
}

// A server stream's client end that hands out `messages`, then ends with `status`. The mock stub's
// *Raw streaming methods return it (the caller takes ownership).
template <typename R>
class FakeReader final : public grpc::ClientReaderInterface<R> {
 public:
  FakeReader(std::vector<R> messages, grpc::Status status)
      : messages_(std::move(messages)), status_(std::move(status)) {}
  grpc::Status Finish() override { return status_; }
  bool NextMessageSize(uint32_t* size) override {
    *size = UINT32_MAX;
    return next_ < messages_.size();
  }
  bool Read(R* message) override {
    if (next_ >= messages_.size()) return false;
    *message = messages_[next_++];
    return true;
  }
  void WaitForInitialMetadata() override {}

 private:
  std::vector<R> messages_;
  grpc::Status status_;
  size_t next_ = 0;
};

}  // namespace engram::cli::testing_util
