// Canned model outputs for every family (src/template/testdata/canned/*.txt), each parsed whole, at every
// split point, byte by byte and in random pieces, with identical results, every byte accounted for, and the
// expected content, thinking, calls and warnings.
//
// File format: cases start with "### name"; "@key value" lines set family (@family NAME or @template FILE
// for detection from a reference template), @variant and @generic-tag (OutputFormat fields), @tools
// (standard | none), @options (a JSON object of ParserOptions fields: thinking, starts_in_thinking, max_calls);
// multi-line sections @input, @content, @thinking run to the next line starting with '@' or "###" (newlines at
// their end are not part of the text; "@input-json" and "@content-json" take one JSON string instead, for texts
// that end in a newline); @calls lists one call per line as NAME ARGS_JSON [id=ID]; @warnings lists one
// substring per expected warning. A section left out expects nothing (no content, no calls, no warnings).
#include <filesystem>
#include <fstream>
#include <sstream>

#include "template/output_test_util.h"

namespace berth {
namespace {

using namespace testing_output;

struct CannedCase {
    std::string file, name;
    OutputFormat format;
    ParserOptions options;
    std::string input, content, thinking;
    std::vector<ParsedToolCall> calls;
    std::vector<std::string> warnings;
};

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// __FILE__ is relative to the build directory when the build used relative paths (Ninja does).
std::filesystem::path source_dir() {
    std::filesystem::path f(__FILE__);
    if (f.is_relative()) f = std::filesystem::path(BERTH_BINARY_DIR) / f;
    return f.parent_path();
}

const std::filesystem::path kCanned = source_dir() / "testdata" / "canned";

std::vector<CannedCase> load_cases(const std::filesystem::path& path) {
    std::vector<CannedCase> cases;
    std::istringstream in(read_file(path.string()));
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    CannedCase* c = nullptr;
    std::string section;
    std::string* text = nullptr;
    bool text_started = false;
    auto begin_text = [&](std::string* t) {
        text = t;
        text_started = false;
    };
    for (const std::string& line : lines) {
        bool is_marker = line.rfind("###", 0) == 0 || (!line.empty() && line[0] == '@');
        if (!is_marker) {
            if (text) {
                if (text_started) *text += "\n";
                *text += line;
                text_started = true;
            } else if (section == "calls" && c && !line.empty()) {
                size_t sp = line.find(' ');
                ParsedToolCall call;
                call.name = line.substr(0, sp);
                std::string rest = sp == std::string::npos ? "{}" : line.substr(sp + 1);
                size_t id = rest.rfind(" id=");
                if (id != std::string::npos) {
                    call.id = rest.substr(id + 4);
                    rest = rest.substr(0, id);
                }
                call.arguments = ordered_json::parse(rest).dump();
                c->calls.push_back(call);
            } else if (section == "warnings" && c && !line.empty()) {
                c->warnings.push_back(line);
            }
            continue;
        }
        if (text) {
            while (!text->empty() && text->back() == '\n') text->pop_back();
        }
        text = nullptr;
        section.clear();
        if (line.rfind("###", 0) == 0) {
            cases.push_back({});
            c = &cases.back();
            c->file = path.filename().string();
            c->name = line.substr(line.find_first_not_of("# "));
            c->options.tools = standard_tools();
            continue;
        }
        if (!c) continue;
        size_t sp = line.find(' ');
        std::string key = line.substr(1, sp == std::string::npos ? std::string::npos : sp - 1);
        std::string value = sp == std::string::npos ? "" : line.substr(sp + 1);
        if (key == "family") {
            EXPECT_TRUE(output_format_for_family(value, &c->format)) << value;
        } else if (key == "template") {
            c->format = detect_output_format(read_file(std::string(BERTH_TESTDATA) + "/templates/jinja/" + value));
        } else if (key == "variant") {
            c->format.variant = value;
        } else if (key == "generic-tag") {
            c->format.generic_tag = value;
        } else if (key == "tools") {
            if (value == "none") c->options.tools = ordered_json();
        } else if (key == "options") {
            auto o = ordered_json::parse(value);
            if (o.contains("thinking")) c->options.thinking = o["thinking"];
            if (o.contains("starts_in_thinking")) c->options.starts_in_thinking = o["starts_in_thinking"];
            if (o.contains("max_calls")) c->options.max_calls = o["max_calls"];
        } else if (key == "input") {
            begin_text(&c->input);
        } else if (key == "input-json") {
            c->input = ordered_json::parse(value).get<std::string>();
        } else if (key == "content") {
            begin_text(&c->content);
        } else if (key == "content-json") {
            c->content = ordered_json::parse(value).get<std::string>();
        } else if (key == "thinking") {
            begin_text(&c->thinking);
        } else if (key == "calls" || key == "warnings") {
            section = key;
        } else {
            ADD_FAILURE() << path << ": unknown key " << key;
        }
    }
    if (text) {
        while (!text->empty() && text->back() == '\n') text->pop_back();
    }
    return cases;
}

TEST(ToolParseCanned, EveryFamilyEverySplit) {
    ASSERT_TRUE(std::filesystem::is_directory(kCanned)) << kCanned;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(kCanned)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::map<std::string, int> per_family;
    int total = 0;
    for (const auto& path : files) {
        for (const CannedCase& c : load_cases(path)) {
            std::string label = c.file + ": " + c.name;
            Parsed got = parse_all_ways(c.format, c.options, c.input, label);
            EXPECT_EQ(got.content, c.content) << label;
            EXPECT_EQ(got.thinking, c.thinking) << label;
            EXPECT_EQ(got.calls.size(), c.calls.size()) << label << ": " << describe(got);
            for (size_t i = 0; i < std::min(got.calls.size(), c.calls.size()); ++i) {
                EXPECT_EQ(got.calls[i].name, c.calls[i].name) << label;
                EXPECT_EQ(got.calls[i].arguments, c.calls[i].arguments) << label;
                EXPECT_EQ(got.calls[i].id, c.calls[i].id) << label;
            }
            EXPECT_EQ(got.warnings.size(), c.warnings.size()) << label << ": " << describe(got);
            for (size_t i = 0; i < std::min(got.warnings.size(), c.warnings.size()); ++i)
                EXPECT_NE(got.warnings[i].find(c.warnings[i]), std::string::npos) << label << ": " << got.warnings[i];
            ++per_family[c.format.family_name()];
            ++total;
        }
    }
    // Every family has canned outputs.
    for (const char* family :
         {"generic", "llama3", "hermes", "qwen3_coder", "glm", "mistral", "command_r", "command_r7b", "deepseek_r1",
          "deepseek_v3", "deepseek_dsml", "functionary_v3_1", "functionary_v3_2", "firefunction_v2", "harmony",
          "gemma4", "function_gemma", "kimi_k2", "granite"}) {
        EXPECT_GE(per_family[family], 3) << family << " has too few canned outputs";
    }
    std::cout << "canned outputs: " << total << " cases\n";
}

}  // namespace
}  // namespace berth
