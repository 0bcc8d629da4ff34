// The stdio relay against real FIFOs (the test plays containerd and opens the other ends), real pipes standing in for
// an HCS process, and the HCS emulator's real processes: exact bytes, stdin and EOF, CloseIO, terminal mode, absent or
// vanishing readers, file:// and binary:// targets, errors, and no descriptor or thread leaks.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "shimcore/errdefs.h"
#include "shimcore/hcs/emulator.h"
#include "shimcore/io/stdio_relay.h"
#include "test_util.h"

using namespace std::chrono_literals;
using nlohmann::json;
using shimcore::Error;
using shimcore::ErrorKind;
using shimcore::hcs::OsHandle;
using shimcore::hcs::ProcessStdio;
using shimcore::io::StdioConfig;
using shimcore::io::StdioRelay;
using shimcore::testing::eventually;
using shimcore::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// The three FIFOs containerd creates for a task (cio.NewFIFOSetInDir).
struct Fifos {
  TempDir dir{"shimcore-io-"};
  std::string in = (dir.path / "t-stdin").string();
  std::string out = (dir.path / "t-stdout").string();
  std::string err = (dir.path / "t-stderr").string();
  Fifos() {
    for (const std::string& path : {in, out, err}) REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  }
};

// containerd's reader of an output FIFO: O_RDONLY|O_NONBLOCK, opened before the task is created.
OsHandle open_reader(const std::string& path) {
  OsHandle reader(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  REQUIRE(reader);
  return reader;
}

// containerd's stdin writer: it opens it only once the shim holds a reader, so a blocking open returns at once.
OsHandle open_writer(const std::string& path) {
  OsHandle writer(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  REQUIRE(writer);
  return writer;
}

void set_blocking(int fd) { REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) == 0); }

// Blocking writes of everything; false if the reader went away (EPIPE: SIGPIPE is ignored once a relay was opened).
bool write_all(const OsHandle& handle, std::string_view data) {
  while (!data.empty()) {
    const ssize_t wrote = ::write(handle.get(), data.data(), data.size());
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(wrote));
  }
  return true;
}

std::uint64_t fnv1a(std::string_view data, std::uint64_t hash = 14695981039346656037ull) {
  for (const char c : data) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return hash;
}

std::string random_bytes(std::size_t size, std::uint32_t seed) {
  std::mt19937 random(seed);
  std::string data(size, '\0');
  for (char& c : data) c = static_cast<char>(random() & 0xff);
  return data;
}

// containerd's copy loop for one output FIFO: reads to EOF on its own thread. Start it only after the relay opened
// the FIFO: a blocking read with no writer at all reads EOF.
class Collector {
 public:
  explicit Collector(OsHandle reader) : reader_(std::move(reader)) {
    set_blocking(reader_.get());
    thread_ = std::thread([this] {
      std::vector<char> buffer(64 * 1024);
      for (;;) {
        const ssize_t got = ::read(reader_.get(), buffer.data(), buffer.size());
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        data_.append(buffer.data(), static_cast<std::size_t>(got));
      }
      finished_at_ = std::chrono::steady_clock::now();
    });
  }
  ~Collector() {
    if (thread_.joinable()) thread_.join();
  }
  // Everything up to EOF.
  const std::string& wait() {
    if (thread_.joinable()) thread_.join();
    return data_;
  }
  std::chrono::steady_clock::time_point finished_at() {
    wait();
    return finished_at_;
  }

 private:
  OsHandle reader_;
  std::string data_;
  std::chrono::steady_clock::time_point finished_at_;
  std::thread thread_;
};

// A process's stdio as HCS hands it over, on plain pipes; the test holds the process's ends.
struct FakeProcess {
  ProcessStdio stdio;
  OsHandle stdin_read, stdout_write, stderr_write;
};

FakeProcess fake_process(bool in = true, bool out = true, bool err = true) {
  FakeProcess process;
  const auto make = [](OsHandle& read_end, OsHandle& write_end) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    read_end = OsHandle(fds[0]);
    write_end = OsHandle(fds[1]);
  };
  if (in) make(process.stdin_read, process.stdio.std_in);
  if (out) make(process.stdio.std_out, process.stdout_write);
  if (err) make(process.stdio.std_err, process.stderr_write);
  return process;
}

StdioConfig config(std::string in, std::string out, std::string err, bool terminal = false) {
  StdioConfig result;
  result.stdin_path = std::move(in);
  result.stdout_path = std::move(out);
  result.stderr_path = std::move(err);
  result.terminal = terminal;
  result.container_id = "ctr-1";
  result.ns = "testns";
  return result;
}

ErrorKind open_error(const StdioConfig& config, std::string* message = nullptr) {
  try {
    StdioRelay::open(config);
  } catch (const Error& error) {
    if (message != nullptr) *message = error.what();
    return error.kind();
  }
  return ErrorKind::Unknown;  // no error at all
}

std::size_t open_descriptors() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

std::size_t threads() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/task")) ++count;
  return count;
}

// The thread count once it has stopped falling: threads already joined may linger in /proc briefly.
std::size_t settled_threads() {
  std::size_t count = threads();
  for (int stable = 0; stable < 5;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::size_t now = threads();
    stable = now == count ? stable + 1 : 0;
    count = now;
  }
  return count;
}

// How many of this process's descriptors refer to `path`.
std::size_t descriptors_on(const std::string& path) {
  std::size_t count = 0;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    if (fs::read_symlink(entry.path(), error).string() == path) ++count;
  }
  return count;
}

// True once `fd` reports EOF (or POLLHUP) within `bound`.
bool reads_eof(const OsHandle& handle, std::chrono::milliseconds bound) {
  pollfd entry{handle.get(), POLLIN, 0};
  if (::poll(&entry, 1, static_cast<int>(bound.count())) <= 0) return false;
  char byte;
  return ::read(handle.get(), &byte, 1) == 0;
}

std::string read_file(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

void write_script(const fs::path& path, const std::string& text) {
  {
    std::ofstream file(path);
    file << text;
  }
  fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
}

// The HCS emulator with one running container; its processes are real.
struct Emulator {
  TempDir dir{"shimcore-io-hcs-"};
  std::unique_ptr<shimcore::hcs::EmulatorClient> client;
  std::unique_ptr<shimcore::hcs::ComputeSystem> system;
  Emulator() {
    shimcore::hcs::EmulatorOptions options;
    options.runtime_dir = dir.path / "records";
    client = shimcore::hcs::make_emulator_client(options);
    system = client->create_system("io-test",
                                   {{"SchemaVersion", {{"Major", 2}, {"Minor", 1}}}, {"Container", json::object()}});
    system->start();
  }
  ~Emulator() {
    try {
      system->terminate();
    } catch (const std::exception&) {  // already stopped
    }
  }
  std::unique_ptr<shimcore::hcs::Process> shell(const std::string& script) {
    return system->create_process({{"CommandArgs", {"/bin/sh", "-c", script}},
                                   {"CreateStdInPipe", true},
                                   {"CreateStdOutPipe", true},
                                   {"CreateStdErrPipe", true}});
  }
};

}  // namespace

TEST_CASE("stdout and stderr reach containerd byte for byte", "[io]") {
  Fifos fifos;
  OsHandle out_reader = open_reader(fifos.out);
  OsHandle err_reader = open_reader(fifos.err);
  auto relay = StdioRelay::open(config("", fifos.out, fifos.err));
  Collector out(std::move(out_reader));
  Collector err(std::move(err_reader));
  FakeProcess process = fake_process(false, true, true);
  relay->attach(std::move(process.stdio));

  const std::string out_bytes = std::string("out\0\xff\n\r binary", 15) + random_bytes(200'000, 1);
  const std::string err_bytes = std::string("\0err\n", 5) + random_bytes(70'000, 2);
  std::thread err_writer([&] { CHECK(write_all(process.stderr_write, err_bytes)); });
  CHECK(write_all(process.stdout_write, out_bytes));
  err_writer.join();
  process.stdout_write.reset();  // the process exits
  process.stderr_write.reset();
  CHECK(relay->drain(30s));
  CHECK(out.wait() == out_bytes);
  CHECK(err.wait() == err_bytes);
}

TEST_CASE("10 MiB of binary data through stdout arrive intact", "[io]") {
  constexpr std::size_t kSize = 10 * 1024 * 1024;
  const std::string data = random_bytes(kSize, 42);
  Fifos fifos;
  OsHandle reader = open_reader(fifos.out);
  auto relay = StdioRelay::open(config("", fifos.out, ""));
  Collector out(std::move(reader));
  FakeProcess process = fake_process(false, true, false);
  const auto started = std::chrono::steady_clock::now();
  relay->attach(std::move(process.stdio));
  std::thread writer([&] {
    // Uneven chunks, as a real process writes.
    std::mt19937 random(7);
    std::size_t offset = 0;
    while (offset < data.size()) {
      const std::size_t size = std::min<std::size_t>(data.size() - offset, 1 + random() % 100'000);
      CHECK(write_all(process.stdout_write, std::string_view(data).substr(offset, size)));
      offset += size;
    }
    process.stdout_write.reset();
  });
  writer.join();
  CHECK(relay->drain(60s));
  const std::string& received = out.wait();
  const double seconds = std::chrono::duration<double>(out.finished_at() - started).count();
  CHECK(received.size() == kSize);
  CHECK(fnv1a(received) == fnv1a(data));
  // Informational only, never asserted.
  std::fprintf(stderr, "stdio relay: 10 MiB pipe -> FIFO in %.3f s (%.0f MiB/s)\n", seconds, 10.0 / seconds);
}

TEST_CASE("stdin is forwarded and its EOF reaches the process", "[io][emulator]") {
  Emulator emulator;
  Fifos fifos;
  OsHandle out_reader = open_reader(fifos.out);
  auto relay = StdioRelay::open(config(fifos.in, fifos.out, fifos.err));
  OsHandle stdin_writer = open_writer(fifos.in);
  Collector out(std::move(out_reader));
  auto process = emulator.shell("cat");
  relay->attach(process->take_stdio());

  // More than every buffer on the way, so that both directions see back-pressure.
  const std::string input = "hello\n" + random_bytes(1024 * 1024, 3);
  std::thread writer([&] {
    CHECK(write_all(stdin_writer, input));
    stdin_writer.reset();  // containerd's stdin ends: cat reads EOF and exits
  });
  const auto exit = process->wait(60s);
  writer.join();
  REQUIRE(exit);
  CHECK(exit->exit_code == 0);
  CHECK(relay->drain(30s));
  const std::string& output = out.wait();
  CHECK(output.size() == input.size());
  CHECK(fnv1a(output) == fnv1a(input));
}

TEST_CASE("close_stdin delivers what containerd wrote, then EOF", "[io][emulator]") {
  Emulator emulator;
  Fifos fifos;
  OsHandle out_reader = open_reader(fifos.out);
  auto relay = StdioRelay::open(config(fifos.in, fifos.out, ""));
  OsHandle stdin_writer = open_writer(fifos.in);  // stays open: only CloseIO ends stdin
  Collector out(std::move(out_reader));
  auto process = emulator.shell("cat; echo done");
  const bool before_attach = GENERATE(false, true);
  if (before_attach) {
    REQUIRE(write_all(stdin_writer, "abc"));
    relay->close_stdin();
    relay->attach(process->take_stdio());
  } else {
    relay->attach(process->take_stdio());
    REQUIRE(write_all(stdin_writer, "abc"));
    relay->close_stdin();
  }
  const auto exit = process->wait(30s);
  REQUIRE(exit);
  CHECK(exit->exit_code == 0);
  CHECK(relay->drain(30s));
  CHECK(out.wait() == "abcdone\n");
}

TEST_CASE("the process's stdin stays open until containerd's writer closes", "[io]") {
  Fifos fifos;
  auto relay = StdioRelay::open(config(fifos.in, "", ""));
  FakeProcess process = fake_process(true, false, false);
  relay->attach(std::move(process.stdio));
  // containerd has not opened its writer yet: a FIFO without a writer reads as EOF, which must not be forwarded.
  CHECK_FALSE(reads_eof(process.stdin_read, 200ms));
  OsHandle stdin_writer = open_writer(fifos.in);
  REQUIRE(write_all(stdin_writer, "x"));
  char byte = 0;
  CHECK(::read(process.stdin_read.get(), &byte, 1) == 1);
  CHECK(byte == 'x');
  stdin_writer.reset();
  CHECK(reads_eof(process.stdin_read, 10s));
  CHECK(relay->drain(10s));
}

TEST_CASE("terminal mode has a single stream and never opens stderr", "[io][emulator]") {
  Emulator emulator;
  Fifos fifos;
  OsHandle out_reader = open_reader(fifos.out);
  auto relay = StdioRelay::open(config("", fifos.out, fifos.err, true));
  CHECK(descriptors_on(fifos.err) == 0);
  Collector out(std::move(out_reader));
  auto process = emulator.system->create_process(
      {{"CommandArgs", {"/bin/sh", "-c", "printf out; printf err >&2"}}, {"EmulateConsole", true}});
  ProcessStdio stdio = process->take_stdio();
  CHECK_FALSE(stdio.std_err);
  relay->attach(std::move(stdio));
  const auto exit = process->wait(30s);
  REQUIRE(exit);
  CHECK(exit->exit_code == 0);
  CHECK(relay->drain(30s));  // the pty reads EIO, not EOF, once the process is gone
  CHECK(out.wait() == "outerr");
  CHECK(descriptors_on(fifos.err) == 0);
}

TEST_CASE("containerd never opening or never reading its end does not hang", "[io]") {
  Fifos fifos;
  const std::string data = random_bytes(4 * 1024 * 1024, 4);
  SECTION("never opened: output is discarded and the process is never blocked") {
    auto relay = StdioRelay::open(config("", fifos.out, fifos.err));  // no reader: open does not block
    FakeProcess process = fake_process(false, true, true);
    relay->attach(std::move(process.stdio));
    std::thread err_writer([&] { CHECK(write_all(process.stderr_write, data)); });
    CHECK(write_all(process.stdout_write, data));
    err_writer.join();
    process.stdout_write.reset();
    process.stderr_write.reset();
    CHECK(relay->drain(30s));
  }
  SECTION("opened but never read: drain gives up at its bound and unblocks the process") {
    OsHandle reader = open_reader(fifos.out);
    auto relay = StdioRelay::open(config("", fifos.out, ""));
    FakeProcess process = fake_process(false, true, false);
    relay->attach(std::move(process.stdio));
    // 4 MiB cannot fit into the FIFO, the relay's buffer and the pipe together (the relay grows a spliced pipe and
    // FIFO to 1 MiB each).
    bool wrote_everything = true;
    std::thread writer([&] { wrote_everything = write_all(process.stdout_write, data); });
    CHECK_FALSE(relay->drain(300ms));
    writer.join();  // drain closed the pipe: the writer got EPIPE instead of blocking forever
    CHECK_FALSE(wrote_everything);
  }
}

TEST_CASE("containerd closing its reader early neither kills the shim nor blocks the process", "[io]") {
  Fifos fifos;
  OsHandle reader = open_reader(fifos.out);
  auto relay = StdioRelay::open(config("", fifos.out, ""));
  struct sigaction current {};
  REQUIRE(::sigaction(SIGPIPE, nullptr, &current) == 0);
  CHECK(current.sa_handler == SIG_IGN);

  FakeProcess process = fake_process(false, true, false);
  relay->attach(std::move(process.stdio));
  REQUIRE(write_all(process.stdout_write, "hello"));
  set_blocking(reader.get());
  char first[5];
  std::size_t got = 0;
  while (got < sizeof(first)) {
    const ssize_t n = ::read(reader.get(), first + got, sizeof(first) - got);
    REQUIRE(n > 0);
    got += static_cast<std::size_t>(n);
  }
  CHECK(std::string(first, 5) == "hello");
  reader.reset();  // containerd goes away

  CHECK(write_all(process.stdout_write, random_bytes(4 * 1024 * 1024, 5)));  // would block if not drained
  process.stdout_write.reset();
  CHECK(relay->drain(30s));
}

TEST_CASE("empty paths: stdin reads EOF and output is drained and discarded", "[io]") {
  auto relay = StdioRelay::open(config("", "", ""));
  FakeProcess process = fake_process();
  relay->attach(std::move(process.stdio));
  CHECK(reads_eof(process.stdin_read, 10s));
  CHECK(write_all(process.stdout_write, random_bytes(300'000, 6)));  // more than a pipe holds
  CHECK(write_all(process.stderr_write, random_bytes(300'000, 7)));
  process.stdout_write.reset();
  process.stderr_write.reset();
  CHECK(relay->drain(30s));
}

TEST_CASE("bad URIs are InvalidArgument and name the value", "[io]") {
  struct Case {
    std::string in, out, err, named;
  };
  const Case bad = GENERATE(
      Case{"", "http://example.com/log", "", "http://example.com/log"}, Case{"", "", "relative/fifo", "relative/fifo"},
      Case{"", "fifo:///run/x", "", "fifo:///run/x"},
      Case{"", "binary://host/bin/logger", "", "binary://host/bin/logger"}, Case{"", "file://", "", "file://"},
      Case{"", "binary:///bin/logger?a=%zz", "", "binary:///bin/logger?a=%zz"},
      Case{"", "file:///tmp/a%2", "", "file:///tmp/a%2"}, Case{"file:///tmp/in", "", "", "file:///tmp/in"},
      Case{"binary:///bin/cat", "", "", "binary:///bin/cat"},
      Case{"", "binary:///bin/a", "binary:///bin/b", "binary:///bin/b"}, Case{"", "/", "", "\"/\": is a directory"});
  std::string message;
  CHECK(open_error(config(bad.in, bad.out, bad.err), &message) == ErrorKind::InvalidArgument);
  CHECK_THAT(message, Catch::Matchers::ContainsSubstring(bad.named));
}

TEST_CASE("a missing FIFO or logging binary is NotFound and named", "[io]") {
  Fifos fifos;
  const std::string missing = (fifos.dir.path / "no-such-fifo").string();
  const std::string missing_binary = "binary://" + (fifos.dir.path / "no-such-logger").string();
  std::string message;
  SECTION("stdin") { CHECK(open_error(config(missing, fifos.out, fifos.err), &message) == ErrorKind::NotFound); }
  SECTION("stdout") { CHECK(open_error(config(fifos.in, missing, fifos.err), &message) == ErrorKind::NotFound); }
  SECTION("stderr") { CHECK(open_error(config(fifos.in, fifos.out, missing), &message) == ErrorKind::NotFound); }
  SECTION("logging binary") {
    CHECK(open_error(config("", missing_binary, missing_binary), &message) == ErrorKind::NotFound);
  }
  CHECK_THAT(message, Catch::Matchers::ContainsSubstring(fifos.dir.path.string() + "/no-such-"));
}

TEST_CASE("file:// output is appended to the file, parent folders created", "[io]") {
  TempDir dir{"shimcore-io-"};
  const fs::path log = dir.path / "my logs" / "task.log";
  const std::string uri = "file://" + (dir.path / "my%20logs" / "task.log").string();
  for (const std::string& line : {std::string("first\n"), std::string("second\n")}) {
    auto relay = StdioRelay::open(config("", uri, uri));
    FakeProcess process = fake_process(false, true, true);
    relay->attach(std::move(process.stdio));
    CHECK(write_all(process.stdout_write, line));
    process.stdout_write.reset();
    process.stderr_write.reset();
    CHECK(relay->drain(30s));
  }
  {  // stderr joins the same file
    auto relay = StdioRelay::open(config("", "", uri));
    FakeProcess process = fake_process(false, true, true);
    relay->attach(std::move(process.stdio));
    CHECK(write_all(process.stderr_write, "third\n"));
    process.stdout_write.reset();
    process.stderr_write.reset();
    CHECK(relay->drain(30s));
  }
  CHECK(read_file(log) == "first\nsecond\nthird\n");
}

TEST_CASE("binary:// runs the logging binary with containerd's protocol", "[io]") {
  TempDir dir{"shimcore-io-"};
  const fs::path script = dir.path / "logger.sh";
  // fd 3 = stdout, fd 4 = stderr, fd 5 = ready; the query arrives as arguments ($1 $2 $3 $4 = dir <dir> mode <mode>).
  write_script(script, R"(#!/bin/sh
printf '%s|%s|%s|%s|%s\n' "$CONTAINER_ID" "$CONTAINER_NAMESPACE" "$1" "$3" "$4" > "$2/env"
cat <&4 > "$2/stderr" 5>&- &
printf r >&5
exec 5>&-
cat <&3 > "$2/stdout"
wait
)");
  const std::string scheme = GENERATE(std::string("binary"), std::string("binary-v2"));
  const std::string uri = scheme + "://" + script.string() + "?dir=" + dir.path.string() + "&mode=a+b%21";
  const std::string out_bytes = "to stdout\n" + random_bytes(100'000, 8);
  {
    auto relay = StdioRelay::open(config("", uri, uri));
    FakeProcess process = fake_process(false, true, true);
    relay->attach(std::move(process.stdio));
    std::thread err_writer([&] { CHECK(write_all(process.stderr_write, "to stderr\n")); });
    CHECK(write_all(process.stdout_write, out_bytes));
    err_writer.join();
    process.stdout_write.reset();
    process.stderr_write.reset();
    CHECK(relay->drain(30s));
  }  // the destructor waits for the logger to exit after EOF
  CHECK(read_file(dir.path / "env") == "ctr-1|testns|dir|mode|a b!\n");
  CHECK(read_file(dir.path / "stdout") == out_bytes);
  CHECK(read_file(dir.path / "stderr") == "to stderr\n");
}

TEST_CASE("binary-v2 requires the ready byte; binary accepts EOF", "[io]") {
  TempDir dir{"shimcore-io-"};
  const fs::path script = dir.path / "quits.sh";
  write_script(script, "#!/bin/sh\nexec 5>&-\ncat <&3 > \"$2/stdout\"\n");
  SECTION("binary-v2: a logger that only closes fd 5 failed") {
    const std::string uri = "binary-v2://" + script.string() + "?dir=" + dir.path.string();
    std::string message;
    CHECK(open_error(config("", uri, uri), &message) == ErrorKind::Unavailable);
    CHECK_THAT(message, Catch::Matchers::ContainsSubstring(script.string()));
  }
  SECTION("binary: closing fd 5 means ready") {
    const std::string uri = "binary://" + script.string() + "?dir=" + dir.path.string();
    {
      auto relay = StdioRelay::open(config("", uri, ""));
      FakeProcess process = fake_process(false, true, false);
      relay->attach(std::move(process.stdio));
      CHECK(write_all(process.stdout_write, "logged"));
      process.stdout_write.reset();
      CHECK(relay->drain(30s));
    }
    CHECK(read_file(dir.path / "stdout") == "logged");
  }
}

TEST_CASE("a logger that ignores EOF is terminated and reaped", "[io]") {
  TempDir dir{"shimcore-io-"};
  const fs::path script = dir.path / "stubborn.sh";
  write_script(script, "#!/bin/sh\nprintf r >&5\nexec 5>&-\necho $$ > \"$2/pid\"\nexec sleep 1000\n");
  const std::string uri = "binary://" + script.string() + "?dir=" + dir.path.string();
  {
    auto relay = StdioRelay::open(config("", uri, uri));
    relay->attach(fake_process(false, false, false).stdio);
    CHECK(relay->drain(1s));
    REQUIRE(eventually([&] { return fs::exists(dir.path / "pid") && !read_file(dir.path / "pid").empty(); }));
  }  // grace period, then SIGTERM
  const std::string pid = read_file(dir.path / "pid");
  CHECK_FALSE(fs::exists("/proc/" + pid.substr(0, pid.find('\n'))));  // gone, not a zombie
}

TEST_CASE("drain gives up on a pipe a grandchild keeps open", "[io]") {
  Fifos fifos;
  OsHandle reader = open_reader(fifos.out);
  auto relay = StdioRelay::open(config("", fifos.out, ""));
  Collector out(std::move(reader));
  FakeProcess process = fake_process(false, true, false);
  relay->attach(std::move(process.stdio));
  REQUIRE(write_all(process.stdout_write, "hi\n"));
  // The process exited, but its write end lives on (a grandchild): no EOF ever comes.
  CHECK_FALSE(relay->drain(300ms));
  CHECK(out.wait() == "hi\n");                           // what came through arrived, then containerd read EOF
  CHECK_FALSE(write_all(process.stdout_write, "late"));  // the grandchild gets EPIPE, not a blocked write
  CHECK_FALSE(relay->drain(0ms));                        // later calls repeat the result
}

TEST_CASE("attach is once only", "[io]") {
  auto relay = StdioRelay::open(config("", "", ""));
  relay->attach(fake_process().stdio);
  try {
    relay->attach(fake_process().stdio);
    FAIL("a second attach was accepted");
  } catch (const Error& error) {
    CHECK(error.kind() == ErrorKind::FailedPrecondition);
  }
}

TEST_CASE("no descriptor or thread leaks over 100 open/attach/drain cycles", "[io]") {
  Fifos fifos;
  TempDir dir{"shimcore-io-"};
  const std::string file_uri = "file://" + (dir.path / "log").string();
  const auto cycle = [&](int i) {
    OsHandle out_reader = open_reader(fifos.out);
    auto relay = StdioRelay::open(config(fifos.in, fifos.out, i % 2 == 0 ? fifos.err : file_uri));
    OsHandle err_reader = i % 2 == 0 ? open_reader(fifos.err) : OsHandle();
    OsHandle stdin_writer = open_writer(fifos.in);
    Collector out(std::move(out_reader));
    FakeProcess process = fake_process();
    relay->attach(std::move(process.stdio));
    REQUIRE(write_all(stdin_writer, "in"));
    REQUIRE(write_all(process.stdout_write, "out" + std::to_string(i)));
    process.stdout_write.reset();
    process.stderr_write.reset();
    if (i % 3 == 0) relay->close_stdin();
    REQUIRE(relay->drain(30s));
    CHECK(out.wait() == "out" + std::to_string(i));
  };
  cycle(-1);  // warm-up: anything created once per process
  const std::size_t descriptors = open_descriptors();
  // A joined thread can stay listed in /proc/self/task for a moment after join returns (the kernel wakes the
  // joiner before it finishes reaping), so both counts are compared once they settle.
  const std::size_t thread_count = settled_threads();
  for (int i = 0; i < 100; ++i) cycle(i);
  CHECK(open_descriptors() == descriptors);
  CHECK(eventually([&] { return threads() <= thread_count; }));
  CHECK(settled_threads() == thread_count);
}
