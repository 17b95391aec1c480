// The seccomp program embedded at build time (executor/seccomp_gen) is the
// profile libseccomp compiles now, and a whole BPF program. What it refuses
// inside a container is checked end to end by tests/executor/isolation_test.
#include <linux/filter.h>

#include <gtest/gtest.h>

#include "executor/security.h"
#include "executor/seccomp_profile.h"

namespace gantry::executor {
namespace {

TEST(SeccompProfile, TheProgramEmbeddedAtBuildTime_IsWhatLibseccompCompilesNow) {
  auto embedded = default_seccomp_bpf();
  ASSERT_TRUE(embedded) << embedded.error().message();
  auto compiled = compile_default_seccomp_bpf();
  ASSERT_TRUE(compiled) << compiled.error().message();
  EXPECT_EQ(*embedded, *compiled);
}

TEST(SeccompProfile, TheProgramIsWholeBpfInstructions_EndingInAReturn) {
  auto bpf = default_seccomp_bpf();
  ASSERT_TRUE(bpf) << bpf.error().message();
  ASSERT_FALSE(bpf->empty());
  ASSERT_EQ(bpf->size() % sizeof(sock_filter), 0u);
  const auto* insns = reinterpret_cast<const sock_filter*>(bpf->data());
  std::size_t n = bpf->size() / sizeof(sock_filter);
  EXPECT_LE(n, static_cast<std::size_t>(BPF_MAXINSNS));
  EXPECT_EQ(BPF_CLASS(insns[n - 1].code), BPF_RET);
}

}  // namespace
}  // namespace gantry::executor
