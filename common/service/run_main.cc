#include "common/service/run_main.h"

#include <cstdio>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/str_cat.h"
#include "common/logging/logging.h"
#include "spdlog/spdlog.h"

namespace engram::service {

absl::StatusOr<HostConfig> HostConfigFromFlags(const HostFlags& flags, HostConfig base) {
  if (!logging::ParseFormat(flags.log_format).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--log_format: '", flags.log_format, "', expected text or json"));
  }
  if (!logging::ParseLevel(flags.log_level).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--log_level: '", flags.log_level, "', expected trace, debug, info, warn or error"));
  }
  if (flags.drain_seconds < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--drain_seconds: ", flags.drain_seconds, ", must be >= 0"));
  }
  if (flags.max_connection_age_s < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_connection_age_s: ", flags.max_connection_age_s, ", must be >= 0 (0: never)"));
  }
  if (flags.grpc_port.has_value() == base.grpc_service.empty()) {
    return absl::InternalError(absl::StrCat(
        base.service, ": the gRPC port flag and the gRPC service name must come together"));
  }
  if (flags.tls_reload_s < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_reload_s: ", flags.tls_reload_s, ", at least 1"));
  }
  if (base.grpc_service.empty() && !flags.tls_client_ca.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_client_ca: ", base.service,
                     " has no gRPC port; --http_tls_client_ca requires "
                     "client certificates on its HTTP port"));
  }
  base.tls = {.cert_file = flags.tls_cert,
              .key_file = flags.tls_key,
              .client_ca_file = flags.tls_client_ca,
              .reload_interval = absl::Seconds(flags.tls_reload_s)};
  base.http_client_ca_file = flags.http_tls_client_ca;
  base.listen_address = flags.listen_address;
  base.grpc_port = flags.grpc_port.value_or(0);
  base.http_port = flags.http_port;
  base.drain_timeout = absl::Seconds(flags.drain_seconds);
  base.max_connection_age = flags.max_connection_age_s > 0
                                ? absl::Seconds(flags.max_connection_age_s)
                                : absl::InfiniteDuration();
  if (absl::Status s = base.Validate(); !s.ok()) return s;
  return base;
}

int RunMain(int argc, char** argv, const MainSpec& spec, HostFlags (*read_host_flags)(),
            const ServiceFactory& factory) {
  grpcutil::ServerRunner::BlockTerminationSignals();
  absl::SetProgramUsageMessage(spec.usage);
  absl::FlagsUsageConfig usage_config;
  usage_config.version_string = [service = spec.service] {
    return absl::StrCat(service, " ", std::string(Version()), "\n");
  };
  absl::SetFlagsUsageConfig(usage_config);
  absl::ParseCommandLine(argc, argv);

  const HostFlags flags = read_host_flags();
  absl::StatusOr<HostConfig> host = HostConfigFromFlags(
      flags, HostConfig{.service = spec.service,
                        .grpc_service = spec.grpc_service,
                        .http_threads = spec.http_threads,
                        .max_body_bytes = spec.max_body_bytes});
  if (!host.ok()) {
    std::fprintf(stderr, "%s: %s\n", spec.service.c_str(), std::string(host.status().message()).c_str());
    return 2;
  }
  // Both were validated above.
  absl::Status logs = logging::Init({.service = spec.service,
                                     .format = *logging::ParseFormat(flags.log_format),
                                     .level = flags.log_level});
  if (!logs.ok()) {
    std::fprintf(stderr, "%s: %s\n", spec.service.c_str(), logs.ToString().c_str());
    return 2;
  }
  absl::StatusOr<std::unique_ptr<Service>> service = factory(*host);
  if (!service.ok()) {
    spdlog::critical("{}: {}", spec.service, std::string(service.status().message()));
    return 2;
  }
  if (absl::Status s = (*service)->Start(); !s.ok()) {
    spdlog::critical("{} failed to start: {}", spec.service, s.ToString());
    return 1;
  }
  ServiceHost& h = (*service)->host();
  if (h.grpc() != nullptr) {
    spdlog::info("{} serving on grpc {} http {} (version {})", spec.service, h.grpc_port(),
                 h.http_port(), std::string(Version()));
  } else {
    spdlog::info("{} serving on http {} (version {})", spec.service, h.http_port(),
                 std::string(Version()));
  }
  const int sig = grpcutil::ServerRunner::WaitForTermination();
  spdlog::info("signal {}: draining", sig);
  (*service)->Shutdown();
  spdlog::info("{} stopped cleanly", spec.service);
  return 0;
}

}  // namespace engram::service
