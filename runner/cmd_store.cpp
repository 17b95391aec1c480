// gantry gc and gantry fsck.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cache/store.h"
#include "cache/store_maintenance.h"
#include "runner/cli.h"

namespace gantry::runner {

namespace {

using nlohmann::json;

int run_gc(const GlobalOptions& g, bool dry_run, bool as_json) {
  auto store = cache::Store::open(g.store_dir, cache::StoreLock::exclusive);
  if (!store) return report_error(store.error());
  auto r = cache::collect_garbage(**store, dry_run);
  if (!r) return report_error(r.error());
  if (as_json) {
    std::cout << json{{"dry_run", dry_run},           {"blobs_kept", r->blobs_kept},
                      {"blobs_removed", r->blobs_removed}, {"layers_removed", r->layers_removed},
                      {"bytes_freed", r->bytes_freed},   {"tmp_swept", r->tmp_swept}}
                     .dump()
              << "\n";
  } else {
    std::cout << (dry_run ? "would remove " : "removed ") << r->blobs_removed << " blobs (" << r->bytes_freed
              << " bytes) and " << r->layers_removed << " unpacked layers; kept " << r->blobs_kept << " blobs\n";
  }
  return kExitOk;
}

int run_fsck(const GlobalOptions& g, bool as_json) {
  auto store = cache::Store::open(g.store_dir);
  if (!store) return report_error(store.error());
  auto r = cache::check_store(**store);
  if (!r) return report_error(r.error());
  if (as_json) {
    std::cout << json{{"ok", r->ok()},
                      {"blobs_checked", r->blobs_checked},
                      {"references_checked", r->references_checked},
                      {"faults", r->faults}}
                     .dump(2)
              << "\n";
  } else {
    for (const auto& f : r->faults) std::cout << "fault: " << f << "\n";
    std::cout << (r->ok() ? "ok: " : "FAILED: ") << r->blobs_checked << " blobs re-hashed, " << r->references_checked
              << " references checked, " << r->faults.size() << " faults\n";
  }
  return r->ok() ? kExitOk : kExitFailure;
}

}  // namespace

void add_store_commands(Cli& cli) {
  auto gc_dry = std::make_shared<bool>(false);
  auto gc_json = std::make_shared<bool>(false);
  auto* gc = cli.app.add_subcommand(
      "gc", "Remove blobs and unpacked layers no tag, environment, cache entry or recent run refers to "
            "(waits for other gantry processes on the store)");
  gc->add_flag("-n,--dry-run", *gc_dry, "Only report what would be removed");
  gc->add_flag("--json", *gc_json, "JSON output");
  gc->parse_complete_callback(
      [&cli, gc_dry, gc_json] { cli.action = [&cli, gc_dry, gc_json] { return run_gc(cli.global, *gc_dry, *gc_json); }; });

  auto fsck_json = std::make_shared<bool>(false);
  auto* fsck = cli.app.add_subcommand(
      "fsck", "Re-hash every blob and check every reference; exits 1 naming each fault");
  fsck->add_flag("--json", *fsck_json, "JSON output");
  fsck->parse_complete_callback(
      [&cli, fsck_json] { cli.action = [&cli, fsck_json] { return run_fsck(cli.global, *fsck_json); }; });
}

}  // namespace gantry::runner
