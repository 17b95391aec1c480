// `services:` on stages and `caches:` on stages and run steps: what the
// loader reads, and the bad input it reports all at once.
#include <gtest/gtest.h>

#include "pipeline/loader.h"
#include "tests/pipeline/expect_diagnostics.h"

namespace gantry::pipeline {
namespace {

TEST(Services, ReadsEveryForm) {
  auto p = load_pipeline(R"(images:
  pg: {from: busybox}
stages:
  it:
    image: busybox
    run: make it
    services:
      - name: db
        image: pg
        command: [postgres, -D, /data]
        env: {POSTGRES_PASSWORD: x}
        ready: {tcp: 5432}
        timeout: 30s
      - name: web
        image: busybox
        command: httpd -f -p 8080
        ready: {http: "http://web:8080/health"}
      - {name: q, image: busybox, ready: {exec: "test -e /tmp/ready"}}
      - {name: l, image: busybox, ready: {log: "ready to accept"}}
      - 127.0.0.1:5000/team/redis:7
)", ".gantry.yml");
  ASSERT_TRUE(p) << p.error().str();
  const auto& s = p->stages.front().services;
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[0].name, "db");
  EXPECT_EQ(s[0].image, "pg");
  EXPECT_EQ(s[0].command, (std::vector<std::string>{"postgres", "-D", "/data"}));
  EXPECT_EQ(s[0].env, (EnvList{{"POSTGRES_PASSWORD", "x"}}));
  EXPECT_EQ(s[0].ready.kind, ProbeKind::tcp);
  EXPECT_EQ(s[0].ready.port, 5432);
  EXPECT_EQ(s[0].timeout, std::chrono::seconds(30));
  EXPECT_EQ(s[1].command, (std::vector<std::string>{"/bin/sh", "-c", "httpd -f -p 8080"}));
  EXPECT_EQ(s[1].ready.kind, ProbeKind::http);
  EXPECT_EQ(s[1].ready.port, 8080);
  EXPECT_EQ(s[1].ready.url, "http://web:8080/health");
  EXPECT_EQ(s[1].timeout, std::chrono::seconds(60));
  EXPECT_EQ(s[2].ready.kind, ProbeKind::exec);
  EXPECT_EQ(s[2].ready.argv, (std::vector<std::string>{"/bin/sh", "-c", "test -e /tmp/ready"}));
  EXPECT_EQ(s[3].ready.kind, ProbeKind::log);
  EXPECT_EQ(s[3].ready.text, "ready to accept");
  EXPECT_EQ(s[4].name, "redis");
  EXPECT_EQ(s[4].image, "127.0.0.1:5000/team/redis:7");
  EXPECT_EQ(s[4].ready.kind, ProbeKind::none);
}

TEST(ServicesErrors, AllReportedAtOnce) {
  expect_diagnostics(R"(stages:
  it:
    image: busybox
    run: x
    network: host
    services:
      - {name: db, image: "Not An Image"}
      - {name: a, image: busybox, ready: {udp: 53}}
      - {name: b, image: busybox, ready: {tcp: 70000}}
      - {name: c, image: busybox, ready: {http: "http://example.org/"}}
      - {name: Bad_Name, image: busybox}
      - {name: db, image: busybox}
      - {name: e, image: busybox, ready: {tcp: 1, log: x}}
)",
                     {{2, 3,
                       "stages.it: a stage with services runs in its own network namespace: network: host and "
                       "services cannot go together"},
                      {7, 27, "stages.it.services[0].image: unknown image 'Not An Image': not an image of this file "
                              "nor an image reference"},
                      {8, 43, "stages.it.services[1].ready.udp: unknown probe 'udp': expected tcp, http, exec or log"},
                      {9, 48, "stages.it.services[2].ready.tcp: expected a port between 1 and 65535, got '70000'"},
                      {10, 49,
                       "stages.it.services[3].ready.http: the probe's host 'example.org' is not 127.0.0.1, localhost "
                       "or a service of the stage: a probe reaches the stage's own network only"},
                      {11, 16,
                       "stages.it.services[4]: invalid service name 'Bad_Name': a host name of lowercase letters, "
                       "digits and '-'"},
                      {12, 16, "stages.it.services[5]: duplicate service name 'db'"},
                      {13, 42,
                       "stages.it.services[6].ready: expected exactly one probe: tcp: PORT, http: URL, exec: COMMAND "
                       "or log: TEXT"}});
}

TEST(Services, ValidateRefsChecksServiceImages) {
  auto p = load_pipeline("stages:\n  it:\n    image: busybox\n    run: x\n    services: [nosuch:1]\n", ".gantry.yml");
  ASSERT_TRUE(p) << p.error().str();
  auto diags = validate_refs(*p, [](const std::string& ref) { return ref == "busybox"; });
  ASSERT_EQ(diags.size(), 1u) << diags.str();
  EXPECT_EQ(diags.items()[0].str(),
            ".gantry.yml:5:16: stages.it.services[0].image: unknown image 'nosuch:1': not an image of this file nor "
            "an image gantry can find");
}

TEST(Caches, OnStagesAndRunSteps_NeverOtherSteps) {
  auto p = load_pipeline(R"(images:
  app:
    from: busybox
    steps:
      - run: make
        caches: {ccache: /root/.ccache/, apt: {path: /var/cache/apt, sharing: shared}}
stages:
  unit:
    image: app
    run: make test
    caches: {go: {path: /go/pkg, sharing: private}}
)", ".gantry.yml");
  ASSERT_TRUE(p) << p.error().str();
  const auto& caches = p->images[0].steps[0].caches;
  ASSERT_EQ(caches.size(), 2u);
  EXPECT_EQ(caches[0].name, "ccache");
  EXPECT_EQ(caches[0].path, "/root/.ccache");
  EXPECT_EQ(caches[0].sharing, CacheSharing::locked);
  EXPECT_EQ(caches[1].sharing, CacheSharing::shared);
  ASSERT_EQ(p->stages[0].caches.size(), 1u);
  EXPECT_EQ(p->stages[0].caches[0].sharing, CacheSharing::private_);
}

TEST(CachesErrors, AllReportedAtOnce) {
  expect_diagnostics(R"(images:
  app:
    from: busybox
    steps:
      - copy: a /b
        caches: {x: /x}
      - run: make
        caches: {"a/b": /x, "..": /y, rel: relative, root: /, up: /a/.., px: /proc/x, s: {path: /s, sharing: some}}
)",
                     {{6, 9, "images.app.steps[0].caches: 'caches' applies to run steps only"},
                      {8, 18, "images.app.steps[1].caches.a/b: invalid cache name 'a/b': letters, digits, '.', '_' "
                              "and '-', without '/' or '..'"},
                      {8, 29, "images.app.steps[1].caches...: invalid cache name '..': letters, digits, '.', '_' and "
                              "'-', without '/' or '..'"},
                      {8, 44, "images.app.steps[1].caches.rel: expected an absolute path (starting with '/'), got "
                              "'relative'"},
                      {8, 60, "images.app.steps[1].caches.root: a cache path must be a directory below '/', got '/'"},
                      {8, 67, "images.app.steps[1].caches.up: a cache path must be a directory below '/', got '/a/..'"},
                      {8, 78, "images.app.steps[1].caches.px: a cache cannot be mounted at '/proc/x' (the kernel's "
                              "/proc)"},
                      {8, 110, "images.app.steps[1].caches.s.sharing: expected 'locked', 'shared' or 'private', got "
                               "'some'"}});
}

}  // namespace
}  // namespace gantry::pipeline
