// The one error type of gantry: what failed (the operation), on what (a path,
// key or reference), why (errno or a message), and a kind that picks the
// user-facing exit code.  Low layers return Result<T>; TRY keeps call sites flat.
#pragma once

#include <cerrno>
#include <expected>
#include <string>
#include <utility>

namespace gantry {

enum class ErrorKind {
  io,             // a system call failed (errno is set)
  invalid_input,  // the user's input (file, tar, YAML, flag) is wrong
  not_found,      // an image, tag, blob, revision… does not exist
  corrupt,        // stored or received content does not match its digest
  conflict,       // a state transition is refused (e.g. promotion order)
  usage,          // a command line error: exit code 2
  internal,       // a bug or an unexpected library failure
};

class Error {
 public:
  Error(ErrorKind kind, std::string message, int err = 0)
      : kind_(kind), message_(std::move(message)), errno_(err) {}

  ErrorKind kind() const { return kind_; }
  int errno_value() const { return errno_; }
  const std::string& message() const { return message_; }

  // Prepends context: "importing busybox: open /x: No such file or directory".
  Error&& context(const std::string& what) && {
    message_ = what + ": " + message_;
    return std::move(*this);
  }
  Error context(const std::string& what) const& {
    Error copy = *this;
    return std::move(copy).context(what);
  }

 private:
  ErrorKind kind_;
  std::string message_;
  int errno_;
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

// "op path: strerror(err)"; kind is not_found for ENOENT, io otherwise.
Error sys_error(const std::string& op, const std::string& path, int err = errno);
inline std::unexpected<Error> fail(ErrorKind kind, std::string message, int err = 0) {
  return std::unexpected<Error>(Error(kind, std::move(message), err));
}
inline std::unexpected<Error> fail(Error error) { return std::unexpected<Error>(std::move(error)); }
inline std::unexpected<Error> fail_sys(const std::string& op, const std::string& path, int err = errno) {
  return std::unexpected<Error>(sys_error(op, path, err));
}

}  // namespace gantry

// TRY(expr): evaluates a Result; returns its error from the enclosing function,
// otherwise yields the value (GNU statement expression, fine with GCC/Clang).
#define GANTRY_CONCAT_(a, b) a##b
#define GANTRY_CONCAT(a, b) GANTRY_CONCAT_(a, b)
#define TRY(...)                                                            \
  ({                                                                        \
    auto&& GANTRY_CONCAT(try_result_, __LINE__) = (__VA_ARGS__);            \
    if (!GANTRY_CONCAT(try_result_, __LINE__))                              \
      return std::unexpected(std::move(GANTRY_CONCAT(try_result_, __LINE__)).error()); \
    std::move(GANTRY_CONCAT(try_result_, __LINE__)).value();                \
  })
// TRY_CTX(expr, "context"): as TRY, prefixing the error with context.
#define TRY_CTX(expr, ctx)                                                  \
  ({                                                                        \
    auto&& GANTRY_CONCAT(try_result_, __LINE__) = (expr);                   \
    if (!GANTRY_CONCAT(try_result_, __LINE__))                              \
      return std::unexpected(std::move(GANTRY_CONCAT(try_result_, __LINE__)).error().context(ctx)); \
    std::move(GANTRY_CONCAT(try_result_, __LINE__)).value();                \
  })
