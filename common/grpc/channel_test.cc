#include "common/grpc/channel.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace engram::grpc_util {
namespace {

std::map<std::string, int> IntArgs(const ::grpc::ChannelArguments& arguments) {
  grpc_channel_args c = arguments.c_channel_args();
  std::map<std::string, int> out;
  for (size_t i = 0; i < c.num_args; ++i) {
    if (c.args[i].type == GRPC_ARG_INTEGER) out[c.args[i].key] = c.args[i].value.integer;
  }
  return out;
}

// Regression (chaos_bench): engram-hybrid's storage channel used gRPC's default backoff (up to
// 120 s), so after a storage outage of a few seconds hybrid took up to several more seconds to
// try again; every downstream channel now caps its reconnect backoff.
TEST(DownstreamChannelTest, ReconnectBackoffStartsSmallAndIsCapped) {
  auto args = IntArgs(DownstreamChannelArguments({}));
  EXPECT_EQ(args[GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS], 100);
  EXPECT_EQ(args[GRPC_ARG_MIN_RECONNECT_BACKOFF_MS], 100);
  EXPECT_EQ(args[GRPC_ARG_MAX_RECONNECT_BACKOFF_MS], 2000);

  args = IntArgs(DownstreamChannelArguments({.max_reconnect_backoff = absl::Milliseconds(10)}));
  EXPECT_EQ(args[GRPC_ARG_MAX_RECONNECT_BACKOFF_MS], 100);  // never below 100 ms
}

TEST(DownstreamChannelTest, MessageLimitsOnlyWhenAsked) {
  auto args = IntArgs(DownstreamChannelArguments({}));
  EXPECT_EQ(args.count(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH), 0u);
  args = IntArgs(DownstreamChannelArguments({.max_message_bytes = 1 << 20}));
  EXPECT_EQ(args[GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH], 1 << 20);
  EXPECT_EQ(args[GRPC_ARG_MAX_SEND_MESSAGE_LENGTH], 1 << 20);
}

}  // namespace
}  // namespace engram::grpc_util
