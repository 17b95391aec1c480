// gantry image import|export|ls|inspect|rm|tag (pull/push: cmd_registry.cpp).
#include <cstdint>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include <sys/stat.h>

#include "cache/image_store.h"
#include "cache/layer_unpacker.h"
#include "cache/oci_transfer.h"
#include "cache/store.h"
#include "common/units.h"
#include "runner/cli.h"
#include "runner/store_open.h"

namespace gantry::runner {

namespace {

using nlohmann::json;

constexpr const char* kProjectHelp =
    "Resolve NAME:TAG among this project's build tags (gantry build tags per project; default: the store-wide "
    "tag, else the only project's)";

std::string human_size(std::uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  std::ostringstream out;
  out << std::fixed << std::setprecision(u == 0 ? 0 : 1) << v << " " << units[u];
  return out.str();
}


struct ImportArgs {
  std::string source, ref;
  std::int64_t epoch = -1;
  bool quiet = false;
};
int run_import(const GlobalOptions& g, const ImportArgs& a) {
  auto store = open_store(g);
  if (!store) return report_error(store.error());
  cache::ImportOptions options;
  if (a.epoch >= 0) {
    options.epoch = a.epoch;
  } else if (const char* sde = std::getenv("SOURCE_DATE_EPOCH"); sde && *sde) {
    options.epoch = std::strtoll(sde, nullptr, 10);
  }
  auto digest = cache::import_image(**store, a.source, a.ref, options);
  if (!digest) return report_error(digest.error());
  if (a.quiet)
    std::cout << digest->str() << "\n";
  else
    std::cout << "imported " << a.source << " as " << cache::Reference::parse(a.ref)->str() << " " << digest->str() << "\n";
  return kExitOk;
}

struct UnpackArgs {
  std::string layer, dest;
  bool rootfs = false;
};
// No store: the layer's tree goes to DEST, checked as every layer the store
// unpacks (cache/layer_unpacker.h); for inspecting a layer, and for
// ci/bench-unpack (gantry's unpacker against tar -xf).
int run_unpack(const UnpackArgs& a) {
  if (::mkdir(a.dest.c_str(), 0755) != 0 && errno != EEXIST) return report_error(sys_error("mkdir", a.dest));
  auto names = list_dir(a.dest);
  if (!names) return report_error(names.error());
  if (!names->empty())
    return report_error(Error(ErrorKind::usage, a.dest + " is not empty: gantry image unpack fills an empty directory"));
  cache::UnpackOptions options;
  options.convert_whiteouts = !a.rootfs;
  options.max_bytes = cache::StoreOptions{}.max_layer_bytes;
  auto diff_id = cache::unpack_tar(a.layer, a.dest, options);
  if (!diff_id) return report_error(diff_id.error());
  std::cout << (*diff_id ? (*diff_id)->str() : std::string("unpacked")) << "\n";
  return kExitOk;
}

struct ExportArgs {
  std::string ref, dest, ref_name, project;
};
int run_export(const GlobalOptions& g, const ExportArgs& a) {
  auto store = open_store(g);
  if (!store) return report_error(store.error());
  auto digest = (*store)->images().resolve(a.ref, cache::TagScope::from_flag(a.project));
  if (!digest) return report_error(digest.error());
  std::string name = a.ref_name;
  if (name.empty()) {
    auto ref = cache::Reference::parse(a.ref);
    name = (ref && !ref->digest) ? ref->tag : "latest";
  }
  if (auto st = cache::export_image(**store, *digest, a.dest, name); !st) return report_error(st.error());
  std::cout << "exported " << a.ref << " " << digest->str() << " to " << a.dest << " (ref " << name << ")\n";
  return kExitOk;
}

Result<std::uint64_t> image_size(cache::Store& store, const Digest& d) {
  auto image = TRY(store.images().load(d));
  std::uint64_t size = 0;
  for (const auto& l : image.layers) size += l.size;
  return size;
}

int run_ls(const GlobalOptions& g, bool as_json, bool quiet) {
  auto store = open_store(g);
  if (!store) return report_error(store.error());
  auto tags = (*store)->images().list();
  if (!tags) return report_error(tags.error());
  json out = json::array();
  std::vector<std::vector<std::string>> rows = {{"NAME", "TAG", "DIGEST", "SIZE", "UPDATED", "PROJECT"}};
  for (const auto& t : *tags) {
    if (quiet) {
      std::cout << t.name << ":" << t.tag << "\n";
      continue;
    }
    auto size = image_size(**store, t.digest);
    if (as_json) {
      json e = {{"name", t.name},
                {"tag", t.tag},
                {"digest", t.digest.str()},
                {"updated", format_utc_time(t.updated)},
                {"project", t.project}};
      if (size) e["size"] = *size;
      out.push_back(e);
    } else {
      rows.push_back({t.name, t.tag, t.digest.str().substr(0, 19), size ? human_size(*size) : "?",
                      format_utc_time(t.updated), t.project.empty() ? "-" : t.project});
    }
  }
  if (quiet) return kExitOk;
  if (as_json) {
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i)
      std::cout << (i + 1 < r.size() ? std::string(r[i]) + std::string(width[i] - r[i].size() + 3, ' ') : r[i]);
    std::cout << "\n";
  }
  return kExitOk;
}

int run_inspect(const GlobalOptions& g, const std::string& ref, const std::string& project) {
  auto store = open_store(g);
  if (!store) return report_error(store.error());
  auto digest = (*store)->images().resolve(ref, cache::TagScope::from_flag(project));
  if (!digest) return report_error(digest.error());
  auto image = (*store)->images().load(*digest);
  if (!image) return report_error(image.error());
  json layers = json::array();
  for (const auto& l : image->layers)
    layers.push_back({{"digest", l.digest.str()}, {"diff_id", l.diff_id.str()}, {"size", l.size}, {"mediaType", l.media_type}});
  json tags = json::array();        // store-wide tags
  json build_tags = json::array();  // projects' build tags
  if (auto all = (*store)->images().list())
    for (const auto& t : *all) {
      if (t.digest != *digest) continue;
      if (t.project.empty())
        tags.push_back(t.name + ":" + t.tag);
      else
        build_tags.push_back({{"project", t.project}, {"tag", t.name + ":" + t.tag}});
    }
  auto manifest_text = (*store)->blobs().read(*digest, false);
  json out = {{"digest", digest->str()},
              {"config_digest", image->config_digest.str()},
              {"tags", tags},
              {"build_tags", build_tags},
              {"config", json::parse(image->config.raw, nullptr, false)},
              {"layers", layers}};
  if (manifest_text) out["manifest"] = json::parse(*manifest_text, nullptr, false);
  std::cout << out.dump(2) << "\n";
  return kExitOk;
}

int run_rm(const GlobalOptions& g, const std::vector<std::string>& refs, const std::string& project) {
  auto store = open_store(g);
  if (!store) return report_error(store.error());
  int rc = kExitOk;
  for (const auto& r : refs) {
    if (auto st = (*store)->images().untag(r, cache::TagScope::from_flag(project)); !st)
      rc = report_error(st.error());
    else
      std::cout << "untagged " << r << "\n";
  }
  return rc;
}

int run_tag(const GlobalOptions& g, const std::string& src, const std::string& dst, const std::string& project) {
  auto store = open_store(g);
  if (!store) return report_error(store.error());
  auto digest = (*store)->images().resolve(src, cache::TagScope::from_flag(project));
  if (!digest) return report_error(digest.error());
  if (auto st = (*store)->images().tag_ref(dst, *digest); !st) return report_error(st.error());
  std::cout << "tagged " << cache::Reference::parse(dst)->str() << " " << digest->str() << "\n";
  return kExitOk;
}

}  // namespace

void add_image_commands(Cli& cli) {
  CLI::App* image = command_group(cli.app, "image", "Manage stored images");

  auto imp = std::make_shared<ImportArgs>();
  auto* import_cmd = image->add_subcommand(
      "import", "Import SOURCE (a rootfs tarball or directory, an OCI image layout DIR[:REF], or an OCI archive .tar) as NAME[:TAG]");
  import_cmd->add_option("SOURCE", imp->source, "Rootfs tarball (.tar, .tar.gz, ...) or directory, OCI layout directory, or OCI archive")
      ->required();
  import_cmd->add_option("NAME", imp->ref, "NAME[:TAG] (tag defaults to latest)")->required();
  import_cmd->add_option("--epoch", imp->epoch,
                         "Rootfs tarballs: clamp file mtimes to this Unix time (default $SOURCE_DATE_EPOCH, else 0)");
  import_cmd->add_flag("-q,--quiet", imp->quiet, "Print only the manifest digest");
  import_cmd->parse_complete_callback([&cli, imp] { cli.action = [&cli, imp] { return run_import(cli.global, *imp); }; });

  auto unp = std::make_shared<UnpackArgs>();
  auto* unpack_cmd = image->add_subcommand(
      "unpack", "Unpack a layer tarball into DIR (new or empty) with the store's checks; prints its diff_id");
  unpack_cmd->add_option("LAYER", unp->layer, "Layer tar (.tar or .tar.gz)")->required();
  unpack_cmd->add_option("DIR", unp->dest, "Directory to fill (created if missing)")->required();
  unpack_cmd->add_flag("--rootfs", unp->rootfs, "A rootfs tarball: .wh. entries are plain files, not whiteouts");
  unpack_cmd->parse_complete_callback([&cli, unp] { cli.action = [unp] { return run_unpack(*unp); }; });

  auto exp = std::make_shared<ExportArgs>();
  auto* export_cmd = image->add_subcommand(
      "export", "Export NAME[:TAG] to DEST: a directory (OCI image layout) or a path ending in .tar (OCI archive)");
  export_cmd->add_option("IMAGE", exp->ref, "NAME[:TAG], NAME@sha256:... or sha256:...")->required();
  export_cmd->add_option("DEST", exp->dest, "Directory (created or merged into) or FILE.tar")->required();
  export_cmd->add_option("--ref", exp->ref_name, "The ref name in the layout's index (default: the tag)");
  export_cmd->add_option("--project", exp->project, kProjectHelp);
  export_cmd->parse_complete_callback([&cli, exp] { cli.action = [&cli, exp] { return run_export(cli.global, *exp); }; });

  auto ls_json = std::make_shared<bool>(false);
  auto ls_quiet = std::make_shared<bool>(false);
  auto* ls = image->add_subcommand("ls", "List tagged images");
  ls->alias("list");
  ls->add_flag("--json", *ls_json, "JSON output");
  ls->add_flag("-q,--quiet", *ls_quiet, "Only NAME:TAG");
  ls->parse_complete_callback(
      [&cli, ls_json, ls_quiet] { cli.action = [&cli, ls_json, ls_quiet] { return run_ls(cli.global, *ls_json, *ls_quiet); }; });

  auto inspect_args = std::make_shared<std::pair<std::string, std::string>>();
  auto* inspect = image->add_subcommand("inspect", "Print an image as JSON (digest, config, layers, manifest)");
  inspect->add_option("IMAGE", inspect_args->first, "NAME[:TAG], NAME@sha256:... or sha256:...")->required();
  inspect->add_option("--project", inspect_args->second, kProjectHelp);
  inspect->parse_complete_callback([&cli, inspect_args] {
    cli.action = [&cli, inspect_args] { return run_inspect(cli.global, inspect_args->first, inspect_args->second); };
  });

  auto rm_refs = std::make_shared<std::vector<std::string>>();
  auto rm_project = std::make_shared<std::string>();
  auto* rm = image->add_subcommand("rm", "Remove tags (a digest removes every tag of that image); gc frees the space");
  rm->alias("remove");
  rm->add_option("IMAGE", *rm_refs, "NAME[:TAG] or sha256:...")->required();
  rm->add_option("--project", *rm_project, "Remove that project's build tags only (default: the store-wide tag, else the only project's)");
  rm->parse_complete_callback([&cli, rm_refs, rm_project] {
    cli.action = [&cli, rm_refs, rm_project] { return run_rm(cli.global, *rm_refs, *rm_project); };
  });

  auto tag_args = std::make_shared<std::pair<std::string, std::string>>();
  auto tag_project = std::make_shared<std::string>();
  auto* tag = image->add_subcommand("tag", "Tag SRC (NAME[:TAG] or digest) as DST NAME[:TAG] (a store-wide tag)");
  tag->add_option("SRC", tag_args->first, "Existing image")->required();
  tag->add_option("DST", tag_args->second, "New NAME[:TAG]")->required();
  tag->add_option("--project", *tag_project, kProjectHelp);
  tag->parse_complete_callback([&cli, tag_args, tag_project] {
    cli.action = [&cli, tag_args, tag_project] {
      return run_tag(cli.global, tag_args->first, tag_args->second, *tag_project);
    };
  });
}

}  // namespace gantry::runner
