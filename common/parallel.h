// Runs fn(0..count-1) on up to `threads` worker threads; the first error
// stops workers from starting new items and is returned once all have stopped.
#pragma once

#include <cstddef>
#include <functional>

#include "common/error.h"

namespace gantry {

Status for_each_parallel(std::size_t count, int threads, const std::function<Status(std::size_t)>& fn);

}  // namespace gantry
