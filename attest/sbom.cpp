#include "attest/sbom.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "common/digest.h"
#include "common/read_fd.h"
#include "common/unique_fd.h"

namespace gantry::attest {

using nlohmann::json;

std::vector<DebPackage> parse_dpkg_status(const std::string& text) {
  std::vector<DebPackage> out;
  std::map<std::string, std::string> fields;
  std::string last;
  auto flush = [&] {
    if (!fields["Package"].empty() && fields["Status"].ends_with(" installed"))
      out.push_back({fields["Package"], fields["Version"], fields["Architecture"]});
    fields.clear();
    last.clear();
  };
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) {
      flush();
      continue;
    }
    if (line[0] == ' ' || line[0] == '\t') continue;  // a continuation line
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    fields[line.substr(0, colon)] = value;
  }
  flush();
  return out;
}

namespace {

struct Merged {
  std::set<std::string> seen;    // decided by an upper layer
  std::set<std::string> hidden;  // whited out or under an opaque dir, for lower layers
  std::map<std::string, std::string> files;  // path -> sha256 hex
  std::optional<std::string> dpkg_status;

  bool is_hidden(const std::string& path) const {
    for (std::size_t pos = path.find('/', 1); ; pos = path.find('/', pos + 1)) {
      if (hidden.count(path.substr(0, pos))) return true;
      if (pos == std::string::npos) return false;
    }
  }
};

constexpr int kMaxDepth = 256;
// The image decides how big its dpkg status is: read into memory only up to
// this size (Debian's full archive installed is ~30 MiB); a bigger one is
// hashed like any file and the SBOM lists files instead of packages.
constexpr off_t kMaxDpkgStatus = 64 << 20;
constexpr const char* kDpkgStatus = "/var/lib/dpkg/status";

Status walk(int dirfd, const std::string& prefix, Merged& m, std::set<std::string>& opaque_here, int depth) {
  if (depth > kMaxDepth) return {};
  int fd = ::dup(dirfd);
  if (fd < 0) return fail_sys("dup", prefix);
  std::unique_ptr<DIR, int (*)(DIR*)> d(::fdopendir(fd), ::closedir);
  if (!d) {
    ::close(fd);
    return fail_sys("opendir", prefix);
  }
  while (dirent* e = ::readdir(d.get())) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    const std::string path = prefix + "/" + name;
    if (m.is_hidden(path)) continue;
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    const bool decided = m.seen.count(path) > 0;
    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {  // an overlay whiteout
      if (!decided) m.seen.insert(path), opaque_here.insert(path);
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      m.seen.insert(path);
      UniqueFd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) continue;
      char v = 0;
      // trusted.* as root, user.* without (layer_unpacker, docs/rootless.md).
      if ((::fgetxattr(sub.get(), "trusted.overlay.opaque", &v, 1) == 1 ||
           ::fgetxattr(sub.get(), "user.overlay.opaque", &v, 1) == 1) && v == 'y')
        opaque_here.insert(path);
      TRY(walk(sub.get(), path, m, opaque_here, depth + 1));
      continue;
    }
    if (decided) continue;
    m.seen.insert(path);
    if (!S_ISREG(st.st_mode)) continue;
    UniqueFd f(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!f) continue;
    if (path == kDpkgStatus && st.st_size <= kMaxDpkgStatus) {  // read once: hashed and kept for its packages
      if (auto text = read_fd(f.get(), path)) {
        m.files[path] = Digest::of(*text).hex();
        m.dpkg_status = std::move(*text);
        continue;
      }
    }
    Sha256 h;
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(f.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      h.update(buf, static_cast<std::size_t>(n));
    }
    m.files[path] = h.finish().hex();
  }
  return {};
}

std::string spdx_id(const std::string& kind, std::size_t i, const std::string& name) {
  std::string id = "SPDXRef-" + kind + "-" + std::to_string(i) + "-";
  for (char c : name) id += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '-';
  return id;
}

}  // namespace

Result<json> sbom_statement(const Subject& subject, const std::vector<std::string>& layers, std::int64_t created_ms) {
  Merged m;
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    UniqueFd root(::open(it->c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!root) return fail_sys("open layer", *it);
    std::set<std::string> opaque_here;
    TRY(walk(root.get(), "", m, opaque_here, 0));
    m.hidden.insert(opaque_here.begin(), opaque_here.end());
  }
  json doc = {{"spdxVersion", "SPDX-2.3"},
              {"dataLicense", "CC0-1.0"},
              {"SPDXID", "SPDXRef-DOCUMENT"},
              {"name", subject.name + "@" + subject.digest.str()},
              {"documentNamespace", "https://gantry.dev/spdx/" + subject.digest.hex()},
              {"creationInfo",
               {{"created", rfc3339(created_ms)}, {"creators", {std::string("Tool: gantry-") + gantry_version()}}}}};
  if (m.dpkg_status) {
    json packages = json::array();
    std::size_t i = 0;
    for (const auto& p : parse_dpkg_status(*m.dpkg_status)) {
      std::string purl = "pkg:deb/debian/" + p.name + "@" + p.version + (p.arch.empty() ? "" : "?arch=" + p.arch);
      packages.push_back({{"name", p.name},
                          {"SPDXID", spdx_id("Package", ++i, p.name)},
                          {"versionInfo", p.version},
                          {"downloadLocation", "NOASSERTION"},
                          {"filesAnalyzed", false},
                          {"externalRefs",
                           {{{"referenceCategory", "PACKAGE-MANAGER"}, {"referenceType", "purl"}, {"referenceLocator", purl}}}}});
    }
    doc["packages"] = packages;
  } else {
    json files = json::array();
    std::size_t i = 0;
    for (const auto& [path, hex] : m.files)
      files.push_back({{"fileName", "." + path},
                       {"SPDXID", spdx_id("File", ++i, path)},
                       {"checksums", {{{"algorithm", "SHA256"}, {"checksumValue", hex}}}}});
    doc["files"] = files;
  }
  return json{{"_type", kStatementType},
              {"subject", {{{"name", subject.name}, {"digest", {{"sha256", subject.digest.hex()}}}}}},
              {"predicateType", kSpdxType},
              {"predicate", doc}};
}

}  // namespace gantry::attest
