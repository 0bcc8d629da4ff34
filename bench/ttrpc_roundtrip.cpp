// Benchmark: unary ttrpc round trips against our server (trivial Task.Connect handler, in its own process) and,
// in the same run, against the Go peer (containerd-shim-runc-v2's Task.Connect, started by a private containerd 2.1).
// Reports p50/p99 latency, sequential and concurrent calls/s, the memory one idle connection costs each server, and
// our/Go ratios. Run on demand (scripts/bench); never part of the tests.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "containerd/task/v3/shim.pb.h"
#include "private_containerd.h"
#include "shimcore/transport/ttrpc_client.h"
#include "shimcore/transport/ttrpc_server.h"
#include "shimcore/transport/ttrpc_session.h"
#include "ttrpc/request.pb.h"

using namespace std::chrono_literals;
using namespace shimcore::transport;
namespace fs = std::filesystem;

namespace {

constexpr const char* kService = "containerd.task.v3.Task";

// --serve mode: our server with the trivial handler, until SIGTERM.
int serve(const std::string& socket) {
  auto registry = std::make_shared<ServiceRegistry>();
  Service task(kService);
  const auto pid = static_cast<std::uint32_t>(::getpid());
  task.add_blocking<containerd::task::v3::ConnectRequest, containerd::task::v3::ConnectResponse>(
      "Connect", [pid](const CallContext&, const containerd::task::v3::ConnectRequest&) {
        containerd::task::v3::ConnectResponse response;
        response.set_shim_pid(pid);
        response.set_task_pid(pid + 1);
        return response;
      });
  registry->add(std::move(task));
  TtrpcServer server(registry);
  server.listen("unix://" + socket);
  server.start();
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  int received = 0;
  sigwait(&signals, &received);
  server.shutdown(1s);
  return 0;
}

long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return -1;
}

struct Figures {
  double p50_us = 0;
  double p99_us = 0;
  double sequential_per_s = 0;
  double concurrent_per_s = 0;
  double idle_connection_kib = 0;
};

double percentile(std::vector<double> values, double fraction) {
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
  return values[index];
}

// One measurement round against one server.
Figures measure(const std::string& address, const std::string& id, pid_t server_pid, int calls, int threads,
                int idle_connections) {
  Figures figures;
  containerd::task::v3::ConnectRequest request;
  request.set_id(id);
  const std::string payload = request.SerializeAsString();
  const CallOptions options{10s, {{"containerd-namespace-ttrpc", "default"}}};
  TtrpcClient client(address);
  for (int i = 0; i < 2000; ++i) {
    if (!client.call(kService, "Connect", payload, options).status.ok()) throw std::runtime_error("warm-up failed");
  }
  std::vector<double> latencies;
  latencies.reserve(static_cast<std::size_t>(calls));
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) {
    const auto before = std::chrono::steady_clock::now();
    const CallResult result = client.call(kService, "Connect", payload, options);
    const auto after = std::chrono::steady_clock::now();
    if (!result.status.ok()) throw std::runtime_error("call failed: " + result.status.message);
    latencies.push_back(std::chrono::duration<double, std::micro>(after - before).count());
  }
  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  figures.p50_us = percentile(latencies, 0.50);
  figures.p99_us = percentile(latencies, 0.99);
  figures.sequential_per_s = calls / total_s;

  // Several threads sharing the one multiplexed connection.
  const auto concurrent_start = std::chrono::steady_clock::now();
  std::vector<std::future<void>> workers;
  for (int t = 0; t < threads; ++t) {
    workers.push_back(std::async(std::launch::async, [&] {
      for (int i = 0; i < calls / threads; ++i) client.call(kService, "Connect", payload, options);
    }));
  }
  for (auto& worker : workers) worker.get();
  figures.concurrent_per_s = (calls / threads * threads) /
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - concurrent_start).count();

  // Idle connections: each makes one call (so the server has set it up fully), then stays open and silent.
  const long before_kib = rss_kib(server_pid);
  std::vector<int> sockets;
  ::ttrpc::Request frame_request;
  frame_request.set_service(kService);
  frame_request.set_method("Connect");
  frame_request.set_payload(payload);
  const std::string frame = shimcore::transport::ttrpc::encode_frame(
      1, shimcore::transport::ttrpc::MessageType::Request, 0, frame_request.SerializeAsString());
  const std::string path = unix_socket_path(address);
  for (int i = 0; i < idle_connections; ++i) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    path.copy(sun.sun_path, sizeof(sun.sun_path) - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) != 0) throw std::runtime_error("connect");
    if (::write(fd, frame.data(), frame.size()) != static_cast<ssize_t>(frame.size())) throw std::runtime_error("w");
    char answer[256];
    if (::read(fd, answer, sizeof(answer)) <= 0) throw std::runtime_error("no answer");
    sockets.push_back(fd);
  }
  std::this_thread::sleep_for(500ms);
  const long after_kib = rss_kib(server_pid);
  figures.idle_connection_kib = static_cast<double>(after_kib - before_kib) / idle_connections;
  for (int fd : sockets) ::close(fd);
  return figures;
}

double median(std::vector<double> values) { return percentile(std::move(values), 0.5); }

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--serve") return serve(argv[2]);
  int calls = 20000;
  int rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--calls") calls = std::stoi(argv[i + 1]);
    if (std::string(argv[i]) == "--rounds") rounds = std::stoi(argv[i + 1]);
  }
  constexpr int kThreads = 4;
  constexpr int kIdleConnections = 200;

  // The peer: a runc task in a private containerd; its shim serves Task.Connect over Go ttrpc.
  shimcore::testing::PrivateContainerd containerd;
  const auto rootfs = containerd.make_busybox_rootfs("rootfs");
  const auto run = containerd.ctr(
      {"run", "-d", "--rootfs", "--runtime", "io.containerd.runc.v2", rootfs.string(), "bench", "/bin/sleep", "3600"});
  if (run.exit_status != 0) {
    fmt::print(stderr, "cannot start the runc task: {}{}\n", run.out, run.err);
    return 1;
  }
  const std::string go_address = containerd.task_shim_address("bench");
  containerd::task::v3::ConnectRequest connect;
  connect.set_id("bench");
  const auto go_pid =
      static_cast<pid_t>(TtrpcClient(go_address)
                             .call<containerd::task::v3::ConnectResponse>(
                                 kService, "Connect", connect, {5s, {{"containerd-namespace-ttrpc", "default"}}})
                             .shim_pid());

  // Ours, in its own process so that its memory is measured alone.
  const std::string our_socket = (containerd.dir() / "ours.sock").string();
  shimcore::testing::BackgroundProcess ours({fs::read_symlink("/proc/self/exe").string(), "--serve", our_socket}, {},
                                            (containerd.dir() / "ours.log").string());
  for (int i = 0; i < 200 && !fs::exists(our_socket); ++i) std::this_thread::sleep_for(10ms);

  std::vector<Figures> our_rounds, go_rounds;
  for (int round = 0; round < rounds; ++round) {  // interleaved, so drift hits both sides alike
    our_rounds.push_back(measure("unix://" + our_socket, "bench", ours.pid(), calls, kThreads, kIdleConnections));
    go_rounds.push_back(measure(go_address, "bench", go_pid, calls, kThreads, kIdleConnections));
  }
  const auto pick = [](const std::vector<Figures>& list, double Figures::*field) {
    std::vector<double> values;
    for (const Figures& figures : list) values.push_back(figures.*field);
    return median(values);
  };
  fmt::print("ttrpc unary round trip, Task.Connect, one connection, {} calls x {} rounds (median of rounds)\n", calls,
             rounds);
  fmt::print("  ours: shimcore TtrpcServer (1 I/O thread, 4 workers), pid {}\n", ours.pid());
  fmt::print("  peer: containerd-shim-runc-v2 (Go ttrpc, containerd 2.1), pid {}\n", go_pid);
  fmt::print("{:<34}{:>14}{:>14}{:>12}\n", "metric", "ours", "go", "ours/go");
  const auto row = [&](const char* name, double Figures::*field, const char* format) {
    const double our_value = pick(our_rounds, field);
    const double go_value = pick(go_rounds, field);
    fmt::print("{:<34}{:>14}{:>14}{:>12.2f}\n", name, fmt::format(fmt::runtime(format), our_value),
               fmt::format(fmt::runtime(format), go_value), our_value / go_value);
  };
  row("latency p50 (us)", &Figures::p50_us, "{:.1f}");
  row("latency p99 (us)", &Figures::p99_us, "{:.1f}");
  row("sequential calls/s", &Figures::sequential_per_s, "{:.0f}");
  row(fmt::format("concurrent calls/s ({} threads)", kThreads).c_str(), &Figures::concurrent_per_s, "{:.0f}");
  row("idle connection RSS (KiB)", &Figures::idle_connection_kib, "{:.1f}");
  fmt::print("server RSS now (KiB): ours {}, go {}\n", rss_kib(ours.pid()), rss_kib(go_pid));
  return 0;
}
