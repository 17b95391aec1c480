// Many repositories in one store (issue 11 item 4): two real git
// repositories that both build an image `app` are promoted independently;
// env ls / history / promote / rollback take --project and infer it only when
// it is unambiguous; bad project names and claims are refused, changing nothing;
// build tags are per project and a pipeline never sees another project's.
#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

class RunProjectsTest : public RunFixture {
 protected:
  void SetUp() override {
    RunFixture::SetUp();
    repo_a_ = repo_;
    repo_b_ = dir_ / "other";
    auto init = run_command({"git", "init", "-q", "-b", "main", repo_b_});
    ASSERT_EQ(init.exit_code, 0) << init.err;
    use(repo_b_);
    git({"config", "user.email", "test@example.org"});
    git({"config", "user.name", "Projects Test"});
    use(repo_a_);
  }
  void use(const std::string& repo) { repo_ = repo; }
  void version(const std::string& v, const std::string& top = "") {
    commit({{".gantry.yml",
             top + "images:\n  app:\n    from: busybox\n    steps:\n      - copy: VERSION /VERSION\n"
                   "stages:\n  unit: {image: app, run: cat /VERSION}\n"
                   "environments:\n  - test\n  - {name: production, when: manual}\n"},
            {"VERSION", v + "\n"}},
           "version " + v);
  }
  static std::string digest(const nlohmann::json& run) {
    return run["images"].empty() ? "" : run["images"][0].value("digest", "");
  }
  // environment -> digest of app in `project` (gantry env ls --project P --json).
  std::map<std::string, std::string> envs_of(const std::string& project) {
    std::map<std::string, std::string> out;
    for (const auto& p : gantry_json({"env", "ls", "--project", project, "--json"})) {
      EXPECT_EQ(p.value("project", ""), project) << p.dump();
      out[p.value("environment", "")] = p.value("digest", "");
    }
    return out;
  }
  std::size_t runs_of(const std::string& project) {
    return gantry_json({"history", "--project", project, "--json"})["runs"].size();
  }
  std::string repo_a_, repo_b_;
};

TEST_F(RunProjectsTest, TwoRepositoriesWithImageApp_ArePromotedIndependently) {
  use(repo_a_);
  version("a1");
  auto a1 = run_json();
  use(repo_b_);
  version("b1");
  auto b1 = run_json();
  ASSERT_EQ(a1.value("status", ""), "waiting") << a1.dump(2);
  ASSERT_EQ(b1.value("status", ""), "waiting") << b1.dump(2);
  EXPECT_EQ(a1.value("project", ""), "repo");
  EXPECT_EQ(b1.value("project", ""), "other");
  ASSERT_NE(digest(a1), digest(b1));
  EXPECT_EQ(envs_of("repo"), (std::map<std::string, std::string>{{"test", digest(a1)}}));
  EXPECT_EQ(envs_of("other"), (std::map<std::string, std::string>{{"test", digest(b1)}}));

  // Two projects have an image `app`: no guessing, the candidates are named, nothing moves.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"promote", "app", "--to", "production"}, {"env", "ls"}, {"history", "app"},
           {"rollback", "app", "--env", "test"}}) {
    auto r = run_gantry(store_, args);
    EXPECT_NE(r.exit_code, 0) << args[0] << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find("--project"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("other, repo"), std::string::npos) << r.err;
  }
  EXPECT_EQ(envs_of("repo").count("production"), 0u);
  EXPECT_EQ(envs_of("other").count("production"), 0u);

  // Promoting one project never changes the other.
  gantry_json({"promote", "app", "--to", "production", "--project", "repo", "--json"});
  EXPECT_EQ(envs_of("repo")["production"], digest(a1));
  EXPECT_EQ(envs_of("other").count("production"), 0u);
  gantry_json({"promote", "app", "--to", "production", "--project", "other", "--json"});
  EXPECT_EQ(envs_of("other")["production"], digest(b1));
  EXPECT_EQ(envs_of("repo")["production"], digest(a1));

  use(repo_a_);
  version("a2");
  auto a2 = run_json();
  ASSERT_EQ(a2.value("status", ""), "waiting") << a2.dump(2);
  gantry_json({"promote", "app", "--to", "production", "--project", "repo", "--run", a2["id"], "--json"});
  EXPECT_EQ(envs_of("repo")["production"], digest(a2));
  EXPECT_EQ(envs_of("other")["production"], digest(b1));
  auto back = gantry_json({"rollback", "app", "--env", "production", "--project", "repo", "--json"});
  EXPECT_EQ(back.value("project", ""), "repo");
  EXPECT_EQ(envs_of("repo")["production"], digest(a1));
  EXPECT_EQ(envs_of("other")["production"], digest(b1));

  // history --project: only that project's runs and events.
  auto history = gantry_json({"history", "--project", "repo", "--json"});
  EXPECT_EQ(history.value("project", ""), "repo");
  ASSERT_EQ(history["runs"].size(), 2u) << history.dump(2);
  for (const auto& r : history["runs"]) EXPECT_EQ(r.value("project", ""), "repo");
  ASSERT_EQ(history["promotions"].size(), 5u) << history.dump(2);  // test x2, production x2, rollback
  for (const auto& e : history["promotions"]) EXPECT_EQ(e.value("project", ""), "repo");
  EXPECT_EQ(runs_of("other"), 1u);

  // A --project the store does not know: a clear error, nothing changed.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"env", "ls", "--project", "nope"}, {"history", "--project", "nope"},
           {"promote", "app", "--to", "production", "--project", "nope"},
           {"rollback", "app", "--env", "production", "--project", "nope"}}) {
    auto r = run_gantry(store_, args);
    EXPECT_NE(r.exit_code, 0) << args[0] << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find("unknown project 'nope'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("other, repo"), std::string::npos) << r.err;
  }
  EXPECT_EQ(envs_of("repo")["production"], digest(a1));
  EXPECT_EQ(envs_of("other")["production"], digest(b1));
  EXPECT_EQ(runs_of("repo"), 2u);
}

TEST_F(RunProjectsTest, ProjectKey_NamesTheProject_InvalidOrClaimedNamesAreRefused) {
  use(repo_a_);
  version("a1");
  auto a1 = run_json();
  ASSERT_EQ(a1.value("project", ""), "repo");

  use(repo_b_);
  version("b1", "project: Not A Name\n");
  auto bad = run();
  EXPECT_NE(bad.exit_code, 0) << bad.out << bad.err;
  EXPECT_NE(bad.err.find(".gantry.yml:1:10"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("not a valid project name"), std::string::npos) << bad.err;

  // Another repository's project cannot be claimed: its environments stay its own.
  version("b2", "project: repo\n");
  auto claim = run();
  EXPECT_NE(claim.exit_code, 0) << claim.out << claim.err;
  EXPECT_NE(claim.err.find(".gantry.yml:1:"), std::string::npos) << claim.err;
  EXPECT_NE(claim.err.find("another repository"), std::string::npos) << claim.err;
  EXPECT_EQ(runs_of("repo"), 1u);
  EXPECT_EQ(envs_of("repo")["test"], digest(a1));

  // An unused name is this repository's project from now on.
  version("b3", "project: billing-web\n");
  auto named = run_json();
  EXPECT_EQ(named.value("project", ""), "billing-web") << named.dump(2);
  EXPECT_EQ(envs_of("billing-web")["test"], digest(named));
  EXPECT_EQ(envs_of("repo")["test"], digest(a1));
  auto r = run_gantry(store_, {"env", "ls", "--project", "other"});
  EXPECT_NE(r.exit_code, 0) << r.out;  // nothing was ever recorded in "other"
}

TEST_F(RunProjectsTest, BuildTags_ArePerProject_APipelineNeverSeesAnotherProjectsBuildTags) {
  use(repo_a_);
  version("a1");
  auto a1 = run_json();
  use(repo_b_);
  version("b1");
  auto b1 = run_json();
  ASSERT_NE(digest(a1), digest(b1));

  // Each project has its own app:latest and app:<short>; neither moved the other's.
  std::map<std::string, std::string> latest;  // project -> digest of app:latest
  for (const auto& t : gantry_json({"image", "ls", "--json"}))
    if (t.value("name", "") == "app" && t.value("tag", "") == "latest") latest[t.value("project", "")] = t["digest"];
  EXPECT_EQ(latest, (std::map<std::string, std::string>{{"repo", digest(a1)}, {"other", digest(b1)}}));

  // The CLI does not guess between two projects' build tags...
  auto ambiguous = run_gantry(store_, {"exec", "app:latest", "--", "cat", "/VERSION"});
  EXPECT_NE(ambiguous.exit_code, 0) << ambiguous.out;
  EXPECT_NE(ambiguous.err.find("several projects (other, repo)"), std::string::npos) << ambiguous.err;
  // ...and --project chooses.
  auto mine = run_gantry(store_, {"exec", "--project", "repo", "app:latest", "--", "cat", "/VERSION"});
  EXPECT_EQ(mine.exit_code, 0) << mine.err;
  EXPECT_EQ(mine.out, "a1\n");
  auto inspect = gantry_json({"image", "inspect", "--project", "other", "app:latest"});
  EXPECT_EQ(inspect.value("digest", ""), digest(b1));

  // A third repository cannot build on another project's build tag...
  const std::string repo_c = dir_ / "third";
  ASSERT_EQ(run_command({"git", "init", "-q", "-b", "main", repo_c}).exit_code, 0);
  use(repo_c);
  git({"config", "user.email", "test@example.org"});
  git({"config", "user.name", "Projects Test"});
  commit({{".gantry.yml", "images:\n  derived:\n    from: app:latest\n    steps:\n      - run: cat /VERSION\n"}},
         "derived");
  auto refused = run_gantry(store_, {"build", repo_c});
  EXPECT_NE(refused.exit_code, 0) << refused.out;
  EXPECT_NE(refused.err.find(".gantry.yml:3:"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("build tag of project other, repo"), std::string::npos) << refused.err;
  // ...until someone tags it store-wide on purpose.
  auto shared = run_gantry(store_, {"image", "tag", "--project", "repo", "app:latest", "app:latest"});
  ASSERT_EQ(shared.exit_code, 0) << shared.err;
  auto built = run_gantry(store_, {"build", repo_c, "--json"});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  auto unscoped = run_gantry(store_, {"exec", "app:latest", "--", "cat", "/VERSION"});  // the store-wide tag
  EXPECT_EQ(unscoped.out, "a1\n") << unscoped.err;

  // A new build of one project moves only its own tags.
  use(repo_b_);
  version("b2");
  auto b2 = run_json();
  auto other = gantry_json({"image", "inspect", "--project", "other", "app:latest"});
  EXPECT_EQ(other.value("digest", ""), digest(b2));
  auto repo = gantry_json({"image", "inspect", "--project", "repo", "app:latest"});
  EXPECT_EQ(repo.value("digest", ""), digest(a1));
}

}  // namespace
}  // namespace gantry::testing
