// The shimdiag CLI against real shims started by a private containerd 2.1: a process-shim task (ctr, namespace
// default), a CRI pod through the process shim (namespace k8s.io) and an LCOW task in its emulated utility VM. Every
// command's output and exit status, over ttrpc and gRPC, and its errors. Needs root.
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

#include "cri_client.h"
#include "cri_e2e.h"
#include "e2e_util.h"
#include "private_containerd.h"
#include "run_process.h"
#include "test_util.h"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::StartsWith;
using shimcore::testing::BackgroundProcess;
using shimcore::testing::CriClient;
using shimcore::testing::CriConfig;
using shimcore::testing::eventually;
using shimcore::testing::PrivateContainerd;
using shimcore::testing::ProcessResult;
namespace fs = std::filesystem;

namespace {

const fs::path kBin = SHIMCORE_TEST_BIN_DIR;
const std::string kProcessShim = (kBin / "containerd-shim-process-v2").string();
const std::string kLcowShim = (kBin / "containerd-shim-lcow-v2").string();
const std::string kShimdiag = SHIMCORE_SHIMDIAG;
const std::string kIdle = "trap 'exit 0' TERM; while :; do sleep 0.1; done";

std::string scratch() { return "/tmp/shimcore-shimdiag-e2e-" + std::to_string(::getpid()); }

struct ShimdiagE2E {
  PrivateContainerd containerd{{},
                               {"SHIMCORE_SOCKET_DIR=" + scratch() + "/s",
                                "SHIMCORE_HCS_EMULATOR_DIR=" + scratch() + "/hcs", "SHIMCORE_DIAG_GRPC=1"},
                               CriConfig{kProcessShim}};
  CriClient cri{containerd.grpc_socket()};
  fs::path rootfs = containerd.make_busybox_rootfs("rootfs");
  ~ShimdiagE2E() {
    std::error_code ignored;
    fs::remove_all(scratch(), ignored);
  }

  // shimdiag pointed at this containerd's state and the shims' socket folder.
  ProcessResult shimdiag(std::vector<std::string> args, const std::string& input = {}) const {
    std::vector<std::string> argv{kShimdiag, "--state", containerd.state_dir().string(), "--socket-dir",
                                  scratch() + "/s"};
    argv.insert(argv.end(), args.begin(), args.end());
    return shimcore::testing::run_process(argv, input);
  }
};

// The row of `list` output whose first two columns are `ns` and `id`, split on blanks.
std::vector<std::string> row_of(const std::string& table, const std::string& ns, const std::string& id) {
  std::istringstream lines(table);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::vector<std::string> row;
    for (std::string word; words >> word;) row.push_back(word);
    if (row.size() >= 2 && row[0] == ns && row[1] == id) return row;
  }
  return {};
}

// A Unix socket file nobody listens on any more (a shim killed before it could remove it).
void make_stale_socket(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  ::close(fd);
}

}  // namespace

TEST_CASE("shimdiag lists, inspects and runs processes in real shims; its errors have their exit codes",
          "[e2e][shimdiag]") {
  ShimdiagE2E e2e;
  INFO("containerd log:\n" << e2e.containerd.log());

  // A process-shim task in namespace default and a CRI pod in k8s.io.
  REQUIRE(e2e.containerd
              .ctr({"run", "-d", "--runtime", kProcessShim, "--rootfs", e2e.rootfs.string(), "t1", "sh", "-c", kIdle})
              .exit_status == 0);
  shimcore::testing::cri_e2e::PodGuard pod{e2e.cri, std::nullopt};
  pod.pod_id = e2e.cri.run_pod_sandbox(
      shimcore::testing::make_pod_config("diag-pod", "diag-uid", (fs::path(scratch()) / "logs").string()), "process");
  const std::string& pod_id = *pod.pod_id;

  // list: both, with namespace, id, kind and state; with --pids the pid containerd started.
  const ProcessResult listed = e2e.shimdiag({"list", "--pids"});
  INFO("list:\n" << listed.out << listed.err);
  REQUIRE(listed.exit_status == 0);
  CHECK_THAT(listed.out, StartsWith("NAMESPACE"));
  const auto t1 = row_of(listed.out, "default", "t1");
  const auto cri_pod = row_of(listed.out, "k8s.io", pod_id);
  REQUIRE(t1.size() == 7);
  REQUIRE(cri_pod.size() == 7);
  CHECK(t1[2] == "process");
  CHECK(t1[3] == "running");
  CHECK(cri_pod[2] == "process");
  CHECK(cri_pod[3] == "running");
  const auto daemons = e2e.containerd.shim_daemons(kProcessShim);
  const auto started_by_containerd = [&](const std::string& id) {
    for (const auto& daemon : daemons) {
      if (daemon.id == id) return std::to_string(daemon.pid);
    }
    return std::string("none");
  };
  CHECK(t1[5] == started_by_containerd("t1"));
  CHECK(cri_pod[5] == started_by_containerd(pod_id));
  CHECK(t1[6] == e2e.containerd.task_shim_address("t1"));

  // pid, over ttrpc and gRPC, by name, bare id and address.
  CHECK(e2e.shimdiag({"pid", "default/t1"}).out == started_by_containerd("t1") + "\n");
  CHECK(e2e.shimdiag({"pid", "t1"}).out == started_by_containerd("t1") + "\n");
  CHECK(e2e.shimdiag({"pid", e2e.containerd.task_shim_address("t1")}).out == started_by_containerd("t1") + "\n");
  CHECK(e2e.shimdiag({"--grpc", "pid", "default/t1"}).out == started_by_containerd("t1") + "\n");
  CHECK(e2e.shimdiag({"pid", pod_id}).out == started_by_containerd(pod_id) + "\n");

  // tasks --execs with a running exec.
  BackgroundProcess exec(e2e.containerd.ctr_argv({"task", "exec", "--exec-id", "e1", "t1", "sh", "-c", kIdle}));
  std::string tasks;
  // (The init process is the task itself: DiagTasks lists a task's execs, as hcsshim's does.)
  CHECK(eventually([&] {
    tasks = e2e.shimdiag({"tasks", "--execs", "t1"}).out;
    return row_of(tasks, "t1", "e1") == std::vector<std::string>{"t1", "e1", "running"};
  }));
  INFO("tasks:\n" << tasks);
  CHECK(row_of(tasks, "TASK", "EXEC").size() == 3);
  CHECK(e2e.shimdiag({"tasks", "t1"}).out == "TASK\nt1\n");
  exec.kill_and_wait();

  // exec on the host (process kind): output, error stream, exit code, stdin; a terminal is refused.
  const ProcessResult ran = e2e.shimdiag({"exec", "default/t1", "sh", "-c", "echo out; echo err >&2; exit 7"});
  CHECK(ran.out == "out\n");
  CHECK(ran.err == "err\n");
  CHECK(ran.exit_status == 7);
  const ProcessResult in_tmp = e2e.shimdiag({"exec", "-w", "/tmp", "t1", "pwd"});
  CHECK(in_tmp.out == "/tmp\n");
  CHECK(e2e.shimdiag({"exec", "--workdir", "/proc", "t1", "pwd"}).out == "/proc\n");
  const ProcessResult piped = e2e.shimdiag({"exec", "--stdin", "t1", "sh", "-c", "tr a-z A-Z"}, "hello\n");
  CHECK(piped.out == "HELLO\n");
  CHECK(piped.exit_status == 0);
  const ProcessResult tty = e2e.shimdiag({"exec", "-t", "t1", "true"});
  CHECK(tty.exit_status == 1);
  CHECK_THAT(tty.err, ContainsSubstring("terminal is not supported"));

  // stacks: the shim's threads.
  const ProcessResult stacks = e2e.shimdiag({"stacks", "default/t1"});
  CHECK(stacks.exit_status == 0);
  CHECK_THAT(stacks.out, StartsWith("thread "));
  CHECK_THAT(stacks.out, !ContainsSubstring("=== guest"));

  // Errors, each once: unknown shim (3), a shim without a VM to share into (5), a stale socket (listed, then 4), a
  // peer that does not serve ShimDiag (5), bad command lines (2).
  const ProcessResult unknown = e2e.shimdiag({"pid", "nosuch"});
  CHECK(unknown.exit_status == 3);
  CHECK_THAT(unknown.err,
             ContainsSubstring("no shim serves nosuch") && ContainsSubstring(e2e.containerd.state_dir().string()));
  const ProcessResult share = e2e.shimdiag({"share", "t1", scratch(), "/mnt"});
  CHECK(share.exit_status == 5);
  const std::string stale = scratch() + "/s/stale.sock";
  make_stale_socket(stale);
  // Only the stale socket is named by no bundle (the shims' gRPC sockets belong to their shims).
  CHECK(row_of(e2e.shimdiag({"list"}).out, "-", "-") ==
        std::vector<std::string>{"-", "-", "-", "stale", "0", "unix://" + stale});
  const ProcessResult dead = e2e.shimdiag({"pid", stale});
  CHECK(dead.exit_status == 4);
  const ProcessResult not_diag = e2e.shimdiag({"pid", e2e.containerd.grpc_socket() + ".ttrpc"});
  CHECK(not_diag.exit_status == 5);
  CHECK_THAT(not_diag.err, ContainsSubstring("does not serve containerd.runhcs.v1.diag.ShimDiag"));
  CHECK(e2e.shimdiag({"frobnicate"}).exit_status == 2);
  CHECK(e2e.shimdiag({"pid"}).exit_status == 2);
  CHECK(e2e.shimdiag({"--timeout", "soon", "pid", "t1"}).exit_status == 2);

  CHECK(shimcore::testing::kill_lone_task(e2e.containerd, "t1"));
}

#if SHIMCORE_TEST_LCOW
TEST_CASE("shimdiag against the LCOW shim: exec in the guest (pipes and a terminal), guest stacks, share",
          "[e2e][shimdiag][lcow]") {
  ShimdiagE2E e2e;
  INFO("containerd log:\n" << e2e.containerd.log());
  REQUIRE(shimcore::testing::start_lone_idle_task(e2e.containerd, kLcowShim, e2e.rootfs, "l1").empty());
  CHECK(row_of(e2e.shimdiag({"list"}).out, "default", "l1").at(2) == "lcow");

  // exec runs in the utility VM: its own pid namespace, not the host's.
  const ProcessResult ns = e2e.shimdiag({"exec", "l1", "readlink", "/proc/self/ns/pid"});
  CHECK(ns.exit_status == 0);
  CHECK_THAT(ns.out, StartsWith("pid:["));
  CHECK(ns.out != fs::read_symlink("/proc/self/ns/pid").string() + "\n");
  CHECK(e2e.shimdiag({"exec", "l1", "sh", "-c", "exit 3"}).exit_status == 3);

  // -t through a real pty (script): the process has a terminal of this pty's size.
  const std::string line = kShimdiag + " --state " + e2e.containerd.state_dir().string() + " --socket-dir " +
                           scratch() + "/s exec -t l1 sh -c 'tty; stty size'";
  const ProcessResult script =
      shimcore::testing::run_process({"script", "-qec", "stty rows 30 cols 100; " + line, "/dev/null"});
  INFO("script: " << script.out << script.err);
  CHECK(script.exit_status == 0);
  CHECK_THAT(script.out, ContainsSubstring("/dev/pts/"));
  CHECK_THAT(script.out, ContainsSubstring("30 100"));

  // stacks: the shim's threads and the guest agent's.
  const ProcessResult stacks = e2e.shimdiag({"stacks", "l1"});
  CHECK(stacks.exit_status == 0);
  INFO("stacks: " << stacks.out);
  CHECK_THAT(stacks.out, StartsWith("=== shim (pid ") && ContainsSubstring("\n=== guest (") &&
                             ContainsSubstring("\ncontainers:\n  l1 Running"));

  // share: a host folder, read-only, seen in the guest at the path asked.
  const fs::path shared = fs::path(scratch()) / "shared";
  fs::create_directories(shared);
  std::ofstream(shared / "marker") << "from the host\n";
  const ProcessResult share = e2e.shimdiag({"share", "--ro", "l1", shared.string(), "/mnt/diag"});
  INFO(share.err);
  CHECK(share.exit_status == 0);
  CHECK(e2e.shimdiag({"exec", "l1", "cat", "/mnt/diag/marker"}).out == "from the host\n");
  CHECK(e2e.shimdiag({"exec", "l1", "sh", "-c", "touch /mnt/diag/x"}).exit_status != 0);
  CHECK(e2e.shimdiag({"--grpc", "exec", "l1", "cat", "/mnt/diag/marker"}).out == "from the host\n");

  CHECK(shimcore::testing::kill_lone_task(e2e.containerd, "l1"));
}
#endif
