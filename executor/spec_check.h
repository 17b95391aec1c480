// Private to executor/: checks of a ContainerSpec before anything is created,
// and the mapping of an init's {step, errno} report to an Error.
#pragma once

#include "executor/container.h"
#include "executor/init_protocol.h"

namespace gantry::executor {

Status check_spec(const ContainerSpec& spec);
Error init_failure(const ContainerSpec& spec, const InitMessage& message);

}  // namespace gantry::executor
