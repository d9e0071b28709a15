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
// With TLS, the server's certificate is verified against tls.ca_file (or the system's CAs) and
// must name tls.server_name, or else the address dialled (so give certificates IP SANs, or set
// the server name); tls.cert_file/key_file are presented for mutual TLS. The files are read for
// every request, so rotated ones apply at once.
//
// Thread-safety: thread-safe; every call uses its own io_context and socket.
#pragma once

#include <memory>

#include "common/tls/tls_config.h"
#include "services/control/monitor/scraper.h"

namespace engram::control {

std::shared_ptr<HttpFetcher> NewBeastHttpFetcher(tls::ClientTlsConfig tls = {});

}  // namespace engram::control
