#include "tests/runner/run_fixture.h"

namespace gantry::testing {

namespace {

nlohmann::json parse_or_fail(const CommandResult& r) {
  try {
    return nlohmann::json::parse(r.out);
  } catch (const nlohmann::json::exception& e) {
    ADD_FAILURE() << "not JSON: " << e.what() << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err;
    return nlohmann::json::object();
  }
}

}  // namespace

void RunFixture::use_runner_config(const std::string& yaml) {
  runner_config_ = dir_ / "runner.yml";
  write_file(runner_config_, yaml);
}

std::vector<std::string> RunFixture::global_flags() const {
  if (runner_config_.empty()) return {};
  return {"--runner-config", runner_config_};
}

CommandResult RunFixture::run(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  std::vector<std::string> argv = {gantry_binary(), "--store", store_};
  for (const auto& flag : global_flags()) argv.push_back(flag);
  for (const char* a : {"run", repo_.c_str(), "--json"}) argv.emplace_back(a);
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, env);
}

nlohmann::json RunFixture::run_json(const std::vector<std::string>& args, const std::vector<std::string>& env,
                                    int expected_exit) {
  auto r = run(args, env);
  EXPECT_EQ(r.exit_code, expected_exit) << "gantry run:\n" << r.out << r.err;
  return parse_or_fail(r);
}

nlohmann::json RunFixture::gantry_json(const std::vector<std::string>& args, int expected_exit) {
  std::vector<std::string> argv = global_flags();
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_gantry(store_, argv);
  std::string command = "gantry";
  for (const auto& a : args) command += " " + a;
  EXPECT_EQ(r.exit_code, expected_exit) << command << "\n" << r.out << r.err;
  return parse_or_fail(r);
}

const nlohmann::json& RunFixture::stage(const nlohmann::json& run, const std::string& name) {
  static const nlohmann::json none = nlohmann::json::object();
  if (run.contains("stages"))
    for (const auto& s : run["stages"])
      if (s.value("name", "") == name) return s;
  ADD_FAILURE() << "no stage " << name << " in " << run.dump(2);
  return none;
}

std::map<std::string, std::string> RunFixture::environments(const std::string& image) {
  std::map<std::string, std::string> out;
  auto list = gantry_json({"env", "ls", image, "--json"});
  for (const auto& e : list) out[e.value("environment", "")] = e.value("digest", "");
  return out;
}

std::size_t RunFixture::run_count() {
  auto history = gantry_json({"history", "--json", "-n", "1000"});
  return history.contains("runs") ? history["runs"].size() : 0;
}

}  // namespace gantry::testing
