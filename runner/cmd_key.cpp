// gantry key generate DIR: a signing key pair for attestations
// (attest/signing_key.h): DIR/gantry.key (private, 0600) and DIR/gantry.pub.
#include <iostream>

#include <nlohmann/json.hpp>

#include "attest/signing_key.h"
#include "runner/cli.h"

namespace gantry::runner {

namespace {

struct KeyFlags {
  std::string dir;
  bool json = false;
};

int cmd_generate(const KeyFlags& f) {
  auto key = attest::generate_key_files(f.dir);
  if (!key) return report_error(key.error());
  if (f.json) {
    std::cout << nlohmann::json{{"private_key", f.dir + "/gantry.key"},
                                {"public_key", f.dir + "/gantry.pub"},
                                {"keyid", key->id()}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << "wrote " << f.dir << "/gantry.key (private, mode 0600) and " << f.dir << "/gantry.pub\n"
              << "key id " << key->id() << "\n"
              << "sign with: gantry run --signing-key " << f.dir << "/gantry.key (or GANTRY_SIGNING_KEY, "
              << "or signing_key: in the runner config)\n";
  }
  return kExitOk;
}

}  // namespace

void add_key_commands(Cli& cli) {
  auto* group = command_group(cli.app, "key", "Signing keys for attestations (ECDSA P-256)");
  group->require_subcommand(1);
  auto flags = std::make_shared<KeyFlags>();
  auto* gen = group->add_subcommand("generate", "Write DIR/gantry.key (private, 0600) and DIR/gantry.pub");
  gen->add_option("DIR", flags->dir, "Directory for the key pair (created; existing keys are never overwritten)")
      ->required();
  gen->add_flag("--json", flags->json, "Print the paths and key id as JSON");
  gen->callback([&cli, flags] { cli.action = [flags] { return cmd_generate(*flags); }; });
}

}  // namespace gantry::runner
