/* Resolving a container user ("", "uid[:gid]", "name[:group]") against the
 * image's /etc/passwd and /etc/group, as Docker does: numeric ids need no
 * entry; a name must exist; supplementary groups come from /etc/group. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "executor/init/init.h"

#define MAX_FIELDS 8

/* Splits one line (modified in place) at ':'; returns the field count. */
static size_t split_fields(char* line, char* fields[MAX_FIELDS]) {
  size_t n = 0;
  fields[n++] = line;
  for (char* p = line; *p && n < MAX_FIELDS; ++p)
    if (*p == ':') {
      *p = '\0';
      fields[n++] = p + 1;
    }
  return n;
}

/* A decimal id, or -1. */
static long long number(const char* s) {
  if (!*s) return -1;
  long long v = 0;
  for (; *s; ++s) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10 + (*s - '0');
    if (v > 0xffffffffLL) return -1;
  }
  return v;
}

/* Calls f(fields, n, arg) for each non-comment line of a copy of `file` until it returns 0. */
typedef int (*entry_fn)(char** fields, size_t n, void* arg);
static int for_each_entry(const char* file, entry_fn f, void* arg) {
  if (!file) return 0;
  char* copy = strdup(file);
  if (!copy) return ENOMEM;
  char* save = NULL;
  for (char* line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (line[0] == '#') continue;
    char* fields[MAX_FIELDS];
    size_t n = split_fields(line, fields);
    if (!f(fields, n, arg)) break;
  }
  free(copy);
  return 0;
}

struct passwd_match {
  const char* user;
  long long uid;
  int found;
  char name[256];
  struct resolved_user* out;
};

static int match_passwd(char** f, size_t n, void* arg) {
  struct passwd_match* m = arg;
  if (n < 6) return 1;
  int match = m->uid >= 0 ? number(f[2]) == m->uid : strcmp(f[0], m->user) == 0;
  if (!match) return 1;
  m->found = 1;
  strncpy(m->name, f[0], sizeof m->name - 1);
  long long uid = number(f[2]), gid = number(f[3]);
  m->out->uid = uid < 0 ? 0 : (uid_t)uid;
  m->out->gid = gid < 0 ? 0 : (gid_t)gid;
  if (f[5][0] && strlen(f[5]) < sizeof m->out->home) strcpy(m->out->home, f[5]);
  return 0;
}

struct group_match {
  const char* group;
  int found;
  gid_t gid;
};

static int match_group(char** f, size_t n, void* arg) {
  struct group_match* m = arg;
  if (n < 3 || strcmp(f[0], m->group) != 0) return 1;
  long long g = number(f[2]);
  if (g >= 0) {
    m->gid = (gid_t)g;
    m->found = 1;
  }
  return 0;
}

struct member_match {
  const char* name;
  struct resolved_user* out;
};

static int match_member(char** f, size_t n, void* arg) {
  struct member_match* m = arg;
  if (n < 4) return 1;
  char* save = NULL;
  for (char* member = strtok_r(f[3], ",", &save); member; member = strtok_r(NULL, ",", &save)) {
    if (strcmp(member, m->name) != 0) continue;
    long long g = number(f[2]);
    if (g >= 0 && (gid_t)g != m->out->gid && m->out->n_groups < sizeof m->out->groups / sizeof m->out->groups[0])
      m->out->groups[m->out->n_groups++] = (gid_t)g;
    break;
  }
  return 1;
}

int resolve_user(const char* spec, const char* passwd, const char* group, struct resolved_user* out) {
  char user[256];
  const char* grp = NULL;
  const char* colon = strchr(spec, ':');
  size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
  if (ulen >= sizeof user) return EINVAL;
  memcpy(user, spec, ulen);
  user[ulen] = '\0';
  if (colon) {
    grp = colon + 1;
    if (!*grp) return EINVAL;
  }
  if (!user[0]) strcpy(user, "0");
  memset(out, 0, sizeof *out);
  strcpy(out->home, "/");
  struct passwd_match pm = {user, number(user), 0, "", out};
  int err = for_each_entry(passwd, match_passwd, &pm);
  if (err) return err;
  if (!pm.found) {
    if (pm.uid < 0) return ENOENT; /* a name must exist in the image */
    out->uid = (uid_t)pm.uid;
    out->gid = 0;
    if (pm.uid == 0) strcpy(out->home, "/root");
  }
  if (grp) {
    long long gid = number(grp);
    if (gid >= 0) {
      out->gid = (gid_t)gid;
    } else {
      struct group_match gm = {grp, 0, 0};
      if ((err = for_each_entry(group, match_group, &gm))) return err;
      if (!gm.found) return ENOENT;
      out->gid = gm.gid;
    }
  }
  out->groups[out->n_groups++] = out->gid;
  if (pm.name[0]) {
    struct member_match mm = {pm.name, out};
    if ((err = for_each_entry(group, match_member, &mm))) return err;
  }
  return 0;
}
