// A stage's `services:`: one network namespace (loopback only) the services
// and the stage share, each service in a fresh container of its image
// (started at once, in threads), their ready probes, their logs beside the
// stage's (<stage log without .log>.service-NAME.log), and their stop on
// every path (the destructor: SIGTERM, then SIGKILL after a grace period; a
// killed runner's services die with it: PDEATHSIG, swept like any container).
#pragma once

#include <memory>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "executor/netns.h"
#include "runner/container_launcher.h"
#include "pipeline/pipeline.h"
#include "runner/run_context.h"

namespace gantry::runner {

// The log of service `name` of the stage whose log is `stage_log_path`.
std::string service_log_path(const std::string& stage_log_path, const std::string& name);

class StageServices {
 public:
  // Starts every service of the stage (none: an empty object, no namespace).
  // `note` receives progress lines for the stage's log.
  static Result<std::unique_ptr<StageServices>> start(RunContext& ctx, const pipeline::StageDef& stage,
                                                      const std::string& stage_log_path,
                                                      std::function<void(const std::string&)> note);
  ~StageServices();
  StageServices(const StageServices&) = delete;
  StageServices& operator=(const StageServices&) = delete;

  // Waits until every probe succeeded. An error names the service, the probe
  // and what happened (timed out after T, exited with N) with the last lines
  // of its log.
  Status wait_ready(std::stop_token stop);

  // For the stage's container: the namespace to join (-1 when no services)
  // and the /etc/hosts lines (every service name -> 127.0.0.1).
  int netns_fd() const { return netns_ ? netns_->fd() : -1; }
  std::vector<std::pair<std::string, std::string>> hosts() const;

  struct Service;  // private (stage_services.cpp)

 private:
  StageServices() = default;
  void stop_all();
  RunContext* ctx_ = nullptr;
  std::unique_ptr<executor::NetworkNamespace> netns_;
  std::vector<std::unique_ptr<Service>> services_;
  std::function<void(const std::string&)> note_;
  ContainerLauncher* launcher_ = nullptr;  // the run's (RunContext::launcher)
};

}  // namespace gantry::runner
