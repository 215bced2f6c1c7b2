// The Modelfile parser of `berth create` (FROM, PARAMETER, SYSTEM, TEMPLATE, MESSAGE, LICENSE), as Ollama's
// client parses it before sending /api/create. Its own file so that the fuzz target can build it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/base.h"

namespace berth::cli {

struct Modelfile {
    std::string from, system, template_text, license;
    bool has_system = false, has_template = false, has_license = false;
    nlohmann::json params = nlohmann::json::object();   // PARAMETER name → number, bool or (stop) list of strings
    nlohmann::json messages = nlohmann::json::array();  // MESSAGE role text → {"role", "content"}
};

// Parses a Modelfile's text. invalid_argument names the line ("Modelfile line 3: ..."); ADAPTER, DRAFT and
// QUANTIZE are unsupported.
Result<Modelfile> parse_modelfile(const std::string& text);

}  // namespace berth::cli
