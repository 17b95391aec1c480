#include "tests/support/fake_launcher.h"

#include <cstdio>
#include <fstream>

#include "common/file_util.h"

namespace gantry::testing {

namespace {

std::string env_value(const executor::ContainerSpec& spec, const std::string& name) {
  for (const auto& kv : spec.env)
    if (kv.starts_with(name + "=")) return kv.substr(name.size() + 1);
  return "";
}

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

Status write_upper(const std::string& upper, const std::map<std::string, std::string>& files) {
  TRY(make_dirs(upper, 0755));
  for (const auto& [rel, content] : files) {
    std::string path = upper + "/" + rel;
    TRY(make_dirs(path.substr(0, path.rfind('/')), 0755));
    std::ofstream f(path, std::ios::binary);
    f << content;
    if (!f.flush()) return fail(ErrorKind::io, "fake launcher: writing " + path);
  }
  return {};
}

}  // namespace

void FakeLauncher::on_stage(const std::string& stage, std::vector<FakeContainer> attempts) {
  std::lock_guard lock(mutex_);
  stage_scripts_[stage] = std::move(attempts);
  played_.erase("stage:" + stage);
}

void FakeLauncher::on_stage(const std::string& stage, FakeContainer every) {
  on_stage(stage, std::vector<FakeContainer>{std::move(every)});
}

void FakeLauncher::on_command(const std::string& command_part, std::vector<FakeContainer> attempts) {
  std::lock_guard lock(mutex_);
  std::erase_if(command_scripts_, [&](const auto& entry) { return entry.first == command_part; });
  command_scripts_.emplace_back(command_part, std::move(attempts));
  played_.erase("command:" + command_part);
}

void FakeLauncher::release(const std::string& hold) {
  {
    std::lock_guard lock(mutex_);
    released_.insert(hold);
  }
  changed_.notify_all();
}

FakeContainer FakeLauncher::script_for(const std::string& stage, const std::string& command) {
  const std::vector<FakeContainer>* list = nullptr;
  std::string key;
  if (auto it = stage_scripts_.find(stage); !stage.empty() && it != stage_scripts_.end()) {
    list = &it->second;
    key = "stage:" + stage;
  } else {
    for (const auto& [part, scripts] : command_scripts_)
      if (command.find(part) != std::string::npos) {
        list = &scripts;
        key = "command:" + part;
        break;
      }
  }
  if (!list || list->empty()) return {};
  std::size_t n = played_[key]++;
  return (*list)[std::min(n, list->size() - 1)];
}

Result<executor::ContainerResult> FakeLauncher::run(const executor::ContainerSpec& spec, std::stop_token stop) {
  FakeCall call{.stage = env_value(spec, "GANTRY_STAGE"), .command = joined(spec.argv), .spec = spec};
  call.spec.output = nullptr;
  FakeContainer script;
  executor::ContainerResult result;
  {
    std::unique_lock lock(mutex_);
    script = script_for(call.stage, call.command);
    call.in_flight = ++in_flight_;
    peak_ = std::max(peak_, in_flight_);
    char id[16];
    std::snprintf(id, sizeof id, "fa%010d", ++next_id_);
    result.id = id;
    calls_.push_back(call);
    events_.push_back("start " + (call.stage.empty() ? call.command : call.stage));
  }
  changed_.notify_all();
  auto leave = [&] {
    {
      std::lock_guard lock(mutex_);
      --in_flight_;
      events_.push_back("end " + (call.stage.empty() ? call.command : call.stage));
    }
    changed_.notify_all();
  };

  if (!script.hold.empty() || script.release_when_in_flight > 0) {
    std::unique_lock lock(mutex_);
    bool released = changed_.wait_for(lock, stop, hold_timeout, [&] {
      return released_.count(script.hold) > 0 ||
             (script.release_when_in_flight > 0 && peak_ >= script.release_when_in_flight);
    });
    lock.unlock();
    if (stop.stop_requested()) {
      result.cancelled = true;
      result.signal = 9;
      result.exit_code = 128 + 9;
      leave();
      return result;
    }
    if (!released) {
      leave();
      return fail(Error(ErrorKind::internal,
                        "fake launcher: the container of '" + (call.stage.empty() ? call.command : call.stage) +
                            "' was held (" + script.hold + ") and never released",
                        -static_cast<int>(executor::StartFailure::cannot_start)));
    }
  }
  if (script.start_failure) {
    leave();
    return fail(Error(ErrorKind::invalid_input,
                      "fake launcher: start failure " + std::to_string(static_cast<int>(*script.start_failure)) +
                          " for " + call.command,
                      -static_cast<int>(*script.start_failure)));
  }
  if (spec.output) {
    for (const auto& line : script.out) spec.output(executor::Stream::out, line);
    for (const auto& line : script.err) spec.output(executor::Stream::err, line);
  }
  if (clock) clock->advance(script.takes);
  result.wall_time = script.takes;
  result.exit_code = script.exit_code;
  result.timed_out = script.timed_out;
  result.oom_killed = script.oom_killed;
  if (script.timed_out || script.oom_killed) {
    result.signal = 9;
    result.exit_code = 128 + 9;
  }
  if (spec.keep_upper) {
    std::string upper = (spec.kept_upper_dir.empty() ? spec.work_root : spec.kept_upper_dir) + "/upper-" + result.id;
    if (auto st = write_upper(upper, script.upper_files); !st) {
      leave();
      return fail(std::move(st).error());
    }
    result.upper_dir = upper;
  }
  leave();
  return result;
}

std::vector<FakeCall> FakeLauncher::calls() const {
  std::lock_guard lock(mutex_);
  return calls_;
}

std::vector<FakeCall> FakeLauncher::calls_of(const std::string& stage) const {
  std::lock_guard lock(mutex_);
  std::vector<FakeCall> out;
  for (const auto& c : calls_)
    if (c.stage == stage) out.push_back(c);
  return out;
}

std::vector<std::string> FakeLauncher::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

int FakeLauncher::in_flight_peak() const {
  std::lock_guard lock(mutex_);
  return peak_;
}

}  // namespace gantry::testing
