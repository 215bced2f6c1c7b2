// The Modelfile parser of `berth create` (FROM, PARAMETER, SYSTEM, TEMPLATE, MESSAGE, LICENSE, """ blocks).
// Properties: no crash or exception; a parsed Modelfile has a FROM, PARAMETER values are numbers, booleans or
// (stop) lists of strings, and MESSAGE roles are the three allowed.
#include "cli/modelfile.h"
#include "fuzz_util.h"

using namespace berth;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Result<cli::Modelfile> mf = cli::parse_modelfile(std::string(reinterpret_cast<const char*>(data), size));
    if (!mf.is_ok()) return 0;
    if (mf->from.empty()) fuzz::fail("parsed without FROM");
    for (auto& [key, v] : mf->params.items()) {
        if (key == "stop" ? !v.is_array() : !(v.is_number() || v.is_boolean())) fuzz::fail("bad PARAMETER value");
    }
    for (auto& m : mf->messages) {
        std::string role = m["role"];
        if (role != "system" && role != "user" && role != "assistant") fuzz::fail("bad MESSAGE role");
    }
    return 0;
}
