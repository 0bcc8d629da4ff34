// The shim binary's command-line edge: parse flags, dispatch the action, turn errors into exit statuses.
#include "shimcore/shim/main.h"

#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#else
#include <unistd.h>
#endif

#include <cstdio>
#include <iostream>
#include <iterator>
#include <sstream>
#include <vector>

#include "containerd/types/introspection.pb.h"
#include "shimcore/build_info.h"
#include "shimcore/errdefs.h"
#include "shimcore/shim/flags.h"
#include "shimcore/shim/runtime.h"

namespace shimcore::shim {
namespace {

void print_version(const SandboxKind& kind, std::ostream& out) {
  const BuildInfo& build = build_info();
  out << fmt::format("{} version {} revision {}\n", kind.binary_name, build.version, build.revision);
}

// -info: containerd reads a serialized containerd.types.RuntimeInfo from stdout. stdin may carry the runtime options
// as a serialized google.protobuf.Any; when it parses, it is echoed back as `options`, as containerd's runc shim does.
void print_runtime_info(const SandboxKind& kind, std::istream& in, std::ostream& out) {
  const BuildInfo& build = build_info();
  containerd::types::RuntimeInfo info;
  info.set_name(std::string(kind.runtime_type));
  info.mutable_version()->set_version(std::string(build.version));
  info.mutable_version()->set_revision(std::string(build.revision));
  const std::string options((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!options.empty()) {
    google::protobuf::Any any;
    if (!any.ParseFromString(options) || any.type_url().empty()) {
      throw make_error(ErrorKind::InvalidArgument, "-info: stdin is not a serialized google.protobuf.Any ({} bytes)",
                       options.size());
    }
    *info.mutable_options() = any;
  }
  std::string bytes;
  if (!info.SerializeToString(&bytes)) {
    throw make_error(ErrorKind::Internal, "-info: cannot serialize RuntimeInfo");
  }
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

int run(const SandboxKind& kind, std::span<const std::string> args, std::istream& in, std::ostream& out,
        std::ostream& err) {
  ShimFlags flags;
  try {
    flags = parse_flags(args);
  } catch (const Error& e) {
    err << kind.binary_name << ": " << e.what() << "\n" << usage(kind);
    return kExitUsage;
  }
  if (flags.help) {
    out << usage(kind);
    return kExitOk;
  }
  try {
    if (flags.version) {
      print_version(kind, out);
      return kExitOk;
    }
    if (flags.info) {
      print_runtime_info(kind, in, out);
      out.flush();
      return kExitOk;
    }
    if (flags.action == Action::None) {
      err << kind.binary_name << ": missing action (start, delete, serve or pause)\n" << usage(kind);
      return kExitUsage;
    }
    switch (flags.action) {
      case Action::Start: start(kind, flags, in, out); return kExitOk;
      case Action::Delete: delete_after_death(kind, flags, out, err); return kExitOk;
      case Action::Serve: return serve(kind, flags);
      case Action::Pause: return pause_until_signalled();
      case Action::None: break;
    }
    return kExitUsage;
  } catch (const Error& e) {
    err << kind.binary_name << ": " << to_string(e.kind()) << ": " << e.what() << "\n";
  } catch (const std::exception& e) {
    err << kind.binary_name << ": " << e.what() << "\n";
  }
  return kExitFailure;
}

int run(const SandboxKind& kind, int argc, char** argv) {
  const std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  // An interactive terminal on stdin carries no runtime options; do not wait for it.
  std::istringstream no_input;
#ifdef _WIN32
  // -info and delete write protobuf bytes to stdout: no CRLF translation.
  ::_setmode(::_fileno(stdout), _O_BINARY);
  ::_setmode(::_fileno(stdin), _O_BINARY);
  const bool interactive = ::_isatty(::_fileno(stdin)) != 0;
#else
  const bool interactive = ::isatty(STDIN_FILENO) != 0;
#endif
  std::istream& in = interactive ? static_cast<std::istream&>(no_input) : std::cin;
  const int status = run(kind, args, in, std::cout, std::cerr);
  std::cout.flush();
  return status;
}

}  // namespace shimcore::shim
