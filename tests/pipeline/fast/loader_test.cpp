#include "pipeline/loader.h"

#include <gtest/gtest.h>

#include "common/digest.h"
#include "tests/pipeline/expect_diagnostics.h"
#include "tests/support/test_support.h"

namespace gantry::pipeline {
namespace {

// Every key of the format, as docs/pipeline.md shows it.
const char* kFull = R"(images:
  base:
    from: 127.0.0.1:5000/team/base:1.2
    env: {LANG: C.UTF-8, PATH: /usr/bin:/bin}
  app:
    from: base
    env:
      APP_HOME: /app
      DEBUG: 0
    workdir: /app
    user: "1000:1000"
    labels: {org.opencontainers.image.title: hello}
    entrypoint: [/app/bin/hello, --serve]
    cmd: --port 8080
    steps:
      - copy: src/ /app/src/
        chmod: "0755"
        chown: "1000:100"
      - copy: [include/*.h, README, /app/include/]
      - run: sh /app/src/build.sh
        env: {CC: gcc}
      - run: [wget, -O, /tmp/x, https://example.org/x]
        network: host
      - env: {MODE: release}
      - workdir: /app/bin
      - user: nobody
  tools:
    from: scratch
    steps:
      - copy: ../shared/tool /bin/tool

stages:
  unit: {image: app, run: sh /app/src/test.sh}
  lint:
    image: app
    run:
      - cd /app/src
      - sh lint.sh
    timeout: 2m
    cache: false
    retry: 2
    allow_failure: true
  api:
    image: app
    inputs: [tests/api/, "/top/**/*.json"]
    run: sh /workspace/tests/api/run.sh
    workspace: yes
  smoke:
    image: app
    needs: [unit, lint]
    environment: staging
    run: sh /app/src/smoke.sh
    env: {TARGET: staging}
    secrets: [TOKEN, KEY, OTHER]
    limits: {memory: 256M, pids: 128, cpus: 1.5}
    network: host
    artifacts: [/app/report.xml]
  deploy:
    image: busybox
    needs: smoke
    environment: production
    run: echo deploy
    workspace: false
    secrets: [TOKEN]

environments:
  - test
  - {name: staging, export: oci/staging.tar}
  - name: production
    when: manual
    push: 127.0.0.1:5000/team/app:prod
)";

TEST(Loader, ReadsEveryKey) {
  auto r = load_pipeline(kFull, "examples/hello/.gantry.yml");
  ASSERT_TRUE(r) << r.error().str();
  const Pipeline& p = *r;
  EXPECT_EQ(p.file, "examples/hello/.gantry.yml");
  EXPECT_EQ(p.base_dir, "examples/hello");
  EXPECT_EQ(p.digest, Digest::of(kFull).str());

  ASSERT_EQ(p.images.size(), 3u);
  const ImageDef& base = p.images[0];
  EXPECT_EQ(base.name, "base");
  EXPECT_EQ(base.from, "127.0.0.1:5000/team/base:1.2");
  EXPECT_EQ(base.from_pos.line, 3);
  EXPECT_EQ(base.from_pos.column, 11);
  EXPECT_EQ(base.env, (EnvList{{"LANG", "C.UTF-8"}, {"PATH", "/usr/bin:/bin"}}));

  const ImageDef& app = *p.find_image("app");
  EXPECT_EQ(app.from, "base");
  EXPECT_EQ(app.env, (EnvList{{"APP_HOME", "/app"}, {"DEBUG", "0"}}));
  EXPECT_EQ(app.workdir, "/app");
  EXPECT_EQ(app.user, "1000:1000");
  EXPECT_EQ(app.labels.at("org.opencontainers.image.title"), "hello");
  EXPECT_EQ(app.entrypoint, (std::vector<std::string>{"/app/bin/hello", "--serve"}));
  EXPECT_EQ(app.cmd, (std::vector<std::string>{"/bin/sh", "-c", "--port 8080"}));
  ASSERT_EQ(app.steps.size(), 7u);

  const Step& copy = app.steps[0];
  EXPECT_EQ(copy.kind, StepKind::copy);
  EXPECT_EQ(copy.pos.line, 16);
  EXPECT_EQ(copy.sources, std::vector<std::string>{"src/"});
  EXPECT_EQ(copy.tree_sources, std::vector<std::string>{"examples/hello/src"});
  EXPECT_EQ(copy.dest, "/app/src/");
  EXPECT_EQ(copy.chmod, 0755u);
  EXPECT_EQ(copy.chown, (Owner{1000, 100}));

  const Step& copy2 = app.steps[1];
  EXPECT_EQ(copy2.tree_sources, (std::vector<std::string>{"examples/hello/include/*.h", "examples/hello/README"}));
  EXPECT_EQ(copy2.dest, "/app/include/");
  EXPECT_FALSE(copy2.chmod);

  const Step& run = app.steps[2];
  EXPECT_EQ(run.kind, StepKind::run);
  EXPECT_TRUE(run.shell_form());
  EXPECT_EQ(run.command(), (std::vector<std::string>{"/bin/sh", "-c", "sh /app/src/build.sh"}));
  EXPECT_EQ(run.env, (EnvList{{"CC", "gcc"}}));
  EXPECT_EQ(run.network, NetworkMode::none);

  const Step& exec = app.steps[3];
  EXPECT_EQ(exec.argv, (std::vector<std::string>{"wget", "-O", "/tmp/x", "https://example.org/x"}));
  EXPECT_EQ(exec.command(), exec.argv);
  EXPECT_EQ(exec.network, NetworkMode::host);
  EXPECT_EQ(app.steps[4].kind, StepKind::env);
  EXPECT_EQ(app.steps[4].env, (EnvList{{"MODE", "release"}}));
  EXPECT_EQ(app.steps[5].kind, StepKind::workdir);
  EXPECT_EQ(app.steps[5].value, "/app/bin");
  EXPECT_EQ(app.steps[6].kind, StepKind::user);
  EXPECT_EQ(app.steps[6].value, "nobody");

  EXPECT_EQ(p.find_image("tools")->steps[0].tree_sources, std::vector<std::string>{"examples/shared/tool"});

  ASSERT_EQ(p.stages.size(), 5u);
  const StageDef& unit = *p.find_stage("unit");
  EXPECT_EQ(unit.image, "app");
  EXPECT_EQ(unit.run, std::vector<std::string>{"sh /app/src/test.sh"});
  EXPECT_EQ(unit.script(), "sh /app/src/test.sh");
  EXPECT_EQ(unit.environment, "test");
  EXPECT_FALSE(unit.environment_explicit);
  EXPECT_TRUE(unit.cache);
  EXPECT_TRUE(unit.workspace);
  EXPECT_EQ(unit.network, NetworkMode::none);
  EXPECT_FALSE(unit.timeout);

  const StageDef& lint = *p.find_stage("lint");
  EXPECT_EQ(lint.run, (std::vector<std::string>{"cd /app/src", "sh lint.sh"}));
  EXPECT_EQ(lint.script(), "{\ncd /app/src\n} && {\nsh lint.sh\n}");
  EXPECT_EQ(lint.timeout, std::chrono::minutes(2));
  EXPECT_FALSE(lint.cache);
  EXPECT_EQ(lint.retry, 2u);
  EXPECT_TRUE(lint.allow_failure);

  const StageDef& api = *p.find_stage("api");
  EXPECT_EQ(api.inputs, (std::vector<std::string>{"tests/api/", "/top/**/*.json"}));
  EXPECT_EQ(api.tree_inputs, (std::vector<std::string>{"examples/hello/tests/api", "top/**/*.json"}));

  const StageDef& smoke = *p.find_stage("smoke");
  EXPECT_EQ(smoke.needs, (std::vector<std::string>{"unit", "lint"}));
  EXPECT_EQ(smoke.environment, "staging");
  EXPECT_TRUE(smoke.environment_explicit);
  EXPECT_EQ(smoke.env, (EnvList{{"TARGET", "staging"}}));
  ASSERT_EQ(smoke.secrets.size(), 3u);
  EXPECT_EQ(smoke.secrets[0].name, "TOKEN");
  EXPECT_EQ(smoke.secrets[1].name, "KEY");
  EXPECT_EQ(smoke.secrets[2].name, "OTHER");
  EXPECT_EQ(smoke.limits.memory, 256u << 20);
  EXPECT_EQ(smoke.limits.pids, 128u);
  EXPECT_EQ(smoke.limits.cpus, 1.5);
  EXPECT_EQ(smoke.network, NetworkMode::host);
  EXPECT_EQ(smoke.artifacts, std::vector<std::string>{"/app/report.xml"});

  const StageDef& deploy = *p.find_stage("deploy");
  EXPECT_EQ(deploy.image, "busybox");
  EXPECT_EQ(deploy.needs, std::vector<std::string>{"smoke"});
  EXPECT_FALSE(deploy.workspace);
  ASSERT_EQ(deploy.secrets.size(), 1u);
  EXPECT_EQ(deploy.secrets[0].name, "TOKEN");

  ASSERT_EQ(p.environments.size(), 3u);
  EXPECT_EQ(p.environments[0].name, "test");
  EXPECT_EQ(p.environments[0].when, Gate::automatic);
  EXPECT_EQ(p.environments[1].export_path, "oci/staging.tar");
  EXPECT_EQ(p.environments[2].when, Gate::manual);
  EXPECT_EQ(p.environments[2].push, "127.0.0.1:5000/team/app:prod");
  EXPECT_EQ(p.environment_index("production"), 2);
  EXPECT_EQ(p.stages_of("test").size(), 3u);
}

TEST(Loader, DefaultsEnvironmentsToTestStagingProduction) {
  auto r = load_pipeline("stages:\n  unit: {image: busybox, run: 'true'}\n", ".gantry.yml");
  ASSERT_TRUE(r) << r.error().str();
  ASSERT_EQ(r->environments.size(), 3u);
  EXPECT_EQ(r->environments[0].name, "test");
  EXPECT_EQ(r->environments[1].name, "staging");
  EXPECT_EQ(r->environments[2].name, "production");
  EXPECT_EQ(r->environments[2].when, Gate::automatic);
  EXPECT_EQ(r->stages[0].environment, "test");
  EXPECT_EQ(r->base_dir, "");
}

TEST(Loader, QuotedGlobCopyForms) {
  auto r = load_pipeline(R"(images:
  app:
    from: scratch
    steps:
      - copy: "*.c /app/"
      - copy: ["*.h", "my file.txt", /app/]
)",
                         ".gantry.yml");
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->images[0].steps[0].tree_sources, std::vector<std::string>{"*.c"});
  EXPECT_EQ(r->images[0].steps[0].dest, "/app/");
  EXPECT_EQ(r->images[0].steps[1].tree_sources, (std::vector<std::string>{"*.h", "my file.txt"}));
}

TEST(Loader, BuildStateFollowsSteps) {
  auto r = load_pipeline(kFull, "examples/hello/.gantry.yml");
  ASSERT_TRUE(r) << r.error().str();
  const ImageDef& app = *r->find_image("app");
  BuildState s = initial_state(app, BuildState{{{"PATH", "/bin"}}, "/", ""});
  EXPECT_EQ(s.env, (EnvList{{"PATH", "/bin"}, {"APP_HOME", "/app"}, {"DEBUG", "0"}}));
  EXPECT_EQ(s.workdir, "/app");
  EXPECT_EQ(s.user, "1000:1000");
  EXPECT_EQ(step_env(s, app.steps[2]).back(), (EnvVar{"CC", "gcc"}));
  for (const auto& step : app.steps) s = apply_step(s, step);
  EXPECT_EQ(s.env.back(), (EnvVar{"MODE", "release"}));
  EXPECT_EQ(s.env.size(), 4u);  // the run step's CC is not kept
  EXPECT_EQ(s.workdir, "/app/bin");
  EXPECT_EQ(s.user, "nobody");
}

// ---- errors ---------------------------------------------------------------

TEST(LoaderErrors, InvalidYamlHasItsPosition) {
  expect_diagnostics("images:\n  app: {from: busybox\n", {{3, 1, "invalid YAML: end of map flow not found"}});
  expect_diagnostics("images: x: y\n", {{1, 10, "invalid YAML: illegal map value"}});
}

TEST(LoaderErrors, EmptyAndNonMappingFiles) {
  expect_diagnostics("", {{1, 1, "empty file: expected 'images', 'stages' and 'environments'"}});
  expect_diagnostics("- a\n- b\n", {{1, 1, "expected a mapping with keys project, images, stages, environments, epoch, include or interruptible, got a list"}});
  expect_diagnostics("environments: [test]\n", {{1, 1, "nothing to do: the file declares neither 'images' nor 'stages'"}});
}

TEST(LoaderErrors, UnknownKeysSuggestTheClosest) {
  expect_diagnostics(R"(imgaes:
  app: {from: busybox}
stages:
  unit:
    image: busybox
    rnu: make test
    neds: [x]
    timout: 1m
    frobnicate: 1
)",
                     {{1, 1, "imgaes: unknown key 'imgaes' (did you mean 'images'?)"},
                      {4, 3, "stages.unit: missing required key 'run'"},
                      {6, 5, "stages.unit.rnu: unknown key 'rnu' (did you mean 'run'?)"},
                      {7, 5, "stages.unit.neds: unknown key 'neds' (did you mean 'needs'?)"},
                      {8, 5, "stages.unit.timout: unknown key 'timout' (did you mean 'timeout'?)"},
                      {9, 5,
                       "stages.unit.frobnicate: unknown key 'frobnicate'; expected one of image, run, needs, "
                       "environment, env, secrets, timeout, limits, network, artifacts, cache, allow_failure, "
                       "retry, workspace, inputs, matrix, services, caches, reports, interruptible or runs_on"}});
}

TEST(Loader, RunsOn_AgentLabels_OneOrAList_BadLabelsNamedAtTheirKey) {
  auto r = load_pipeline("stages:\n  a: {image: busybox, run: 'true', runs_on: gpu}\n"
                         "  b: {image: busybox, run: 'true', runs_on: [x86, big-mem]}\n",
                         ".gantry.yml");
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->find_stage("a")->runs_on, (std::vector<std::string>{"gpu"}));
  EXPECT_EQ(r->find_stage("b")->runs_on, (std::vector<std::string>{"x86", "big-mem"}));
  expect_diagnostics("stages:\n  a: {image: busybox, run: 'true', runs_on: ['has space']}\n",
                     {{2, 45, "stages.a.runs_on: 'has space' is not a label (letters, digits, '.', '_', '-')"}});
}

TEST(LoaderErrors, StepProblems) {
  expect_diagnostics(R"(images:
  app:
    from: busybox
    steps:
      - rn: make
      - run: make
        copy: a /b
      - copy: src/ app/
      - copy: onlyone
      - copy: ../../etc/passwd /x
      - run: make
        chmod: "0755"
        network: internet
      - copy: a /b
        chmod: "999"
        chown: bob
      - workdir: relative
      - make
      - {}
      - run: ""
)",
                     {{5, 9, "images.app.steps[0].rn: unknown key 'rn' (did you mean 'run'?)"},
                      {5, 9, "images.app.steps[0]: a step needs one of run, copy, env, workdir, user"},
                      {7, 9,
                       "images.app.steps[1]: a step has exactly one of run, copy, env, workdir, user; found "
                       "'run' and 'copy'"},
                      {8, 15, "images.app.steps[2].copy: copy destination must be an absolute path in the image, got 'app/'"},
                      {9, 15, "images.app.steps[3].copy: expected at least one source and a destination ('SOURCE... DEST')"},
                      {10, 15, "images.app.steps[4].copy: copy source '../../etc/passwd' leaves the repository"},
                      {12, 9, "images.app.steps[5].chmod: 'chmod' applies to copy steps only"},
                      {13, 18, "images.app.steps[5].network: expected 'none' or 'host', got 'internet'"},
                      {15, 16, "images.app.steps[6].chmod: expected octal permission bits like 0755 or 644, got '999'"},
                      {16, 16, "images.app.steps[6].chown: expected numeric UID[:GID] like 1000:1000, got 'bob'"},
                      {17, 18, "images.app.steps[7].workdir: expected an absolute path (starting with '/'), got 'relative'"},
                      {18, 9,
                       "images.app.steps[8]: expected a step (a mapping with one of run, copy, env, workdir, user), got "
                       "a string"},
                      {19, 9, "images.app.steps[9]: a step needs one of run, copy, env, workdir, user"},
                      {20, 14, "images.app.steps[10].run: expected a non-empty string"}});
}

TEST(LoaderErrors, WrongTypesAndMissingRequiredKeys) {
  expect_diagnostics(R"(images:
  app:
    env: [A, B]
    workdir: {x: 1}
    steps: run make
  "Bad Name": {from: busybox}
  other:
    from: Not A Ref
stages:
  unit:
    image: app
    run: [make, {x: 1}]
    cache: maybe
    retry: -1
    timeout: soon
    limits: {memory: lots, pids: 0, cpus: 0, swap: 1}
    artifacts: [relative/path]
    env: {1BAD: x}
    secrets: {A: {env: X, file: Y}}
)",
                     {{2, 3, "images.app: missing required key 'from'"},
                      {3, 10, "images.app.env: expected a mapping, got a list"},
                      {4, 14, "images.app.workdir: expected a string, got a mapping"},
                      {5, 12, "images.app.steps: expected a list, got a string"},
                      {6, 3,
                       "images.Bad Name: invalid name 'Bad Name': expected lowercase letters, digits, '.', '_' and "
                       "'-', starting with a letter or digit"},
                      {8, 11,
                       "images.other.from: expected 'scratch', an image of this file or an image reference "
                       "(name[:tag], host[:port]/name[:tag], name@sha256:...), got 'Not A Ref'"},
                      {12, 17, "stages.unit.run[1]: expected a string, got a mapping"},
                      {13, 12, "stages.unit.cache: expected true or false, got 'maybe'"},
                      {14, 12, "stages.unit.retry: expected a non-negative integer, got '-1'"},
                      {15, 14,
                       "stages.unit.timeout: invalid duration 'soon': expected e.g. 90s, 2m, 1h30m or 500ms"},
                      {16, 22,
                       "stages.unit.limits.memory: invalid size 'lots': expected e.g. 256M, 1G, 512k or a number of "
                       "bytes"},
                      {16, 34, "stages.unit.limits.pids: expected a number of processes > 0"},
                      {16, 43, "stages.unit.limits.cpus: invalid cpus '0': expected a number > 0, e.g. 1.5"},
                      {16, 46, "stages.unit.limits.swap: unknown key 'swap'; expected one of memory, pids, cpus, tmpfs or disk"},
                      {17, 17, "stages.unit.artifacts[0]: expected an absolute path (starting with '/'), got 'relative/path'"},
                      {18, 11,
                       "stages.unit.env.1BAD: invalid variable name '1BAD': expected letters, digits and '_', not "
                       "starting with a digit"},
                      {19, 18,
                       "stages.unit.secrets.A: a pipeline names its secrets but does not choose where their values "
                       "come from (that is the runner's configuration: `gantry secret set A` or the runner config's "
                       "projects.<project>.secrets); write `secrets: [A]`"}});
}

// Issue 10.3: the repository names secrets; it never chooses a host file or
// a runner variable. Every source in the file is an error at its position.
TEST(LoaderErrors, SecretSourcesInThePipelineAreRefusedWithTheirPositions) {
  const std::string hint =
      " (that is the runner's configuration: `gantry secret set {N}` or the runner config's "
      "projects.<project>.secrets); write `secrets: [{N}]`";
  auto msg = [&](const std::string& name) {
    std::string h = hint;
    for (std::size_t p; (p = h.find("{N}")) != std::string::npos;) h.replace(p, 3, name);
    return "stages.unit.secrets." + name + ": a pipeline names its secrets but does not choose where their values "
           "come from" + h;
  };
  expect_diagnostics(R"(stages:
  unit:
    image: busybox
    run: true
    secrets:
      SHADOW: {file: /etc/shadow}
      HOME_VAR: {env: HOME}
      PLAIN: RUNNER_VAR
  other:
    image: busybox
    run: true
    secrets: [GOOD_NAME, 1BAD, GOOD_NAME]
  third: {image: busybox, run: true, secrets: TOKEN}
)",
                     {{6, 15, msg("SHADOW")},
                      {7, 17, msg("HOME_VAR")},
                      {8, 14, msg("PLAIN")},
                      {12, 26, "stages.other.secrets[1]: invalid secret name '1BAD': expected letters, digits and "
                               "'_', not starting with a digit"},
                      {12, 32, "stages.other.secrets[2]: duplicate secret 'GOOD_NAME'"},
                      {13, 47, "stages.third.secrets: expected a list of secret names, got a string"}});
}

TEST(LoaderErrors, DuplicateNamesAndKeys) {
  expect_diagnostics(R"(images:
  app: {from: busybox}
  app: {from: alpine}
stages:
  unit:
    image: app
    run: a
    run: b
  unit: {image: app, run: c}
environments: [test, staging, test]
)",
                     {{3, 3, "images.app: duplicate key 'app'"},
                      {8, 5, "stages.unit.run: duplicate key 'run'"},
                      {9, 3, "stages.unit: duplicate key 'unit'"},
                      {10, 31, "environments[2]: duplicate environment 'test'"}});
}

TEST(LoaderErrors, ExportIsRelativeToTheRunnersExportDir) {
  expect_diagnostics("stages: {unit: {image: busybox, run: 'true'}}\n"
                     "environments:\n  - {name: a, export: /srv/x.tar}\n  - {name: b, export: ../x.tar}\n"
                     "  - {name: c, export: 'ok/../../x'}\n",
                     {{3, 23, "environments[0].export: '/srv/x.tar' is absolute: exports are written below the "
                              "runner's export_dir for the project (runner config projects.<project>.export_dir, "
                              "docs/security.md); write a path relative to it"},
                      {4, 23, "environments[1].export: '../x.tar': expected a path relative to the runner's "
                              "export_dir without '.' or '..' components"},
                      {5, 23, "environments[2].export: 'ok/../../x': expected a path relative to the runner's "
                              "export_dir without '.' or '..' components"}});
}

TEST(LoaderErrors, ScratchIsNotAnImageName) {
  expect_diagnostics("images:\n  scratch: {from: busybox}\n",
                     {{2, 3, "images.scratch: 'scratch' names the empty base image; pick another name"}});
}

TEST(LoaderErrors, ReferencesBetweenStagesAndEnvironments) {
  expect_diagnostics(R"(images:
  app: {from: busybox}
stages:
  unit: {image: ap, run: a}
  lint: {image: App, run: a}
  smoke:
    image: app
    needs: [unti, smoke, unit, unit]
    environment: stagin
    run: a
  early:
    image: app
    needs: [smoke]
    run: a
environments:
  - test
  - {name: staging, when: sometimes}
  - {nam: production}
)",
                     {{5, 17,
                       "stages.lint.image: unknown image 'App': not an image of this file nor an image reference "
                       "(did you mean 'app'?)"},
                      {8, 13, "stages.smoke.needs[0]: unknown stage 'unti' (did you mean 'unit'?)"},
                      {8, 19, "stages.smoke.needs[1]: stage 'smoke' needs itself"},
                      {8, 32, "stages.smoke.needs[3]: duplicate need 'unit'"},
                      {9, 18, "stages.smoke.environment: unknown environment 'stagin' (did you mean 'staging'?)"},
                      {17, 27, "environments[1].when: expected 'auto' or 'manual', got 'sometimes'"},
                      {18, 5, "environments[2]: missing required key 'name'"},
                      {18, 6, "environments[2].nam: unknown key 'nam' (did you mean 'name'?)"}});
  // `ap` has the shape of a store image, so only validate_refs can tell.
}

TEST(LoaderErrors, NeedsOnALaterEnvironment) {
  expect_diagnostics(R"(stages:
  smoke: {image: busybox, environment: staging, run: a}
  unit: {image: busybox, needs: [smoke], run: a}
)",
                     {{3, 34,
                       "stages.unit.needs[0]: stage 'unit' runs in environment 'test' but needs 'smoke', which runs "
                       "later, in 'staging'"}});
}

TEST(LoaderErrors, CyclesAreNamed) {
  expect_diagnostics(R"(images:
  a: {from: b}
  b: {from: c}
  c: {from: a}
  d: {from: d}
stages:
  x: {image: a, needs: [y], run: t}
  y: {image: a, needs: z, run: t}
  z: {image: a, needs: [x], run: t}
)",
                     {{2, 13, "images.a.from: cycle between images: a → b → c → a"},
                      {7, 25, "stages.x.needs: cycle between stages: x → y → z → x"}});
}

Result<std::size_t> count_images(const std::string& yaml) {
  Pipeline p = TRY(load_pipeline(yaml, ".gantry.yml"));  // Diagnostics convert to Error
  return p.images.size();
}

TEST(LoaderErrors, TryTurnsDiagnosticsIntoAnError) {
  EXPECT_EQ(*count_images("images:\n  a: {from: scratch}\n"), 1u);
  auto r = count_images("images:\n  a: {}\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "1 problem in .gantry.yml:\n.gantry.yml:2:3: images.a: missing required key 'from'");
}

TEST(LoaderErrors, AllReportedAtOnceAsOneError) {
  auto r = load_pipeline("images:\n  app: {from: busybox, wrkdir: /x}\nstages:\n  u: {image: app}\n", "ci/.gantry.yml");
  ASSERT_FALSE(r);
  Error e = r.error();  // the conversion callers get through TRY
  EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
  EXPECT_EQ(e.message(),
            "2 problems in ci/.gantry.yml:\n"
            "ci/.gantry.yml:2:24: images.app.wrkdir: unknown key 'wrkdir' (did you mean 'workdir'?)\n"
            "ci/.gantry.yml:4:3: stages.u: missing required key 'run'");
}

TEST(ValidateRefs, UnknownBaseImagesUseTheCallback) {
  auto r = load_pipeline(R"(images:
  app: {from: busybx}
  tool: {from: app}
  empty: {from: scratch}
  reg: {from: "127.0.0.1:5000/team/base:1.2"}
stages:
  unit: {image: ap, run: a}
  lint: {image: busybox, run: a}
  more: {image: busybx, run: a}
)",
                         ".gantry.yml");
  ASSERT_TRUE(r) << r.error().str();
  std::vector<std::string> asked;
  auto diags = validate_refs(*r, [&](const std::string& ref) {
    asked.push_back(ref);
    return ref == "busybox" || ref == "127.0.0.1:5000/team/base:1.2";
  });
  // Each distinct external ref once; never scratch or images of the file.
  EXPECT_EQ(asked, (std::vector<std::string>{"busybx", "127.0.0.1:5000/team/base:1.2", "ap", "busybox"}));
  ASSERT_EQ(diags.size(), 3u) << diags.str();
  EXPECT_EQ(diags.items()[0].str(),
            ".gantry.yml:2:15: images.app.from: unknown image 'busybx': not an image of this file nor an image "
            "gantry can find");
  EXPECT_EQ(diags.items()[1].str(),
            ".gantry.yml:7:17: stages.unit.image: unknown image 'ap': not an image of this file nor an image "
            "gantry can find (did you mean 'app'?)");
  EXPECT_EQ(diags.items()[2].line, 9);
}

TEST(ClosestMatch, SuggestsOnlyNearWords) {
  std::vector<std::string> keys = {"image", "run", "needs", "environment"};
  EXPECT_EQ(closest_match("imgae", keys), "image");
  EXPECT_EQ(closest_match("Image", keys), "image");
  EXPECT_EQ(closest_match("enviroment", keys), "environment");
  EXPECT_EQ(closest_match("xyz", keys), "");
  EXPECT_EQ(closest_match("a", keys), "");
}

TEST(ImageRefs, PlausibleShapes) {
  auto load_from = [](const std::string& from) {
    return load_pipeline("images:\n  app: {from: \"" + from + "\"}\n", ".gantry.yml").has_value();
  };
  for (const std::string& ok : std::vector<std::string>{"busybox", "busybox:1.36", "library/busybox", "127.0.0.1:5000/team/base:1.2",
                         "registry.example.org/a/b", "localhost:5000/x", "my_app-2.0:v1.0-rc1",
                         "app@sha256:" + std::string(64, 'a'), "scratch"})
    EXPECT_TRUE(load_from(ok)) << ok;
  for (const std::string& bad : std::vector<std::string>{"Busybox", "a b", "app@sha256:xyz", ":tag", "app:", "-app"})
    EXPECT_FALSE(load_from(bad)) << bad;
}

}  // namespace
}  // namespace gantry::pipeline

namespace gantry::pipeline {
namespace {

// docs/pipeline.md's complete example must load as it is written.
TEST(Docs, CompleteExampleLoads) {
  std::string doc = gantry::testing::read_file_or_die(gantry::testing::source_dir() + "/docs/pipeline.md");
  auto start = doc.find("```yaml\n");
  ASSERT_NE(start, std::string::npos);
  start += 8;
  auto end = doc.find("```", start);
  auto r = load_pipeline(doc.substr(start, end - start), ".gantry.yml");
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->images.size(), 3u);
  EXPECT_EQ(r->stages.size(), 5u);
  EXPECT_EQ(r->environments.size(), 3u);
  EXPECT_EQ(r->find_image("tools")->steps[0].tree_sources, std::vector<std::string>{"shared/tool"});
}

}  // namespace
}  // namespace gantry::pipeline
