// Ollama's Go templates against templates/gotmpl/renderings.json: every case (20 library templates and 8 that
// exercise tools, thinking, json, dates and the legacy path, on 11 chat requests) byte for byte, each failing
// template/conversation reported by name. Also checks that syntax detection picks Go for all of them.
#include "template/template.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

namespace berth {
namespace {

using nlohmann::ordered_json;

const std::string kGo = std::string(BERTH_TESTDATA) + "/templates/gotmpl/renderings.json";

ordered_json load() {
    std::ifstream f(kGo);
    EXPECT_TRUE(f) << "missing " << kGo;
    return f ? ordered_json::parse(f) : ordered_json();
}

TEST(GoReference, EveryCaseByteForByte) {
    ordered_json ref = load();
    ASSERT_TRUE(ref.contains("cases"));
    std::map<std::string, Result<PromptTemplate>> parsed;
    int rendered = 0, refused = 0, failed = 0;
    for (const auto& c : ref["cases"]) {
        std::string name = c["template"].get<std::string>(), conv = c["conversation"].get<std::string>();
        std::string label = name + " / " + conv;
        auto it = parsed.find(name);
        if (it == parsed.end())
            it = parsed.emplace(name, PromptTemplate::parse(ref["templates"][name].get<std::string>())).first;
        if (!it->second.is_ok()) {
            ADD_FAILURE() << label << ": " << it->second.status().message();
            ++failed;
            continue;
        }
        EXPECT_EQ(it->second->syntax(), TemplateSyntax::go) << name << " was not detected as a Go template";
        const ordered_json& request = ref["conversations"][conv];
        ChatRenderInput in;
        in.messages = &request["messages"];
        if (request.contains("tools")) in.tools = &request["tools"];
        if (request.contains("think")) {
            auto think = parse_think(request["think"]);
            ASSERT_TRUE(think.is_ok()) << think.status().message();
            in.think = *think;
        }
        in.now_unix_s = 1795435200;  // 2026-11-23 12:00 UTC: currentDate 2026-11-23, yesterdayDate 2026-11-22
        auto out = it->second->render(in);
        if (!c["error"].is_null()) {
            if (out.is_ok()) {
                ADD_FAILURE() << label << " should fail like Ollama: " << c["error"];
                ++failed;
            } else {
                ++refused;
            }
        } else if (!out.is_ok()) {
            ADD_FAILURE() << label << ": " << out.status().message();
            ++failed;
        } else if (*out != c["output"].get<std::string>()) {
            EXPECT_EQ(*out, c["output"].get<std::string>()) << label;
            ++failed;
        } else {
            ++rendered;
        }
    }
    EXPECT_EQ(failed, 0);
    EXPECT_EQ(rendered + refused, 308);
}

}  // namespace
}  // namespace berth
