// explain_syntax_error: yaml-cpp's messages for the two mistakes people make
// most in CI files point elsewhere ("end of map not found" for a tab, "the
// referenced anchor is not defined" for `*.md`); name the cause instead.
#include <string_view>
#include <vector>

#include "pipeline/yaml_reader.h"

namespace gantry::pipeline {

namespace {

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

// The column (0-based) of the first tab in a line's indentation, or npos.
std::size_t indentation_tab(std::string_view line) {
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\t') return i;
    if (line[i] != ' ') break;
  }
  return std::string_view::npos;
}

// The word at `col` of `line` up to white space or a flow delimiter.
std::string word_at(std::string_view line, std::size_t col) {
  std::size_t end = col;
  while (end < line.size() && line[end] != ' ' && line[end] != '\t' && line[end] != ',' && line[end] != ']' &&
         line[end] != '}')
    ++end;
  return std::string(line.substr(col, end - col));
}

}  // namespace

SyntaxProblem explain_syntax_error(const std::string& text, const YAML::Exception& e) {
  const SourcePos at{e.mark.line + 1, e.mark.column + 1};
  const auto lines = split_lines(text);
  const int error_line = e.mark.line >= 0 ? e.mark.line : static_cast<int>(lines.size()) - 1;

  if (e.msg == YAML::ErrorMsg::UNKNOWN_ANCHOR && error_line < static_cast<int>(lines.size())) {
    std::string_view line = lines[static_cast<std::size_t>(error_line)];
    std::size_t col = e.mark.column >= 0 ? static_cast<std::size_t>(e.mark.column) : 0;
    if (col >= line.size() || line[col] != '*') col = line.find('*');
    if (col != std::string_view::npos) {
      std::string word = word_at(line, col);
      return {SourcePos{error_line + 1, static_cast<int>(col) + 1},
              "a value that starts with * must be quoted: write '" + word + "' (unquoted, YAML reads " + word +
                  " as an alias of an anchor &" + word.substr(1) + ", and there is none)"};
    }
  }

  // A tab in the indentation at or before the error (the nearest one): YAML
  // forbids tabs there, and the parser stumbles later with a vaguer message.
  for (int i = std::min(error_line, static_cast<int>(lines.size()) - 1); i >= 0; --i) {
    std::size_t col = indentation_tab(lines[static_cast<std::size_t>(i)]);
    if (col == std::string_view::npos) continue;
    return {SourcePos{i + 1, static_cast<int>(col) + 1},
            "tabs are not allowed for indentation: indent with spaces (the YAML parser then reports: " + e.msg +
                " at " + std::to_string(at.line) + ":" + std::to_string(at.column) + ")"};
  }
  return {at, "invalid YAML: " + e.msg};
}

}  // namespace gantry::pipeline
