// HCS container Statistics as the runhcs shims answer them (Task.Stats, Sandbox.SandboxMetrics).
#pragma once

#include "runhcs/stats/stats.pb.h"
#include "shimcore/hcs/schema/properties.h"

namespace shimcore::service {

containerd::runhcs::stats::v1::Statistics windows_statistics(const hcs::schema::Statistics& hcs);

}  // namespace shimcore::service
