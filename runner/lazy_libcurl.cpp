// Lazy binding of libcurl, linked into the gantry executable only (see
// runner/CMakeLists.txt). Why: every start of gantry — each command, and the
// container init the executor re-executes for every container — paid ~6 ms
// for the dynamic loader to map and relocate libcurl and its ~25 dependencies
// (gnutls via librtmp, krb5, ldap, sasl, p11-kit, nghttp2, …), though only the
// registry commands use it. These definitions win over libcurl.so's at link
// time, so with -Wl,--as-needed libcurl is no DT_NEEDED of gantry; the first
// call dlopen()s the very same libcurl.so.4 and forwards to it (Implib.so's
// technique). A curl function not listed here still links directly against
// libcurl.so (which then is loaded at startup again): correct, only slower.
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include <cstdarg>

#include "runner/lazy_library.h"

namespace {

void* libcurl() {
  static void* handle = gantry::lazy::open_library("libcurl.so.4", "libcurl4");
  return handle;
}

template <typename F>
F real(const char* name) {
  return gantry::lazy::function<F>(libcurl(), "libcurl.so.4", name);
}

}  // namespace

extern "C" {

CURLcode curl_global_init(long flags) {
  static const auto f = real<CURLcode (*)(long)>("curl_global_init");
  return f(flags);
}

CURL* curl_easy_init(void) {
  static const auto f = real<CURL* (*)()>("curl_easy_init");
  return f();
}

// The variadic argument's type follows from the option's number range
// (CURLOPTTYPE_*), exactly as libcurl reads it.
CURLcode curl_easy_setopt(CURL* handle, CURLoption option, ...) {
  static const auto f = real<CURLcode (*)(CURL*, CURLoption, ...)>("curl_easy_setopt");
  va_list ap;
  va_start(ap, option);
  CURLcode rc;
  if (option < CURLOPTTYPE_OBJECTPOINT)
    rc = f(handle, option, va_arg(ap, long));
  else if (option < CURLOPTTYPE_FUNCTIONPOINT)
    rc = f(handle, option, va_arg(ap, void*));
  else if (option < CURLOPTTYPE_OFF_T)
    rc = f(handle, option, va_arg(ap, void (*)()));
  else if (option < CURLOPTTYPE_BLOB)
    rc = f(handle, option, va_arg(ap, curl_off_t));
  else
    rc = f(handle, option, va_arg(ap, void*));
  va_end(ap);
  return rc;
}

// Every CURLINFO takes a pointer.
CURLcode curl_easy_getinfo(CURL* handle, CURLINFO info, ...) {
  static const auto f = real<CURLcode (*)(CURL*, CURLINFO, ...)>("curl_easy_getinfo");
  va_list ap;
  va_start(ap, info);
  void* out = va_arg(ap, void*);
  va_end(ap);
  return f(handle, info, out);
}

CURLcode curl_easy_perform(CURL* handle) {
  static const auto f = real<CURLcode (*)(CURL*)>("curl_easy_perform");
  return f(handle);
}

void curl_easy_reset(CURL* handle) {
  static const auto f = real<void (*)(CURL*)>("curl_easy_reset");
  f(handle);
}

void curl_easy_cleanup(CURL* handle) {
  static const auto f = real<void (*)(CURL*)>("curl_easy_cleanup");
  f(handle);
}

const char* curl_easy_strerror(CURLcode code) {
  static const auto f = real<const char* (*)(CURLcode)>("curl_easy_strerror");
  return f(code);
}

curl_slist* curl_slist_append(curl_slist* list, const char* string) {
  static const auto f = real<curl_slist* (*)(curl_slist*, const char*)>("curl_slist_append");
  return f(list, string);
}

void curl_slist_free_all(curl_slist* list) {
  static const auto f = real<void (*)(curl_slist*)>("curl_slist_free_all");
  f(list);
}

}  // extern "C"
