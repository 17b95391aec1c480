#include "executor/init_protocol.h"

#include <cstring>

namespace gantry::executor {

const char* step_name(Step step) {
#define GANTRY_STEP_NAME(name) \
  case Step::name:             \
    return #name;
  switch (step) { GANTRY_INIT_STEPS(GANTRY_STEP_NAME) }
#undef GANTRY_STEP_NAME
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

}  // namespace

std::string InitConfig::serialize() const {
  Writer w;
  w.u32(kProtocolVersion);
  w.str(id);
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
  w.str(extra_hosts);
  w.str(seccomp_bpf);
  w.u64(caps_keep);
  w.u32(trace_phases ? 1 : 0);
  w.u32(rootless ? 1 : 0);
  return w.take();
}

}  // namespace gantry::executor
