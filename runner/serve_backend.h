// The orchestration `gantry serve` calls (server/backend.h), done as the CLI
// does it: run records as `gantry run --json` prints them, env ls / history
// JSON, promote and rollback in-process, and `gantry run|retry --run-id ID`
// as the command of a queued run. Private to runner/cmd_serve.cpp.
#pragma once

#include <memory>
#include <string>

#include "cache/store.h"
#include "runner/cli.h"
#include "runner/runner_config.h"
#include "server/backend.h"

namespace gantry::runner {

std::unique_ptr<server::Backend> make_serve_backend(cache::Store& store, const GlobalOptions& global,
                                                    RunnerConfig config);

}  // namespace gantry::runner
