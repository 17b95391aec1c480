#include "tests/runner/fast/fake_run_fixture.h"

#include "cache/metadata.h"
#include "cache/image_store.h"
#include "cache/layer_writer.h"

namespace gantry::testing {

void FakeRunFixture::SetUp() {
  repo_ = dir_ / "repo";
  auto opened = cache::Store::open(dir_ / "store");
  ASSERT_TRUE(opened) << opened.error().message();
  store_ = std::move(*opened);
  store_->set_clock(clock_);
  fake_.clock = &clock_;
  make_image("busybox", {{"bin/sh", "not a shell: the fake launcher runs nothing\n"}, {"etc/os-release", "fake\n"}});
  auto init = run_command({"git", "init", "-q", "-b", "main", repo_});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  for (auto kv : {std::pair{"user.email", "test@example.org"}, std::pair{"user.name", "Fast Test"}})
    ASSERT_EQ(run_command({"git", "-C", repo_, "config", kv.first, kv.second}).exit_code, 0);
}

std::string FakeRunFixture::commit(const std::map<std::string, std::string>& files, const std::string& message) {
  for (const auto& [path, content] : files) write_file(repo_ + "/" + path, content);
  EXPECT_EQ(run_command({"git", "-C", repo_, "add", "-A"}).exit_code, 0);
  EXPECT_EQ(run_command({"git", "-C", repo_, "commit", "-q", "--allow-empty", "-m", message}).exit_code, 0);
  auto head = run_command({"git", "-C", repo_, "rev-parse", "HEAD"});
  return head.out.substr(0, head.out.find('\n'));
}

std::string FakeRunFixture::make_image(const std::string& name, const std::map<std::string, std::string>& files) {
  ScratchDir tree;
  for (const auto& [path, content] : files) write_file(tree / path, content);
  auto layer = cache::write_layer_from_dir(*store_, tree.path());
  EXPECT_TRUE(layer) << layer.error().message();
  if (!layer) return "";
  cache::ImageConfig config;
  config.env = {"PATH=/bin"};
  auto digest = store_->images().commit_image(config, {*layer});
  EXPECT_TRUE(digest) << digest.error().message();
  if (!digest) return "";
  auto tagged = store_->images().tag(name, "latest", *digest);
  EXPECT_TRUE(tagged) << tagged.error().message();
  return digest->str();
}

Result<cache::RunRecord> FakeRunFixture::run(unsigned jobs, bool no_cache) {
  runner::RunOptions options;
  options.repo = repo_;
  options.jobs = jobs;
  options.no_cache = no_cache;
  options.runner_config = runner_config_;
  options.launcher = &fake_;
  auto record = runner::run_pipeline(*store_, options, reporter_);
  clock_.advance(std::chrono::seconds(1));  // runs are apart in time, as they are in life
  return record;
}

cache::RunRecord FakeRunFixture::run_ok(unsigned jobs, bool no_cache) {
  auto record = run(jobs, no_cache);
  EXPECT_TRUE(record) << record.error().message();
  return record ? *record : cache::RunRecord{};
}

Result<cache::RunRecord> FakeRunFixture::promote(const std::string& image, const std::string& environment,
                                                 const std::string& run_id) {
  runner::PromoteOptions options;
  options.image = image;
  options.environment = environment;
  options.run_id = run_id;
  options.jobs = 2;
  options.runner_config = runner_config_;
  options.launcher = &fake_;
  return runner::promote_run(*store_, options, reporter_);
}

Result<cache::PromotionEvent> FakeRunFixture::rollback(const std::string& image, const std::string& environment) {
  runner::RollbackOptions options;
  options.image = image;
  options.environment = environment;
  options.runner_config = runner_config_;
  return runner::rollback_environment(*store_, options, reporter_);
}

std::size_t FakeRunFixture::run_count() {
  auto list = store_->metadata().list_runs({.limit = 100000, .with_details = false});
  EXPECT_TRUE(list) << list.error().message();
  return list ? list->size() : 0;
}

std::map<std::string, std::string> FakeRunFixture::environments(const std::string& image) {
  std::map<std::string, std::string> out;
  auto runs = store_->metadata().projects(image);
  EXPECT_TRUE(runs) << runs.error().message();
  if (!runs) return out;
  for (const auto& project : *runs) {
    auto list = store_->metadata().environment_pointers(project, image);
    EXPECT_TRUE(list) << list.error().message();
    if (list)
      for (const auto& p : *list) out[image.empty() ? p.image + "@" + p.environment : p.environment] = p.digest;
  }
  return out;
}

const cache::StageResult& FakeRunFixture::stage(const cache::RunRecord& run, const std::string& name) {
  for (const auto& s : run.stages)
    if (s.stage == name) return s;
  static const cache::StageResult none;
  ADD_FAILURE() << "run " << run.id << " has no stage " << name;
  return none;
}

std::string FakeRunFixture::digest_of(const cache::RunRecord& run, const std::string& image) {
  for (const auto& i : run.images)
    if (i.image == image) return i.digest;
  return "";
}

}  // namespace gantry::testing
