// The dashboard's files (server/web/), embedded at build time by
// embed_web.cmake into web_assets.cpp: served from the binary, no CDN.
#pragma once

#include <cstddef>
#include <string_view>

namespace gantry::server {

struct WebAsset {
  std::string_view name;          // "app.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view body;
};

// nullptr when there is no such file.
const WebAsset* find_web_asset(std::string_view name);

}  // namespace gantry::server
