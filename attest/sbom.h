// An SBOM of an image: an SPDX 2.3 JSON document (in an in-toto Statement
// with predicateType https://spdx.dev/Document).
//
// For an image with a Debian base (var/lib/dpkg/status in its merged
// rootfs): one package per installed dpkg package (name, version,
// architecture, a purl pkg:deb/debian/NAME@VERSION?arch=ARCH). For others:
// every regular file of the merged rootfs with its SHA-256. The merged
// rootfs is read from the unpacked layers as overlayfs merges them (upper
// layers win; whiteouts and opaque directories hide what is below), every
// path opened fd-relative without following symlinks.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attest/statements.h"
#include "common/error.h"

namespace gantry::attest {

// `layers`: the image's unpacked layer dirs, bottom to top.
Result<nlohmann::json> sbom_statement(const Subject& subject, const std::vector<std::string>& layers,
                                      std::int64_t created_ms);

// The installed packages of a dpkg status file: {name, version, arch}.
struct DebPackage {
  std::string name, version, arch;
};
std::vector<DebPackage> parse_dpkg_status(const std::string& text);

}  // namespace gantry::attest
