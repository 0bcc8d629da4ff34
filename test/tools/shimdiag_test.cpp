// shimdiag without shims: discovery from containerd-shaped state folders written by the test, name resolution, and
// the help texts against the README (the README quotes them; they must not drift apart).
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "discovery.h"
#include "run_process.h"
#include "shimcore/errdefs.h"
#include "test_util.h"

using Catch::Matchers::ContainsSubstring;
using namespace shimdiag;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A task or sandbox bundle as containerd 2.1 leaves it: bootstrap.json, and shim-binary-path for the shim's starter.
void bundle(const fs::path& state, const std::string& plugin, const std::string& ns, const std::string& id,
            const std::string& address, const std::string& runtime = {}) {
  const fs::path dir = state / plugin / ns / id;
  write(dir / "bootstrap.json", R"({"version":3,"address":")" + address + R"(","protocol":"ttrpc"})");
  if (!runtime.empty()) write(dir / "shim-binary-path", runtime);
}

void listening_socket(const std::string& path, int& fd) {
  fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(fd, 4) == 0);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("shimdiag discovery: one entry per shim, named by its sandbox or starter, sockets nobody names, stale ones",
          "[shimdiag][unit]") {
  shimcore::testing::TempDir dir{"shimdiag-"};
  const fs::path state = dir.path / "state";
  const fs::path sockets = dir.path / "s";
  fs::create_directories(sockets);
  const std::string task_plugin = "io.containerd.runtime.v2.task",
                    sandbox_plugin = "io.containerd.sandbox.controller.v1.shim";
  const std::string a = "unix://" + (sockets / "a.sock").string(), b = "unix://" + (sockets / "b.sock").string();
  // A shim started for task t1 (a runtime path), and a sandbox shim serving pod p and its containers c1, c2.
  bundle(state, task_plugin, "default", "t1", a, "/usr/bin/containerd-shim-process-v2");
  bundle(state, sandbox_plugin, "k8s.io", "p", b, "io.containerd.lcow.v2");
  bundle(state, task_plugin, "k8s.io", "c2", b);
  bundle(state, task_plugin, "k8s.io", "c1", (sockets / "b.sock").string());          // the same socket, bare path form
  write(state / task_plugin / "default" / "broken" / "bootstrap.json", "{not json");  // skipped
  int a_fd = -1, b_fd = -1, grpc_fd = -1;
  listening_socket((sockets / "a.sock").string(), a_fd);
  listening_socket((sockets / "b.sock").string(), b_fd);
  listening_socket((sockets / "b.sock.grpc").string(), grpc_fd);  // b's ShimDiag gRPC socket: part of b
  int orphan_fd = -1;
  listening_socket((sockets / "orphan.sock").string(), orphan_fd);
  ::close(orphan_fd);  // its listener is gone: a stale socket file

  const DiscoveryOptions options{{state}, {sockets}, false};
  const std::vector<ShimEntry> found = discover(options);
  REQUIRE(found.size() == 3);
  CHECK(display_name(found[0]) == "default/t1");
  CHECK(found[0].kind == "process");
  CHECK(found[0].tasks == std::vector<std::string>{"default/t1"});
  CHECK(display_name(found[1]) == "k8s.io/p");
  CHECK(found[1].kind == "lcow");
  CHECK(found[1].tasks == std::vector<std::string>{"k8s.io/c1", "k8s.io/c2", "k8s.io/p"});
  CHECK(found[2].ns.empty());
  CHECK(found[2].address == "unix://" + (sockets / "orphan.sock").string());
  CHECK(display_name(found[2]) == found[2].address);
  CHECK(reachable(found[0].address));
  CHECK(reachable(found[1].address));
  CHECK_FALSE(reachable(found[2].address));

  // Names: <ns>/<id>, a bare id, any task the shim serves, an address; unknown and ambiguous ones.
  CHECK(resolve("default/t1", found, options).address == a);
  CHECK(resolve("t1", found, options).address == a);
  CHECK(resolve("c2", found, options).address == b);
  CHECK(resolve("k8s.io/c1", found, options).address == b);
  CHECK(resolve((sockets / "a.sock").string(), found, options).id == "t1");
  CHECK(resolve("unix:///elsewhere.sock", found, options).address == "unix:///elsewhere.sock");
  try {
    resolve("k8s.io/t1", found, options);
    FAIL("resolved");
  } catch (const shimcore::Error& error) {
    CHECK(error.kind() == shimcore::ErrorKind::NotFound);
    CHECK_THAT(error.what(), ContainsSubstring(state.string()) && ContainsSubstring(sockets.string()));
  }
  bundle(state, task_plugin, "other", "t1", b);
  try {
    resolve("t1", discover(options), options);
    FAIL("resolved");
  } catch (const shimcore::Error& error) {
    CHECK(error.kind() == shimcore::ErrorKind::InvalidArgument);
    CHECK_THAT(error.what(), ContainsSubstring("ambiguous") && ContainsSubstring("default/t1"));
  }
  CHECK(kind_of_runtime(R"(C:\Program Files\containerd\containerd-shim-wcow-v2.exe)") == "wcow");
  CHECK(kind_of_runtime("io.containerd.runc.v2") == "runc");
  for (const int fd : {a_fd, b_fd, grpc_fd}) ::close(fd);
}

TEST_CASE("shimdiag --help and every command's help are the README's, byte for byte", "[shimdiag][unit]") {
  const std::string readme = read_text(fs::path(SHIMCORE_SOURCE_DIR) / "README.md");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{{"--help"},
                                                                                    {"list", "--help"},
                                                                                    {"exec", "--help"},
                                                                                    {"stacks", "--help"},
                                                                                    {"tasks", "--help"},
                                                                                    {"share", "--help"},
                                                                                    {"pid", "--help"}}) {
    std::string label = "shimdiag";
    for (const auto& arg : args) label += " " + arg;
    CAPTURE(label);
    std::vector<std::string> argv{SHIMCORE_SHIMDIAG};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto help = shimcore::testing::run_process(argv);
    CHECK(help.exit_status == 0);
    // The README's block: "$ <label>" then the text, in one fenced block.
    const std::string start = "```text\n$ " + label + "\n";
    const auto at = readme.find(start);
    REQUIRE(at != std::string::npos);
    const auto end = readme.find("```\n", at + start.size());
    REQUIRE(end != std::string::npos);
    CHECK(readme.substr(at + start.size(), end - at - start.size()) == help.out);
  }
  // No command: usage on stderr, status 2.
  const auto bare = shimcore::testing::run_process({SHIMCORE_SHIMDIAG});
  CHECK(bare.exit_status == 2);
  CHECK_THAT(bare.err, ContainsSubstring("usage: shimdiag"));
}
