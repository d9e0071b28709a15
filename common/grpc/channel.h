// Channels from one Engram service to another (api -> storage / hybrid, hybrid -> storage).
//
//   auto channel = engram::grpc_util::MakeDownstreamChannel(
//       "ipv4:127.0.0.1:50052,127.0.0.1:50062", {.round_robin = true});
//
// gRPC's default reconnect backoff grows to 120 s: after a dependency has been down for a while,
// the channel would wait up to minutes after the dependency's return before trying again. A
// downstream channel starts at 100 ms and is capped at max_reconnect_backoff (2 s by default),
// so a caller serves again within about that long of its dependency's return
// (docs/reliability.md, "The whole suite under fire").
//
// gRPC also reads GRPC_ARG_MIN_RECONNECT_BACKOFF_MS as the least time a connection attempt (TCP,
// TLS handshake, HTTP/2 preface) is given. Set to the 100 ms backoff, it cut off every handshake
// slower than that (TLS under load, a link with a few tens of ms of latency) and failed the calls
// waiting on it; connect_timeout (5 s) is that bound now.
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/tls/tls_config.h"
#include "grpcpp/channel.h"
#include "grpcpp/support/channel_arguments.h"

namespace engram::grpc_util {

struct DownstreamChannelOptions {
  bool round_robin = false;  // balance over every address the target resolves to
  absl::Duration max_reconnect_backoff = absl::Seconds(2);  // at least 100 ms
  absl::Duration connect_timeout = absl::Seconds(5);  // per connection attempt; at least 100 ms
  int max_message_bytes = 0;                          // send and receive; 0 keeps gRPC's defaults
  tls::ClientTlsConfig tls;  // plaintext unless set (common/tls/tls_config.h)
};

// The channel arguments MakeDownstreamChannel uses.
::grpc::ChannelArguments DownstreamChannelArguments(const DownstreamChannelOptions& options);

// A channel to `target` with those arguments, over TLS when options.tls is set.
std::shared_ptr<::grpc::Channel> MakeDownstreamChannel(const std::string& target,
                                                       const DownstreamChannelOptions& options);

}  // namespace engram::grpc_util
