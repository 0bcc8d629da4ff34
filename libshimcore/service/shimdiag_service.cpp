// ShimDiag handlers for the process kind: host exec with the caller's stdio, the shim's own threads, its tasks.
#include "shimcore/service/shimdiag_service.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "runhcs/shimdiag/shimdiag.pb.h"
#include "service/handlers.h"
#include "shimcore/errdefs.h"
#include "shimcore/hcs/os_handle.h"

extern char** environ;

namespace shimcore::service {
namespace {

namespace diag = containerd::runhcs::v1::diag;
namespace fs = std::filesystem;
using transport::CallContext;

// The caller's stdio: FIFOs or files it created; absent paths read from / write to /dev/null. Opened without
// blocking, so that a FIFO nobody holds is an error for the caller instead of a worker thread stuck in open().
hcs::OsHandle open_stdio(const std::string& path, int flags) {
  const std::string target = path.empty() ? "/dev/null" : path;
  hcs::OsHandle handle(::open(target.c_str(), flags | O_CLOEXEC | O_NONBLOCK));
  if (!handle.valid()) {
    const int error = errno;
    if (error == ENXIO) {
      throw make_error(ErrorKind::FailedPrecondition, "cannot open {}: no reader holds the FIFO", target);
    }
    throw make_error(error == ENOENT ? ErrorKind::NotFound : ErrorKind::InvalidArgument, "cannot open {}: {}", target,
                     std::strerror(error));
  }
  ::fcntl(handle.get(), F_SETFL, ::fcntl(handle.get(), F_GETFL) & ~O_NONBLOCK);  // the child does plain blocking I/O
  return handle;
}

// Runs the request's process to its end, or kills it (its whole process group) once `stop` is requested: the caller
// went away, its deadline passed or the shim is stopping. Runs on a LongCalls thread, never on a server worker.
std::int32_t exec_in_host(const diag::ExecProcessRequest& request, std::stop_token stop) {
  if (request.args().empty()) throw make_error(ErrorKind::InvalidArgument, "DiagExecInHost: no args");
  if (request.terminal()) {
    // The process kind has no console to lend a host process; hcsshim refuses a terminal with stderr the same way.
    throw make_error(ErrorKind::FailedPrecondition, "DiagExecInHost: a terminal is not supported by this shim");
  }
  const std::string workdir = request.workdir().empty() ? std::string("/") : request.workdir();
  std::error_code error;
  if (!fs::is_directory(workdir, error)) {
    throw make_error(ErrorKind::InvalidArgument, "DiagExecInHost: workdir {} is not a directory", workdir);
  }
  const hcs::OsHandle in = open_stdio(request.stdin(), O_RDONLY);
  const hcs::OsHandle out = open_stdio(request.stdout(), O_WRONLY);
  const hcs::OsHandle err = open_stdio(request.stderr(), O_WRONLY);

  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, in.get(), STDIN_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, out.get(), STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, err.get(), STDERR_FILENO);
  ::posix_spawn_file_actions_addchdir_np(&actions, workdir.c_str());
  posix_spawnattr_t attributes;
  ::posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigfillset(&defaults);
  ::posix_spawnattr_setsigdefault(&attributes, &defaults);
  sigset_t none;
  sigemptyset(&none);
  ::posix_spawnattr_setsigmask(&attributes, &none);  // the shim blocks SIGTERM/SIGINT; its children must not
  ::posix_spawnattr_setpgroup(&attributes, 0);       // its own group, so that cancelling kills what it started too
  ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  std::vector<std::string> args(request.args().begin(), request.args().end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int spawned = ::posix_spawnp(&pid, argv[0], &actions, &attributes, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attributes);
  if (spawned != 0) {
    throw make_error(spawned == ENOENT ? ErrorKind::NotFound : ErrorKind::InvalidArgument,
                     "DiagExecInHost: cannot run {}: {}", args.front(), std::strerror(spawned));
  }
  {
    // Until the child is reaped its pid (and group id) cannot be reused, so the callback's kill hits only what this
    // call started: wait without reaping, drop the callback (which waits for a running one), then reap.
    const std::stop_callback cancel(stop, [pid] { ::kill(-pid, SIGKILL); });
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (stop.stop_requested() && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
    throw make_error(ErrorKind::Canceled, "DiagExecInHost: {} was killed: the call was cancelled", args.front());
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The shim's threads: name, state and, where the kernel shows it (root), the kernel stack.
std::string thread_dump() {
  std::string dump;
  std::error_code error;
  for (const auto& task : fs::directory_iterator("/proc/self/task", error)) {
    std::string name = read_text(task.path() / "comm");
    if (!name.empty() && name.back() == '\n') name.pop_back();
    dump += fmt::format("thread {} ({})\n", task.path().filename().string(), name);
    const std::string status = read_text(task.path() / "status");
    const auto state = status.find("State:");
    if (state != std::string::npos) dump += "  " + status.substr(state, status.find('\n', state) - state) + "\n";
    const std::string wchan = read_text(task.path() / "wchan");
    if (!wchan.empty() && wchan != "0") dump += "  wchan: " + wchan + "\n";
    std::istringstream stack(read_text(task.path() / "stack"));
    for (std::string line; std::getline(stack, line);) dump += "  " + line + "\n";
  }
  return dump;
}

}  // namespace

void register_shimdiag_service(transport::ServiceRegistry& registry, controller::TaskController& tasks,
                               transport::LongCalls& long_calls) {
  transport::Service service("containerd.runhcs.v1.diag.ShimDiag");
  auto* controller = &tasks;
  auto* waiters = &long_calls;
  add_async<diag::ExecProcessRequest>(service, "DiagExecInHost",
                                      [waiters](const CallContext& context, const diag::ExecProcessRequest& request,
                                                transport::ResponderPtr responder) {
                                        waiters->run(context.stop, [request, responder](std::stop_token stop) {
                                          transport::complete_with_errors(*responder, [&] {
                                            diag::ExecProcessResponse response;
                                            response.set_exit_code(exec_in_host(request, stop));
                                            reply(responder, response);
                                          });
                                        });
                                      });
  service.add_blocking<diag::StacksRequest, diag::StacksResponse>("DiagStacks",
                                                                  [](const CallContext&, const diag::StacksRequest&) {
                                                                    diag::StacksResponse response;
                                                                    response.set_stacks(thread_dump());
                                                                    return response;
                                                                  });
  service.add_blocking<diag::TasksRequest, diag::TasksResponse>(
      "DiagTasks", [controller](const CallContext&, const diag::TasksRequest& request) {
        diag::TasksResponse response;
        for (const auto& summary : controller->summaries()) {
          diag::Task* task = response.add_tasks();
          task->set_id(summary.id);
          if (!request.execs()) continue;
          for (const auto& [exec_id, state] : summary.execs) {
            diag::Exec* exec = task->add_execs();
            exec->set_id(exec_id);
            exec->set_state(std::string(controller::to_string(state)));
          }
        }
        return response;
      });
  service.add_unary("DiagShare", [](const CallContext&, std::string_view, transport::ResponderPtr responder) {
    responder->fail(transport::RpcStatus::of(
        ErrorKind::Unimplemented, "DiagShare: a process-isolated sandbox has no utility VM to share a host path into"));
  });
  service.add_blocking<diag::PidRequest, diag::PidResponse>("DiagPid", [](const CallContext&, const diag::PidRequest&) {
    diag::PidResponse response;
    response.set_pid(static_cast<std::int32_t>(::getpid()));
    return response;
  });
  registry.add(std::move(service));
}

}  // namespace shimcore::service
