// Umbrella header: every HCS schema v2 type and parse_* entry point of shimcore::hcs::schema.
#pragma once

#include "shimcore/hcs/schema/common.h"
#include "shimcore/hcs/schema/compute_system.h"
#include "shimcore/hcs/schema/container.h"
#include "shimcore/hcs/schema/devices.h"
#include "shimcore/hcs/schema/errors.h"
#include "shimcore/hcs/schema/json_support.h"
#include "shimcore/hcs/schema/modify.h"
#include "shimcore/hcs/schema/process.h"
#include "shimcore/hcs/schema/properties.h"
#include "shimcore/hcs/schema/virtual_machine.h"
