// `services:` on a stage and `caches:` on stages and run steps.
#include <algorithm>
#include <charconv>

#include "common/units.h"
#include "pipeline/parse_parts.h"

namespace gantry::pipeline {

namespace {

const std::vector<std::string> kServiceKeys = {"name", "image", "command", "env", "ready", "timeout"};
const std::vector<std::string> kProbeKinds = {"tcp", "http", "exec", "log"};
const std::vector<std::string> kCacheKeys = {"path", "sharing"};

std::optional<std::uint16_t> port_of(YamlReader& r, const Field& f, std::string_view text) {
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v == 0 || v > 65535) {
    r.error(f, "expected a port between 1 and 65535, got '" + std::string(text) + "'");
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(v);
}

// http://HOST[:PORT]/PATH, HOST being 127.0.0.1, localhost or a service name.
bool parse_http_url(YamlReader& r, const Field& f, const std::string& url, ReadyProbe& probe,
                    const std::vector<std::string>& names) {
  const std::string scheme = "http://";
  if (!url.starts_with(scheme)) {
    r.error(f, "expected an http:// URL (e.g. http://127.0.0.1:8080/health), got '" + url + "'");
    return false;
  }
  std::string rest = url.substr(scheme.size());
  std::string authority = rest.substr(0, rest.find('/'));
  std::string host = authority, port = "80";
  if (auto colon = authority.rfind(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host != "127.0.0.1" && host != "localhost" && std::find(names.begin(), names.end(), host) == names.end()) {
    r.error(f, "the probe's host '" + host + "' is not 127.0.0.1, localhost or a service of the stage: a probe "
               "reaches the stage's own network only");
    return false;
  }
  auto p = port_of(r, f, port);
  if (!p) return false;
  probe.port = *p;
  probe.url = url;
  return true;
}

std::optional<ReadyProbe> parse_probe(YamlReader& r, const Field& f, const std::vector<std::string>& names) {
  auto entries = r.map(f);
  if (!entries) return std::nullopt;
  if (entries->size() != 1) {
    r.error(f, "expected exactly one probe: tcp: PORT, http: URL, exec: COMMAND or log: TEXT");
    return std::nullopt;
  }
  const Field& e = entries->front();
  ReadyProbe probe;
  if (e.key == "tcp") {
    auto text = r.non_empty_string(e);
    if (!text) return std::nullopt;
    auto port = port_of(r, e, *text);
    if (!port) return std::nullopt;
    probe.kind = ProbeKind::tcp;
    probe.port = *port;
  } else if (e.key == "http") {
    auto url = r.non_empty_string(e);
    if (!url || !parse_http_url(r, e, *url, probe, names)) return std::nullopt;
    probe.kind = ProbeKind::http;
  } else if (e.key == "exec") {
    if (e.node.IsScalar()) {
      auto s = r.non_empty_string(e);
      if (!s) return std::nullopt;
      probe.argv = {"/bin/sh", "-c", *s};
    } else {
      auto argv = r.string_or_list(e);
      if (!argv) return std::nullopt;
      probe.argv = *argv;
    }
    probe.kind = ProbeKind::exec;
  } else if (e.key == "log") {
    auto text = r.non_empty_string(e);
    if (!text) return std::nullopt;
    probe.kind = ProbeKind::log;
    probe.text = *text;
  } else {
    std::string guess = closest_match(e.key, kProbeKinds);
    r.error(e.key_pos, e.path,
            "unknown probe '" + e.key + "': expected tcp, http, exec or log" +
                (guess.empty() ? "" : " (did you mean '" + guess + "'?)"));
    return std::nullopt;
  }
  return probe;
}

bool valid_host_name(const std::string& name) {
  if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-';
  });
}

// The default name of `image: postgres:15` / `registry:5000/team/db@sha256:..`: "postgres" / "db".
std::string name_from_image(const std::string& image) {
  std::string n = image.substr(0, image.find('@'));
  if (auto slash = n.rfind('/'); slash != std::string::npos) n = n.substr(slash + 1);
  n = n.substr(0, n.find(':'));
  for (auto& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '-';
  return n;
}

void check_image(YamlReader& r, const Field& f, const std::string& image, const Pipeline& p) {
  if (!p.find_image(image) && !plausible_image_ref(image))
    r.error(f, "unknown image '" + image + "': not an image of this file nor an image reference");
}

}  // namespace

void parse_services(YamlReader& r, const Field& f, const Pipeline& p, StageDef& stage) {
  auto items = r.list(f);
  if (!items) return;
  // Names first, so an http probe may name another service of the stage.
  std::vector<std::string> names;
  for (const auto& item : *items) {
    if (item.node.IsScalar()) names.push_back(name_from_image(item.node.Scalar()));
    else if (item.node.IsMap() && item.node["name"] && item.node["name"].IsScalar()) names.push_back(item.node["name"].Scalar());
  }
  for (const auto& item : *items) {
    ServiceDef svc;
    svc.pos = YamlReader::pos(item);
    SourcePos name_pos = svc.pos;
    const bool plain = item.node.IsScalar();
    bool ok = true;
    if (item.node.IsScalar()) {
      auto image = r.non_empty_string(item);
      if (!image) continue;
      svc.image = *image;
      svc.image_pos = svc.pos;
      svc.name = name_from_image(*image);
      check_image(r, item, *image, p);
    } else {
      auto entries = r.map(item, kServiceKeys, {"image"});
      if (!entries) continue;
      for (const auto& e : *entries) {
        if (e.key == "name") {
          if (auto v = r.non_empty_string(e)) svc.name = *v, name_pos = YamlReader::pos(e);
          else ok = false;
        } else if (e.key == "image") {
          auto v = r.non_empty_string(e);
          if (!v) {
            ok = false;
            continue;
          }
          svc.image = *v;
          svc.image_pos = YamlReader::pos(e);
          check_image(r, e, *v, p);
        } else if (e.key == "command") {
          if (e.node.IsScalar()) {
            if (auto s = r.non_empty_string(e)) svc.command = {"/bin/sh", "-c", *s};
            else ok = false;
          } else if (auto argv = r.string_or_list(e)) {
            svc.command = *argv;
          } else {
            ok = false;
          }
        } else if (e.key == "env") {
          if (auto v = r.env(e)) svc.env = *v;
          else ok = false;
        } else if (e.key == "ready") {
          if (auto v = parse_probe(r, e, names)) svc.ready = *v;
          else ok = false;
        } else if (e.key == "timeout") {
          auto text = r.non_empty_string(e);
          if (!text) continue;
          auto v = parse_duration(*text);
          if (!v) r.error(e, v.error().message());
          else if (v->count() <= 0) r.error(e, "expected a duration > 0");
          else svc.timeout = *v;
        }
      }
      if (svc.name.empty() && !svc.image.empty()) svc.name = name_from_image(svc.image);
    }
    if (!ok || svc.image.empty()) continue;
    if (!valid_host_name(svc.name)) {
      r.error(name_pos, item.path,
              "invalid service name '" + svc.name + "': a host name of lowercase letters, digits and '-'" +
                  (plain ? " (write {name: NAME, image: " + svc.image + "})" : ""));
      continue;
    }
    if (svc.name == "localhost" || std::any_of(stage.services.begin(), stage.services.end(),
                                               [&](const ServiceDef& s) { return s.name == svc.name; })) {
      r.error(name_pos, item.path, "duplicate service name '" + svc.name + "'");
      continue;
    }
    stage.services.push_back(std::move(svc));
  }
}

std::vector<CacheMount> parse_caches(YamlReader& r, const Field& f) {
  std::vector<CacheMount> out;
  auto entries = r.map(f);
  if (!entries) return out;
  for (const auto& e : *entries) {
    CacheMount c;
    c.name = e.key;
    c.pos = e.key_pos;
    bool ok = true;
    if (c.name.empty() || c.name == "." || c.name == ".." || c.name.find('/') != std::string::npos ||
        !std::all_of(c.name.begin(), c.name.end(), [](char ch) {
          return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-';
        }) || c.name.find("..") != std::string::npos) {
      r.error(e.key_pos, e.path, "invalid cache name '" + c.name + "': letters, digits, '.', '_' and '-', without "
                                 "'/' or '..'");
      ok = false;
    }
    const Field* path_field = &e;
    std::optional<Field> path_holder;
    if (e.node.IsMap()) {
      auto options = r.map(e, kCacheKeys, {"path"});
      if (!options) continue;
      path_field = nullptr;
      for (const auto& o : *options) {
        if (o.key == "path") {
          path_holder.emplace(o);
        } else if (o.key == "sharing") {
          auto v = r.string(o);
          if (v && *v == "locked") c.sharing = CacheSharing::locked;
          else if (v && *v == "shared") c.sharing = CacheSharing::shared;
          else if (v && *v == "private") c.sharing = CacheSharing::private_;
          else if (v) r.error(o, "expected 'locked', 'shared' or 'private', got '" + *v + "'"), ok = false;
          else ok = false;
        }
      }
      if (!path_holder) continue;  // reported as missing
      path_field = &*path_holder;
    }
    auto path = r.absolute_path(*path_field);
    if (!path) continue;
    auto parts = normalize_tree_path("", *path);
    if (!parts || parts->empty()) {
      r.error(*path_field, "a cache path must be a directory below '/', got '" + *path + "'");
      continue;
    }
    c.path = "/" + *parts;
    for (const char* kernel : {"proc", "sys", "dev"}) {
      if (*parts == kernel || parts->starts_with(std::string(kernel) + "/")) {
        r.error(*path_field, "a cache cannot be mounted at '" + c.path + "' (the kernel's /" + kernel + ")");
        ok = false;
      }
    }
    if (std::any_of(out.begin(), out.end(), [&](const CacheMount& o) { return o.path == c.path; })) {
      r.error(*path_field, "two caches at '" + c.path + "'");
      continue;
    }
    if (ok) out.push_back(std::move(c));
  }
  return out;
}

}  // namespace gantry::pipeline
