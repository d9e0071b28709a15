#include "common/grpc/channel.h"

#include <algorithm>

#include "common/tls/grpc_credentials.h"

namespace engram::grpc_util {

::grpc::ChannelArguments DownstreamChannelArguments(const DownstreamChannelOptions& options) {
  ::grpc::ChannelArguments args;
  const int max_backoff_ms = static_cast<int>(
      std::max<int64_t>(100, absl::ToInt64Milliseconds(options.max_reconnect_backoff)));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(100, max_backoff_ms));
  // Despite its name, the least time gRPC gives one connection attempt (see channel.h).
  args.SetInt(
      GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
      static_cast<int>(std::max<int64_t>(100, absl::ToInt64Milliseconds(options.connect_timeout))));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_backoff_ms);
  if (options.max_message_bytes > 0) {
    args.SetMaxReceiveMessageSize(options.max_message_bytes);
    args.SetMaxSendMessageSize(options.max_message_bytes);
  }
  if (options.round_robin) args.SetLoadBalancingPolicyName("round_robin");
  return args;
}

std::shared_ptr<::grpc::Channel> MakeDownstreamChannel(const std::string& target,
                                                       const DownstreamChannelOptions& options) {
  return tls::CreateChannel(target, options.tls, DownstreamChannelArguments(options));
}

}  // namespace engram::grpc_util
