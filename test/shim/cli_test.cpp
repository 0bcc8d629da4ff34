// The shim executables themselves, run as containerd and operators run them: -v, -h, -info, usage errors, actions.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <filesystem>
#include <regex>
#include <string>

#include "containerd/types/introspection.pb.h"
#include "containerd/types/runtimeoptions/v1/api.pb.h"
#include "run_process.h"
#include "shimcore/sandbox_kind.h"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::StartsWith;
using shimcore::testing::run_process;

namespace {

std::string shim_path(const shimcore::SandboxKind& kind) {
  return (std::filesystem::path(SHIMCORE_TEST_BIN_DIR) / kind.binary_name).string();
}

}  // namespace

TEST_CASE("every compiled shim binary exists", "[shim][cli]") {
  for (const shimcore::SandboxKind* kind : shimcore::compiled_kinds()) {
    CAPTURE(kind->binary_name);
    CHECK(std::filesystem::is_regular_file(shim_path(*kind)));
  }
}

TEST_CASE("flag -v prints one version line and exits 0", "[shim][cli]") {
  for (const shimcore::SandboxKind* kind : shimcore::compiled_kinds()) {
    CAPTURE(kind->binary_name);
    const auto result = run_process({shim_path(*kind), "-v"});
    CHECK(result.exit_status == 0);
    CHECK(result.err.empty());
    const std::regex line(std::string(kind->binary_name) + R"( version \d+\.\d+\.\d+ revision \S+\n)");
    CHECK(std::regex_match(result.out, line));
  }
}

TEST_CASE("an unknown flag is a usage error on stderr", "[shim][cli]") {
  for (const shimcore::SandboxKind* kind : shimcore::compiled_kinds()) {
    CAPTURE(kind->binary_name);
    const auto result = run_process({shim_path(*kind), "-bogus"});
    CHECK(result.exit_status == 2);
    CHECK(result.out.empty());
    CHECK_THAT(result.err, StartsWith(std::string(kind->binary_name) + ": flag provided but not defined: -bogus\n"));
    CHECK_THAT(result.err, ContainsSubstring("Usage: " + std::string(kind->binary_name)));
  }
}

TEST_CASE("flag -h lists every flag containerd passes", "[shim][cli]") {
  for (const shimcore::SandboxKind* kind : shimcore::compiled_kinds()) {
    CAPTURE(kind->binary_name);
    const auto result = run_process({shim_path(*kind), "-h"});
    CHECK(result.exit_status == 0);
    CHECK(result.err.empty());
    for (const char* flag : {"-namespace string", "-address string", "-publish-binary string", "-id string",
                             "-bundle string", "-socket string", "-debug", "-info", "-v "}) {
      CHECK_THAT(result.out, ContainsSubstring(flag));
    }
    CHECK_THAT(result.out, ContainsSubstring(std::string(kind->runtime_type)));
  }
}

TEST_CASE("flag -info prints a containerd.types.RuntimeInfo", "[shim][cli]") {
  for (const shimcore::SandboxKind* kind : shimcore::compiled_kinds()) {
    CAPTURE(kind->binary_name);
    SECTION("without options (stdin is /dev/null for containerd)") {
      const auto result = run_process({shim_path(*kind), "-info"});
      REQUIRE(result.exit_status == 0);
      CHECK(result.err.empty());
      containerd::types::RuntimeInfo info;
      REQUIRE(info.ParseFromString(result.out));
      CHECK(info.name() == kind->runtime_type);
      CHECK(std::regex_match(info.version().version(), std::regex(R"(\d+\.\d+\.\d+)")));
      CHECK_FALSE(info.version().revision().empty());
      CHECK_FALSE(info.has_options());
    }
    SECTION("the options Any on stdin is echoed back") {
      runtimeoptions::v1::Options options;
      options.set_config_body("VmMemoryMiB = 512\n");
      google::protobuf::Any any;
      any.set_type_url("runtimeoptions.v1.Options");
      any.set_value(options.SerializeAsString());
      const auto result = run_process({shim_path(*kind), "-info"}, any.SerializeAsString());
      REQUIRE(result.exit_status == 0);
      containerd::types::RuntimeInfo info;
      REQUIRE(info.ParseFromString(result.out));
      CHECK(info.options().type_url() == "runtimeoptions.v1.Options");
      runtimeoptions::v1::Options echoed;
      REQUIRE(echoed.ParseFromString(info.options().value()));
      CHECK(echoed.config_body() == "VmMemoryMiB = 512\n");
    }
    SECTION("garbage on stdin is rejected, not echoed") {
      const auto result = run_process({shim_path(*kind), "-info"}, std::string("\xff\xff\xff\x01", 4));
      CHECK(result.exit_status == 1);
      CHECK(result.out.empty());
      CHECK_THAT(result.err, ContainsSubstring("invalid argument"));
    }
  }
}

TEST_CASE("a missing action is a usage error; unimplemented actions fail plainly", "[shim][cli]") {
  for (const shimcore::SandboxKind* kind : shimcore::compiled_kinds()) {
    CAPTURE(kind->binary_name);
    const auto missing = run_process({shim_path(*kind), "-id", "t1"});
    CHECK(missing.exit_status == 2);
    CHECK_THAT(missing.err, ContainsSubstring("missing action"));
    const auto start = run_process({shim_path(*kind), "-namespace", "default", "-id", "t1", "start"});
    CHECK(start.exit_status == 1);
    CHECK(start.out.empty());
    CHECK_THAT(start.err, ContainsSubstring("not implemented") && ContainsSubstring("\"start\""));
  }
}
