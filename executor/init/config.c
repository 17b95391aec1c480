/* The config memfd (format in wire.h), parsed into malloc'd C strings. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "executor/init/init.h"

struct reader {
  const char* data;
  size_t size;
  size_t pos;
  int ok;
};

static void fixed(struct reader* r, void* out, size_t n) {
  if (!r->ok || r->size - r->pos < n) {
    r->ok = 0;
    memset(out, 0, n);
    return;
  }
  memcpy(out, r->data + r->pos, n);
  r->pos += n;
}

static uint32_t u32(struct reader* r) {
  uint32_t v;
  fixed(r, &v, sizeof v);
  return v;
}

static uint64_t u64(struct reader* r) {
  uint64_t v;
  fixed(r, &v, sizeof v);
  return v;
}

static char* str_len(struct reader* r, size_t* len) {
  uint32_t n = u32(r);
  if (!r->ok || r->size - r->pos < n) {
    r->ok = 0;
    return NULL;
  }
  char* s = malloc((size_t)n + 1);
  if (!s) {
    r->ok = 0;
    return NULL;
  }
  memcpy(s, r->data + r->pos, n);
  s[n] = '\0';
  r->pos += n;
  if (len) *len = n;
  return s;
}

static char* str(struct reader* r) { return str_len(r, NULL); }

static char** strs(struct reader* r, size_t* count) {
  uint32_t n = u32(r);
  if (!r->ok || n > r->size) {  /* each entry takes at least 4 bytes */
    r->ok = 0;
    return NULL;
  }
  char** v = calloc((size_t)n + 1, sizeof *v);
  if (!v) {
    r->ok = 0;
    return NULL;
  }
  for (uint32_t i = 0; i < n && r->ok; ++i) v[i] = str(r);
  *count = n;
  return v;
}

int parse_config(const char* data, size_t size, struct init_config* c) {
  struct reader r = {data, size, 0, 1};
  memset(c, 0, sizeof *c);
  if (u32(&r) != GANTRY_INIT_PROTOCOL) return EINVAL;
  c->id = str(&r);
  c->lowerdirs = strs(&r, &c->n_lowerdirs);
  c->upper_dir = str(&r);
  c->work_dir = str(&r);
  c->rootfs = str(&r);
  c->etc_dir = str(&r);
  c->scratch_dir = str(&r);
  c->scratch_tmpfs = u32(&r) != 0;
  c->scratch_mount = str(&r);
  c->scratch_tmpfs_bytes = u64(&r);
  c->file_size_limit = u64(&r);
  c->argv = strs(&r, &c->n_argv);
  c->env = strs(&r, &c->n_env);
  c->workdir = str(&r);
  c->user = str(&r);
  c->hostname = str(&r);
  uint32_t n = u32(&r);
  if (r.ok && n <= size) {
    c->mounts = calloc(n ? n : 1, sizeof *c->mounts);
    if (!c->mounts) r.ok = 0;
    for (uint32_t i = 0; i < n && r.ok; ++i) {
      c->mounts[i].source = str(&r);
      c->mounts[i].target = str(&r);
      c->mounts[i].read_only = u32(&r) != 0;
    }
    c->n_mounts = n;
  } else {
    r.ok = 0;
  }
  c->host_network = u32(&r) != 0;
  c->extra_hosts = str(&r);
  c->seccomp_bpf = str_len(&r, &c->seccomp_len);
  c->caps_keep = u64(&r);
  c->trace_phases = u32(&r) != 0;
  c->rootless = u32(&r) != 0;
  if (!r.ok || r.pos != size || c->n_argv == 0 || c->n_lowerdirs == 0) return EINVAL;
  return 0;
}
