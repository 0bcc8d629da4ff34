// HCS Statistics -> containerd.runhcs.stats.v1.Statistics, the conversion hcsshim applies (100 ns units -> ns).
#include "service/statistics.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include "shimcore/errdefs.h"

namespace shimcore::service {
namespace {

// HCS times are RFC 3339 text; one that does not parse is left unset rather than failing the whole answer.
void set_rfc3339(google::protobuf::Timestamp& out, const std::optional<std::string>& text) {
  if (text && !google::protobuf::util::TimeUtil::FromString(*text, &out)) out.Clear();
}

}  // namespace

containerd::runhcs::stats::v1::Statistics windows_statistics(const hcs::schema::Statistics& hcs) {
  containerd::runhcs::stats::v1::Statistics statistics;
  auto& windows = *statistics.mutable_windows();
  set_rfc3339(*windows.mutable_timestamp(), hcs.timestamp);
  set_rfc3339(*windows.mutable_container_start_time(), hcs.container_start_time);
  windows.set_uptime_ns(hcs.uptime_100ns.value_or(0) * 100);
  if (hcs.processor) {
    auto& processor = *windows.mutable_processor();
    processor.set_total_runtime_ns(hcs.processor->total_runtime_100ns.value_or(0) * 100);
    processor.set_runtime_user_ns(hcs.processor->runtime_user_100ns.value_or(0) * 100);
    processor.set_runtime_kernel_ns(hcs.processor->runtime_kernel_100ns.value_or(0) * 100);
  }
  if (hcs.memory) {
    auto& memory = *windows.mutable_memory();
    memory.set_memory_usage_commit_bytes(hcs.memory->memory_usage_commit_bytes.value_or(0));
    memory.set_memory_usage_commit_peak_bytes(hcs.memory->memory_usage_commit_peak_bytes.value_or(0));
    memory.set_memory_usage_private_working_set_bytes(hcs.memory->memory_usage_private_working_set_bytes.value_or(0));
  }
  if (hcs.storage) {
    auto& storage = *windows.mutable_storage();
    storage.set_read_count_normalized(hcs.storage->read_count_normalized.value_or(0));
    storage.set_read_size_bytes(hcs.storage->read_size_bytes.value_or(0));
    storage.set_write_count_normalized(hcs.storage->write_count_normalized.value_or(0));
    storage.set_write_size_bytes(hcs.storage->write_size_bytes.value_or(0));
  }
  return statistics;
}

containerd::runhcs::stats::v1::Statistics task_statistics(const controller::TaskStatistics& statistics) {
  if (statistics.windows) return windows_statistics(*statistics.windows);
  containerd::runhcs::stats::v1::Statistics out;
  if (statistics.vm) {
    // hcsshim's VM statistics: processor runtime in ns, the VM's working set.
    auto& vm = *out.mutable_vm();
    if (statistics.vm->processor && statistics.vm->processor->total_runtime_100ns) {
      vm.mutable_processor()->set_total_runtime_ns(*statistics.vm->processor->total_runtime_100ns * 100);
    }
    if (statistics.vm->memory && statistics.vm->memory->memory_usage_private_working_set_bytes) {
      vm.mutable_memory()->set_working_set_bytes(*statistics.vm->memory->memory_usage_private_working_set_bytes);
    }
  }
  if (statistics.linux_metrics) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    const auto parsed = google::protobuf::util::JsonStringToMessage(
        statistics.linux_metrics->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), out.mutable_linux(),
        options);
    if (!parsed.ok()) {
      throw make_error(ErrorKind::Internal, "the guest's container metrics are not cgroups v1 Metrics: {}",
                       parsed.ToString());
    }
  }
  return out;
}

}  // namespace shimcore::service
