// In-process tests of the pieces of a run that need no container: the stage
// scheduler, the secret masker, the stage key, and the run/environment stores
// on a real store.
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "cache/image_store.h"
#include "cache/metadata.h"
#include "cache/store.h"
#include "runner/secret_mask.h"
#include "runner/secret_sources.h"
#include "runner/stage_key.h"
#include "runner/stage_scheduler.h"
#include "tests/support/test_support.h"

namespace gantry::runner {
namespace {

using testing::ScratchDir;

TEST(StageScheduler, FailureSkipsTransitiveDependants_IndependentTasksStillRun) {
  std::vector<DagTask> tasks = {{"a", {}}, {"b", {"a"}}, {"c", {"b"}}, {"d", {}}, {"e", {"d", "outside"}}};
  std::mutex m;
  std::set<std::string> ran, skipped;
  auto result = run_dag(
      tasks, 2,
      [&](const std::string& name) {
        std::lock_guard lock(m);
        ran.insert(name);
        return name == "a" ? TaskOutcome::failed : TaskOutcome::passed;
      },
      [&](const std::string& name, const std::string&) {
        std::lock_guard lock(m);
        skipped.insert(name);
      });
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_TRUE(result->failed);
  EXPECT_EQ(ran, (std::set<std::string>{"a", "d", "e"}));
  EXPECT_EQ(skipped, (std::set<std::string>{"b", "c"}));
  EXPECT_EQ(result->skipped.at("c"), "a");  // the failed task, not the skipped link between
}

TEST(StageScheduler, NeverRunsMoreThanJobsAtOnce_AndRespectsNeeds) {
  std::vector<DagTask> tasks;
  for (int i = 0; i < 6; ++i) tasks.push_back({"t" + std::to_string(i), {}});
  tasks.push_back({"last", {"t0", "t1", "t2", "t3", "t4", "t5"}});
  std::atomic<int> running{0}, peak{0}, done{0};
  std::atomic<bool> last_early{false};
  auto result = run_dag(
      tasks, 3,
      [&](const std::string& name) {
        if (name == "last" && done.load() != 6) last_early = true;
        int now = ++running;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        --running;
        ++done;
        return TaskOutcome::passed;
      },
      [](const std::string&, const std::string&) {});
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->failed);
  EXPECT_LE(peak.load(), 3);
  EXPECT_FALSE(last_early.load());
}

TEST(StageScheduler, AllowedFailureLetsDependantsRun) {
  std::vector<DagTask> tasks = {{"a", {}}, {"b", {"a"}}};
  std::set<std::string> ran;
  auto result = run_dag(
      tasks, 1,
      [&](const std::string& name) {
        ran.insert(name);
        return name == "a" ? TaskOutcome::failed_allowed : TaskOutcome::passed;
      },
      [](const std::string&, const std::string&) {});
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->failed);
  EXPECT_EQ(ran.size(), 2u);
}

TEST(StageScheduler, CycleIsRefusedBeforeAnythingRuns) {
  bool ran = false;
  auto result = run_dag(
      {{"a", {"b"}}, {"b", {"a"}}}, 2,
      [&](const std::string&) {
        ran = true;
        return TaskOutcome::passed;
      },
      [](const std::string&, const std::string&) {});
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("cycle"), std::string::npos);
  EXPECT_FALSE(ran);
}

// Base64 of `text` (the test's own encoder, not the masker's).
std::string b64(const std::string& text, bool url = false) {
  static const char* std_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static const char* url_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char* a = url ? url_alphabet : std_alphabet;
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < text.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(text[i]) << 16) | (static_cast<unsigned char>(text[i + 1]) << 8) |
                 static_cast<unsigned char>(text[i + 2]);
    for (int k = 3; k >= 0; --k) out.push_back(a[(v >> (6 * k)) & 63]);
  }
  std::size_t rest = text.size() - i;
  if (rest > 0) {
    unsigned v = static_cast<unsigned char>(text[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(text[i + 1]) << 8;
    out.push_back(a[(v >> 18) & 63]);
    out.push_back(a[(v >> 12) & 63]);
    out.push_back(rest == 2 ? a[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

TEST(SecretMasker, MasksBase64AtEveryAlignmentInsideALongerStream_StdAndUrlSafe) {
  const std::string secret = "s3cr3t/Value?with>bits~";  // '/', '?' and '>' make + and / appear in base64
  SecretMasker m;
  m.add(secret);
  for (const std::string& before : {std::string(""), std::string("a"), std::string("ab"), std::string("user:")}) {
    for (const std::string& after : {std::string(""), std::string("\n"), std::string("X"), std::string("@host")}) {
      for (bool url : {false, true}) {
        std::string encoded = b64(before + secret + after, url);
        std::string masked = m.mask("out: " + encoded + " end");
        EXPECT_NE(masked.find("***"), std::string::npos) << before << "|" << after << " url=" << url << ": " << masked;
        // What is left of the encoding depends on the neighbours, not on the value:
        // at most 3 characters at each edge.
        std::size_t visible = masked.size() - std::string("out:  end").size() - 3;
        EXPECT_LE(visible, (before.size() * 4 + 2) / 3 + 3 + (after.size() * 4 + 2) / 3 + 4)
            << before << "|" << after << ": " << masked;
      }
    }
  }
  EXPECT_EQ(m.mask(b64(secret)), "***");  // `printf %s "$S" | base64`, padding included
}

TEST(SecretMasker, MasksHexAndUrlEncoding) {
  const std::string secret = "p@ss w0rd/42";
  SecretMasker m;
  m.add(secret);
  std::string lower, upper;
  for (unsigned char c : secret) {
    char buf[3];
    std::snprintf(buf, sizeof buf, "%02x", c);
    lower += buf;
    std::snprintf(buf, sizeof buf, "%02X", c);
    upper += buf;
  }
  EXPECT_EQ(m.mask("hex " + lower), "hex ***");
  EXPECT_EQ(m.mask("HEX " + upper), "HEX ***");
  EXPECT_EQ(m.mask("https://x/?p=p%40ss%20w0rd%2F42&q=1"), "https://x/?p=***&q=1");
  EXPECT_EQ(m.mask("https://x/?p=p%40ss%20w0rd%2f42"), "https://x/?p=***");
  // Short values have no encoded patterns (they would mask ordinary text).
  SecretMasker tiny;
  tiny.add("ab");
  EXPECT_EQ(tiny.patterns(), std::vector<std::string>{"ab"});
}

TEST(MaskedStream, CatchesAValueSplitOverPiecesAndLines_HoldsBackOnlyWhatCouldStartOne) {
  SecretMasker m;
  m.add("first-half\nsecond-half");  // a multi-line value
  m.add("0123456789abcdef");
  std::vector<std::string> out;
  MaskedStream stream(m, [&](std::string_view line) { out.emplace_back(line); });
  stream.line("plain line");
  EXPECT_EQ(out, std::vector<std::string>{"plain line"});  // nothing held: no value can start in it
  // An over-long line cut into pieces by the executor, the value across the cut.
  stream.line("xx 01234567", true);
  EXPECT_EQ(out.size(), 2u);
  EXPECT_EQ(out.back(), "xx ");  // the possible start of the value is held
  stream.line("89abcdef yy");
  EXPECT_EQ(out.back(), "*** yy");
  // The two lines of the multi-line value arrive one at a time.
  out.clear();
  stream.line("key: first-half");
  stream.line("second-half (done)");
  stream.finish();
  EXPECT_EQ(out, (std::vector<std::string>{"key: ***", "*** (done)"}));
  // A value whose lines are too short to be patterns of their own: the first
  // line is held until the second shows whether the value goes on.
  SecretMasker short_lines;
  short_lines.add("ab\ncd");
  std::vector<std::string> got;
  MaskedStream held(short_lines, [&](std::string_view line) { got.emplace_back(line); });
  held.line("x ab");
  EXPECT_TRUE(got.empty());
  held.line("cd y");
  EXPECT_EQ(got, std::vector<std::string>{"x *** y"});
  // finish() lets out what was held.
  out.clear();
  stream.line("abc 0123", true);
  stream.finish();
  EXPECT_EQ(out, (std::vector<std::string>{"abc ", "0123"}));
}

TEST(SecretSources, BoundedReadNeverTakesMoreThanMaxPlusOneBytes) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::string data(10000, 'z');
  ASSERT_EQ(::write(fds[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ::close(fds[1]);
  auto got = read_bounded_fd(fds[0], "pipe", 100);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->size(), 101u);  // over the limit: the caller refuses it
  char rest[20000];
  ssize_t left = 0;
  for (ssize_t n; (n = ::read(fds[0], rest, sizeof rest)) > 0;) left += n;
  ::close(fds[0]);
  EXPECT_EQ(left, 10000 - 101);  // the rest was never read
  auto zero = read_bounded("/dev/zero", 64 * 1024);
  ASSERT_TRUE(zero);
  EXPECT_EQ(zero->size(), 64u * 1024 + 1);
}

TEST(SecretMasker, MasksEveryOccurrence_LongestFirst_AndLinesOfMultiLineValues) {
  SecretMasker m;
  m.add("abc");
  m.add("abcdef");
  m.add("line-one\nline-two");
  m.add("");
  EXPECT_EQ(m.mask("x abcdef y abc z"), "x *** y *** z");
  EXPECT_EQ(m.mask("got line-two here"), "got *** here");
  EXPECT_EQ(m.mask("nothing"), "nothing");
}

TEST(StageKey, SecretsEnterAsKeyedDigests_ChangedValueChangesTheKey) {
  pipeline::StageDef stage;
  stage.name = "deploy";
  stage.run = {"deploy"};
  stage.environment = "production";
  stage.secrets.push_back({"TOKEN", {}});
  nlohmann::json ws = {{"tree", "1111"}};
  const std::string key(32, 'k');
  auto digest_of = [&](const std::string& value, const std::string& hmac_key) {
    return "hmac-sha256:" + hmac_sha256_hex(hmac_key, value);
  };
  auto key_for = [&](const std::string& value, const std::string& hmac_key) {
    return stage_key(
        stage_key_record(stage, "sha256:aa", "production", ws, {}, {{"TOKEN", digest_of(value, hmac_key)}}));
  };
  EXPECT_EQ(key_for("token-v1", key), key_for("token-v1", key));
  EXPECT_NE(key_for("token-v1", key), key_for("token-v2", key));
  // Another store's key gives another digest: a shared cache needs a shared key.
  EXPECT_NE(key_for("token-v1", key), key_for("token-v1", std::string(32, 'x')));
  // The record holds neither the value nor its plain sha256.
  auto record = stage_key_record(stage, "sha256:aa", "production", ws, {}, {{"TOKEN", digest_of("token-v1", key)}})
                    .dump();
  EXPECT_EQ(record.find("token-v1"), std::string::npos) << record;
  EXPECT_EQ(record.find(Digest::of("token-v1").hex()), std::string::npos) << record;
  EXPECT_NE(record.find(digest_of("token-v1", key)), std::string::npos) << record;
  // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(StageKey, ChangesWithWhatTheStageSees) {
  pipeline::StageDef stage;
  stage.name = "unit";
  stage.run = {"make test"};
  stage.environment = "test";
  nlohmann::json ws = {{"tree", "1111"}};
  auto base = stage_key(stage_key_record(stage, "sha256:aa", "test", ws, {}));
  EXPECT_EQ(base, stage_key(stage_key_record(stage, "sha256:aa", "test", ws, {})));
  EXPECT_NE(base, stage_key(stage_key_record(stage, "sha256:bb", "test", ws, {})));
  EXPECT_NE(base, stage_key(stage_key_record(stage, "sha256:aa", "test", {{"tree", "2222"}}, {})));
  EXPECT_NE(base, stage_key(stage_key_record(stage, "sha256:aa", "test", ws, {{"build", "sha256:cc"}})));
  auto with_env = stage;
  with_env.env.push_back({"MODE", "fast"});
  EXPECT_NE(base, stage_key(stage_key_record(with_env, "sha256:aa", "test", ws, {})));
  // The typed encoding keeps ["ab","c"] and ["a","bc"] apart.
  EXPECT_NE(stage_key(nlohmann::json::array({"ab", "c"})), stage_key(nlohmann::json::array({"a", "bc"})));
  // One encoder for every key, with a domain each: a stage key never equals
  // the step or image key of the same record.
  const auto record = stage_key_record(stage, "sha256:aa", "test", ws, {});
  EXPECT_EQ(record["format"], 3);
  EXPECT_EQ(stage_key(record), cache::typed_digest("gantry stage key", record));
  EXPECT_NE(stage_key(record), cache::typed_digest("gantry step key", record));
  EXPECT_NE(stage_key(record), cache::typed_digest("gantry image key", record));
}

class StoresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = cache::Store::open(dir_ / "store");
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
  }
  ScratchDir dir_;
  std::unique_ptr<cache::Store> store_;
};

TEST_F(StoresTest, RunRecordRoundTrips_WithImagesAndStages_ByIdPrefix) {
  cache::Metadata& runs = store_->metadata();
  cache::RunRecord run;
  run.id = "20260101-000000-abcd";
  run.repo = "/srv/repo";
  run.rev = "HEAD";
  run.commit = std::string(40, 'c');
  run.pipeline_file = ".gantry.yml";
  run.pipeline_digest = "sha256:" + std::string(64, 'd');
  run.started_ms = 1000;
  run.images = {{"app", "sha256:" + std::string(64, 'a'), true}};
  ASSERT_TRUE(runs.create_run(run));
  cache::StageResult r;
  r.run_id = run.id;
  r.stage = "unit";
  r.environment = "test";
  r.status = cache::StageStatus::passed;
  r.exit_code = 0;
  r.duration_ms = 1234;
  ASSERT_TRUE(runs.record_stage(r));
  ASSERT_TRUE(runs.set_run_status(run.id, cache::RunStatus::waiting, "production", "", false));
  auto got = runs.find_run("20260101-000000");
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->status, cache::RunStatus::waiting);
  EXPECT_EQ(got->waiting_environment, "production");
  ASSERT_EQ(got->images.size(), 1u);
  ASSERT_EQ(got->stages.size(), 1u);
  EXPECT_EQ(got->stages[0].duration_ms, 1234);
  EXPECT_EQ(runs.find_run("nope").error().kind(), ErrorKind::not_found);
}

TEST_F(StoresTest, PromoteRecordsPrevious_RollbackWalksBackTheChain) {
  cache::Metadata& envs = store_->metadata();
  auto d = [](char c) { return "sha256:" + std::string(64, c); };
  ASSERT_TRUE(envs.promote({.project = "p", .image = "app", .environment = "prod", .digest = d('1'), .commit = "c1", .run_id = "r1"}));
  ASSERT_TRUE(envs.promote({.project = "p", .image = "app", .environment = "prod", .digest = d('2'), .commit = "c2", .run_id = "r2"}));
  auto same = envs.promote({.project = "p", .image = "app", .environment = "prod", .digest = d('2'), .commit = "c2", .run_id = "r3"});
  ASSERT_TRUE(same);
  EXPECT_FALSE(same->has_value());  // already there: no event
  ASSERT_TRUE(envs.promote({.project = "p", .image = "app", .environment = "prod", .digest = d('3'), .commit = "c3", .run_id = "r3"}));
  auto p = envs.environment_pointer("p", "app", "prod");
  ASSERT_TRUE(p && *p);
  EXPECT_EQ((*p)->previous_digest, d('2'));

  auto back = envs.rollback("p", "app", "prod");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->digest, d('2'));
  EXPECT_EQ(back->replaced_digest, d('3'));
  EXPECT_EQ(back->run_id, "r2");
  back = envs.rollback("p", "app", "prod");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->digest, d('1'));
  auto none = envs.rollback("p", "app", "prod");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind(), ErrorKind::conflict);
  EXPECT_EQ((*envs.environment_pointer("p", "app", "prod"))->digest, d('1'));
  EXPECT_TRUE(*envs.was_promoted("p", "app", "prod", d('3')));
  EXPECT_FALSE(*envs.was_promoted("p", "app", "test", d('3')));
  auto history = envs.promotion_history({.project = "p", .image = "app"});
  ASSERT_TRUE(history);
  EXPECT_EQ(history->size(), 5u);  // 3 promotions, 2 rollbacks
}

}  // namespace
}  // namespace gantry::runner
