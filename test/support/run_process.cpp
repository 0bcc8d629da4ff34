// Runs a child process with three pipes and collects its output with poll(), so neither pipe can fill and block it.
#include "run_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <stdexcept>
#include <string_view>
#include <system_error>

extern char** environ;

namespace shimcore::testing {
namespace {

// A pipe whose two ends close themselves.
struct Pipe {
  int read_end = -1;
  int write_end = -1;
  Pipe() {
    std::array<int, 2> fds{};
    if (::pipe2(fds.data(), O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    read_end = fds[0];
    write_end = fds[1];
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() {
    close_read();
    close_write();
  }
  void close_read() {
    if (read_end >= 0) ::close(read_end);
    read_end = -1;
  }
  void close_write() {
    if (write_end >= 0) ::close(write_end);
    write_end = -1;
  }
};

// posix_spawn file actions with RAII destruction.
struct FileActions {
  posix_spawn_file_actions_t actions{};
  FileActions() { posix_spawn_file_actions_init(&actions); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  ~FileActions() { posix_spawn_file_actions_destroy(&actions); }
};

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& stdin_bytes,
                          const std::string& working_directory) {
  if (argv.empty()) throw std::invalid_argument("run_process: empty argv");
  // A child that exits before reading all of its stdin must not kill the test with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  Pipe in;
  Pipe out;
  Pipe err;
  FileActions file_actions;
  posix_spawn_file_actions_adddup2(&file_actions.actions, in.read_end, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&file_actions.actions, out.write_end, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&file_actions.actions, err.write_end, STDERR_FILENO);
  if (!working_directory.empty()) {
    posix_spawn_file_actions_addchdir_np(&file_actions.actions, working_directory.c_str());
  }
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);

  pid_t pid = -1;
  const int spawn_error = ::posix_spawnp(&pid, args[0], &file_actions.actions, nullptr, args.data(), environ);
  if (spawn_error != 0) throw std::system_error(spawn_error, std::generic_category(), "posix_spawnp " + argv[0]);
  in.close_read();
  out.close_write();
  err.close_write();

  ProcessResult result;
  std::string_view pending_input = stdin_bytes;
  if (pending_input.empty()) in.close_write();
  ::fcntl(in.write_end, F_SETFL, O_NONBLOCK);
  while (out.read_end >= 0 || err.read_end >= 0) {
    std::array<pollfd, 3> fds{{{out.read_end, POLLIN, 0}, {err.read_end, POLLIN, 0}, {in.write_end, POLLOUT, 0}}};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "poll");
    }
    if (in.write_end >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const ssize_t written = ::write(in.write_end, pending_input.data(), pending_input.size());
      if (written > 0) pending_input.remove_prefix(static_cast<std::size_t>(written));
      if (written < 0 && errno != EAGAIN) pending_input = {};
      if (pending_input.empty()) in.close_write();
    }
    const auto drain = [](Pipe& pipe, short revents, std::string& sink) {
      if (pipe.read_end < 0 || (revents & (POLLIN | POLLHUP | POLLERR)) == 0) return;
      std::array<char, 4096> buffer{};
      const ssize_t n = ::read(pipe.read_end, buffer.data(), buffer.size());
      if (n > 0) {
        sink.append(buffer.data(), static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        pipe.close_read();
      }
    };
    drain(out, fds[0].revents, result.out);
    drain(err, fds[1].revents, result.err);
  }
  in.close_write();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "waitpid");
  }
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace shimcore::testing
