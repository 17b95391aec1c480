// The shared part of gantry's lazily bound libraries (lazy_libcurl.cpp,
// lazy_libpq.cpp, lazy_gssapi.cpp, linked into the gantry executable only):
// the library is dlopen()ed on the first call of one of its functions, and
// each function is looked up once. A library or symbol that cannot be found
// is a broken installation: gantry says which and stops.
#pragma once

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace gantry::lazy {

// Opens `soname` (Debian package `package`) or aborts naming both.
inline void* open_library(const char* soname, const char* package) {
  void* handle = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    std::fprintf(stderr, "gantry: cannot load %s (Debian package %s): %s\n", soname, package, ::dlerror());
    std::abort();
  }
  return handle;
}

// The function `name` of the library `handle` (`soname` for the message), as F.
template <typename F>
F function(void* handle, const char* soname, const char* name) {
  void* sym = ::dlsym(handle, name);
  if (!sym) {
    std::fprintf(stderr, "gantry: %s has no %s: %s\n", soname, name, ::dlerror());
    std::abort();
  }
  return reinterpret_cast<F>(sym);
}

}  // namespace gantry::lazy
