// Shared by the pipeline tests: load a file that must fail and compare every
// diagnostic, in order, with "file:line:col: key: message".
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pipeline/loader.h"

namespace gantry::pipeline {

struct Expected {
  int line;
  int column;
  std::string text;  // "key: message", as after "file:line:col: "
};

inline void expect_diagnostics(const std::string& yaml, const std::vector<Expected>& expected) {
  auto r = load_pipeline(yaml, ".gantry.yml");
  ASSERT_FALSE(r) << "loaded without errors:\n" << yaml;
  const auto& items = r.error().items();
  std::string all = r.error().str();
  ASSERT_EQ(items.size(), expected.size()) << all;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(items[i].str(), ".gantry.yml:" + std::to_string(expected[i].line) + ":" +
                                  std::to_string(expected[i].column) + ": " + expected[i].text)
        << all;
  }
}

}  // namespace gantry::pipeline
