// Splits a byte stream into lines for an OutputSink: bytes pass unchanged
// (binary safe), '\n' ends a line (not included), a line longer than
// kMaxLineBytes is delivered in pieces, and finish() delivers a last
// unterminated line.
#pragma once

#include <string>
#include <string_view>

#include "executor/container.h"

namespace gantry::executor {

class LineSplitter {
 public:
  LineSplitter(Stream stream, const OutputSink& sink, std::size_t max_line = kMaxLineBytes)
      : stream_(stream), sink_(sink), max_line_(max_line) {}

  void feed(std::string_view data) {
    while (!data.empty()) {
      auto nl = data.find('\n');
      std::string_view part = data.substr(0, nl);
      if (pending_.size() + part.size() >= max_line_ && nl == std::string_view::npos) {
        std::size_t take = max_line_ - pending_.size();
        pending_.append(part.substr(0, take));
        emit();
        data.remove_prefix(take);
        continue;
      }
      if (nl == std::string_view::npos) {
        pending_.append(part);
        return;
      }
      if (pending_.empty() && part.size() <= max_line_) {
        if (sink_) sink_(stream_, part);
      } else {
        pending_.append(part);
        while (pending_.size() > max_line_) {
          std::string rest = pending_.substr(max_line_);
          pending_.resize(max_line_);
          emit();
          pending_ = std::move(rest);
        }
        emit();
      }
      data.remove_prefix(nl + 1);
    }
  }

  void finish() {
    if (!pending_.empty()) emit();
  }

 private:
  void emit() {
    if (sink_) sink_(stream_, pending_);
    pending_.clear();
  }

  Stream stream_;
  const OutputSink& sink_;
  std::size_t max_line_;
  std::string pending_;
};

}  // namespace gantry::executor
