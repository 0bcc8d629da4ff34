// Conversion of system_clock time points to google.protobuf.Timestamp, as containerd's messages carry them.
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <chrono>
#include <cstdint>

namespace shimcore {

inline void set_timestamp(google::protobuf::Timestamp& out, std::chrono::system_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  out.set_seconds(seconds.count());
  out.set_nanos(
      static_cast<std::int32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds).count()));
}

}  // namespace shimcore
