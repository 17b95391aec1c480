#include "tests/runner/build_fixture.h"

#include <memory>

namespace gantry::testing {

namespace {

// One busybox rootfs tarball per test process (the image import into each
// test's own store is what the tests exercise).
const std::string& busybox_tarball() {
  static std::unique_ptr<ScratchDir> dir;
  static std::string tarball;
  if (tarball.empty()) {
    dir = std::make_unique<ScratchDir>();
    make_busybox_rootfs(*dir / "rootfs");
    tarball = *dir / "busybox.tar";
    auto tar = run_command({"tar", "-C", *dir / "rootfs", "-cf", tarball, "."});
    if (tar.exit_code != 0) throw std::runtime_error("tar: " + tar.err);
  }
  return tarball;
}

}  // namespace

void BuildFixture::SetUp() {
  GANTRY_REQUIRE_ROOT();
  store_ = dir_ / "store";
  repo_ = dir_ / "repo";
  auto import = run_gantry(store_, {"image", "import", busybox_tarball(), "busybox"});
  ASSERT_EQ(import.exit_code, 0) << import.out << import.err;
  auto init = run_command({"git", "init", "-q", "-b", "main", repo_});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  git({"config", "user.email", "test@example.org"});
  git({"config", "user.name", "Build Test"});
}

std::string BuildFixture::make_store(const std::string& name) {
  std::string store = dir_ / name;
  auto import = run_gantry(store, {"image", "import", busybox_tarball(), "busybox"});
  EXPECT_EQ(import.exit_code, 0) << import.out << import.err;
  return store;
}

std::string BuildFixture::git(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"git", "-C", repo_};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_command(argv);
  EXPECT_EQ(r.exit_code, 0) << "git failed: " << r.err;
  while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

std::string BuildFixture::commit(const std::map<std::string, std::string>& files, const std::string& message) {
  for (const auto& [path, content] : files) write_file(repo_ + "/" + path, content);
  git({"add", "-A"});
  git({"commit", "-q", "--allow-empty", "-m", message});
  return git({"rev-parse", "HEAD"});
}

CommandResult BuildFixture::build(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"build", repo_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_gantry(store_, argv);
}

nlohmann::json BuildFixture::build_json(const std::vector<std::string>& args) {
  std::vector<std::string> argv = args;
  argv.push_back("--json");
  auto r = build(argv);
  EXPECT_EQ(r.exit_code, 0) << "gantry build failed:\n" << r.out << r.err;
  if (r.exit_code != 0) return nlohmann::json::object();
  try {
    return nlohmann::json::parse(r.out);
  } catch (const nlohmann::json::exception& e) {
    ADD_FAILURE() << "not JSON: " << e.what() << "\n" << r.out;
    return nlohmann::json::object();
  }
}

const nlohmann::json& BuildFixture::image_of(const nlohmann::json& result, const std::string& image) {
  static const nlohmann::json none = nlohmann::json::object();
  if (!result.contains("images")) return none;
  for (const auto& i : result["images"])
    if (i.value("name", "") == image) return i;
  ADD_FAILURE() << "no image " << image << " in " << result.dump();
  return none;
}

std::vector<bool> BuildFixture::cached_flags(const nlohmann::json& result, const std::string& image) {
  std::vector<bool> out;
  const auto& i = image_of(result, image);
  if (i.contains("steps"))
    for (const auto& step : i["steps"]) out.push_back(step.at("cached").get<bool>());
  return out;
}

std::uint64_t BuildFixture::counter(const nlohmann::json& result, const std::string& name) {
  if (!result.contains("counters") || !result["counters"].contains(name)) {
    ADD_FAILURE() << "no counter " << name << " in " << result.dump();
    return 0;
  }
  return result["counters"][name].get<std::uint64_t>();
}

}  // namespace gantry::testing
