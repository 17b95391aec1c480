// Must NOT compile: cache/ may not see executor/ (docs/architecture.md,
// "Layering"). Built only by the ctest Layering.ForbiddenIncludeDoesNotCompile,
// which passes when the compiler says it cannot find the header.
#include "cache/store.h"
#include "executor/container.h"
