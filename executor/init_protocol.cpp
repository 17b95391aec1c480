#include "executor/init_protocol.h"

#include <cstring>

namespace gantry::executor {

const char* step_name(Step step) {
  switch (step) {
    case Step::read_config: return "read_config";
    case Step::parent_died: return "parent_died";
    case Step::unshare_namespaces: return "unshare_namespaces";
    case Step::fork_pid1: return "fork_pid1";
    case Step::make_mounts_private: return "make_mounts_private";
    case Step::mount_scratch: return "mount_scratch";
    case Step::write_etc_files: return "write_etc_files";
    case Step::mount_rootfs: return "mount_rootfs";
    case Step::open_rootfs: return "open_rootfs";
    case Step::mount_proc: return "mount_proc";
    case Step::mount_dev: return "mount_dev";
    case Step::mount_devpts: return "mount_devpts";
    case Step::mount_shm: return "mount_shm";
    case Step::mount_sys: return "mount_sys";
    case Step::mask_paths: return "mask_paths";
    case Step::readonly_paths: return "readonly_paths";
    case Step::bind_mounts: return "bind_mounts";
    case Step::etc_files: return "etc_files";
    case Step::pivot_root: return "pivot_root";
    case Step::set_hostname: return "set_hostname";
    case Step::loopback_up: return "loopback_up";
    case Step::resolve_user: return "resolve_user";
    case Step::make_workdir: return "make_workdir";
    case Step::prepare_caps: return "prepare_caps";
    case Step::fork_command: return "fork_command";
    case Step::set_session: return "set_session";
    case Step::set_rlimits: return "set_rlimits";
    case Step::drop_bounding_caps: return "drop_bounding_caps";
    case Step::set_groups: return "set_groups";
    case Step::set_gid: return "set_gid";
    case Step::set_uid: return "set_uid";
    case Step::set_caps: return "set_caps";
    case Step::no_new_privs: return "no_new_privs";
    case Step::chdir_workdir: return "chdir_workdir";
    case Step::load_seccomp: return "load_seccomp";
    case Step::exec_command: return "exec_command";
  }
  return "unknown_step";
}

namespace {

class Writer {
 public:
  void u32(std::uint32_t v) { out_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void u64(std::uint64_t v) { out_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void str(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_ += s;
  }
  void strs(const std::vector<std::string>& v) {
    u32(static_cast<std::uint32_t>(v.size()));
    for (const auto& s : v) str(s);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& data) : data_(data) {}
  template <typename T>
  bool fixed(T& v) {
    if (data_.size() - pos_ < sizeof v) return false;
    std::memcpy(&v, data_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return true;
  }
  bool u32(std::uint32_t& v) { return fixed(v); }
  bool u64(std::uint64_t& v) { return fixed(v); }
  bool str(std::string& s) {
    std::uint32_t n = 0;
    if (!u32(n) || data_.size() - pos_ < n) return false;
    s.assign(data_, pos_, n);
    pos_ += n;
    return true;
  }
  bool strs(std::vector<std::string>& v) {
    std::uint32_t n = 0;
    if (!u32(n)) return false;
    v.resize(n);
    for (auto& s : v)
      if (!str(s)) return false;
    return true;
  }
  bool done() const { return pos_ == data_.size(); }

 private:
  const std::string& data_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string InitConfig::serialize() const {
  Writer w;
  w.u32(kProtocolVersion);
  w.str(id);
  w.u32(static_cast<std::uint32_t>(parent_pid));
  w.strs(lowerdirs);
  w.str(upper_dir);
  w.str(work_dir);
  w.str(rootfs);
  w.str(etc_dir);
  w.str(scratch_dir);
  w.u32(scratch_tmpfs ? 1 : 0);
  w.str(scratch_mount);
  w.u64(scratch_tmpfs_bytes);
  w.u64(file_size_limit);
  w.strs(argv);
  w.strs(env);
  w.str(workdir);
  w.str(user);
  w.str(hostname);
  w.u32(static_cast<std::uint32_t>(mounts.size()));
  for (const auto& m : mounts) {
    w.str(m.source);
    w.str(m.target);
    w.u32(m.read_only ? 1 : 0);
  }
  w.u32(host_network ? 1 : 0);
  w.str(seccomp_bpf);
  return w.take();
}

Result<InitConfig> InitConfig::parse(const std::string& data) {
  Reader r(data);
  InitConfig c;
  std::uint32_t version = 0, pid = 0, count = 0, flag = 0, tmpfs = 0;
  if (!r.u32(version) || version != kProtocolVersion)
    return fail(ErrorKind::internal, "init config: protocol version mismatch (stale init binary?)");
  bool ok = r.str(c.id) && r.u32(pid) && r.strs(c.lowerdirs) && r.str(c.upper_dir) && r.str(c.work_dir) &&
            r.str(c.rootfs) && r.str(c.etc_dir) && r.str(c.scratch_dir) && r.u32(tmpfs) && r.str(c.scratch_mount) && r.u64(c.scratch_tmpfs_bytes) && r.u64(c.file_size_limit) && r.strs(c.argv) && r.strs(c.env) && r.str(c.workdir) &&
            r.str(c.user) && r.str(c.hostname) && r.u32(count);
  if (ok) {
    c.mounts.resize(count);
    for (auto& m : c.mounts) {
      ok = ok && r.str(m.source) && r.str(m.target) && r.u32(flag);
      m.read_only = flag != 0;
    }
  }
  ok = ok && r.u32(flag) && r.str(c.seccomp_bpf) && r.done();
  if (!ok) return fail(ErrorKind::internal, "init config: truncated or malformed");
  c.host_network = flag != 0;
  c.scratch_tmpfs = tmpfs != 0;
  c.parent_pid = static_cast<std::int32_t>(pid);
  return c;
}

}  // namespace gantry::executor
