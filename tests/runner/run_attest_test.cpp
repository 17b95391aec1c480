// Attestations of a run end to end (docs/attestations.md): real git repos,
// real containers, keys made by `gantry key generate`. A production
// environment that requires a signature, provenance from the repository's
// main branch and passed stages takes the digest the pipeline built and
// tested, and refuses one signed with another key, one missing a passed
// stage, and an image that came from outside.
#include <regex>

#include "common/digest.h"

#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

using nlohmann::json;

class RunAttestTest : public RunFixture {
 protected:
  void SetUp() override {
    RunFixture::SetUp();
    for (const char* k : {"keys", "other"})
      ASSERT_EQ(run_command({gantry_binary(), "key", "generate", dir_ / k}).exit_code, 0);
  }
  // The runner signs with `signer` (keys|other); `release` is keys/gantry.pub.
  void runner_config(const std::string& signer) {
    use_runner_config("signing_key: " + signer + "/gantry.key\n"
                      "projects:\n"
                      "  \"*\":\n"
                      "    keys: {release: " + dir_ / "keys/gantry.pub" + "}\n");
  }
  // app from busybox; unit (test), smoke (staging); production requires.
  void pipeline(const std::string& extra_stage = "", const std::string& passed = "[unit, smoke]",
                const std::string& when = "auto") {
    commit({{".gantry.yml",
             "images:\n"
             "  app:\n"
             "    from: busybox\n"
             "    steps:\n"
             "      - copy: VERSION /app/VERSION\n"
             "stages:\n"
             "  unit: {image: app, run: cat /app/VERSION}\n"
             "  smoke: {image: app, environment: staging, run: 'echo smoke'}\n" +
                 extra_stage +
                 "environments:\n"
                 "  - test\n"
                 "  - staging\n"
                 "  - name: production\n"
                 "    when: " + when + "\n"
                 "    require:\n"
                 "      signed_by: [release]\n"
                 "      provenance: {repository: " + repo_ + ", branch: main}\n"
                 "      passed: " + passed + "\n"},
            {"VERSION", "1.0\n"}},
           "version 1.0");
  }
  static std::string image_digest(const json& run, const std::string& name = "app") {
    for (const auto& i : run["images"])
      if (i.value("name", "") == name) return i.value("digest", "");
    return "";
  }
  json verify(const std::string& image, const std::string& key, int expected_exit = 0) {
    return gantry_json({"verify", image, "--key", key, "--json"}, expected_exit);
  }
};

TEST_F(RunAttestTest, SignedBuild_IsPromotedToProduction_ProvenanceHasTheSlsaV1Shape) {
  GANTRY_REQUIRE_ROOT();
  runner_config(dir_ / "keys");
  pipeline();
  auto run = run_json();
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2);
  const std::string digest = image_digest(run);
  EXPECT_EQ(environments("app")["production"], digest);

  auto v = verify("app:latest", dir_ / "keys/gantry.pub");
  ASSERT_TRUE(v["summary"].value("ok", false)) << v.dump(2);
  EXPECT_EQ(v.value("digest", ""), digest);
  EXPECT_EQ(v["summary"].value("provenance", 0), 1);
  auto stages = v["summary"]["passedStages"].get<std::vector<std::string>>();
  std::sort(stages.begin(), stages.end());
  EXPECT_EQ(stages, (std::vector<std::string>{"smoke", "unit"}));

  // The provenance statement: in-toto Statement v1 with an SLSA v1 predicate.
  json prov;
  for (const auto& a : v["attestations"])
    if (a.value("predicateType", "") == "https://slsa.dev/provenance/v1") prov = a["statement"];
  ASSERT_TRUE(prov.is_object()) << v.dump(2);
  EXPECT_EQ(prov.value("_type", ""), "https://in-toto.io/Statement/v1");
  ASSERT_EQ(prov["subject"].size(), 1u);
  EXPECT_EQ(prov["subject"][0].value("name", ""), "app");
  EXPECT_EQ("sha256:" + prov["subject"][0]["digest"].value("sha256", ""), digest);
  const json& bd = prov["predicate"]["buildDefinition"];
  EXPECT_TRUE(bd["buildType"].is_string());
  EXPECT_TRUE(bd["internalParameters"].is_object());
  const json& ext = bd["externalParameters"];
  const std::string commit_id = git({"rev-parse", "HEAD"});
  EXPECT_EQ(ext.value("repository", ""), repo_);
  EXPECT_EQ(ext.value("ref", ""), "refs/heads/main");
  EXPECT_EQ(ext.value("commit", ""), commit_id);
  EXPECT_EQ(ext.value("image", ""), "app");
  EXPECT_EQ(ext["pipeline"].value("path", ""), ".gantry.yml");
  EXPECT_EQ(ext["pipeline"].value("blob", ""), git({"rev-parse", "HEAD:.gantry.yml"}));
  const json& deps = bd["resolvedDependencies"];
  ASSERT_EQ(deps.size(), 2u) << deps.dump(2);
  EXPECT_EQ(deps[0]["digest"].value("gitCommit", ""), commit_id);
  auto busybox = run_gantry(store_, {"image", "inspect", "busybox"});
  ASSERT_EQ(busybox.exit_code, 0);
  EXPECT_EQ(deps[1].value("name", ""), "busybox");
  EXPECT_NE(busybox.out.find(deps[1]["digest"].value("sha256", "<none>")), std::string::npos) << busybox.out;
  const json& rd = prov["predicate"]["runDetails"];
  EXPECT_EQ(rd["builder"].value("id", ""), "https://gantry.dev/runner");
  EXPECT_TRUE(rd["builder"]["version"].value("gantry", "").size() > 0);
  EXPECT_EQ(rd["metadata"].value("invocationId", ""), run.value("id", ""));
  const std::regex rfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)");
  EXPECT_TRUE(std::regex_match(rd["metadata"].value("startedOn", ""), rfc3339)) << rd.dump();
  EXPECT_TRUE(std::regex_match(rd["metadata"].value("finishedOn", ""), rfc3339)) << rd.dump();

  // The SBOM of a busybox image (no dpkg): every file with its digest.
  json sbom;
  for (const auto& a : v["attestations"])
    if (a.value("predicateType", "") == "https://spdx.dev/Document") sbom = a["statement"]["predicate"];
  ASSERT_TRUE(sbom.is_object()) << v.dump(2);
  EXPECT_EQ(sbom.value("spdxVersion", ""), "SPDX-2.3");
  bool found = false;
  for (const auto& f : sbom["files"])
    if (f.value("fileName", "") == "./app/VERSION")
      found = f["checksums"][0].value("checksumValue", "") == Digest::of("1.0\n").hex();
  EXPECT_TRUE(found) << sbom.dump().substr(0, 2000);

  // Another key verifies nothing: exit 1.
  auto other = verify("app:latest", dir_ / "other/gantry.pub", 1);
  EXPECT_FALSE(other["summary"].value("ok", true));
  EXPECT_EQ(other["summary"].value("verified", -1), 0);
}

TEST_F(RunAttestTest, GantryBuildWithSigningKey_SignsProvenanceAndSbom_VerifyPasses_CachedRebuildKeepsTheDigest) {
  GANTRY_REQUIRE_ROOT();
  pipeline();
  auto built = gantry_json({"build", repo_, "--json", "--signing-key", dir_ / "keys/gantry.key"});
  ASSERT_EQ(built["images"].size(), 1u) << built.dump(2);
  const std::string digest = built["images"][0].value("digest", "");
  EXPECT_TRUE(built.value("attested", false)) << built.dump(2);

  auto v = verify("app:latest", dir_ / "keys/gantry.pub");
  ASSERT_TRUE(v["summary"].value("ok", false)) << v.dump(2);
  EXPECT_EQ(v.value("digest", ""), digest);
  EXPECT_EQ(v["summary"].value("provenance", 0), 1);
  json prov;
  bool sbom_signed = false;
  for (const auto& a : v["attestations"]) {
    if (a.value("predicateType", "") == "https://slsa.dev/provenance/v1") prov = a["statement"];
    if (a.value("predicateType", "") == "https://spdx.dev/Document") sbom_signed = a.value("verified", false);
  }
  ASSERT_TRUE(prov.is_object()) << v.dump(2);
  EXPECT_TRUE(sbom_signed) << v.dump(2);
  // The build's inputs: this repository, its commit on main, the pipeline file.
  const json& ext = prov["predicate"]["buildDefinition"]["externalParameters"];
  EXPECT_EQ(ext.value("repository", ""), repo_);
  EXPECT_EQ(ext.value("ref", ""), "refs/heads/main");
  EXPECT_EQ(ext.value("commit", ""), git({"rev-parse", "HEAD"}));
  EXPECT_EQ(ext["pipeline"].value("path", ""), ".gantry.yml");
  EXPECT_EQ(ext["pipeline"].value("blob", ""), git({"rev-parse", "HEAD:.gantry.yml"}));
  EXPECT_TRUE(prov["predicate"]["runDetails"]["metadata"].value("invocationId", "").starts_with("build-"))
      << prov.dump(2);

  // A fully cached rebuild, signed through $GANTRY_SIGNING_KEY: the same digest, still verified.
  auto again = run_command({gantry_binary(), "--store", store_, "build", repo_, "--json"},
                           {"GANTRY_SIGNING_KEY=" + dir_ / "keys/gantry.key"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  auto again_json = json::parse(again.out);
  EXPECT_EQ(again_json["images"][0].value("digest", ""), digest) << again.out;
  for (const auto& step : again_json["images"][0]["steps"]) EXPECT_TRUE(step.value("cached", false)) << again.out;
  EXPECT_TRUE(again_json.value("attested", false));
  EXPECT_TRUE(verify("app:latest", dir_ / "keys/gantry.pub")["summary"].value("ok", false));
  // Another key verifies nothing; no key given: nothing attested.
  EXPECT_FALSE(verify("app:latest", dir_ / "other/gantry.pub", 1)["summary"].value("ok", true));
  EXPECT_FALSE(gantry_json({"build", repo_, "--json"}).value("attested", true));
}

TEST_F(RunAttestTest, SignedByAnotherKey_ManualPromotionIsRefusedNamingTheRule_NoPointerMoves) {
  GANTRY_REQUIRE_ROOT();
  runner_config(dir_ / "other");  // the runner signs with a key production does not trust
  pipeline("", "[unit, smoke]", "manual");
  auto run = run_json();
  ASSERT_EQ(run.value("status", ""), "waiting") << run.dump(2);
  const std::string digest = image_digest(run);
  auto r = run_gantry(store_, {"--runner-config", runner_config_, "promote", "app", "--to", "production"});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE((r.out + r.err).find("require.signed_by failed"), std::string::npos) << r.out << r.err;
  auto show = gantry_json({"show", run.value("id", ""), "--json"});
  bool refused = false;
  for (const auto& g : show["gates"])
    refused = refused || (g.value("environment", "") == "production" && g.value("how", "") == "refused");
  EXPECT_TRUE(refused) << show.dump(2);
  auto envs = environments("app");
  EXPECT_EQ(envs["staging"], digest);
  EXPECT_EQ(envs.count("production"), 0u);
  // The promotion history records the refusal, naming the rule; no pointer moved.
  auto history = gantry_json({"history", "app", "--json"});
  ASSERT_FALSE(history["promotions"].empty()) << history.dump(2);
  const auto& e = history["promotions"][0];
  EXPECT_EQ(e.value("kind", ""), "refused") << history.dump(2);
  EXPECT_EQ(e.value("environment", ""), "production");
  EXPECT_EQ(e.value("digest", ""), digest);
  EXPECT_EQ(e.value("run", ""), run.value("id", ""));
  EXPECT_NE(e.value("reason", "").find("require.signed_by failed"), std::string::npos) << history.dump(2);
  auto table = run_gantry(store_, {"history", "app"});
  EXPECT_NE(table.out.find("refused  "), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("require.signed_by failed"), std::string::npos) << table.out;
  // `gantry show` lists promotions made, never a refusal.
  for (const auto& p : show["promotions"]) EXPECT_NE(p.value("environment", ""), "production") << show.dump(2);
}

TEST_F(RunAttestTest, AllowedFailureStage_IsNotAPassedStage_PromotionRefused) {
  GANTRY_REQUIRE_ROOT();
  runner_config(dir_ / "keys");
  pipeline("  flaky: {image: app, run: 'exit 3', allow_failure: true}\n", "[unit, smoke, flaky]");
  auto run = run_json({}, {}, 1);
  EXPECT_EQ(run.value("status", ""), "failed");
  EXPECT_NE(run.value("error", "").find("require.passed failed"), std::string::npos) << run.dump(2);
  EXPECT_NE(run.value("error", "").find("flaky"), std::string::npos) << run.dump(2);
  // Recorded with the run: its production gate says refused, and why.
  bool refused = false;
  for (const auto& g : run["gates"])
    refused = refused || (g.value("environment", "") == "production" && g.value("how", "") == "refused" &&
                          g.value("detail", "").find("require.passed") != std::string::npos);
  EXPECT_TRUE(refused) << run.dump(2);
  auto envs = environments("app");
  EXPECT_EQ(envs["staging"], image_digest(run));
  EXPECT_EQ(envs.count("production"), 0u);
}

TEST_F(RunAttestTest, ImageFromOutside_CopiedWithSkopeo_IsRefusedByProduction) {
  GANTRY_REQUIRE_ROOT();
  runner_config(dir_ / "keys");
  // An image made by another tool: exported, copied with skopeo, imported.
  ASSERT_EQ(run_gantry(store_, {"image", "export", "busybox", dir_ / "out"}).exit_code, 0);
  auto copy = run_command({"skopeo", "--insecure-policy", "copy", "oci:" + dir_ / "out" + ":latest",
                           "oci:" + dir_ / "ext" + ":v1"});
  ASSERT_EQ(copy.exit_code, 0) << copy.err;
  ASSERT_EQ(run_gantry(store_, {"image", "import", dir_ / "ext:v1", "ext:1"}).exit_code, 0);
  commit({{".gantry.yml",
           "stages:\n"
           "  unit: {image: 'ext:1', run: 'true'}\n"
           "environments:\n"
           "  - test\n"
           "  - name: production\n"
           "    require: {signed_by: [release], passed: [unit]}\n"}});
  auto run = run_json({}, {}, 1);
  EXPECT_NE(run.value("error", "").find("require.signed_by failed"), std::string::npos) << run.dump(2);
  EXPECT_NE(run.value("error", "").find("no provenance"), std::string::npos) << run.dump(2);
  auto envs = environments("ext:1");
  EXPECT_EQ(envs.count("production"), 0u);
}

TEST_F(RunAttestTest, CachedRebuild_KeepsTheImageDigest_AndExportImportCarriesTheAttestations) {
  GANTRY_REQUIRE_ROOT();
  runner_config(dir_ / "keys");
  pipeline();
  auto first = run_json();
  ASSERT_EQ(first.value("status", ""), "passed") << first.dump(2);
  auto second = run_json();
  ASSERT_EQ(second.value("status", ""), "passed") << second.dump(2);
  EXPECT_EQ(image_digest(second), image_digest(first));  // attestations never change the image
  auto v = verify(image_digest(first), dir_ / "keys/gantry.pub");
  EXPECT_EQ(v["summary"].value("provenance", 0), 2);  // one per run, on the same digest

  // An exported layout carries them; an empty store importing it verifies.
  ASSERT_EQ(run_gantry(store_, {"image", "export", "app:latest", dir_ / "layout"}).exit_code, 0);
  const std::string empty = make_store("empty");
  auto imported = run_gantry(empty, {"image", "import", dir_ / "layout", "app:imported"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  auto again = run_gantry(empty, {"verify", "app:imported", "--key", dir_ / "keys/gantry.pub", "--json"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  auto j = json::parse(again.out);
  EXPECT_EQ(j.value("digest", ""), image_digest(first));
  EXPECT_EQ(j["summary"].value("provenance", 0), 2);
}

TEST_F(RunAttestTest, RequireNamingAnUnknownStage_IsAPipelineError) {
  commit({{".gantry.yml",
           "images:\n  app: {from: busybox}\n"
           "stages:\n  unit: {image: app, run: 'true'}\n"
           "environments:\n  - test\n  - {name: production, require: {passed: [unti]}}\n"}});
  auto r = run();
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("unknown stage 'unti'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("require.passed[0]"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gantry::testing
