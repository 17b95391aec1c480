#include "runner/registry_refs.h"

#include "cache/image_store.h"
#include "registry/reference.h"
#include "registry/registry_options.h"
#include "registry/transfer.h"

namespace gantry::runner {

Result<Digest> RegistryRefs::ensure(const std::string& ref) {
  if (!registry::names_registry_host(ref)) return store_.images().resolve(ref, scope_);
  std::lock_guard lock(mutex_);
  if (auto it = pulled_.find(ref); it != pulled_.end()) return it->second;
  const bool had = store_.images().resolve(ref).has_value();
  auto options = registry::registry_options_from_env();
  options.progress = false;  // the run's reporter owns the terminal
  Result<Digest> digest = registry::ensure_image(store_, ref, options);
  if (digest && !had && reporter_) reporter_->note("pulled " + ref + " " + digest->str());
  return pulled_.emplace(ref, std::move(digest)).first->second;
}

bool RegistryRefs::exists(const std::string& ref) { return ensure(ref).has_value(); }

pipeline::Diagnostics RegistryRefs::explain(const pipeline::Pipeline& p, const pipeline::Diagnostics& diags) const {
  std::lock_guard lock(mutex_);
  pipeline::Diagnostics out;
  for (pipeline::Diagnostic d : diags.items()) {
    std::string ref;
    for (const auto& image : p.images)
      if (d.key == "images." + image.name + ".from") ref = image.from;
    for (const auto& stage : p.stages)
      if (d.key == "stages." + stage.name + ".image") ref = stage.image;
    if (auto it = pulled_.find(ref); !ref.empty() && it != pulled_.end() && !it->second)
      d.message = "cannot pull '" + ref + "': " + it->second.error().message();
    else if (!ref.empty() && !registry::names_registry_host(ref) && scope_.project && !p.find_image(ref))
      if (auto scoped = store_.images().resolve(ref, scope_); !scoped) {
        auto anywhere = store_.images().resolve(ref);  // found, or ambiguous: other projects' build tags
        if (anywhere || anywhere.error().kind() == ErrorKind::invalid_input) d.message = scoped.error().message();
      }
    out.add(std::move(d));
  }
  return out;
}

}  // namespace gantry::runner
