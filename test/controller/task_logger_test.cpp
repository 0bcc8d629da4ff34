// binary:// loggers started by the task controller get the shim's namespace, for the init process and for an exec.
#include <sys/stat.h>

#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "quiet_events.h"
#include "shimcore/controller/task_controller.h"
#include "shimcore/hcs/emulator.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace shimcore::controller;
using shimcore::testing::eventually;
using shimcore::testing::TempDir;

using shimcore::testing::QuietEvents;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("a binary:// logger of a task and of an exec sees CONTAINER_NAMESPACE of the shim", "[task][io]") {
  TempDir dir{"shimcore-logger-"};
  shimcore::hcs::EmulatorOptions options;
  options.runtime_dir = dir.path / "hcs";
  auto client = shimcore::hcs::make_emulator_client(options);
  QuietEvents events;
  ProcessTaskController tasks(*client, events, "k8s.io");
  // containerd's logging protocol: fd 3 = stdout, fd 4 = stderr, fd 5 = ready; the query arrives as arguments.
  const fs::path logger = dir.path / "logger.sh";
  std::ofstream(logger) << "#!/bin/sh\n"
                           "printf '%s|%s\\n' \"$CONTAINER_ID\" \"$CONTAINER_NAMESPACE\" > \"$2/$4.env\"\n"
                           "printf r >&5\nexec 5>&-\ncat <&3 >/dev/null & cat <&4 >/dev/null; wait\n";
  fs::permissions(logger, fs::perms::owner_all);
  const auto uri = [&](const std::string& name) {
    return "binary://" + logger.string() + "?dir=" + dir.path.string() + "&name=" + name;
  };
  const fs::path bundle = dir.path / "t1";
  fs::create_directories(bundle);
  std::ofstream(bundle / "config.json") << nlohmann::json{
      {"process", {{"args", {"/bin/sleep", "1000"}}, {"cwd", "/"}}},
      {"root", {{"path", "/"}}}}.dump();
  tasks.create({"t1", bundle.string(), {}, {"", uri("init"), uri("init"), false}});
  tasks.start("t1", "");
  ExecRequest exec;
  exec.id = "t1";
  exec.exec_id = "e1";
  exec.process = {{"args", {"/bin/true"}}, {"cwd", "/"}};
  exec.stdio = {"", uri("exec"), uri("exec"), false};
  tasks.exec(exec);
  // Before, the controller passed an empty namespace: the logger saw "t1|".
  CHECK(eventually([&] { return read_text(dir.path / "init.env") == "t1|k8s.io\n"; }));
  CHECK(eventually([&] { return read_text(dir.path / "exec.env") == "t1|k8s.io\n"; }));
  tasks.shutdown();
}
