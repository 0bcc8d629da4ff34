// A process-kind task's container: hcsshim's layer rules (folders or the windows-layer mount) and their error kinds,
// the Linux spec's Windows shape, Windows command-line quoting, and the controller creating both kinds of spec over
// the emulator (the Container document from the builder, the overlay root, refusals with their kinds).
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

#include "controller/process_container.h"
#include "private_containerd.h"
#include "quiet_events.h"
#include "shimcore/controller/task_controller.h"
#include "shimcore/errdefs.h"
#include "shimcore/hcs/emulator.h"
#include "test_util.h"

using Catch::Matchers::ContainsSubstring;
using nlohmann::json;
using shimcore::ErrorKind;
namespace controller = shimcore::controller;
namespace fs = std::filesystem;

namespace {

ErrorKind kind_of(const std::function<void()>& body, std::string* message = nullptr) {
  try {
    body();
  } catch (const shimcore::Error& error) {
    if (message != nullptr) *message = error.what();
    return error.kind();
  }
  return ErrorKind::Unknown;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct Folders {
  shimcore::testing::TempDir dir{"shimcore-layers-"};
  fs::path top = dir.path / "top";
  fs::path base = dir.path / "base";
  fs::path scratch = dir.path / "scratch";
  Folders() {
    for (const fs::path& folder : {top, base, scratch}) fs::create_directories(folder);
  }
};

}  // namespace

TEST_CASE("process container: layer folders and the windows-layer mount give hcsshim's layers, or its refusals") {
  const Folders f;
  const json spec{{"windows", {{"layerFolders", {f.top.string(), f.base.string(), f.scratch.string()}}}}};
  const controller::ContainerLayers layers = controller::windows_layers("t", spec, {});
  CHECK(layers.layers == std::vector<std::string>{f.top.string(), f.base.string()});
  CHECK(layers.scratch == f.scratch.string());
  CHECK(controller::is_windows_container_spec(spec, {}));
  CHECK_FALSE(controller::is_windows_container_spec(json{{"linux", json::object()}}, {}));

  // containerd's legacy Windows snapshot: the mount's source is the scratch, its option names the parents.
  const controller::Mount mount{"windows-layer",
                                f.scratch.string(),
                                "",
                                {"rw", "parentLayerPaths=[\"" + f.top.string() + "\",\"" + f.base.string() + "\"]"}};
  CHECK(controller::is_windows_container_spec(json::object(), {mount}));
  const controller::ContainerLayers mounted = controller::windows_layers("t", json::object(), {mount});
  CHECK(mounted.layers == layers.layers);
  CHECK(mounted.scratch == layers.scratch);

  std::string message;
  CHECK(kind_of([&] { controller::windows_layers("t", spec, {mount}); }, &message) == ErrorKind::FailedPrecondition);
  CHECK_THAT(message, ContainsSubstring("cannot pass both a rootfs mount and Windows.LayerFolders"));
  CHECK(kind_of([&] { controller::windows_layers("t", json::object(), {}); }, &message) ==
        ErrorKind::FailedPrecondition);
  CHECK_THAT(message, ContainsSubstring("must pass either a rootfs mount or Windows.LayerFolders"));
  const json one{{"windows", {{"layerFolders", {f.scratch.string()}}}}};
  CHECK(kind_of([&] { controller::windows_layers("t", one, {}); }, &message) == ErrorKind::FailedPrecondition);
  CHECK_THAT(message, ContainsSubstring("must pass at least two Windows.LayerFolders"));
  const json missing{{"windows", {{"layerFolders", {f.top.string(), "/nonexistent/layer", f.scratch.string()}}}}};
  CHECK(kind_of([&] { controller::windows_layers("t", missing, {}); }, &message) == ErrorKind::InvalidArgument);
  CHECK_THAT(message, ContainsSubstring("spec.windows.layerFolders[1] \"/nonexistent/layer\""));
  const controller::Mount bad_option{"windows-layer", f.scratch.string(), "", {"parentLayerPaths=[not json"}};
  CHECK(kind_of([&] { controller::windows_layers("t", json::object(), {bad_option}); }) == ErrorKind::InvalidArgument);
  const controller::Mount overlay{"overlay", "overlay", "", {}};
  CHECK(kind_of([&] { controller::windows_layers("t", json::object(), {overlay}); }, &message) ==
        ErrorKind::InvalidArgument);
  CHECK_THAT(message, ContainsSubstring("invalid windows mount type: 'overlay'"));
}

TEST_CASE("process container: a Linux spec's Windows shape keeps bind mounts and limits, drops kernel filesystems") {
  const json linux_spec = json::parse(R"({
    "ociVersion": "1.1.0", "hostname": "h", "process": {"args": ["sh"]},
    "mounts": [
      {"destination": "/proc", "type": "proc", "source": "proc"},
      {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
      {"destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts", "options": ["rbind", "ro"]},
      {"destination": "/data", "source": "/srv/data", "options": ["rbind"]},
      {"destination": "/rel", "type": "bind", "source": "relative"}
    ],
    "linux": {"resources": {"memory": {"limit": 134217728}, "cpu": {"shares": 512}}, "namespaces": []}
  })");
  const json shaped = controller::windows_shape_of_linux_spec(linux_spec);
  CHECK_FALSE(shaped.contains("linux"));
  REQUIRE(shaped["mounts"].size() == 2);
  CHECK(shaped["mounts"][0]["destination"] == "/etc/hosts");
  CHECK(shaped["mounts"][1]["destination"] == "/data");
  CHECK(shaped["windows"]["resources"]["memory"]["limit"] == 134217728);
  CHECK(shaped["windows"]["resources"]["cpu"]["shares"] == 512);
  CHECK(shaped["hostname"] == "h");
  CHECK(shaped["process"] == linux_spec["process"]);
  // Nothing to carry over still gives the builder its (empty) Windows section.
  CHECK(controller::windows_shape_of_linux_spec(json{{"process", {{"args", {"sh"}}}}})["windows"] == json::object());
}

TEST_CASE("process container: args become a Windows command line as Go's syscall.EscapeArg quotes them") {
  CHECK(controller::windows_command_line({"cmd", "/c", "echo hi"}) == R"(cmd /c "echo hi")");
  CHECK(controller::windows_command_line({"a\"b", ""}) == R"(a\"b "")");
  CHECK(controller::windows_command_line({R"(C:\dir with space\)"}) == R"("C:\dir with space\\")");
  CHECK(controller::windows_command_line({R"(C:\plain\)"}) == R"(C:\plain\)");
  CHECK(controller::windows_command_line({R"(say \"x\" now)"}) == R"("say \\\"x\\\" now")");
}

namespace {

// A controller over a private emulator; bundles written by the test.
struct Fixture {
  shimcore::testing::TempDir dir{"shimcore-pc-"};
  std::unique_ptr<shimcore::hcs::EmulatorClient> client = shimcore::hcs::make_emulator_client(options());
  shimcore::testing::QuietEvents events;
  controller::ProcessTaskController tasks{*client, events};
  ~Fixture() { tasks.shutdown(); }

  shimcore::hcs::EmulatorOptions options() const {
    shimcore::hcs::EmulatorOptions options;
    options.runtime_dir = dir.path / "hcs";
    return options;
  }
  fs::path bundle(const std::string& id, const json& spec) const {
    const fs::path path = dir.path / id;
    fs::create_directories(path);
    std::ofstream(path / "config.json") << spec.dump();
    return path;
  }
  json record(const std::string& id) const {
    return json::parse(slurp(dir.path / "hcs" / ("+" + id + ".json"))).at("Document");
  }
};

}  // namespace

TEST_CASE("process container: the controller sends the builder's document for a Linux spec and a Windows spec") {
  Fixture fixture;
  // A Linux spec whose root is the host's: one layer, no scratch, and the host root runs the process.
  const fs::path linux_bundle =
      fixture.bundle("lin", {{"process", {{"args", {"/bin/true"}}, {"cwd", "/"}}}, {"root", {{"path", "/"}}}});
  fixture.tasks.create({"lin", linux_bundle.string(), {}, {}});
  const json linux_document = fixture.record("lin");
  CHECK(linux_document["Owner"] == "containerd-shim-process-v2");
  CHECK(linux_document["Container"]["Storage"]["Layers"][0]["Path"] == "/");
  CHECK(linux_document["Container"]["RegistryChanges"]["AddValues"][0]["Name"] == "WaitToKillServiceTimeout");

  // A Windows spec: layer folders, a Windows command line whose output shows the overlay.
  const Folders f;
  std::ofstream(f.top / "marker") << "top";
  fs::create_directories(f.base / "bin");
  fs::copy_file(shimcore::testing::busybox_path(), f.base / "bin" / "busybox", fs::copy_options::overwrite_existing);
  const json windows_spec{
      {"process", {{"commandLine", R"(/bin/busybox sh -c "/bin/busybox cat /marker > /copied")"}, {"cwd", "C:\\"}}},
      {"windows", {{"layerFolders", {f.top.string(), f.base.string(), f.scratch.string()}}}}};
  fixture.tasks.create({"win", fixture.bundle("win", windows_spec).string(), {}, {}});
  const json windows_document = fixture.record("win");
  CHECK(windows_document["Container"]["Storage"]["Layers"].size() == 2);
  CHECK(windows_document["Container"]["Storage"]["Layers"][0]["Id"] == shimcore::hcs::emulated_name_to_guid("top"));
  fixture.tasks.start("win", "");
  std::promise<controller::ExitStatus> exited;
  fixture.tasks.wait("win", "", [&](const controller::ExitStatus& status) { exited.set_value(status); });
  auto exit = exited.get_future();
  REQUIRE(exit.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  CHECK(exit.get().exit_status == 0);
  CHECK(slurp(f.scratch / "upper" / "copied") == "top");
  fixture.tasks.remove("win", "");
  CHECK_FALSE(fs::exists(fixture.dir.path / "hcs" / "roots"));  // the overlay went with the container
  CHECK_FALSE(
      fs::exists(fixture.dir.path / "hcs" / "volumes" /
                 (windows_document["Container"]["Storage"]["Path"].get<std::string>().substr(11, 36) + ".json")));

  // A Hyper-V isolated spec is the wcow shim's: InvalidArgument, and nothing is left attached.
  json hyperv = windows_spec;
  hyperv["windows"]["hyperv"] = json::object();
  std::string message;
  CHECK(kind_of(
            [&] {
              fixture.tasks.create({"hv", fixture.bundle("hv", hyperv).string(), {}, {}});
            },
            &message) == ErrorKind::InvalidArgument);
  CHECK_THAT(message, ContainsSubstring("spec.windows.hyperv"));
  json missing = windows_spec;
  missing["windows"]["layerFolders"][0] = "/nonexistent";
  CHECK(kind_of([&] {
          fixture.tasks.create({"nl", fixture.bundle("nl", missing).string(), {}, {}});
        }) == ErrorKind::InvalidArgument);
  // Only the Linux task's volume is still attached.
  CHECK(std::distance(fs::directory_iterator(fixture.dir.path / "hcs" / "volumes"), fs::directory_iterator()) == 1);
}

TEST_CASE("process container: a host-process task's Update and Stats go through its job's cgroups") {
  Fixture fixture;
  const json spec{{"process", {{"args", {"/bin/sleep", "300"}}, {"cwd", "/"}}},
                  {"root", {{"path", "/"}}},
                  {"annotations", {{"microsoft.com/hostprocess-container", "true"}}},
                  {"linux", {{"resources", {{"memory", {{"limit", 100 << 20}}}}}}}};
  fixture.tasks.create({"job1", fixture.bundle("job1", spec).string(), {}, {}});
  const std::uint32_t pid = fixture.tasks.start("job1", "");
  const bool v2 = fs::exists("/sys/fs/cgroup/cgroup.controllers");
  const fs::path memory = v2 ? fs::path("/sys/fs/cgroup/shimcore-jobs/job1/memory.max")
                             : fs::path("/sys/fs/cgroup/memory/shimcore-jobs/job1/memory.limit_in_bytes");
  auto limit = [&] {
    std::string text = slurp(memory);
    return text.substr(0, text.find('\n'));
  };
  CHECK(limit() == std::to_string(100 << 20));
  controller::ResourceUpdate update;
  update.memory_limit_bytes = 50u << 20;
  fixture.tasks.update("job1", update);
  CHECK(limit() == std::to_string(50u << 20));
  update = {};
  update.processor_maximum = 20000;
  CHECK(kind_of([&] { fixture.tasks.update("job1", update); }) == ErrorKind::InvalidArgument);
  CHECK(fixture.tasks.pids("job1") == std::vector<std::uint32_t>{pid});
  const auto statistics = fixture.tasks.statistics("job1");
  REQUIRE(statistics.memory);
  CHECK(statistics.memory->memory_usage_commit_bytes.value_or(0) > 0);
  // No HCS document was sent: a job container is no compute system.
  CHECK_FALSE(fs::exists(fixture.dir.path / "hcs" / "+job1.json"));
  fixture.tasks.kill("job1", "", SIGKILL, true);
  std::promise<controller::ExitStatus> exited;
  fixture.tasks.wait("job1", "", [&](const controller::ExitStatus& status) { exited.set_value(status); });
  auto exit = exited.get_future();
  REQUIRE(exit.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  CHECK(exit.get().exit_status == 137);
  fixture.tasks.remove("job1", "");
  CHECK_FALSE(fs::exists(memory.parent_path()));

  // Hypervisor isolation and the disable annotation are refused with hcsshim's reasons.
  json hyperv = spec;
  hyperv["windows"] = {{"hyperv", json::object()}};
  std::string message;
  CHECK(kind_of(
            [&] {
              fixture.tasks.create({"job2", fixture.bundle("job2", hyperv).string(), {}, {}});
            },
            &message) == ErrorKind::InvalidArgument);
  CHECK_THAT(message, ContainsSubstring("hypervisor-isolated host-process containers"));
  json conflict = spec;
  conflict["annotations"]["microsoft.com/disable-hostprocess-container"] = "true";
  CHECK(kind_of(
            [&] {
              fixture.tasks.create({"job3", fixture.bundle("job3", conflict).string(), {}, {}});
            },
            &message) == ErrorKind::InvalidArgument);
  CHECK_THAT(message, ContainsSubstring("conflict"));
}
