// The shim executables themselves, run as containerd and operators run them: -v, -h, -info, usage errors, actions.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nlohmann/json.hpp>
#include "containerd/task/v3/shim.pb.h"
#include "containerd/types/introspection.pb.h"
#include "containerd/types/runtimeoptions/v1/api.pb.h"
#include "private_containerd.h"
#include "run_process.h"
#include "shimcore/build_config.h"
#include "shimcore/sandbox_kind.h"
#include "shimcore/shim/runtime_options.h"
#include "shimcore/transport/ttrpc_client.h"
#include "test_util.h"

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
    CHECK_THAT(result.out, ContainsSubstring("share/doc/shimcore/getting-started.md"));
    CHECK(std::filesystem::exists(std::filesystem::path(SHIMCORE_SOURCE_DIR) / "docs" / "getting-started.md"));
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

TEST_CASE("a missing action is a usage error", "[shim][cli]") {
  for (const shimcore::SandboxKind* kind : shimcore::compiled_kinds()) {
    CAPTURE(kind->binary_name);
    const auto missing = run_process({shim_path(*kind), "-id", "t1"});
    CHECK(missing.exit_status == 2);
    CHECK_THAT(missing.err, ContainsSubstring("missing action"));
  }
}

TEST_CASE("start prints only the address of a listening daemon; Shutdown stops it; delete answers", "[shim][cli]") {
  shimcore::testing::TempDir dir("shimcore-start-");
  // Sockets and emulator records of this test stay in its folder.
  ::setenv("SHIMCORE_SOCKET_DIR", (dir.path / "s").c_str(), 1);
  ::setenv("SHIMCORE_HCS_EMULATOR_DIR", (dir.path / "hcs").c_str(), 1);
  ::unsetenv("TTRPC_ADDRESS");
  for (const shimcore::SandboxKind* kind : shimcore::compiled_kinds()) {
    CAPTURE(kind->binary_name);
    const std::filesystem::path bundle = dir.path / std::string(kind->id);
    std::filesystem::create_directories(bundle);
    const std::vector<std::string> common{shim_path(*kind),
                                          "-namespace",
                                          "default",
                                          "-address",
                                          (dir.path / "containerd.sock").string(),
                                          "-publish-binary",
                                          "/bin/true",
                                          "-id",
                                          "task-" + std::string(kind->id)};
    std::vector<std::string> start_args = common;
    start_args.emplace_back("start");
    const auto start = run_process(start_args, {}, bundle.string());
    REQUIRE(start.exit_status == 0);
    CHECK(start.err.empty());
    const auto bootstrap = nlohmann::json::parse(start.out);
    CHECK(bootstrap.size() == 3);
    CHECK(bootstrap["version"] == 3);
    CHECK(bootstrap["protocol"] == "ttrpc");
    const std::string address = bootstrap["address"].get<std::string>();
    CHECK_THAT(address, StartsWith("unix://" + (dir.path / "s").string() + "/"));
    CHECK(address.size() - 7 < 108);

    // The daemon answers at once: Connect, then Shutdown with no task makes it exit.
    shimcore::transport::TtrpcClient client(address);
    containerd::task::v3::ConnectRequest connect;
    const auto connected = client.call<containerd::task::v3::ConnectResponse>("containerd.task.v3.Task", "Connect",
                                                                              connect, {std::chrono::seconds(5), {}});
    CHECK(connected.shim_pid() > 0);
    CHECK(connected.task_pid() == 0);
    const auto missing = client.call("containerd.task.v3.Task", "State", "\x0a\x02t9", {std::chrono::seconds(5), {}});
    CHECK(missing.status.code == shimcore::StatusCode::NotFound);
    client.call("containerd.task.v3.Task", "Shutdown", "", {std::chrono::seconds(5), {}});
    CHECK(shimcore::testing::eventually([&] { return ::kill(static_cast<pid_t>(connected.shim_pid()), 0) != 0; }));
    CHECK_FALSE(std::filesystem::exists(address.substr(7)));

    // delete after the daemon is gone: a DeleteResponse with "unknown" status 255, and idempotent.
    std::vector<std::string> delete_args = common;
    delete_args.insert(delete_args.end(), {"-bundle", bundle.string(), "delete"});
    for (int i = 0; i < 2; ++i) {
      const auto deleted = run_process(delete_args, {}, bundle.string());
      REQUIRE(deleted.exit_status == 0);
      CHECK(deleted.err.empty());
      containerd::task::v3::DeleteResponse response;
      REQUIRE(response.ParseFromString(deleted.out));
      CHECK(response.exit_status() == 255);
      CHECK(response.exited_at().seconds() > 0);
    }
  }
}

TEST_CASE(
    "VM shims: WCOW refuses tasks (Unimplemented), LCOW refuses a bundle without config.json (InvalidArgument); "
    "only LCOW serves sandboxes; the daemon stays up",
    "[shim][cli]") {
  shimcore::testing::TempDir dir("shimcore-uvm-");
  ::setenv("SHIMCORE_SOCKET_DIR", (dir.path / "s").c_str(), 1);
  ::setenv("SHIMCORE_HCS_EMULATOR_DIR", (dir.path / "hcs").c_str(), 1);
  ::unsetenv("TTRPC_ADDRESS");
  std::vector<const shimcore::SandboxKind*> vm_kinds;
  for (const shimcore::SandboxKind* kind : shimcore::compiled_kinds()) {
    if (kind->isolation == shimcore::Isolation::Hypervisor) vm_kinds.push_back(kind);
  }
  if (vm_kinds.empty()) SKIP("this build has neither the LCOW nor the WCOW shim");
  for (const shimcore::SandboxKind* kind : vm_kinds) {
    CAPTURE(kind->binary_name);
    const std::filesystem::path bundle = dir.path / std::string(kind->id);
    std::filesystem::create_directories(bundle);
    const std::string id = "vm-" + std::string(kind->id);
    const auto start =
        run_process({shim_path(*kind), "-namespace", "default", "-address", (dir.path / "containerd.sock").string(),
                     "-publish-binary", "/bin/true", "-id", id, "start"},
                    {}, bundle.string());
    REQUIRE(start.exit_status == 0);
    const std::string address = nlohmann::json::parse(start.out)["address"].get<std::string>();
    shimcore::transport::TtrpcClient client(address);
    const shimcore::transport::CallOptions options{std::chrono::seconds(30), {}};

    // Task.Create through the daemon containerd would talk to: refused before anything is created (LCOW runs tasks
    // in its utility VM, but reads the bundle's config.json first; WCOW's VM controller is not built yet).
    containerd::task::v3::CreateTaskRequest create;
    create.set_id(id);
    create.set_bundle(bundle.string());
    const auto created = client.call("containerd.task.v3.Task", "Create", create.SerializeAsString(), options);
    if (std::string_view(kind->id) == "lcow") {
      CHECK(created.status.code == shimcore::StatusCode::InvalidArgument);
      CHECK_THAT(created.status.message, ContainsSubstring("config.json"));
    } else {
      CHECK(created.status.code == shimcore::StatusCode::Unimplemented);
      CHECK_THAT(created.status.message,
                 ContainsSubstring("cannot create task " + id) &&
                     ContainsSubstring(std::string(kind->binary_name) + " does not run tasks yet"));
    }
    // The LCOW shim serves the Sandbox API (its VM is the sandbox) and refuses a request without a sandbox id; WCOW
    // has no sandbox service yet: containerd's shim sandboxer gets Unimplemented for the service.
    const auto sandbox = client.call("containerd.runtime.sandbox.v1.Sandbox", "CreateSandbox", "", options);
    if (std::string_view(kind->id) == "lcow") {
      CHECK(sandbox.status.code == shimcore::StatusCode::InvalidArgument);
      CHECK_THAT(sandbox.status.message, ContainsSubstring("sandbox id"));
    } else {
      CHECK(sandbox.status.code == shimcore::StatusCode::Unimplemented);
      CHECK(sandbox.status.message == "service containerd.runtime.sandbox.v1.Sandbox");
    }

    // Nothing was created, and the daemon still answers, then exits on Shutdown.
    containerd::task::v3::StateRequest state_request;
    state_request.set_id(id);
    const auto state = client.call("containerd.task.v3.Task", "State", state_request.SerializeAsString(), options);
    CHECK(state.status.code == shimcore::StatusCode::NotFound);
    const auto connected = client.call<containerd::task::v3::ConnectResponse>(
        "containerd.task.v3.Task", "Connect", containerd::task::v3::ConnectRequest(), options);
    CHECK(connected.task_pid() == 0);
    client.call("containerd.task.v3.Task", "Shutdown", "", options);
    CHECK(shimcore::testing::eventually([&] { return ::kill(static_cast<pid_t>(connected.shim_pid()), 0) != 0; }));
  }
}

TEST_CASE("start refuses runtime options it does not understand", "[shim][cli]") {
  shimcore::testing::TempDir dir("shimcore-start-");
  ::setenv("SHIMCORE_SOCKET_DIR", (dir.path / "s").c_str(), 1);
  const shimcore::SandboxKind& kind = *shimcore::compiled_kinds().front();
  google::protobuf::Any runc;
  runc.set_type_url("containerd.runc.v1.Options");
  for (const std::string& stdin_bytes : {std::string("\xff\xff\xff", 3), runc.SerializeAsString()}) {
    const auto start =
        run_process({shim_path(kind), "-namespace", "default", "-id", "t1", "start"}, stdin_bytes, dir.path.string());
    CHECK(start.exit_status == 1);
    CHECK(start.out.empty());
    CHECK_THAT(start.err, ContainsSubstring("invalid argument") && ContainsSubstring("options"));
  }
}

#if SHIMCORE_HAS_PROCESS
TEST_CASE("start refuses a SandboxIsolation the shim does not run: HYPERVISOR to the process shim, unknown values",
          "[shim][cli]") {
  shimcore::testing::TempDir dir("shimcore-start-");
  ::setenv("SHIMCORE_SOCKET_DIR", (dir.path / "s").c_str(), 1);
  auto start_with = [&](int isolation) {
    shimcore::shim::RuntimeOptions options;
    options.set_sandbox_isolation(static_cast<shimcore::shim::RuntimeOptions::SandboxIsolation>(isolation));
    google::protobuf::Any any;
    any.set_type_url("containerd.runhcs.v1.Options");
    any.set_value(options.SerializeAsString());
    return run_process({shim_path(shimcore::process_kind()), "-namespace", "default", "-id", "t1", "start"},
                       any.SerializeAsString(), dir.path.string());
  };
  const auto hyperv = start_with(1);
  CHECK(hyperv.exit_status == 1);
  CHECK(hyperv.out.empty());
  CHECK_THAT(hyperv.err, ContainsSubstring("failed precondition") && ContainsSubstring("SandboxIsolation HYPERVISOR"));
  const auto unknown = start_with(7);
  CHECK(unknown.exit_status == 1);
  CHECK_THAT(unknown.err, ContainsSubstring("invalid argument") && ContainsSubstring("unknown SandboxIsolation 7"));
}
#endif

TEST_CASE("start takes CRI's TOML runtime options: the daemon reads them, unknown keys are logged", "[shim][cli]") {
  shimcore::testing::TempDir dir("shimcore-start-");
  ::setenv("SHIMCORE_SOCKET_DIR", (dir.path / "s").c_str(), 1);
  ::setenv("SHIMCORE_HCS_EMULATOR_DIR", (dir.path / "hcs").c_str(), 1);
  ::unsetenv("TTRPC_ADDRESS");
  const shimcore::SandboxKind& kind = *shimcore::compiled_kinds().front();
  const std::filesystem::path bundle = dir.path / "bundle";
  std::filesystem::create_directories(bundle);
  // The log FIFO as containerd prepares it: created and held open for reading before `start`.
  const std::string fifo = (bundle / "log").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const int log_fd = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  REQUIRE(log_fd >= 0);

  runtimeoptions::v1::Options options;
  options.set_config_body("Debug = true\nSandboxIsolation = 1\nVmProcessorCount = 2\nKernel = '/vmlinux'\n");
  google::protobuf::Any any;
  any.set_type_url("runtimeoptions.v1.Options");
  any.set_value(options.SerializeAsString());
  const std::vector<std::string> common{
      shim_path(kind), "-namespace", "default", "-address", (dir.path / "containerd.sock").string(),
      "-id",           "toml-task"};
  std::vector<std::string> start_args = common;
  start_args.emplace_back("start");
  const auto start = run_process(start_args, any.SerializeAsString(), bundle.string());
  REQUIRE(start.exit_status == 0);
  CHECK(start.err.empty());
  const std::string address = nlohmann::json::parse(start.out)["address"].get<std::string>();

  // What serve reads: the parsed options, in the bundle.
  const shimcore::shim::RuntimeOptions saved = shimcore::shim::load_runtime_options(bundle);
  CHECK(saved.debug());
  CHECK(saved.sandbox_isolation() == containerd::runhcs::v1::Options::HYPERVISOR);
  CHECK(saved.vm_processor_count() == 2);

  shimcore::transport::TtrpcClient client(address);
  const auto connected = client.call<containerd::task::v3::ConnectResponse>(
      "containerd.task.v3.Task", "Connect", containerd::task::v3::ConnectRequest(), {std::chrono::seconds(5), {}});
  client.call("containerd.task.v3.Task", "Shutdown", "", {std::chrono::seconds(5), {}});
  CHECK(shimcore::testing::eventually([&] { return ::kill(static_cast<pid_t>(connected.shim_pid()), 0) != 0; }));

  // The warning from start and, since Debug = true, the daemon's debug line naming the options.
  std::string log;
  char buffer[4096];
  for (ssize_t n; (n = ::read(log_fd, buffer, sizeof(buffer))) > 0;) log.append(buffer, static_cast<std::size_t>(n));
  ::close(log_fd);
  CHECK_THAT(log, ContainsSubstring("level=warning msg=\"unknown runtime option \\\"Kernel\\\" (line 4) ignored\""));
  CHECK_THAT(log, ContainsSubstring("level=debug msg=\"runtime options\""));
  CHECK_THAT(log, ContainsSubstring("vm_processor_count: 2"));

  // A TOML syntax error fails start, naming the line.
  options.set_config_body("Debug = true\nDebug =\n");
  any.set_value(options.SerializeAsString());
  const auto bad = run_process(start_args, any.SerializeAsString(), bundle.string());
  CHECK(bad.exit_status == 1);
  CHECK(bad.out.empty());
  CHECK_THAT(bad.err, ContainsSubstring("invalid argument") && ContainsSubstring("line 2"));
}

TEST_CASE("delete after kill -9 of the daemon: kills the task, unmounts its rootfs, reports 137", "[shim][cli]") {
  if (::geteuid() != 0) SKIP("mounting the task's rootfs needs root");
  const shimcore::SandboxKind* process_kind = nullptr;
  for (const shimcore::SandboxKind* kind : shimcore::compiled_kinds()) {
    if (kind->isolation == shimcore::Isolation::Process) process_kind = kind;
  }
  if (process_kind == nullptr) SKIP("only the process shim runs tasks");
  const shimcore::SandboxKind& kind = *process_kind;
  shimcore::testing::TempDir dir("shimcore-delete-");
  ::setenv("SHIMCORE_SOCKET_DIR", (dir.path / "s").c_str(), 1);
  ::setenv("SHIMCORE_HCS_EMULATOR_DIR", (dir.path / "hcs").c_str(), 1);
  ::unsetenv("TTRPC_ADDRESS");
  // A busybox tree, bind-mounted by the daemon on <bundle>/rootfs as containerd's snapshot mounts are.
  const std::filesystem::path source = dir.path / "layer";
  std::filesystem::create_directories(source / "bin");
  std::filesystem::copy_file(shimcore::testing::busybox_path(), source / "bin" / "busybox");
  std::filesystem::create_symlink("busybox", source / "bin" / "sleep");
  const std::filesystem::path bundle = dir.path / "bundle";
  std::filesystem::create_directories(bundle);
  std::ofstream(bundle / "config.json") << R"({"process":{"args":["/bin/sleep","1000"],"cwd":"/"}})";

  const std::vector<std::string> common{
      shim_path(kind), "-namespace", "default", "-address", (dir.path / "containerd.sock").string(), "-id", "t-killed"};
  std::vector<std::string> start_args = common;
  start_args.emplace_back("start");
  const auto start = run_process(start_args, {}, bundle.string());
  REQUIRE(start.exit_status == 0);
  const std::string address = nlohmann::json::parse(start.out)["address"].get<std::string>();
  shimcore::transport::TtrpcClient client(address);
  const shimcore::transport::CallOptions options{std::chrono::seconds(5), {}};
  containerd::task::v3::CreateTaskRequest create;
  create.set_id("t-killed");
  create.set_bundle(bundle.string());
  auto* mount = create.add_rootfs();
  mount->set_type("bind");
  mount->set_source(source.string());
  mount->add_options("rbind");
  client.call<containerd::task::v3::CreateTaskResponse>("containerd.task.v3.Task", "Create", create, options);
  containerd::task::v3::StartRequest start_request;
  start_request.set_id("t-killed");
  const auto started =
      client.call<containerd::task::v3::StartResponse>("containerd.task.v3.Task", "Start", start_request, options);
  const auto task_pid = static_cast<pid_t>(started.pid());
  REQUIRE(task_pid > 0);
  const auto connected = client.call<containerd::task::v3::ConnectResponse>(
      "containerd.task.v3.Task", "Connect", containerd::task::v3::ConnectRequest(), options);
  client.disconnect();
  const auto mounted = [&] {
    std::ifstream mountinfo("/proc/self/mountinfo");
    const std::string text((std::istreambuf_iterator<char>(mountinfo)), std::istreambuf_iterator<char>());
    return text.find(" " + (bundle / "rootfs").string() + " ") != std::string::npos;
  };
  REQUIRE(mounted());

  REQUIRE(::kill(static_cast<pid_t>(connected.shim_pid()), SIGKILL) == 0);
  REQUIRE(shimcore::testing::eventually([&] { return ::kill(static_cast<pid_t>(connected.shim_pid()), 0) != 0; }));
  std::vector<std::string> delete_args = common;
  delete_args.insert(delete_args.end(), {"-bundle", bundle.string(), "delete"});
  const auto deleted = run_process(delete_args, {}, bundle.string());
  REQUIRE(deleted.exit_status == 0);
  containerd::task::v3::DeleteResponse response;
  REQUIRE(response.ParseFromString(deleted.out));
  CHECK(response.exit_status() == 137);
  CHECK_THAT(deleted.err, ContainsSubstring("level=warning msg=\"cleaned up after a dead shim\"") &&
                              ContainsSubstring("systems=t-killed killed_processes=1 rootfs_unmounted=true "
                                                "socket_removed=true exit_status=137"));
  CHECK_FALSE(mounted());
  CHECK_FALSE(std::filesystem::exists(address.substr(7)));
  // The task's process is gone (or a zombie until its new parent reaps it: no longer running either way).
  CHECK(shimcore::testing::eventually([&] {
    std::ifstream stat("/proc/" + std::to_string(task_pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto close = text.rfind(')');
    return close == std::string::npos || text.compare(close + 1, 3, " Z ") == 0;
  }));
  CHECK(std::filesystem::is_empty(dir.path / "hcs"));

  // Idempotent, and silent once there is nothing left.
  const auto again = run_process(delete_args, {}, bundle.string());
  CHECK(again.exit_status == 0);
  CHECK(again.err.empty());
  REQUIRE(response.ParseFromString(again.out));
  CHECK(response.exit_status() == 255);
}
