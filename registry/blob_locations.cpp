#include "registry/blob_locations.h"

#include <ctime>

namespace gantry::registry {

Result<BlobLocations> BlobLocations::open(cache::MetaDb& db) {
  // The table is made by meta.db's migration "0300-registry-blobs".
  return BlobLocations(db);
}

Status BlobLocations::record(const std::string& registry, const std::string& repository,
                             const std::vector<Digest>& digests) {
  if (digests.empty()) return {};
  auto tx = TRY(db_->transaction(true));
  auto st = TRY(db_->prepare("INSERT OR REPLACE INTO registry_blobs (registry, repository, digest, updated) "
                             "VALUES (?, ?, ?, ?)"));
  std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  for (const auto& d : digests) {
    st.bind(1, registry).bind(2, repository).bind(3, d.str()).bind(4, now);
    TRY(st.run());
    TRY(st.reset());
  }
  return tx.commit();
}

Result<std::vector<std::string>> BlobLocations::repositories_with(const std::string& registry, const Digest& digest,
                                                                  const std::string& except_repository) {
  auto st = TRY(db_->prepare("SELECT repository FROM registry_blobs WHERE registry = ? AND digest = ? "
                             "AND repository != ? ORDER BY updated DESC LIMIT 3"));
  st.bind(1, registry).bind(2, digest.str()).bind(3, except_repository);
  std::vector<std::string> out;
  while (TRY(st.step())) out.push_back(st.column_text(0));
  return out;
}

}  // namespace gantry::registry
