// The real HttpFetcher: DNS resolution with the system resolver (getaddrinfo, so every address of
// a Kubernetes headless Service) and plain HTTP/1.1 GETs with Boost.Beast, one short-lived
// connection per request ("Connection: close"), bounded by a deadline for the whole request and a
// cap on the response body.
//
//   std::shared_ptr<HttpFetcher> fetcher = NewBeastHttpFetcher();
//   absl::StatusOr<HttpResponse> r =
//       fetcher->Get("10.0.0.7:9102", "/readyz", absl::Seconds(1), 64 << 10);
//
// Resolve() prefers IPv4: when a name has IPv4 addresses its IPv6 ones are left out, so that a
// dual-stack name ("localhost", a dual-stack pod) is one instance, not two. It blocks for as long
// as the system resolver does (bounded by resolv.conf's timeout and attempts).
//
// Thread-safety: thread-safe; every call uses its own io_context and socket.
#pragma once

#include <memory>

#include "services/control/monitor/scraper.h"

namespace engram::control {

std::shared_ptr<HttpFetcher> NewBeastHttpFetcher();

}  // namespace engram::control
