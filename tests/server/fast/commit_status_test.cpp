// The commit-status requests of each forge (server/commit_status.h): paths
// under the configured API, the states gantry's run statuses map to, the
// token header; and what the logs may show of a URL (http_post.h).
#include <gtest/gtest.h>

#include "server/commit_status.h"
#include "server/http_post.h"

namespace gantry::server {
namespace {

TEST(CommitStatus, RequestPerForge_PathTokenHeaderAndBody) {
  ForgeStatusConfig gh{.forge = "github", .api = "https://api.github.com", .token_secret = "T", .context = "gantry"};
  auto r = status_request(gh, "acme/app", "abc1234", "success", "https://ci/#/run/1", "passed");
  EXPECT_EQ(r.url, "https://api.github.com/repos/acme/app/statuses/abc1234");
  EXPECT_EQ(r.token_header, "Authorization: Bearer ");
  EXPECT_EQ(r.body, (nlohmann::json{{"state", "success"}, {"target_url", "https://ci/#/run/1"},
                                    {"description", "passed"}, {"context", "gantry"}}));
  ForgeStatusConfig gitea{.forge = "gitea", .api = "https://git.example.org/api/v1", .token_secret = "T", .context = "ci"};
  r = status_request(gitea, "org/my app", "abc1234", "failure", "", "failed");
  EXPECT_EQ(r.url, "https://git.example.org/api/v1/repos/org/my%20app/statuses/abc1234");
  EXPECT_EQ(r.token_header, "Authorization: token ");
  EXPECT_FALSE(r.body.contains("target_url"));  // no public_url: no link
  ForgeStatusConfig gl{.forge = "gitlab", .api = "https://gitlab.example.org/api/v4", .token_secret = "T", .context = "gantry"};
  r = status_request(gl, "group/sub/app", "abc1234", "running", "https://ci/#/run/2", "running");
  EXPECT_EQ(r.url, "https://gitlab.example.org/api/v4/projects/group%2Fsub%2Fapp/statuses/abc1234");
  EXPECT_EQ(r.token_header, "PRIVATE-TOKEN: ");
  EXPECT_EQ(r.body.value("name", ""), "gantry");
}

TEST(CommitStatus, RunStatusesMapToEachForgesStates) {
  for (const auto& [status, github, gitlab] :
       std::vector<std::tuple<std::string, std::string, std::string>>{{"queued", "pending", "pending"},
                                                                      {"starting", "pending", "running"},
                                                                      {"running", "pending", "running"},
                                                                      {"passed", "success", "success"},
                                                                      {"waiting", "success", "success"},
                                                                      {"failed", "failure", "failed"},
                                                                      {"cancelled", "error", "canceled"},
                                                                      {"interrupted", "error", "canceled"},
                                                                      {"bogus", "", ""}}) {
    EXPECT_EQ(forge_state("github", status), github) << status;
    EXPECT_EQ(forge_state("gitea", status), github) << status;
    EXPECT_EQ(forge_state("gitlab", status), gitlab) << status;
  }
}

TEST(HttpPost, UrlOrigin_DropsPathQueryAndCredentials) {
  EXPECT_EQ(url_origin("https://hooks.example.org/services/T000/B000/XXXX?x=1"), "https://hooks.example.org");
  EXPECT_EQ(url_origin("http://user:pass@127.0.0.1:8080/p"), "http://127.0.0.1:8080");
  EXPECT_EQ(url_origin("not a url"), "(not a URL)");
}

}  // namespace
}  // namespace gantry::server
