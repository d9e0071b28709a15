#include "common/service/service_host.h"

#include "absl/strings/str_cat.h"
#include "common/service/host_flags.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/http_client.h"

namespace engram::service {
namespace {

using ::testing::HasSubstr;

HostFlags GrpcFlags() {
  return {.listen_address = "127.0.0.1", .grpc_port = 50052, .http_port = 9102,
          .drain_seconds = 5, .max_connection_age_s = 300};
}

HostConfig Base() { return {.service = "engram-test", .grpc_service = "engram.test.v1.T"}; }

TEST(HostConfigFromFlags, FillsTheSharedFields) {
  absl::StatusOr<HostConfig> c = HostConfigFromFlags(GrpcFlags(), Base());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen_address, "127.0.0.1");
  EXPECT_EQ(c->grpc_port, 50052);
  EXPECT_EQ(c->http_port, 9102);
  EXPECT_EQ(c->drain_timeout, absl::Seconds(5));
  EXPECT_EQ(c->max_connection_age, absl::Seconds(300));
  EXPECT_EQ(c->service, "engram-test");
}

TEST(HostConfigFromFlags, ZeroConnectionAgeMeansNever) {
  HostFlags f = GrpcFlags();
  f.max_connection_age_s = 0;
  EXPECT_EQ(HostConfigFromFlags(f, Base())->max_connection_age, absl::InfiniteDuration());
}

TEST(HostConfigFromFlags, BadValuesNameTheFlag) {
  struct Case {
    void (*mutate)(HostFlags&);
    const char* flag;
  } cases[] = {
      {[](HostFlags& f) { f.grpc_port = 70000; }, "--grpc_port"},
      {[](HostFlags& f) { f.http_port = -1; }, "--http_port"},
      {[](HostFlags& f) { f.http_port = 50052; }, "--grpc_port and --http_port"},
      {[](HostFlags& f) { f.drain_seconds = -1; }, "--drain_seconds"},
      {[](HostFlags& f) { f.max_connection_age_s = -5; }, "--max_connection_age_s"},
      {[](HostFlags& f) { f.log_format = "xml"; }, "--log_format"},
      {[](HostFlags& f) { f.log_level = "loud"; }, "--log_level"},
      {[](HostFlags& f) { f.listen_address = ""; }, "--listen_address"},
      {[](HostFlags& f) {
         f.tls_cert = "/nonexistent/tls.crt";
         f.tls_key = "/nonexistent/tls.key";
       },
       "--tls_cert '/nonexistent/tls.crt'"},
      {[](HostFlags& f) { f.tls_key = "/nonexistent/tls.key"; }, "--tls_cert is needed"},
      {[](HostFlags& f) { f.tls_client_ca = "/nonexistent/ca.crt"; }, "--tls_client_ca"},
      {[](HostFlags& f) { f.http_tls_client_ca = "/nonexistent/ca.crt"; }, "--http_tls_client_ca"},
      {[](HostFlags& f) { f.tls_reload_s = 0; }, "--tls_reload_s"},
  };
  for (const Case& c : cases) {
    HostFlags f = GrpcFlags();
    c.mutate(f);
    absl::StatusOr<HostConfig> config = HostConfigFromFlags(f, Base());
    ASSERT_FALSE(config.ok()) << c.flag;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << c.flag;
    EXPECT_THAT(config.status().message(), HasSubstr(c.flag));
  }
}

TEST(HostConfig, AsyncCallsAreBoundedByTheLowerLimitSet) {
  HostConfig c = Base();
  EXPECT_EQ(c.AsyncCallLimit(), 0);  // neither: no limit
  c.grpc_max_async_calls = 64;
  EXPECT_EQ(c.AsyncCallLimit(), 64);
  c.grpc_max_threads = 40;
  EXPECT_EQ(c.AsyncCallLimit(), 40);
  c.grpc_max_async_calls = 0;
  EXPECT_EQ(c.AsyncCallLimit(), 40);
  c.grpc_max_threads = 100;
  c.grpc_max_async_calls = 64;
  EXPECT_EQ(c.AsyncCallLimit(), 64);
  c.grpc_max_async_calls = -1;
  absl::Status s = c.Validate();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--grpc_max_async_calls: -1"));
}

TEST(HostConfigFromFlags, HttpOnlyServiceHasNoGrpcPort) {
  HostFlags f = GrpcFlags();
  f.grpc_port.reset();
  HostConfig base{.service = "engram-control"};
  absl::StatusOr<HostConfig> c = HostConfigFromFlags(f, base);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->grpc_service.empty());
  // A gRPC service without the port flag is a programming error, not a user's.
  EXPECT_EQ(HostConfigFromFlags(f, Base()).status().code(), absl::StatusCode::kInternal);
}

TEST(ServiceHost, ServesStandardRoutesAndBuildInfo) {
  ServiceHost host({.service = "engram-test", .grpc_service = "engram.test.v1.T",
                    .listen_address = "127.0.0.1"});
  bool ready = false;
  host.SetReadiness([&] {
    http::ReadinessReport report;
    if (!ready) report.unavailable.push_back({"recovery", "replaying"});
    return report;
  });
  ASSERT_TRUE(host.Start().ok());
  ASSERT_NE(host.grpc(), nullptr);
  EXPECT_GT(host.grpc_port(), 0);
  EXPECT_EQ(testing::HttpCall(host.http_port(), "GET", "/healthz").status, 200);
  testing::HttpResult r = testing::HttpCall(host.http_port(), "GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(r.body, HasSubstr("replaying"));
  ready = true;
  EXPECT_EQ(testing::HttpCall(host.http_port(), "GET", "/readyz").status, 200);
  const std::string metrics = testing::HttpCall(host.http_port(), "GET", "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat("engram_build_info{service=\"engram-test\",version=\"",
                                              std::string(Version()), "\"} 1")));
  EXPECT_THAT(metrics, HasSubstr("process_start_time_seconds "));
  host.Shutdown();
  host.Shutdown();  // idempotent
  EXPECT_EQ(testing::HttpCall(host.http_port(), "GET", "/healthz", "", {}, 2).status, 0);
}

TEST(ServiceHost, HttpOnlyHostHasNoGrpc) {
  ServiceHost host({.service = "engram-control", .listen_address = "127.0.0.1"});
  EXPECT_EQ(host.grpc(), nullptr);
  ASSERT_TRUE(host.Start().ok());
  EXPECT_EQ(host.grpc_port(), 0);
  EXPECT_EQ(testing::HttpCall(host.http_port(), "GET", "/healthz").status, 200);
}

TEST(ServiceHost, BusyPortIsUnavailable) {
  ServiceHost first({.service = "a", .listen_address = "127.0.0.1"});
  ASSERT_TRUE(first.Start().ok());
  ServiceHost second({.service = "b", .listen_address = "127.0.0.1", .http_port = first.http_port()});
  EXPECT_EQ(second.Start().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace engram::service
