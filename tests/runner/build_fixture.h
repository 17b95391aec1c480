// A fixture for `gantry build` tests: a per-test store holding the busybox
// image (imported with `gantry image import` from a rootfs tarball) and a
// real git repository the test commits to.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/test_support.h"

namespace gantry::testing {

class BuildFixture : public ::testing::Test {
 protected:
  void SetUp() override;

  // Writes the files (path relative to the repo -> content) and commits
  // everything; returns the new commit id.
  std::string commit(const std::map<std::string, std::string>& files, const std::string& message = "change");
  std::string git(const std::vector<std::string>& args);
  // A new empty store dir_/NAME holding only the busybox image (as store_ does).
  std::string make_store(const std::string& name);

  // gantry build REPO --json ARGS...; fails the test unless it exits 0.
  nlohmann::json build_json(const std::vector<std::string>& args = {});
  // gantry build REPO ARGS... as is.
  CommandResult build(const std::vector<std::string>& args = {});

  // The "cached" flags of an image's steps.
  static std::vector<bool> cached_flags(const nlohmann::json& result, const std::string& image);
  static const nlohmann::json& image_of(const nlohmann::json& result, const std::string& image);
  static std::uint64_t counter(const nlohmann::json& result, const std::string& name);

  ScratchDir dir_;
  std::string store_;
  std::string repo_;
};

}  // namespace gantry::testing
