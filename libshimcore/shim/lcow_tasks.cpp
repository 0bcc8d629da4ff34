// Composes the LCOW task controller from the shim's flags and runtime options.
#include "shim/lcow_tasks.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "shimcore/builder/common.h"
#include "shimcore/controller/lcow_task_controller.h"
#include "shimcore/hcs/host.h"

namespace shimcore::shim {

builder::RuntimeOptions lcow_builder_options(const RuntimeOptions& options) {
  builder::RuntimeOptions out;
  out.sandbox_platform = options.sandbox_platform();
  out.boot_files_root_path = options.boot_files_root_path();
  out.vm_processor_count = options.vm_processor_count();
  out.vm_memory_size_in_mb = options.vm_memory_size_in_mb();
  for (const auto& [key, value] : options.default_container_annotations())
    out.default_container_annotations[key] = value;
  out.ncproxy_addr = options.ncproxyaddr();
  out.log_level = options.log_level();
  if (options.has_scrub_logs()) out.scrub_logs = options.scrub_logs();
  return out;
}

std::unique_ptr<controller::LcowTaskController> make_lcow_task_controller(hcs::Client& client,
                                                                          controller::TaskEvents& events,
                                                                          const ShimFlags& flags,
                                                                          const RuntimeOptions& options) {
  controller::LcowTaskOptions lcow;
  lcow.namespace_name = flags.namespace_name;
  lcow.runtime_options = lcow_builder_options(options);
  lcow.environment.host = hcs::detect_host_profile(client);
  // The builder asks with Windows paths; on a Linux host (the emulator) they name the same files with '/'.
  lcow.environment.file_exists = [](const std::string& path) {
    std::string native = path;
#ifndef _WIN32
    std::replace(native.begin(), native.end(), '\\', '/');
#endif
    std::error_code error;
    return std::filesystem::exists(native, error);
  };
  // The boot files when the runtime options name none: SHIMCORE_LCOW_BOOT_FILES, else hcsshim's rule, the
  // LinuxBootFiles folder beside the shim.
  std::error_code error;
  if (const char* chosen = std::getenv("SHIMCORE_LCOW_BOOT_FILES"); chosen != nullptr && *chosen != '\0') {
    lcow.environment.default_boot_files_path = chosen;
  } else {
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
    const std::filesystem::path beside = self.parent_path() / "LinuxBootFiles";
    if (!error && std::filesystem::is_directory(beside, error))
      lcow.environment.default_boot_files_path = beside.string();
  }
  lcow.environment.working_directory = flags.bundle.empty() ? std::filesystem::current_path().string() : flags.bundle;
  return std::make_unique<controller::LcowTaskController>(client, events, std::move(lcow));
}

}  // namespace shimcore::shim
