#include "cli/engramctl/flag_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/engramctl/exit_codes.h"

namespace engram::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Flags {
  std::string name;
  std::optional<std::string> ns;
  bool verbose = false;
  uint32_t k = 0;
  std::optional<float> confidence;
  std::vector<std::string> filters;
};

void Register(FlagParser* parser, Flags* f) {
  parser->AddString("name", &f->name, "NAME", "a name");
  parser->AddOptionalString("namespace", &f->ns, "NS", "namespace", "n");
  parser->AddBool("verbose", &f->verbose, "say more");
  parser->AddUint("k", &f->k, 1, 100, "N", "results");
  parser->AddFloat("confidence", &f->confidence, 0, 1, "C", "confidence");
  parser->AddRepeated("filter", &f->filters, "K=V", "filter");
}

TEST(FlagParserTest, ParsesEverySpelling) {
  FlagParser parser("test");
  Flags f;
  Register(&parser, &f);
  auto positionals =
      parser.Parse({"a", "--name", "x", "--k=7", "-n", "ns1", "--verbose", "b", "--filter", "a=1",
                    "--filter=b=2", "--confidence", "0.5", "-", "--", "--not-a-flag"});
  ASSERT_TRUE(positionals.ok()) << positionals.status();
  EXPECT_THAT(*positionals, ElementsAre("a", "b", "-", "--not-a-flag"));
  EXPECT_EQ(f.name, "x");
  EXPECT_EQ(f.k, 7u);
  EXPECT_EQ(f.ns, "ns1");
  EXPECT_TRUE(f.verbose);
  EXPECT_THAT(f.filters, ElementsAre("a=1", "b=2"));
  EXPECT_FLOAT_EQ(*f.confidence, 0.5f);
}

TEST(FlagParserTest, UnsetOptionalsStayEmpty) {
  FlagParser parser("test");
  Flags f;
  Register(&parser, &f);
  ASSERT_TRUE(parser.Parse({}).ok());
  EXPECT_FALSE(f.ns.has_value());
  EXPECT_FALSE(f.confidence.has_value());
}

TEST(FlagParserTest, BoolAcceptsExplicitValues) {
  FlagParser parser("test");
  Flags f;
  Register(&parser, &f);
  ASSERT_TRUE(parser.Parse({"--verbose=true", "--verbose=false"}).ok());
  EXPECT_FALSE(f.verbose);
  auto bad = parser.Parse({"--verbose=maybe"});
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("--verbose: 'maybe' is not true or false"));
}

void ExpectUsageError(const std::vector<std::string>& args, const std::string& message) {
  FlagParser parser("test");
  Flags f;
  Register(&parser, &f);
  auto result = parser.Parse(args);
  ASSERT_FALSE(result.ok()) << "accepted: " << testing::PrintToString(args);
  EXPECT_TRUE(IsUsageError(result.status()));
  EXPECT_EQ(ExitCodeFor(result.status()), kExitUsage);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(message));
}

TEST(FlagParserTest, RejectsBadInputNamingTheFlag) {
  ExpectUsageError({"--bogus"}, "test: unknown flag --bogus");
  ExpectUsageError({"--bogus=1"}, "unknown flag --bogus");
  ExpectUsageError({"-x"}, "unknown flag -x");
  ExpectUsageError({"--name"}, "--name: missing value");
  ExpectUsageError({"--name", "--verbose"}, "--name: missing value");
  ExpectUsageError({"--k", "abc"}, "--k: 'abc' is not a non-negative integer");
  ExpectUsageError({"--k", "-3"}, "--k: '-3' is not a non-negative integer");
  ExpectUsageError({"--k", "5x"}, "--k: '5x' is not a non-negative integer");
  ExpectUsageError({"--k=0"}, "--k: 0 is out of range [1, 100]");
  ExpectUsageError({"--k=101"}, "--k: 101 is out of range [1, 100]");
  ExpectUsageError({"--confidence", "nan"}, "--confidence: 'nan' is not a finite number");
  ExpectUsageError({"--confidence", "1.5"}, "--confidence: 1.5 is out of range [0, 1]");
}

TEST(FlagParserTest, StopAtPositionalLeavesTheRestUnparsed) {
  FlagParser parser("engramctl");
  Flags f;
  Register(&parser, &f);
  auto rest = parser.Parse({"-n", "x", "get", "--unknown", "id"}, /*stop_at_positional=*/true);
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_THAT(*rest, ElementsAre("get", "--unknown", "id"));
  EXPECT_EQ(f.ns, "x");
}

TEST(FlagParserTest, NegativeNumbersAreValues) {
  FlagParser parser("test");
  std::optional<float> weight;
  parser.AddFloat("weight", &weight, -10, 10, "W", "weight");
  ASSERT_TRUE(parser.Parse({"--weight", "-2.5"}).ok());
  EXPECT_FLOAT_EQ(*weight, -2.5f);
}

TEST(FlagParserTest, HelpListsFlags) {
  FlagParser parser("test");
  Flags f;
  Register(&parser, &f);
  std::string help = parser.Help();
  EXPECT_THAT(help, HasSubstr("-n, --namespace NS"));
  EXPECT_THAT(help, HasSubstr("--verbose "));
}

TEST(FlagParserTest, NumberHelpers) {
  EXPECT_EQ(ParseFiniteFloat("1.25"), 1.25f);
  EXPECT_EQ(ParseFiniteFloat("+1"), 1.0f);
  EXPECT_FALSE(ParseFiniteFloat("inf").has_value());
  EXPECT_FALSE(ParseFiniteFloat("1.0x").has_value());
  EXPECT_FALSE(ParseFiniteFloat("").has_value());
  EXPECT_EQ(ParseUnsigned("42"), 42u);
  EXPECT_FALSE(ParseUnsigned("-1").has_value());
}

TEST(ExitCodesTest, MapsEveryCode) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), 0);
  EXPECT_EQ(ExitCodeFor(absl::InternalError("x")), 1);
  EXPECT_EQ(ExitCodeFor(absl::UnknownError("x")), 1);
  EXPECT_EQ(ExitCodeFor(UsageError("x")), 2);
  EXPECT_EQ(ExitCodeFor(absl::NotFoundError("x")), 3);
  EXPECT_EQ(ExitCodeFor(absl::UnauthenticatedError("x")), 4);
  EXPECT_EQ(ExitCodeFor(absl::PermissionDeniedError("x")), 4);
  EXPECT_EQ(ExitCodeFor(absl::UnavailableError("x")), 5);
  EXPECT_EQ(ExitCodeFor(absl::DeadlineExceededError("x")), 5);
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("x")), 6);
  EXPECT_EQ(ExitCodeFor(absl::FailedPreconditionError("x")), 6);
  EXPECT_EQ(ExitCodeFor(absl::AlreadyExistsError("x")), 6);
  EXPECT_EQ(ExitCodeFor(absl::ResourceExhaustedError("x")), 7);
}

TEST(ExitCodesTest, FormatsErrors) {
  absl::Status status = absl::NotFoundError("concept \"x\" not found");
  SetCorrelationId(&status, "abc123");
  EXPECT_EQ(FormatError(status),
            "engramctl: NOT_FOUND: concept \"x\" not found (correlation id abc123)");
  EXPECT_EQ(FormatError(absl::UnavailableError("down")), "engramctl: UNAVAILABLE: down");
  EXPECT_EQ(FormatError(UsageError("get: missing argument <ID>")),
            "engramctl: get: missing argument <ID> (run 'engramctl help' for usage)");
}

}  // namespace
}  // namespace engram::cli
