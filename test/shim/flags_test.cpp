// Parsing of the shim command line exactly as containerd 2.1 writes it, and Go flag-package edge cases.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <string>
#include <vector>

#include "shimcore/errdefs.h"
#include "shimcore/shim/flags.h"

using Catch::Matchers::ContainsSubstring;
using shimcore::ErrorKind;
using shimcore::shim::Action;
using shimcore::shim::parse_flags;

namespace {

shimcore::shim::ShimFlags parse(std::vector<std::string> args) { return parse_flags(args); }

// Runs parse_flags and returns the error it throws; fails the test if it does not throw.
shimcore::Error parse_error(std::vector<std::string> args) {
  try {
    parse_flags(args);
  } catch (const shimcore::Error& e) {
    return e;
  }
  FAIL("parse_flags accepted an invalid command line");
  return shimcore::Error(ErrorKind::Unknown, "");
}

}  // namespace

TEST_CASE("containerd's start invocation", "[shim][flags]") {
  // argv captured from containerd 2.1.9 (containerd-shim-contract.md §1.2), minus argv[0].
  const auto flags = parse({"-namespace", "default", "-address", "/run/c/containerd.sock", "-publish-binary",
                            "/usr/bin/containerd", "-id", "t1", "-debug", "start"});
  CHECK(flags.namespace_name == "default");
  CHECK(flags.address == "/run/c/containerd.sock");
  CHECK(flags.publish_binary == "/usr/bin/containerd");
  CHECK(flags.id == "t1");
  CHECK(flags.debug);
  CHECK(flags.bundle.empty());
  CHECK(flags.action == Action::Start);
  CHECK_FALSE(flags.version);
  CHECK_FALSE(flags.info);
}

TEST_CASE("containerd's delete invocation carries -bundle", "[shim][flags]") {
  const auto flags = parse({"-namespace", "k8s.io", "-address", "/a.sock", "-publish-binary", "/bin/c", "-id", "sb1",
                            "-bundle", "/state/sb1", "delete"});
  CHECK(flags.bundle == "/state/sb1");
  CHECK(flags.namespace_name == "k8s.io");
  CHECK_FALSE(flags.debug);
  CHECK(flags.action == Action::Delete);
}

TEST_CASE("Go flag spellings", "[shim][flags]") {
  SECTION("-flag=value and --flag value") {
    const auto flags = parse({"-id=abc", "--namespace", "ns", "--socket=unix:///x.sock", "serve"});
    CHECK(flags.id == "abc");
    CHECK(flags.namespace_name == "ns");
    CHECK(flags.socket == "unix:///x.sock");
    CHECK(flags.action == Action::Serve);
  }
  SECTION("boolean values") {
    CHECK(parse({"-debug=true", "start"}).debug);
    CHECK(parse({"-debug=1", "start"}).debug);
    CHECK(parse({"-debug=T", "start"}).debug);
    CHECK_FALSE(parse({"-debug=false", "start"}).debug);
    CHECK_FALSE(parse({"-debug=0", "start"}).debug);
    CHECK(parse_error({"-debug=maybe", "start"}).kind() == ErrorKind::InvalidArgument);
  }
  SECTION("a boolean flag does not swallow the action") {
    const auto flags = parse({"-debug", "delete"});
    CHECK(flags.debug);
    CHECK(flags.action == Action::Delete);
  }
  SECTION("a repeated flag keeps the last value") { CHECK(parse({"-id", "a", "-id", "b", "start"}).id == "b"); }
  SECTION("an empty value is a value") {
    const auto flags = parse({"-bundle=", "-id", "x", "start"});
    CHECK(flags.bundle.empty());
    CHECK(flags.id == "x");
  }
}

TEST_CASE("command-like flags need no action", "[shim][flags]") {
  CHECK(parse({"-v"}).version);
  CHECK(parse({"--v"}).version);
  CHECK(parse({"-info"}).info);
  CHECK(parse({"-h"}).help);
  CHECK(parse({"-help"}).help);
  CHECK(parse({"-v"}).action == Action::None);
}

TEST_CASE("bad command lines are InvalidArgument with a clear message", "[shim][flags]") {
  SECTION("unknown flag") {
    const auto error = parse_error({"-bogus"});
    CHECK(error.kind() == ErrorKind::InvalidArgument);
    CHECK_THAT(error.what(), ContainsSubstring("flag provided but not defined") && ContainsSubstring("bogus"));
  }
  SECTION("no abbreviations") {
    CHECK_THAT(parse_error({"-name", "x", "start"}).what(), ContainsSubstring("not defined"));
  }
  SECTION("missing value") {
    const auto error = parse_error({"-id"});
    CHECK(error.kind() == ErrorKind::InvalidArgument);
    CHECK_THAT(error.what(), ContainsSubstring("needs an argument") && ContainsSubstring("id"));
  }
  SECTION("unknown action") {
    CHECK_THAT(parse_error({"-id", "x", "launch"}).what(), ContainsSubstring("unknown action \"launch\""));
  }
  SECTION("two actions") {
    CHECK_THAT(parse_error({"start", "delete"}).what(), ContainsSubstring("unexpected argument \"delete\""));
  }
}
