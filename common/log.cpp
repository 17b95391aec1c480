#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace gantry::log {

void init(int verbosity) {
  auto logger = spdlog::stderr_color_mt("gantry");
  logger->set_pattern("%^gantry %l%$: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(verbosity >= 2 ? spdlog::level::trace
                    : verbosity == 1 ? spdlog::level::debug
                                     : spdlog::level::warn);
}

}  // namespace gantry::log
