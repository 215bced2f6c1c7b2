// Jinja reference renderings: every case of templates/renderings.json, renderings-modern.json and
// renderings-tools.json byte for byte (Python Jinja2 with trim_blocks + lstrip_blocks, transformers' tojson),
// and a failure wherever the reference failed. Each failing template/conversation is reported by name.
#include "template/template.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace berth {
namespace {

using nlohmann::ordered_json;

const std::string kTemplates = std::string(BERTH_TESTDATA) + "/templates";

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

struct Tally {
    int rendered = 0, refused = 0, failed = 0;
};

// Renders every case of `file`: messages, add_generation_prompt, bos/eos, plus `tools` and `kwargs` keyed by
// conversation where the file has them (renderings-tools.json).
Tally check_reference_file(const std::string& file) {
    Tally t;
    std::ifstream f(kTemplates + "/" + file);
    EXPECT_TRUE(f) << "missing " << kTemplates << "/" << file;
    if (!f) return t;
    ordered_json ref = ordered_json::parse(f);
    TemplateOptions options;
    options.now_unix_s = 1795435200;  // 23 Nov 2026 12:00 UTC, the reference's strftime_now
    std::map<std::string, Result<ChatTemplate>> parsed;
    for (const auto& c : ref["cases"]) {
        std::string name = c["template"].get<std::string>();
        std::string conv = c["conversation"].get<std::string>();
        std::string label =
            file + ": " + name + " / " + conv + (c["add_generation_prompt"].get<bool>() ? " / gen" : "");
        auto it = parsed.find(name);
        if (it == parsed.end())
            it = parsed.emplace(name, ChatTemplate::parse(read_file(kTemplates + "/jinja/" + name), options)).first;
        if (!it->second.is_ok()) {
            ADD_FAILURE() << label << ": " << it->second.status().message();
            ++t.failed;
            continue;
        }
        const ordered_json& conversation = ref["conversations"][conv];
        ordered_json ctx = {{"messages", conversation.is_object() ? conversation["messages"] : conversation},
                            {"add_generation_prompt", c["add_generation_prompt"]},
                            {"bos_token", c["bos_token"]},
                            {"eos_token", c["eos_token"]}};
        if (ref.contains("tools") && ref["tools"].contains(conv)) ctx["tools"] = ref["tools"][conv];
        if (ref.contains("kwargs") && ref["kwargs"].contains(conv))
            for (const auto& [k, v] : ref["kwargs"][conv].items()) ctx[k] = v;
        auto out = it->second->render(ctx);
        if (c.contains("error")) {
            if (out.is_ok()) {
                ADD_FAILURE() << label << " should fail like Jinja2: " << c["error"] << "\nbut rendered:\n" << *out;
                ++t.failed;
            } else {
                EXPECT_NE(out.status().message().find("template error: line "), std::string::npos)
                    << out.status().message();
                ++t.refused;
            }
        } else if (!out.is_ok()) {
            ADD_FAILURE() << label << ": " << out.status().message();
            ++t.failed;
        } else if (*out != c["expected"].get<std::string>()) {
            EXPECT_EQ(*out, c["expected"].get<std::string>()) << label;
            ++t.failed;
        } else {
            ++t.rendered;
        }
    }
    return t;
}

TEST(JinjaReference, Renderings) {
    Tally t = check_reference_file("renderings.json");
    EXPECT_EQ(t.failed, 0);
    EXPECT_EQ(t.rendered, 124);
    EXPECT_EQ(t.refused, 12);
}

TEST(JinjaReference, RenderingsModern) {
    Tally t = check_reference_file("renderings-modern.json");
    EXPECT_EQ(t.failed, 0);
    EXPECT_EQ(t.rendered, 144);
    EXPECT_EQ(t.refused, 0);
}

TEST(JinjaReference, RenderingsTools) {
    Tally t = check_reference_file("renderings-tools.json");
    EXPECT_EQ(t.failed, 0);
    EXPECT_EQ(t.rendered, 392);
    EXPECT_EQ(t.refused, 26);
}

}  // namespace
}  // namespace berth
