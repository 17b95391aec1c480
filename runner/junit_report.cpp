#include "runner/junit_report.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>

namespace gantry::runner {

namespace {

struct DocFree {
  void operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }
};
using Doc = std::unique_ptr<xmlDoc, DocFree>;

bool named(const xmlNode* node, const char* name) {
  return node->type == XML_ELEMENT_NODE && xmlStrcmp(node->name, reinterpret_cast<const xmlChar*>(name)) == 0;
}

std::string attribute(const xmlNode* node, const char* name) {
  xmlChar* value = xmlGetProp(node, reinterpret_cast<const xmlChar*>(name));
  if (!value) return "";
  std::string out(reinterpret_cast<const char*>(value));
  xmlFree(value);
  return out;
}

std::string text_of(const xmlNode* node) {
  xmlChar* value = xmlNodeGetContent(node);
  if (!value) return "";
  std::string out(reinterpret_cast<const char*>(value));
  xmlFree(value);
  return out;
}

void append_cut(std::string& to, const std::string& text) {
  if (text.empty() || to.size() >= kMaxTestText) return;
  if (!to.empty()) to += '\n';
  to += text.substr(0, kMaxTestText - std::min(to.size(), kMaxTestText));
  if (to.size() >= kMaxTestText) to += "\n[cut at " + std::to_string(kMaxTestText) + " bytes]";
}

std::int64_t milliseconds(const std::string& seconds) {
  if (seconds.empty()) return 0;
  char* end = nullptr;
  double v = std::strtod(seconds.c_str(), &end);
  if (end == seconds.c_str() || !std::isfinite(v) || v < 0 || v > 1e9) return 0;
  return static_cast<std::int64_t>(std::llround(v * 1000));
}

void read_case(const xmlNode* node, const std::string& suite, TestCase& c) {
  c.suite = suite;
  c.classname = attribute(node, "classname");
  c.name = attribute(node, "name");
  c.duration_ms = milliseconds(attribute(node, "time"));
  // GoogleTest writes a skipped test as result="skipped" (GTEST_SKIP), a
  // disabled one as status="notrun".
  if (attribute(node, "result") == "skipped" || attribute(node, "status") == "notrun") c.status = TestStatus::skipped;
  std::string out, err;
  for (const xmlNode* child = node->children; child; child = child->next) {
    std::optional<TestStatus> status;
    if (named(child, "failure")) status = TestStatus::failed;
    else if (named(child, "error")) status = TestStatus::error;
    else if (named(child, "skipped")) status = TestStatus::skipped;
    if (status) {
      // The worst outcome wins: error > failed > skipped.
      if (c.status == TestStatus::passed || c.status == TestStatus::skipped || *status == TestStatus::error)
        c.status = *status;
      std::string message = attribute(child, "message");
      std::string text = text_of(child);
      if (message.empty()) message = text.substr(0, text.find('\n'));
      if (c.message.empty()) c.message = message.substr(0, kMaxTestText);
      append_cut(c.output, text);
    } else if (named(child, "system-out")) {
      out = text_of(child);
    } else if (named(child, "system-err")) {
      err = text_of(child);
    }
  }
  append_cut(c.output, out);
  append_cut(c.output, err);
}

void read_suite(const xmlNode* suite, TestReport& report, bool& cut) {
  const std::string name = attribute(suite, "name");
  for (const xmlNode* child = suite->children; child; child = child->next) {
    if (named(child, "testsuite")) {
      read_suite(child, report, cut);  // nested suites (JUnit 5, some Ant tasks)
    } else if (named(child, "testcase")) {
      if (report.cases.size() >= kMaxTestCases) {
        cut = true;
        continue;
      }
      TestCase c;
      read_case(child, name, c);
      report.cases.push_back(std::move(c));
    }
  }
}

}  // namespace

std::string_view to_string(TestStatus status) {
  switch (status) {
    case TestStatus::passed: return "passed";
    case TestStatus::failed: return "failed";
    case TestStatus::error: return "error";
    case TestStatus::skipped: return "skipped";
  }
  return "passed";
}

std::optional<TestStatus> test_status_from_string(std::string_view word) {
  for (auto s : {TestStatus::passed, TestStatus::failed, TestStatus::error, TestStatus::skipped})
    if (to_string(s) == word) return s;
  return std::nullopt;
}

std::string TestCase::id() const { return (classname.empty() ? suite : classname) + "." + name; }

int TestReport::count(TestStatus status) const {
  int n = 0;
  for (const auto& c : cases) n += c.status == status ? 1 : 0;
  return n;
}

Result<TestReport> parse_junit(const std::string& xml, const std::string& name) {
  if (xml.size() > kMaxReportBytes)
    return fail(ErrorKind::invalid_input, name + ": report of " + std::to_string(xml.size()) + " bytes, over the " +
                                              std::to_string(kMaxReportBytes >> 20) + " MiB a report may have");
  // No network, no DTD, no entity substitution: a hostile report cannot read
  // files or expand itself (the defaults of libxml2 2.9 keep entities as
  // references unless XML_PARSE_NOENT is given).
  const int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
  Doc doc(xmlReadMemory(xml.data(), static_cast<int>(xml.size()), name.c_str(), nullptr, options));
  if (!doc) {
    const xmlError* e = xmlGetLastError();
    std::string why = e && e->message ? e->message : "not well-formed XML";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return fail(ErrorKind::invalid_input,
                name + ":" + std::to_string(e ? e->line : 0) + ": not a JUnit XML report: " + why);
  }
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!root || !(named(root, "testsuites") || named(root, "testsuite")))
    return fail(ErrorKind::invalid_input, name + ": not a JUnit XML report: the root element is <" +
                                              (root ? std::string(reinterpret_cast<const char*>(root->name)) : "") +
                                              ">, expected <testsuites> or <testsuite>");
  TestReport report;
  bool cut = false;
  if (named(root, "testsuite")) {
    read_suite(root, report, cut);
  } else {
    for (const xmlNode* child = root->children; child; child = child->next)
      if (named(child, "testsuite")) read_suite(child, report, cut);
  }
  if (cut) report.warnings.push_back(name + ": more than " + std::to_string(kMaxTestCases) + " test cases; the rest were not kept");
  return report;
}

}  // namespace gantry::runner
