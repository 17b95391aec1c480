#include "cache/json_field.h"

namespace gantry::cache {

using nlohmann::json;

namespace {

const char* type_word(json::value_t t) {
  switch (t) {
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "a whole number";
    case json::value_t::number_float: return "a number";
    case json::value_t::null: return "null";
    default: return "something else";
  }
}

const char* actual_word(const json& v) {
  if (v.is_number()) return "a number";
  return type_word(v.type());
}

}  // namespace

std::string json_path(const std::string& where, std::string_view key) {
  if (where.empty()) return std::string(key);
  if (where.ends_with(": ")) return where + std::string(key);
  return where + "." + std::string(key);
}

std::string json_path(const std::string& where, std::size_t index) { return where + "[" + std::to_string(index) + "]"; }

Result<const json*> json_field(const json& obj, std::string_view key, json::value_t type, const std::string& where) {
  if (!obj.is_object()) return fail(ErrorKind::invalid_input, where + " must be an object, not " + actual_word(obj));
  auto it = obj.find(std::string(key));
  if (it == obj.end() || it->is_null()) return static_cast<const json*>(nullptr);
  bool ok = it->type() == type;
  if (type == json::value_t::number_unsigned) ok = it->is_number_unsigned();
  if (!ok)
    return fail(ErrorKind::invalid_input,
                json_path(where, key) + " must be " + type_word(type) + ", not " + actual_word(*it));
  return &*it;
}

Result<std::string> json_string(const json& obj, std::string_view key, const std::string& where) {
  const json* v = TRY(json_field(obj, key, json::value_t::string, where));
  return v ? v->get<std::string>() : std::string();
}

Status json_expect_object(const json& value, const std::string& where) {
  if (!value.is_object()) return fail(ErrorKind::invalid_input, where + " must be an object, not " + actual_word(value));
  return {};
}

}  // namespace gantry::cache
