// Typed reads of the fields of the JSON documents images and registries hand
// us (index.json, image indexes, manifests, configs). A field with the wrong
// type is an error naming the document and the field path
// ("index.json: manifests[0].digest must be a string, not a number"), never a
// nlohmann type_error escaping as an "internal error".
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/error.h"

namespace gantry::cache {

// "where.key" for messages; where names the document and the path so far.
std::string json_path(const std::string& where, std::string_view key);
std::string json_path(const std::string& where, std::size_t index);

// The field when present and of `type` (number_unsigned also accepts a
// non-negative integer); nullptr when absent or null; an error otherwise.
Result<const nlohmann::json*> json_field(const nlohmann::json& obj, std::string_view key, nlohmann::json::value_t type,
                                         const std::string& where);

// A string field; "" when absent.
Result<std::string> json_string(const nlohmann::json& obj, std::string_view key, const std::string& where);

// The value itself must be an object (an array element, a document).
Status json_expect_object(const nlohmann::json& value, const std::string& where);

}  // namespace gantry::cache
