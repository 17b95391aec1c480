// gantry gc and gantry fsck.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cache/cache_dirs.h"
#include "cache/layer_verify.h"
#include "cache/metadata.h"
#include "cache/store.h"
#include "cache/store_maintenance.h"
#include "pipeline/mirror_check.h"
#include "runner/cli.h"
#include "runner/run_lifecycle.h"
#include "runner/run_session.h"

namespace gantry::runner {

namespace {

using nlohmann::json;

int run_gc(const GlobalOptions& g, bool dry_run, bool as_json, const cache::RetentionRule& rule, bool caches) {
  auto store = cache::Store::open(g.store_dir, cache::StoreLock::exclusive);
  if (!store) return report_error(store.error());
  // Runs whose process died are "interrupted" before gc looks at runs.
  if (auto st = recover_dead_runs(**store); !st) return report_error(st.error());
  // Runs first: their images then stop being "recent run" roots.
  auto runs = cache::prune_runs(**store, rule, dry_run, (*store)->clock().now_ms());
  if (!runs) return report_error(runs.error());
  auto r = cache::collect_garbage(**store, dry_run);
  if (!r) return report_error(r.error());
  // Cache directories (`caches:`) only when asked: they are what makes the
  // next build fast. One in use (by a container of another store user) stays.
  std::uint64_t cache_bytes = 0;
  if (caches) {
    cache::CacheDirs dirs((*store)->paths());
    if (dry_run) {
      auto list = dirs.list();
      if (!list) return report_error(list.error());
      for (const auto& c : *list) cache_bytes += c.bytes;
    } else {
      auto freed = dirs.remove_all();
      if (!freed) return report_error(freed.error());
      cache_bytes = *freed;
    }
  }
  if (as_json) {
    std::cout << json{{"dry_run", dry_run},
                      {"blobs_kept", r->blobs_kept},
                      {"blobs_removed", r->blobs_removed},
                      {"layers_removed", r->layers_removed},
                      {"bytes_freed", r->bytes_freed},
                      {"tmp_swept", r->tmp_swept},
                      {"runs_pruned", runs->runs_pruned},
                      {"runs_kept_in_use", runs->runs_kept_in_use},
                      {"cache_dir_bytes_freed", cache_bytes}}
                     .dump()
              << "\n";
  } else {
    std::cout << (dry_run ? "would remove " : "removed ") << r->blobs_removed << " blobs (" << r->bytes_freed
              << " bytes), " << r->layers_removed << " unpacked layers and " << runs->runs_pruned
              << " runs with their logs; kept " << r->blobs_kept << " blobs";
    if (runs->runs_kept_in_use) std::cout << " and " << runs->runs_kept_in_use << " old runs still in use";
    if (caches) std::cout << "; " << (dry_run ? "would free " : "freed ") << cache_bytes << " bytes of cache directories";
    std::cout << "\n";
  }
  return kExitOk;
}

int run_fsck(const GlobalOptions& g, bool deep, bool as_json) {
  auto store = cache::Store::open(g.store_dir);
  if (!store) return report_error(store.error());
  auto r = cache::check_store(**store);
  if (!r) return report_error(r.error());
  if (deep) {
    if (auto st = cache::check_unpacked_layers(**store, *r); !st) return report_error(st.error());
  }
  auto mirrors = pipeline::check_mirrors(git_mirror_root(**store), deep);
  if (!mirrors) return report_error(mirrors.error());
  r->faults.insert(r->faults.end(), mirrors->faults.begin(), mirrors->faults.end());
  if (as_json) {
    std::cout << json{{"ok", r->ok()},
                      {"deep", deep},
                      {"blobs_checked", r->blobs_checked},
                      {"references_checked", r->references_checked},
                      {"layers_checked", r->layers_checked},
                      {"git_mirrors_checked", mirrors->mirrors_checked},
                      {"git_objects_checked", mirrors->objects_checked},
                      {"faults", r->faults}}
                     .dump(2)
              << "\n";
  } else {
    for (const auto& f : r->faults) std::cout << "fault: " << f << "\n";
    std::cout << (r->ok() ? "ok: " : "FAILED: ") << r->blobs_checked << " blobs re-hashed, " << r->references_checked
              << " references checked, ";
    if (deep) std::cout << r->layers_checked << " unpacked layers compared, ";
    std::cout << mirrors->mirrors_checked << " git mirrors checked, " << r->faults.size() << " faults\n";
  }
  return r->ok() ? kExitOk : kExitFailure;
}

}  // namespace

void add_store_commands(Cli& cli) {
  auto gc_dry = std::make_shared<bool>(false);
  auto gc_json = std::make_shared<bool>(false);
  auto rule = std::make_shared<cache::RetentionRule>();
  auto gc_caches = std::make_shared<bool>(false);
  auto* gc = cli.app.add_subcommand(
      "gc", "Prune old runs and their logs, then remove blobs and unpacked layers no tag, environment, cache entry "
            "or recent run refers to (waits for other gantry processes on the store)");
  gc->add_flag("-n,--dry-run", *gc_dry, "Only report what would be removed");
  gc->add_flag("--json", *gc_json, "JSON output");
  gc->add_option("--keep-runs", rule->keep_runs,
                 "Keep the newest N runs whatever their age (default 100)")
      ->check(CLI::NonNegativeNumber);
  gc->add_option("--keep-days", rule->keep_days, "Keep every run younger than D days (default 30)")
      ->check(CLI::NonNegativeNumber);
  gc->add_flag("--caches", *gc_caches, "Also remove the cache directories of `caches:` (gantry cache dirs ls)");
  gc->parse_complete_callback([&cli, gc_dry, gc_json, rule, gc_caches] {
    cli.action = [&cli, gc_dry, gc_json, rule, gc_caches] {
      return run_gc(cli.global, *gc_dry, *gc_json, *rule, *gc_caches);
    };
  });

  auto fsck_json = std::make_shared<bool>(false);
  auto fsck_deep = std::make_shared<bool>(false);
  auto* fsck = cli.app.add_subcommand(
      "fsck", "Re-hash every blob, check every reference and the git mirrors' refs; exits 1 naming each fault");
  fsck->add_flag("--json", *fsck_json, "JSON output");
  fsck->add_flag("--deep", *fsck_deep,
                 "Also compare every unpacked layer tree with its blob and read back every git mirror object");
  fsck->parse_complete_callback([&cli, fsck_json, fsck_deep] {
    cli.action = [&cli, fsck_json, fsck_deep] { return run_fsck(cli.global, *fsck_deep, *fsck_json); };
  });
}

}  // namespace gantry::runner
