// Lazy binding of MIT GSSAPI (libgssapi_krb5.so.2), linked into the gantry
// executable only, the technique of lazy_libcurl.cpp and lazy_libpq.cpp.
// libgit2's static archive calls GSSAPI for HTTP "Negotiate" (SPNEGO)
// authentication of a git remote, and nothing else of gantry does; linked
// directly, libgssapi_krb5 and its tree (krb5, k5crypto, krb5support,
// com_err, keyutils, resolv: seven libraries) were mapped and relocated at
// every start of gantry, ~0.3 ms of each `gantry exec`. These definitions win
// at link time (libgssapi_krb5 is no DT_NEEDED of gantry any more); the first
// call dlopen()s the very same library and forwards to it.
//
// The prototypes are MIT krb5's <gssapi/gssapi.h> (not installed with the
// runtime package), with the handles as the opaque pointers they are.

#include <cstdint>

#include "runner/lazy_library.h"

namespace {

using OM_uint32 = std::uint32_t;
struct gss_OID_desc {
  OM_uint32 length;
  void* elements;
};
using gss_OID = gss_OID_desc*;
using gss_opaque = void*;  // gss_name_t, gss_ctx_id_t, gss_cred_id_t, gss_buffer_t, gss_OID_set, ...

void* libgssapi() {
  static void* handle = gantry::lazy::open_library("libgssapi_krb5.so.2", "libgssapi-krb5-2");
  return handle;
}

template <typename F>
F real(const char* name) {
  return gantry::lazy::function<F>(libgssapi(), "libgssapi_krb5.so.2", name);
}

// GSS_C_NT_HOSTBASED_SERVICE, {iso(1) member-body(2) US(840) mit(113554)
// infosys(1) gssapi(2) generic(1) service_name(4)} (RFC 2744 4): the one
// data symbol libgit2 reads. GSSAPI compares name types by value, so this
// copy stands for the library's own.
unsigned char kHostBasedServiceOid[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x01, 0x04};
gss_OID_desc kHostBasedService = {sizeof kHostBasedServiceOid, kHostBasedServiceOid};

}  // namespace

extern "C" {

gss_OID GSS_C_NT_HOSTBASED_SERVICE = &kHostBasedService;

OM_uint32 gss_delete_sec_context(OM_uint32* minor, gss_opaque* context, gss_opaque output_token) {
  static const auto f = real<decltype(&gss_delete_sec_context)>("gss_delete_sec_context");
  return f(minor, context, output_token);
}

OM_uint32 gss_display_status(OM_uint32* minor, OM_uint32 status, int status_type, gss_OID mech,
                             OM_uint32* message_context, gss_opaque status_string) {
  static const auto f = real<decltype(&gss_display_status)>("gss_display_status");
  return f(minor, status, status_type, mech, message_context, status_string);
}

OM_uint32 gss_import_name(OM_uint32* minor, gss_opaque name_buffer, gss_OID name_type, gss_opaque* name) {
  static const auto f = real<decltype(&gss_import_name)>("gss_import_name");
  return f(minor, name_buffer, name_type, name);
}

OM_uint32 gss_indicate_mechs(OM_uint32* minor, gss_opaque* mech_set) {
  static const auto f = real<decltype(&gss_indicate_mechs)>("gss_indicate_mechs");
  return f(minor, mech_set);
}

OM_uint32 gss_init_sec_context(OM_uint32* minor, gss_opaque credential, gss_opaque* context, gss_opaque target,
                               gss_OID mech, OM_uint32 req_flags, OM_uint32 time_req, gss_opaque bindings,
                               gss_opaque input_token, gss_OID* actual_mech, gss_opaque output_token,
                               OM_uint32* ret_flags, OM_uint32* time_rec) {
  static const auto f = real<decltype(&gss_init_sec_context)>("gss_init_sec_context");
  return f(minor, credential, context, target, mech, req_flags, time_req, bindings, input_token, actual_mech,
           output_token, ret_flags, time_rec);
}

OM_uint32 gss_release_buffer(OM_uint32* minor, gss_opaque buffer) {
  static const auto f = real<decltype(&gss_release_buffer)>("gss_release_buffer");
  return f(minor, buffer);
}

OM_uint32 gss_release_name(OM_uint32* minor, gss_opaque* name) {
  static const auto f = real<decltype(&gss_release_name)>("gss_release_name");
  return f(minor, name);
}

OM_uint32 gss_release_oid_set(OM_uint32* minor, gss_opaque* set) {
  static const auto f = real<decltype(&gss_release_oid_set)>("gss_release_oid_set");
  return f(minor, set);
}

}  // extern "C"
