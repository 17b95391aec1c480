#include "executor/seccomp_profile.h"

#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "common/unique_fd.h"

namespace gantry::executor {

namespace {

// Refused with EPERM: what reaches past the container (mounts, namespaces,
// kernel modules, kexec, bpf, perf, keyrings, swap, reboot, clocks, raw I/O
// ports, handle-based opens, accounting) — the syscalls Docker's default
// profile leaves out or gates behind capabilities the container lacks.
constexpr const char* kDenied[] = {
    "mount", "umount", "umount2", "pivot_root", "unshare", "setns",
    "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module",
    "get_kernel_syms", "query_module", "bpf", "perf_event_open", "keyctl", "add_key", "request_key",
    "acct", "swapon", "swapoff", "reboot", "quotactl", "quotactl_fd", "open_by_handle_at",
    "lookup_dcookie", "uselib", "userfaultfd", "ustat", "sysfs", "_sysctl", "vm86", "vm86old",
    "nfsservctl", "iopl", "ioperm", "settimeofday", "clock_settime", "stime", "syslog", "kcmp",
    "process_vm_readv", "process_vm_writev", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "fanotify_init", "name_to_handle_at", "lsm_set_self_attr",
};

// clone() with a namespace flag is refused; clone3 gets ENOSYS so libc falls
// back to clone, whose flags a filter can see.
constexpr unsigned long kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                             CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

}  // namespace

Result<std::string> compile_default_seccomp_bpf() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return fail(ErrorKind::internal, "seccomp_init failed");
  struct Release {
    scmp_filter_ctx c;
    ~Release() { seccomp_release(c); }
  } release{ctx};
  if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
    // 32-bit and x32 entry points reach the same kernel: filter them too.
    (void)seccomp_arch_add(ctx, SCMP_ARCH_X86);
    (void)seccomp_arch_add(ctx, SCMP_ARCH_X32);
  }
  for (const char* name : kDenied) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    if (rc != 0 && rc != -EDOM) return fail(ErrorKind::internal, std::string("seccomp rule for ") + name, -rc);
  }
  for (unsigned long flag : kNamespaceFlags) {
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    if (rc != 0) return fail(ErrorKind::internal, "seccomp rule for clone", -rc);
  }
  // Without this rule clone3 would pass the clone-flag rules above: fatal like them.
  int nr_clone3 = seccomp_syscall_resolve_name("clone3");
  if (nr_clone3 != __NR_SCMP_ERROR) {
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr_clone3, 0);
    if (rc != 0 && rc != -EDOM) return fail(ErrorKind::internal, "seccomp rule for clone3", -rc);
  }

  UniqueFd mem(::memfd_create("gantry-seccomp", MFD_CLOEXEC));
  if (!mem) return fail_sys("memfd_create", "seccomp");
  int rc = seccomp_export_bpf(ctx, mem.get());
  if (rc != 0) return fail(ErrorKind::internal, "seccomp_export_bpf failed", -rc);
  off_t size = ::lseek(mem.get(), 0, SEEK_END);
  std::string bpf(static_cast<std::size_t>(size), '\0');
  if (::pread(mem.get(), bpf.data(), bpf.size(), 0) != size) return fail_sys("read", "seccomp program");
  return bpf;
}


std::uint32_t seccomp_native_arch() { return seccomp_arch_native(); }

}  // namespace gantry::executor
