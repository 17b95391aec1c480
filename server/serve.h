// `gantry serve` (docs/serve.md): the team's CI server on one store. The
// public API of server/: runner/cmd_serve.cpp loads the configuration, opens
// the store, implements the Backend and calls serve().
#pragma once

#include "cache/store.h"
#include "common/error.h"
#include "server/backend.h"
#include "server/serve_config.h"

namespace gantry::server {

// Serves until SIGTERM or SIGINT, then stops as run_supervisor.h describes.
// Prints "gantry serve: listening on http://HOST:PORT" on stderr once ready.
Status serve(const ServeConfig& config, cache::Store& store, Backend& backend);

}  // namespace gantry::server
