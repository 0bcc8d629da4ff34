// Request handlers of the guest agent. Containers are run with runc (create + start for the init, exec --detach for
// the others); every process's exit status comes from the one Reaper; stdio goes through Relays to the host's sockets.
#include "agent.h"

#include <dirent.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "log.h"

namespace shimcore::guest {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
namespace we = gcs::wire_error;

// hcsshim's CopyAfterExitTimeout: how long output relays may run on after the process exited.
constexpr auto kCopyAfterExit = std::chrono::seconds(1);
// runc connects to the console socket before `create`/`exec` returns; this only bounds a broken runc.
constexpr auto kConsoleTimeout = std::chrono::seconds(10);

// A process without PATH in its environment (`ctr run --rootfs` gives none) gets the conventional one, as Docker and
// containerd's image config do: runc resolves args[0] with the process's own PATH and would find nothing.
void add_default_path(json& process) {
  if (!process.is_object()) return;
  json& env = process["env"];
  if (!env.is_array()) env = json::array();
  for (const auto& entry : env) {
    if (entry.is_string() && entry.get<std::string>().rfind("PATH=", 0) == 0) return;
  }
  env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
}

bool is_null_id(const std::string& id) { return id.empty() || id == gcs::kNullContainerId; }

// Container ids become file names and runc ids.
void validate_id(const std::string& id) {
  const bool ok = !id.empty() && id.size() <= 128 && std::isalnum(static_cast<unsigned char>(id.front())) &&
                  std::all_of(id.begin(), id.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
                  });
  if (!ok) throw wire_failure(we::kInvalidArgument, "invalid container id \"{}\"", id);
}

// The CRI pod a container belongs to: containerd's CRI (and hcsshim's pod model) name it on every container of the pod,
// its sandbox task included.
std::string pod_of(const json& spec) {
  const json annotations = spec.value("annotations", json::object());
  if (!annotations.is_object()) return {};
  const json pod = annotations.value("io.kubernetes.cri.sandbox-id", json());
  if (!pod.is_string() || pod.get<std::string>().empty()) return {};
  const std::string id = pod.get<std::string>();
  try {
    validate_id(id);
  } catch (const WireError&) {
    throw wire_failure(we::kInvalidArgument, "invalid io.kubernetes.cri.sandbox-id \"{}\"", id);
  }
  return id;
}

// Lexical containment, component by component (so /run/gcs2 is not inside /run/gcs).
bool is_within(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // a trailing separator
    if (p == path.end() || *p != *r) return false;
  }
  return p != path.end();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// The messages of a runc --log-format json log: what runc and runc init reported, in order.
std::string runc_log_messages(const std::string& path) {
  std::ifstream in(path);
  std::string line, errors, all;
  while (std::getline(in, line)) {
    const json entry = json::parse(line, nullptr, false);
    if (!entry.is_object() || !entry.contains("msg") || !entry["msg"].is_string()) continue;
    const std::string message = entry["msg"].get<std::string>();
    std::string& sink = entry.value("level", "") == "error" || entry.value("level", "") == "fatal" ? errors : all;
    if (!sink.empty()) sink += "; ";
    sink += message;
  }
  return !errors.empty() ? errors : all;
}

std::string optional_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream out;
  out << in.rdbuf();
  return trim(out.str());
}

std::optional<std::uint64_t> read_number(const std::string& path) {
  const std::string text = optional_file(path);
  if (text.empty() || text == "max") return std::nullopt;
  try {
    return std::stoull(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<std::uint64_t> stat_field(const std::string& path, std::string_view key) {
  std::ifstream in(path);
  std::string name;
  std::uint64_t value = 0;
  while (in >> name >> value) {
    if (name == key) return value;
  }
  return std::nullopt;
}

}  // namespace

std::uint32_t hresult_of(const std::exception& error) {
  if (const auto* wire = dynamic_cast<const WireError*>(&error)) return wire->hresult();
  if (const auto* typed = dynamic_cast<const Error*>(&error)) {
    switch (typed->kind()) {
      case ErrorKind::InvalidArgument: return we::kInvalidArgument;
      case ErrorKind::NotFound: return we::kNotFound;
      case ErrorKind::AlreadyExists: return we::kAlreadyExists;
      case ErrorKind::FailedPrecondition: return we::kInvalidState;
      case ErrorKind::DeadlineExceeded: return we::kTimeout;
      case ErrorKind::Unimplemented: return we::kNotImplemented;
      default: return we::kFail;
    }
  }
  return we::kFail;
}

std::string_view to_string(ContainerState state) {
  switch (state) {
    case ContainerState::Created: return "Created";
    case ContainerState::Running: return "Running";
    case ContainerState::Stopped: return "Stopped";
    case ContainerState::Deleted: return "Deleted";
  }
  return "Unknown";
}

std::string_view to_string(ProcessState state) { return state == ProcessState::Running ? "Running" : "Exited"; }

// The host's stdio sockets of one process, dialled before it starts; null where the host asked for no stream.
struct Agent::Stdio {
  std::shared_ptr<Fd> in;
  std::shared_ptr<Fd> out;
  std::shared_ptr<Fd> err;
};

namespace {

// Pipes between a (not yet started) process and the host's sockets, with their relays already running.
struct PipedStdio {
  Fd child_in, child_out, child_err;
  std::unique_ptr<Relay> input;
  std::vector<std::unique_ptr<Relay>> outputs;
};

PipedStdio pipe_stdio(const std::shared_ptr<Fd>& in, const std::shared_ptr<Fd>& out, const std::shared_ptr<Fd>& err,
                      const std::string& name) {
  PipedStdio piped;
  if (in) {
    Pipe pipe = make_pipe();
    piped.child_in = std::move(pipe.read);
    piped.input = std::make_unique<Relay>(in, std::make_shared<Fd>(std::move(pipe.write)), name + " stdin");
  }
  auto output = [&](const std::shared_ptr<Fd>& socket, Fd& child_end, const char* stream) {
    if (!socket) return;
    Pipe pipe = make_pipe();
    child_end = std::move(pipe.write);
    piped.outputs.push_back(
        std::make_unique<Relay>(std::make_shared<Fd>(std::move(pipe.read)), socket, name + " " + stream));
  };
  output(out, piped.child_out, "stdout");
  output(err, piped.child_err, "stderr");
  return piped;
}

// Relays for a process on a pty: host stdin -> master, master -> host stdout. A pty has no separate stderr.
void attach_pty(GuestProcess& process, std::shared_ptr<Fd> master, const std::shared_ptr<Fd>& in,
                const std::shared_ptr<Fd>& out, const std::string& name) {
  process.pty_master = master;
  if (in) process.input = std::make_unique<Relay>(in, master, name + " stdin");
  if (out) process.outputs.push_back(std::make_unique<Relay>(master, out, name + " console"));
}

}  // namespace

Agent::Agent(AgentOptions options, Reaper& reaper, Transport& transport, std::unique_ptr<ShareMounter> shares)
    : options_(std::move(options)),
      reaper_(reaper),
      transport_(transport),
      shares_(std::move(shares)),
      pod_namespaces_(options_.root + "/podns") {
  fs::create_directories(options_.root + "/runc");
}

Agent::~Agent() {
  // Processes' waiters and relays are joined here, while the Reaper (owned by main) still runs.
  std::map<std::string, std::shared_ptr<Container>> containers;
  std::map<pid_t, std::shared_ptr<GuestProcess>> processes;
  {
    const std::lock_guard lock(mutex_);
    containers.swap(containers_);
    processes.swap(uvm_processes_);
    notifier_ = nullptr;
  }
}

void Agent::set_notifier(Notifier notifier) {
  const std::lock_guard lock(mutex_);
  notifier_ = std::move(notifier);
}

std::vector<std::string> Agent::runc_command(std::initializer_list<std::string> args) const {
  std::vector<std::string> argv{options_.runc, "--root", options_.root + "/runc"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::string Agent::cgroup_path(const std::string& container_id) const {
  std::string parent = options_.cgroup_parent;
  while (parent.size() > 1 && parent.back() == '/') parent.pop_back();
  return parent == "/" ? "/" + container_id : parent + "/" + container_id;
}

std::shared_ptr<Container> Agent::find_container(const std::string& container_id) {
  const auto it = containers_.find(container_id);
  if (it == containers_.end()) throw wire_failure(we::kSystemNotFound, "container {} not found", container_id);
  return it->second;
}

void Agent::move(Container& container, ContainerState to) {
  const ContainerState from = container.state;
  const bool allowed = (from == ContainerState::Created && to == ContainerState::Running) ||
                       (from == ContainerState::Running && to == ContainerState::Stopped) ||
                       (from == ContainerState::Created && to == ContainerState::Deleted) ||
                       (from == ContainerState::Stopped && to == ContainerState::Deleted);
  if (!allowed) {
    throw wire_failure(we::kInvalidState, "container {} is {}: cannot move to {}", container.id, to_string(from),
                       to_string(to));
  }
  log_info("container state", {{"cid", container.id}, {"from", to_string(from)}, {"to", to_string(to)}});
  container.state = to;
}

// --- dispatch ------------------------------------------------------------------------------------------------------

namespace {

template <class Response>
std::string encode_success(Response response, const std::string& activity_id) {
  response.base.activity_id = activity_id;
  return gcs::encode_body(response);
}

std::string encode_failure(std::uint32_t hresult, const std::string& message, const std::string& activity_id) {
  gcs::ResponseBase base = gcs::ResponseBase::failure(hresult, message);
  base.activity_id = activity_id;
  return gcs::encode_body(base);
}

struct Empty {
  gcs::ResponseBase base;
};
void to_json(json& out, const Empty& value) { gcs::to_json(out, value.base); }

}  // namespace

Reply Agent::handle(gcs::Rpc rpc, std::string_view body, std::stop_token stop) {
  // Decoding failures are the host's malformed JSON (0xC037010D); anything thrown later is the request's failure.
  auto run = [&]<class Request>(std::type_identity<Request>, auto&& handler) -> Reply {
    Request request;
    try {
      request = gcs::decode<Request>(body);
    } catch (const std::exception& e) {
      log_warn("malformed request",
               {{"rpc", gcs::describe_type(static_cast<std::uint32_t>(rpc))}, {"error", e.what()}});
      return Reply{encode_failure(we::kInvalidJson, e.what(), {})};
    }
    const gcs::RequestBase& base = [&]() -> const gcs::RequestBase& {
      if constexpr (std::is_same_v<Request, gcs::RequestBase>) {
        return request;
      } else {
        return request.base;
      }
    }();
    try {
      return handler(request, base.activity_id);
    } catch (const std::exception& e) {
      const std::uint32_t hresult = hresult_of(e);
      log_warn("request failed", {{"rpc", gcs::describe_type(static_cast<std::uint32_t>(rpc))},
                                  {"cid", base.container_id},
                                  {"result", fmt::format("{:#010x}", hresult)},
                                  {"error", e.what()}});
      return Reply{encode_failure(hresult, e.what(), base.activity_id)};
    }
  };
  using gcs::Rpc;
  switch (rpc) {
    case Rpc::Create:
      return run(std::type_identity<gcs::CreateRequest>{},
                 [&](const auto& r, const std::string& a) { return Reply{encode_success(create(r), a)}; });
    case Rpc::Start:
      // The Linux GCS starts a container on its first ExecuteProcess; Start only checks the container exists.
      return run(std::type_identity<gcs::RequestBase>{}, [&](const auto& r, const std::string& a) {
        if (!is_null_id(r.container_id)) {
          const std::lock_guard lock(mutex_);
          find_container(r.container_id);
        }
        return Reply{encode_success(Empty{}, a)};
      });
    case Rpc::ShutdownGraceful:
    case Rpc::ShutdownForced:
      return run(std::type_identity<gcs::RequestBase>{}, [&](const auto& r, const std::string& a) {
        if (shutdown(r, rpc == Rpc::ShutdownForced)) return Reply{std::nullopt, true};
        return Reply{encode_success(Empty{}, a)};
      });
    case Rpc::ExecuteProcess:
      return run(std::type_identity<gcs::ExecuteProcessRequest>{},
                 [&](const auto& r, const std::string& a) { return Reply{encode_success(execute(r), a)}; });
    case Rpc::WaitForProcess: {
      std::function<void()> answered;
      Reply reply = run(std::type_identity<gcs::WaitForProcessRequest>{}, [&](const auto& r, const std::string& a) {
        auto response = wait(r, stop, answered);
        if (!response) return Reply{};
        return Reply{encode_success(*response, a)};
      });
      reply.answered = std::move(answered);
      return reply;
    }
    case Rpc::SignalProcess:
      return run(std::type_identity<gcs::SignalProcessRequest>{}, [&](const auto& r, const std::string& a) {
        signal(r);
        return Reply{encode_success(Empty{}, a)};
      });
    case Rpc::ResizeConsole:
      return run(std::type_identity<gcs::ResizeConsoleRequest>{}, [&](const auto& r, const std::string& a) {
        resize(r);
        return Reply{encode_success(Empty{}, a)};
      });
    case Rpc::GetProperties:
      return run(std::type_identity<gcs::GetPropertiesRequest>{},
                 [&](const auto& r, const std::string& a) { return Reply{encode_success(properties(r), a)}; });
    case Rpc::ModifySettings:
      return run(std::type_identity<gcs::ModifySettingsRequest>{}, [&](const auto& r, const std::string& a) {
        modify(r);
        return Reply{encode_success(Empty{}, a)};
      });
    case Rpc::DumpStacks:
      return run(std::type_identity<gcs::RequestBase>{},
                 [&](const auto&, const std::string& a) { return Reply{encode_success(dump_stacks(), a)}; });
    case Rpc::DeleteContainerState:
      return run(std::type_identity<gcs::RequestBase>{}, [&](const auto& r, const std::string& a) {
        delete_state(r);
        return Reply{encode_success(Empty{}, a)};
      });
    default:
      return Reply{encode_failure(
          we::kNotImplemented,
          fmt::format("{} is not supported by the Linux guest", gcs::describe_type(static_cast<std::uint32_t>(rpc))),
          {})};
  }
}

// --- Create --------------------------------------------------------------------------------------------------------

gcs::CreateResponse Agent::create(const gcs::CreateRequest& request) {
  const std::string& id = request.base.container_id;
  const json& config = request.container_config;
  if (is_null_id(id)) {
    // hcsshim sends a null-id Create ({"SystemType":"Container",...}) only to WCOW guests: nothing to do here.
    log_info("ignoring Create for the utility VM", {{"config", config}});
    return {};
  }
  validate_id(id);
  const json version = config.value("SchemaVersion", json::object());
  const std::uint32_t major = version.is_object() ? version.value("Major", 0u) : 0u;
  const std::uint32_t minor = version.is_object() ? version.value("Minor", 0u) : 0u;
  if (major < 2 || (major == 2 && minor < 1)) {
    throw wire_failure(we::kInvalidJson, "unsupported container schema version {}.{}: the Linux guest needs 2.1", major,
                       minor);
  }
  if (!config.contains("OciBundlePath") || !config["OciBundlePath"].is_string()) {
    throw wire_failure(we::kInvalidJson, "ContainerConfig has no OciBundlePath");
  }
  if (!config.contains("OciSpecification") || !config["OciSpecification"].is_object()) {
    throw wire_failure(we::kInvalidJson, "ContainerConfig has no OciSpecification object");
  }
  const fs::path root = fs::path(options_.root).lexically_normal();
  const fs::path bundle = fs::path(config["OciBundlePath"].get<std::string>()).lexically_normal();
  if (!bundle.is_absolute() || !is_within(bundle, root)) {
    throw wire_failure(we::kInvalidArgument, "OciBundlePath {} is outside the guest's state root {}", bundle.string(),
                       root.string());
  }

  json spec = config["OciSpecification"];
  if (!spec.contains("process") || !spec["process"].is_object()) {
    throw wire_failure(we::kInvalidArgument, "the OCI specification has no process");
  }
  if (!spec.contains("root") || !spec["root"].is_object() || !spec["root"].value("path", json()).is_string()) {
    spec["root"] = {{"path", (bundle / "rootfs").string()}};
  }
  spec.erase("hooks");    // host paths: meaningless in the guest
  spec.erase("windows");  // runc knows no Windows section
  if (!spec.contains("linux") || !spec["linux"].is_object()) spec["linux"] = json::object();
  json& linux_section = spec["linux"];
  linux_section["cgroupsPath"] = cgroup_path(id);
  if (linux_section.contains("namespaces") && linux_section["namespaces"].is_array()) {
    for (json& ns : linux_section["namespaces"]) {
      if (!ns.is_object() || ns.value("type", "") != "network" || !ns.contains("path")) continue;
      const std::string path = ns["path"].is_string() ? ns["path"].get<std::string>() : std::string();
      if (!path.empty() && !fs::exists(path)) {
        log_warn("network namespace does not exist in the guest; the container gets a new one",
                 {{"cid", id}, {"path", path}});
        ns.erase("path");
      }
    }
  }
  spec["process"]["terminal"] = false;  // set by the init's ExecuteProcess (EmulateConsole)
  add_default_path(spec["process"]);
  // A CRI pod's containers (its sandbox task and workloads alike) share the pod's network, IPC and UTS namespaces, as
  // they share the pause container's in hcsshim's guest; a container of no pod keeps namespaces of its own.
  const std::string pod = pod_of(spec);

  const std::lock_guard lock(mutex_);
  if (containers_.contains(id)) throw wire_failure(we::kAlreadyExists, "container {} already exists", id);
  if (!pod.empty()) {
    const auto files = pod_namespaces_.join(pod);
    // Only the namespaces the spec asks for: one it leaves out (a host-network pod's) stays the VM's.
    json& namespaces = linux_section["namespaces"];
    if (!namespaces.is_array()) namespaces = json::array();
    for (json& ns : namespaces) {
      if (!ns.is_object() || !ns.contains("type") || !ns["type"].is_string()) continue;
      if (const auto file = files.find(ns["type"].get<std::string>()); file != files.end()) ns["path"] = file->second;
    }
  }
  struct PodLeave {  // the pod is left again unless the container is recorded
    PodNamespaces& namespaces;
    std::string pod;
    ~PodLeave() {
      if (!pod.empty()) namespaces.leave(pod);
    }
  } pod_leave{pod_namespaces_, pod};
  std::error_code ec;
  fs::create_directories(bundle, ec);
  if (ec) throw wire_failure(we::kFail, "create bundle {}: {}", bundle.string(), ec.message());
  // A symlink planted under the root must not lead the bundle elsewhere either.
  const fs::path real_bundle = fs::canonical(bundle, ec);
  if (ec || !is_within(real_bundle, fs::canonical(root))) {
    throw wire_failure(we::kInvalidArgument, "OciBundlePath {} resolves outside the guest's state root",
                       bundle.string());
  }
  write_file((bundle / "config.json").string(), spec.dump(2));
  auto container = std::make_shared<Container>();
  container->id = id;
  container->activity_id = request.base.activity_id;
  container->bundle = bundle.string();
  container->pod = pod;
  container->spec = std::move(spec);
  containers_[id] = container;
  pod_leave.pod.clear();
  log_info("container created", {{"cid", id}, {"bundle", container->bundle}});
  return {};
}

// --- ExecuteProcess ------------------------------------------------------------------------------------------------

Agent::Stdio Agent::dial_stdio(const gcs::StdioPorts& ports) {
  // In hcsshim's order: stdin, stdout, stderr; the host accepts exactly one connection per port.
  auto dial = [&](std::uint32_t port, const char* stream) -> std::shared_ptr<Fd> {
    if (port == 0) return nullptr;
    try {
      return std::make_shared<Fd>(transport_.dial(port));
    } catch (const std::exception& e) {
      throw wire_failure(we::kFail, "dial {} port {}: {}", stream, transport_.describe(port), e.what());
    }
  };
  Stdio stdio;
  stdio.in = dial(ports.stdin_port, "stdin");
  stdio.out = dial(ports.stdout_port, "stdout");
  stdio.err = dial(ports.stderr_port, "stderr");
  return stdio;
}

gcs::ExecuteProcessResponse Agent::execute(const gcs::ExecuteProcessRequest& request) {
  const gcs::ProcessParameters& parameters = request.parameters;
  const std::string& id = request.base.container_id;
  std::shared_ptr<GuestProcess> process;
  if (is_null_id(id) || parameters.create_in_utility_vm) {
    process = start_uvm_process(parameters, dial_stdio(request.stdio));
  } else {
    std::shared_ptr<Container> container;
    {
      const std::lock_guard lock(mutex_);
      container = find_container(id);
    }
    const std::lock_guard operation(container->operation);
    {
      const std::lock_guard lock(mutex_);
      const ContainerState wanted = parameters.oci_process ? ContainerState::Running : ContainerState::Created;
      if (container->state != wanted) {
        throw wire_failure(we::kInvalidState, "container {} is {}: cannot {}", id, to_string(container->state),
                           parameters.oci_process ? "exec a process in it" : "start its init process");
      }
    }
    Stdio stdio = dial_stdio(request.stdio);
    process = parameters.oci_process ? start_exec(*container, parameters, std::move(stdio))
                                     : start_init(*container, parameters, std::move(stdio));
  }
  gcs::ExecuteProcessResponse response;
  response.process_id = static_cast<std::uint32_t>(process->pid);
  return response;
}

void Agent::run_runc_starter(std::vector<std::string> argv, Container& container, bool terminal, Stdio stdio,
                             const std::string& what, GuestProcess& process) {
  std::uint64_t sequence = 0;
  {
    const std::lock_guard lock(mutex_);
    sequence = ++sequence_;
  }
  const std::string log_path = fmt::format("{}/runc-{}.log", container.bundle, sequence);
  const std::string pid_path = fmt::format("{}/{}-{}.pid", container.bundle, what, sequence);
  // runc's own --log goes first: runc is otherwise silent except on the process's stderr.
  argv.insert(argv.begin() + 3, {"--log", log_path, "--log-format", "json"});
  argv.insert(argv.end() - 1, {"--pid-file", pid_path});
  std::optional<UnixListener> console;
  if (terminal) {
    console.emplace(fmt::format("{}/console-{}.sock", options_.root, sequence));
    argv.insert(argv.end() - 1, {"--console-socket", console->path()});
  }
  // Without a terminal runc passes its own stdio to the process: the pipes towards the host's sockets.
  PipedStdio piped;
  if (!terminal) piped = pipe_stdio(stdio.in, stdio.out, stdio.err, container.id + " " + what);
  SpawnOptions options;
  options.argv = argv;
  options.stdin_fd = piped.child_in ? piped.child_in.get() : -1;
  options.stdout_fd = piped.child_out ? piped.child_out.get() : -1;
  options.stderr_fd = piped.child_err ? piped.child_err.get() : -1;
  pid_t runc_pid = 0;
  try {
    runc_pid = spawn(options);
  } catch (const std::exception& e) {
    throw wire_failure(we::kFail, "runc {} for container {}: {}", what, container.id, e.what());
  }
  piped.child_in.reset();
  piped.child_out.reset();
  piped.child_err.reset();
  const int status = reaper_.wait(runc_pid, std::stop_token{}).value_or(-1);
  const std::string messages = runc_log_messages(log_path);
  std::error_code ignored;
  fs::remove(log_path, ignored);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw wire_failure(we::kFail, "runc {} for container {} failed ({}): {}", what == "init" ? "create" : "exec",
                       container.id, describe_wait_status(status), messages.empty() ? "no message" : messages);
  }
  const std::string pid_text = optional_file(pid_path);
  fs::remove(pid_path, ignored);
  pid_t pid = 0;
  try {
    pid = static_cast<pid_t>(std::stoi(pid_text));
  } catch (const std::exception&) {
    throw wire_failure(we::kFail, "runc {} for container {} wrote no pid (\"{}\")", what, container.id, pid_text);
  }
  process.pid = pid;
  if (console) {
    std::optional<Fd> connection = console->accept(kConsoleTimeout);
    if (!connection) throw wire_failure(we::kFail, "runc did not send the console of container {}", container.id);
    attach_pty(process, std::make_shared<Fd>(receive_fd(connection->get(), kConsoleTimeout)), stdio.in, stdio.out,
               container.id + " " + what);
  } else {
    process.input = std::move(piped.input);
    process.outputs = std::move(piped.outputs);
  }
  // From here on only the relays hold the host's sockets (an unused stderr socket closes now: the host sees EOF).
}

void Agent::track(const std::shared_ptr<GuestProcess>& process, Container* container) {
  {
    const std::lock_guard lock(mutex_);
    if (container != nullptr) {
      container->processes[process->pid] = process;
    } else {
      uvm_processes_[process->pid] = process;
    }
  }
  GuestProcess* raw = process.get();  // the waiter is a member of *raw: it never outlives it
  process->waiter = std::jthread([this, raw](std::stop_token stop) { watch(*raw, stop); });
  log_info("process started", {{"cid", process->container_id}, {"pid", process->pid}, {"init", process->init}});
}

std::shared_ptr<GuestProcess> Agent::start_init(Container& container, const gcs::ProcessParameters& parameters,
                                                Stdio stdio) {
  const bool terminal = parameters.emulate_console;
  {
    const std::lock_guard lock(mutex_);
    container.spec["process"]["terminal"] = terminal;
    write_file(container.bundle + "/config.json", container.spec.dump(2));
  }
  auto process = std::make_shared<GuestProcess>();
  process->container_id = container.id;
  process->init = true;
  run_runc_starter(runc_command({"create", "--bundle", container.bundle, container.id}), container, terminal,
                   std::move(stdio), "init", *process);
  // The init waits on runc's exec fifo until `runc start`; its waiter is in place before it can exit.
  track(process, &container);
  const CommandResult started = run_command(reaper_, runc_command({"start", container.id}));
  if (!started.ok()) {
    const std::string message = trim(started.err.empty() ? started.out : started.err);
    run_command(reaper_, runc_command({"delete", "--force", container.id}));
    throw wire_failure(we::kFail, "runc start for container {} failed ({}): {}", container.id,
                       describe_wait_status(started.status), message);
  }
  std::optional<gcs::ContainerNotification> notification;
  Notifier notifier;
  {
    const std::lock_guard lock(mutex_);
    move(container, ContainerState::Running);
    if (container.init_exited) notification = stop_container(container);
    notifier = notifier_;
  }
  if (notification && notifier) {
    log_info("container exited", {{"cid", container.id}, {"type", notification->type}});
    notifier(*notification);
  }
  return process;
}

std::shared_ptr<GuestProcess> Agent::start_exec(Container& container, const gcs::ProcessParameters& parameters,
                                                Stdio stdio) {
  json oci_process = *parameters.oci_process;
  oci_process["terminal"] = parameters.emulate_console;
  add_default_path(oci_process);
  if (!oci_process.contains("cwd") || !oci_process["cwd"].is_string() ||
      oci_process["cwd"].get<std::string>().empty()) {
    oci_process["cwd"] = "/";
  }
  std::uint64_t sequence = 0;
  {
    const std::lock_guard lock(mutex_);
    sequence = ++sequence_;
  }
  const std::string process_file = fmt::format("{}/exec-{}.json", container.bundle, sequence);
  write_file(process_file, oci_process.dump());
  auto process = std::make_shared<GuestProcess>();
  process->container_id = container.id;
  try {
    run_runc_starter(runc_command({"exec", "--detach", "--process", process_file, container.id}), container,
                     parameters.emulate_console, std::move(stdio), "exec", *process);
  } catch (...) {
    std::error_code ignored;
    fs::remove(process_file, ignored);
    throw;
  }
  std::error_code ignored;
  fs::remove(process_file, ignored);
  track(process, &container);
  return process;
}

std::shared_ptr<GuestProcess> Agent::start_uvm_process(const gcs::ProcessParameters& parameters, Stdio stdio) {
  SpawnOptions options;
  if (!parameters.command_args.empty()) {
    options.argv = parameters.command_args;
  } else if (!parameters.command_line.empty()) {
    options.argv = {"/bin/sh", "-c", parameters.command_line};
  } else {
    throw wire_failure(we::kInvalidArgument, "a utility VM process needs CommandArgs or CommandLine");
  }
  std::vector<std::string> env;
  for (const auto& [key, value] : parameters.environment) env.push_back(key + "=" + value);
  if (parameters.environment.find("PATH") == parameters.environment.end()) {
    env.emplace_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  }
  options.env = std::move(env);
  options.working_directory = parameters.working_directory.empty() ? "/" : parameters.working_directory;
  auto process = std::make_shared<GuestProcess>();
  const std::string name = fmt::format("uvm {}", options.argv.front());
  Fd slave;
  PipedStdio piped;
  if (parameters.emulate_console) {
    int master_fd = -1;
    int slave_fd = -1;
    if (::openpty(&master_fd, &slave_fd, nullptr, nullptr, nullptr) != 0) throw errno_error("openpty");
    auto master = std::make_shared<Fd>(master_fd);
    slave = Fd(slave_fd);
    ::fcntl(master_fd, F_SETFD, FD_CLOEXEC);
    ::fcntl(slave_fd, F_SETFD, FD_CLOEXEC);
    options.stdin_fd = options.stdout_fd = options.stderr_fd = slave.get();
    options.new_session = true;
    options.controlling_terminal = true;
    attach_pty(*process, master, stdio.in, stdio.out, name);
  } else {
    piped = pipe_stdio(stdio.in, stdio.out, stdio.err, name);
    options.stdin_fd = piped.child_in ? piped.child_in.get() : -1;
    options.stdout_fd = piped.child_out ? piped.child_out.get() : -1;
    options.stderr_fd = piped.child_err ? piped.child_err.get() : -1;
  }
  stdio = {};
  try {
    process->pid = spawn(options);
  } catch (const std::exception& e) {
    throw wire_failure(we::kFail, "start {}: {}", options.argv.front(), e.what());
  }
  slave.reset();
  if (!parameters.emulate_console) {
    process->input = std::move(piped.input);
    process->outputs = std::move(piped.outputs);
  }
  track(process, nullptr);
  return process;
}

void Agent::watch(GuestProcess& process, std::stop_token stop) {
  const std::optional<int> status = reaper_.wait(process.pid, stop);
  if (!status) return;  // the agent is going away
  // Output that is still in flight gets kCopyAfterExit, then the relays are cut (a daemonised grandchild may keep
  // the pipe open forever).
  const auto deadline = std::chrono::steady_clock::now() + kCopyAfterExit;
  for (auto& relay : process.outputs) {
    if (!relay->wait_until(deadline)) {
      log_warn("output still open after exit; closing it", {{"pid", process.pid}});
      relay->stop();
    }
  }
  if (process.input) process.input->stop();
  {
    const std::lock_guard lock(process.mutex);
    process.state = ProcessState::Exited;
    process.exit_code = exit_code_of(*status);
    process.changed.notify_all();
  }
  log_info("process exited", {{"cid", process.container_id},
                              {"pid", process.pid},
                              {"status", describe_wait_status(*status)},
                              {"exitCode", exit_code_of(*status)}});
  if (!process.init) return;
  {
    // Bounded: a response stuck behind a dead host must not hold the notification back for long.
    std::unique_lock lock(process.mutex);
    process.changed.wait_for(lock, stop, kCopyAfterExit, [&] { return process.unanswered_waits == 0; });
  }
  on_init_exit(process.container_id);
}

gcs::ContainerNotification Agent::stop_container(Container& container) {
  move(container, ContainerState::Stopped);
  container.notified = true;
  gcs::ContainerNotification notification;
  notification.base.container_id = container.id;
  notification.base.activity_id = container.activity_id;
  notification.type = container.last_signal == SIGTERM   ? "GracefulExit"
                      : container.last_signal == SIGKILL ? "ForcedExit"
                                                         : "UnexpectedExit";
  notification.operation = "None";
  notification.result = 0;
  return notification;
}

void Agent::on_init_exit(const std::string& container_id) {
  gcs::ContainerNotification notification;
  Notifier notifier;
  {
    const std::lock_guard lock(mutex_);
    const auto it = containers_.find(container_id);
    if (it == containers_.end()) return;
    Container& container = *it->second;
    container.init_exited = true;
    // Still Created: `runc start` has not returned yet (a short init can exit first); start_init finishes this.
    if (container.state != ContainerState::Running || container.notified) return;
    notification = stop_container(container);
    notifier = notifier_;
  }
  log_info("container exited", {{"cid", container_id}, {"type", notification.type}});
  if (notifier) notifier(notification);
}

// --- Wait, Signal, Resize ------------------------------------------------------------------------------------------

std::shared_ptr<GuestProcess> Agent::find_process(const std::string& container_id, std::uint32_t pid) {
  const std::lock_guard lock(mutex_);
  const auto& processes = is_null_id(container_id) ? uvm_processes_ : find_container(container_id)->processes;
  const auto it = processes.find(static_cast<pid_t>(pid));
  if (it == processes.end()) {
    throw wire_failure(we::kNotFound, "process {} not found in {}", pid,
                       is_null_id(container_id) ? std::string("the utility VM") : "container " + container_id);
  }
  return it->second;
}

std::optional<gcs::WaitForProcessResponse> Agent::wait(const gcs::WaitForProcessRequest& request, std::stop_token stop,
                                                       std::function<void()>& answered) {
  const std::shared_ptr<GuestProcess> process = find_process(request.base.container_id, request.process_id);
  std::unique_lock lock(process->mutex);
  ++process->unanswered_waits;
  answered = [process] {
    const std::lock_guard answered_lock(process->mutex);
    --process->unanswered_waits;
    process->changed.notify_all();
  };
  auto exited = [&] { return process->state == ProcessState::Exited; };
  if (request.timeout_ms == gcs::kInfiniteTimeout) {
    if (!process->changed.wait(lock, stop, exited)) return std::nullopt;
  } else if (!process->changed.wait_for(lock, stop, std::chrono::milliseconds(request.timeout_ms), exited)) {
    if (stop.stop_requested()) return std::nullopt;
    throw wire_failure(we::kTimeout, "process {} did not exit within {} ms", request.process_id, request.timeout_ms);
  }
  gcs::WaitForProcessResponse response;
  response.exit_code = static_cast<std::uint32_t>(process->exit_code);
  return response;
}

void Agent::signal(const gcs::SignalProcessRequest& request) {
  const std::shared_ptr<GuestProcess> process = find_process(request.base.container_id, request.process_id);
  const int signal = request.signal.value_or(0) == 0 ? SIGKILL : *request.signal;
  if (signal < 1 || signal > SIGRTMAX) throw wire_failure(we::kInvalidArgument, "invalid signal {}", signal);
  const std::lock_guard process_lock(process->mutex);  // held so the pid cannot be reaped and reused meanwhile
  if (process->state == ProcessState::Exited) {
    throw wire_failure(we::kNotFound, "process {} has already exited", request.process_id);
  }
  if (process->init && (signal == SIGTERM || signal == SIGKILL)) {
    const std::lock_guard lock(mutex_);
    if (const auto it = containers_.find(process->container_id); it != containers_.end()) {
      it->second->last_signal = signal;
    }
  }
  // kill(2) on the pid in the agent's namespace: the same delivery `runc kill` makes (a container's init gets only
  // signals it handles, besides SIGKILL).
  if (::kill(process->pid, signal) != 0) {
    if (errno == ESRCH) throw wire_failure(we::kNotFound, "process {} has already exited", request.process_id);
    throw errno_error(fmt::format("kill {} {}", process->pid, signal));
  }
  log_info("signalled process", {{"cid", process->container_id}, {"pid", process->pid}, {"signal", signal}});
}

void Agent::resize(const gcs::ResizeConsoleRequest& request) {
  const std::shared_ptr<GuestProcess> process = find_process(request.base.container_id, request.process_id);
  const std::lock_guard process_lock(process->mutex);
  if (process->state == ProcessState::Exited) {
    throw wire_failure(we::kNotFound, "process {} has already exited", request.process_id);
  }
  if (!process->pty_master) {
    throw wire_failure(we::kInvalidArgument, "process {} has no console to resize", request.process_id);
  }
  winsize size{};
  size.ws_row = request.height;
  size.ws_col = request.width;
  if (::ioctl(process->pty_master->get(), TIOCSWINSZ, &size) != 0) throw errno_error("TIOCSWINSZ");
}

// --- Shutdown, Delete ----------------------------------------------------------------------------------------------

bool Agent::shutdown(const gcs::RequestBase& request, bool forced) {
  const int signal = forced ? SIGKILL : SIGTERM;
  if (is_null_id(request.container_id)) {
    // "This is a destructive call. We do not respond to the HCS": kill everything and let main power off.
    const std::lock_guard lock(mutex_);
    log_info("utility VM shutdown requested", {{"forced", forced}});
    for (auto& [id, container] : containers_) {
      for (auto& [pid, process] : container->processes) {
        if (process->init) ::kill(pid, SIGKILL);
      }
      container->last_signal = SIGKILL;
    }
    for (auto& [pid, process] : uvm_processes_) ::kill(pid, SIGKILL);
    return true;
  }
  std::shared_ptr<GuestProcess> init;
  {
    const std::lock_guard lock(mutex_);
    const std::shared_ptr<Container> container = find_container(request.container_id);
    if (container->state == ContainerState::Created) {
      throw wire_failure(we::kInvalidState, "container {} is Created: its init has not started", request.container_id);
    }
    if (container->state != ContainerState::Running) {
      throw wire_failure(we::kSystemNotFound, "container {} is {}: already stopped", request.container_id,
                         to_string(container->state));
    }
    for (auto& [pid, process] : container->processes) {
      if (process->init) init = process;
    }
  }
  if (!init) throw wire_failure(we::kSystemNotFound, "container {} has no init process", request.container_id);
  gcs::SignalProcessRequest signal_request;
  signal_request.base = request;
  signal_request.process_id = static_cast<std::uint32_t>(init->pid);
  signal_request.signal = signal;
  try {
    this->signal(signal_request);
  } catch (const WireError& e) {
    if (e.hresult() != we::kNotFound) throw;
    throw wire_failure(we::kSystemNotFound, "container {} has already stopped", request.container_id);
  }
  return false;
}

void Agent::delete_state(const gcs::RequestBase& request) {
  const std::string& id = request.container_id;
  std::shared_ptr<Container> container;
  {
    const std::lock_guard lock(mutex_);
    container = find_container(id);
  }
  const std::lock_guard operation(container->operation);
  {
    const std::lock_guard lock(mutex_);
    if (container->state != ContainerState::Created && container->state != ContainerState::Stopped) {
      throw wire_failure(we::kInvalidState, "container {} is {}: its init process must have exited", id,
                         to_string(container->state));
    }
  }
  const CommandResult deleted = run_command(reaper_, runc_command({"delete", "--force", id}));
  if (!deleted.ok() && deleted.err.find("does not exist") == std::string::npos &&
      deleted.err.find("not exist") == std::string::npos) {
    log_warn("runc delete failed", {{"cid", id}, {"stderr", trim(deleted.err)}});
  }
  std::set<std::string> layers;
  {
    const std::lock_guard lock(mutex_);
    if (const auto it = layer_mounts_.find(id); it != layer_mounts_.end()) layers = std::move(it->second);
    layer_mounts_.erase(id);
  }
  for (const auto& path : layers) unmount(path);
  if (!container->pod.empty()) {
    pod_namespaces_.leave(container->pod);
    container->pod.clear();  // a delete that fails below and is retried leaves the pod once
  }
  // Never recurse into a mount (a rootfs overlay the host did not remove would take its layers along).
  if (has_mounts_under(container->bundle)) {
    throw wire_failure(we::kInvalidState, "bundle {} of container {} still has mounts", container->bundle, id);
  }
  std::error_code ec;
  fs::remove_all(container->bundle, ec);
  if (ec) log_warn("could not remove bundle", {{"cid", id}, {"bundle", container->bundle}, {"error", ec.message()}});
  std::shared_ptr<Container> removed;  // destroyed (its processes' waiters joined) outside the lock
  {
    const std::lock_guard lock(mutex_);
    move(*container, ContainerState::Deleted);
    removed = std::move(containers_[id]);
    containers_.erase(id);
  }
}

// --- GetProperties, ModifySettings, DumpStacks ---------------------------------------------------------------------

gcs::GetPropertiesResponse Agent::properties(const gcs::GetPropertiesRequest& request) {
  const std::string& id = request.base.container_id;
  if (is_null_id(id)) {
    throw wire_failure(we::kNotImplemented, "GetProperties is not supported for the utility VM (null container id)");
  }
  {
    const std::lock_guard lock(mutex_);
    find_container(id);
  }
  const std::string cgroup = cgroup_path(id);
  const bool unified = fs::exists("/sys/fs/cgroup/cgroup.controllers");
  // cgroup v2: one hierarchy; v1: one per controller (runc creates the path in each).
  auto controller = [&](const char* v1_name) {
    return unified ? "/sys/fs/cgroup" + cgroup : std::string("/sys/fs/cgroup/") + v1_name + cgroup;
  };
  gcs::GetPropertiesResponse response;
  for (const auto& type : request.property_types) {
    if (type == "ProcessList") {
      json list = json::array();
      std::ifstream procs(controller("pids") + "/cgroup.procs");
      if (procs) {
        for (pid_t pid = 0; procs >> pid;) list.push_back({{"ProcessId", pid}});
      } else {
        // No cgroup (yet): ask runc, which reads the same file wherever its cgroup driver put it.
        const CommandResult ps = run_command(reaper_, runc_command({"ps", "--format", "json", id}));
        const json pids = json::parse(ps.out, nullptr, false);
        if (!ps.ok() || !pids.is_array()) {
          throw wire_failure(we::kFail, "list processes of container {}: {}", id, trim(ps.err));
        }
        for (const auto& pid : pids) list.push_back({{"ProcessId", pid}});
      }
      response.properties["ProcessList"] = std::move(list);
    } else if (type == "Statistics") {
      // LCOWMetrics follows the JSON of containerd's cgroups v1 Metrics (what hcsshim's guest returns), with the
      // fields this guest reads: {"cpu":{"usage":{"total":<ns>}}, "memory":{"usage":{"usage":<bytes>,
      // "limit":<bytes>}}, "pids":{"current":<n>,"limit":<n>}}; a value the kernel does not report is left out
      // ("max" limits included).
      json metrics = json::object();
      std::optional<std::uint64_t> cpu_ns;
      if (unified) {
        if (auto usec = stat_field(controller("cpu") + "/cpu.stat", "usage_usec")) cpu_ns = *usec * 1000;
      } else {
        cpu_ns = read_number(controller("cpuacct") + "/cpuacct.usage");
      }
      if (cpu_ns) metrics["cpu"]["usage"]["total"] = *cpu_ns;
      const auto memory = read_number(controller("memory") + (unified ? "/memory.current" : "/memory.usage_in_bytes"));
      const auto memory_limit =
          read_number(controller("memory") + (unified ? "/memory.max" : "/memory.limit_in_bytes"));
      if (memory) metrics["memory"]["usage"]["usage"] = *memory;
      if (memory_limit) metrics["memory"]["usage"]["limit"] = *memory_limit;
      if (auto pids = read_number(controller("pids") + "/pids.current")) metrics["pids"]["current"] = *pids;
      if (auto pids_max = read_number(controller("pids") + "/pids.max")) metrics["pids"]["limit"] = *pids_max;
      response.properties["LCOWMetrics"] = std::move(metrics);
    } else {
      throw wire_failure(we::kInvalidArgument, "unsupported property type \"{}\"", type);
    }
  }
  return response;
}

void Agent::modify(const gcs::ModifySettingsRequest& request) {
  const std::string& type = request.resource_type;
  const std::string& action = request.request_type;
  if (type == gcs::kResourceMappedDirectory) {
    if (!is_null_id(request.base.container_id)) {
      throw wire_failure(we::kInvalidArgument, "MappedDirectory is a utility VM resource (use the null container id)");
    }
    const auto share = request.settings.get<gcs::MappedDirectory>();
    if (share.mount_path.empty()) throw wire_failure(we::kInvalidArgument, "MappedDirectory without MountPath");
    if (action == "Add") {
      shares_->mount(share.share_name, share.mount_path, share.read_only);
      const std::lock_guard lock(mutex_);
      share_mounts_.insert(share.mount_path);
    } else if (action == "Remove") {
      unmount(share.mount_path);
      const std::lock_guard lock(mutex_);
      share_mounts_.erase(share.mount_path);
    } else {
      throw wire_failure(we::kInvalidArgument, "MappedDirectory does not support {}", action);
    }
    log_info("mapped directory", {{"action", action}, {"share", share.share_name}, {"path", share.mount_path}});
  } else if (type == gcs::kResourceCombinedLayers) {
    const auto layers = request.settings.get<gcs::CombinedLayers>();
    const std::string owner = !layers.container_id.empty() ? layers.container_id : request.base.container_id;
    if (layers.container_root_path.empty()) {
      throw wire_failure(we::kInvalidArgument, "CombinedLayers without ContainerRootPath");
    }
    if (action == "Add") {
      mount_layers(layers.layers, layers.scratch_path, layers.container_root_path);
      const std::lock_guard lock(mutex_);
      layer_mounts_[owner].insert(layers.container_root_path);
    } else if (action == "Remove") {
      unmount(layers.container_root_path);
      const std::lock_guard lock(mutex_);
      if (const auto it = layer_mounts_.find(owner); it != layer_mounts_.end()) {
        it->second.erase(layers.container_root_path);
      }
    } else {
      throw wire_failure(we::kInvalidArgument, "CombinedLayers does not support {}", action);
    }
    log_info("combined layers", {{"action", action}, {"cid", owner}, {"path", layers.container_root_path}});
  } else if (type == gcs::kResourceContainerConstraints) {
    update_constraints(request);
  } else if (type == gcs::kResourceNetwork) {
    // LCOW network namespace add/remove is bookkeeping in hcsshim's guest too: the pause container owns the netns.
    const auto adapter = request.settings.get<gcs::NetworkAdapter>();
    const std::string key = !adapter.id.empty() ? adapter.id : adapter.namespace_id;
    const std::lock_guard lock(mutex_);
    if (action == "Remove") {
      network_adapters_.erase(key);
    } else {
      network_adapters_[key] = request.settings;
    }
    log_info("network adapter", {{"action", action}, {"id", key}});
  } else {
    throw wire_failure(we::kInvalidArgument, "invalid ResourceType {}", type);
  }
}

// hcsshim's guest applies a container's new Linux resources with `runc update`; so does this one, from a file in the
// bundle (the resources as the host sent them).
void Agent::update_constraints(const gcs::ModifySettingsRequest& request) {
  const std::string& id = request.base.container_id;
  if (request.request_type != "Update") {
    throw wire_failure(we::kInvalidArgument, "ContainerConstraints does not support {}", request.request_type);
  }
  const json linux = request.settings.is_object() ? request.settings.value("Linux", json()) : json();
  if (!linux.is_object() || linux.empty()) {
    throw wire_failure(we::kInvalidArgument, "ContainerConstraints for {} without Linux resources", id);
  }
  std::shared_ptr<Container> container;
  std::uint64_t sequence = 0;
  {
    const std::lock_guard lock(mutex_);
    container = find_container(id);
    sequence = ++sequence_;
  }
  const std::lock_guard operation(container->operation);
  {
    const std::lock_guard lock(mutex_);
    if (container->state != ContainerState::Running) {
      throw wire_failure(we::kInvalidState, "container {} is {}: cannot update its resources", id,
                         to_string(container->state));
    }
  }
  const std::string file = fmt::format("{}/resources-{}.json", container->bundle, sequence);
  write_file(file, linux.dump());
  const CommandResult updated = run_command(reaper_, runc_command({"update", "--resources", file, id}));
  if (!updated.ok()) {
    throw wire_failure(we::kFail, "runc update of container {} failed ({}): {}", id,
                       describe_wait_status(updated.status), trim(updated.err.empty() ? updated.out : updated.err));
  }
  log_info("container constraints updated", {{"cid", id}, {"resources", linux}});
}

gcs::DumpStacksResponse Agent::dump_stacks() {
  std::string out = fmt::format("shimcore-gcs pid {}\n", ::getpid());
  std::vector<std::string> tids;
  if (DIR* dir = ::opendir("/proc/self/task")) {
    while (const dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] != '.') tids.emplace_back(entry->d_name);
    }
    ::closedir(dir);
  }
  std::sort(tids.begin(), tids.end(), [](const auto& a, const auto& b) { return std::stoi(a) < std::stoi(b); });
  for (const auto& tid : tids) {
    const std::string base = "/proc/self/task/" + tid;
    const std::string stat = optional_file(base + "/stat");
    // The state letter follows the parenthesised comm, which may itself contain ')'.
    const auto close = stat.rfind(')');
    const std::string state = close != std::string::npos && close + 2 < stat.size() ? stat.substr(close + 2, 1) : "?";
    out += fmt::format("\nthread {} ({}) state {} wchan {}\n", tid, optional_file(base + "/comm"), state,
                       optional_file(base + "/wchan"));
    const std::string stack = optional_file(base + "/stack");
    out += stack.empty() ? "  (kernel stack not readable)\n" : stack + "\n";
  }
  out += "\ncontainers:\n";
  const std::lock_guard lock(mutex_);
  auto describe = [&](GuestProcess& process) {
    const std::lock_guard process_lock(process.mutex);
    return fmt::format("    pid {}{} {}{}\n", process.pid, process.init ? " (init)" : "", to_string(process.state),
                       process.state == ProcessState::Exited ? fmt::format(" exit code {}", process.exit_code) : "");
  };
  for (const auto& [id, container] : containers_) {
    out += fmt::format("  {} {} bundle {}\n", id, to_string(container->state), container->bundle);
    for (const auto& [pid, process] : container->processes) out += describe(*process);
  }
  out += "utility VM processes:\n";
  for (const auto& [pid, process] : uvm_processes_) out += describe(*process);
  gcs::DumpStacksResponse response;
  response.guest_stacks = std::move(out);
  return response;
}

}  // namespace shimcore::guest
