// berth debug render-template TEMPLATE: renders a chat template of either syntax (Jinja, or one of Ollama's Go
// templates; --syntax go|jinja, default: detect) for the Ollama /api/chat request body read from stdin
// ({"messages": [...], "tools": [...], "think": ...}) and prints the prompt exactly, without an added newline.
// Other keys of the body: add_generation_prompt, bos_token, eos_token, prompt + suffix (Go fill-in-the-middle),
// chat_template_kwargs, and any key that is not an Ollama request field, all as Jinja variables (so a plain
// Jinja context works too). --now pins currentDate / strftime_now. A template error exits 1 with the message.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "template/template.h"

namespace berth::cli {
namespace {

using nlohmann::ordered_json;

// Request fields that are not template variables.
bool request_field(const std::string& k) {
    static const char* const fields[] = {"model",
                                         "messages",
                                         "tools",
                                         "think",
                                         "stream",
                                         "format",
                                         "options",
                                         "keep_alive",
                                         "truncate",
                                         "shift",
                                         "logprobs",
                                         "top_logprobs",
                                         "_debug_render_only",
                                         "add_generation_prompt",
                                         "bos_token",
                                         "eos_token",
                                         "prompt",
                                         "suffix",
                                         "chat_template_kwargs"};
    for (const char* f : fields)
        if (k == f) return true;
    return false;
}

int cmd_render_template(const std::vector<std::string>& argv) {
    Args args(argv);
    auto unknown = args.unknown({"now", "bench", "syntax"});
    if (!unknown.empty()) return fail("unknown option --%s", unknown[0].c_str());
    if (args.positional().size() != 1)
        return fail("usage: berth debug render-template TEMPLATE [--syntax go|jinja] [--now UNIX_S] < request.json");
    std::optional<TemplateSyntax> syntax;
    if (auto s = args.get("syntax")) {
        if (*s == "go")
            syntax = TemplateSyntax::go;
        else if (*s == "jinja")
            syntax = TemplateSyntax::jinja;
        else
            return fail("--syntax must be go or jinja");
    }
    std::ifstream f(args.positional()[0], std::ios::binary);
    if (!f) return fail("cannot open %s", args.positional()[0].c_str());
    std::string source((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    // ordered_json keeps the keys in input order, as Python's dicts and Ollama's ordered maps do.
    ordered_json body = ordered_json::parse(input, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return fail("stdin must be a JSON object");

    ordered_json messages = body.contains("messages") ? body["messages"] : ordered_json::array();
    ordered_json extra = ordered_json::object();
    for (auto it = body.begin(); it != body.end(); ++it)
        if (!request_field(it.key())) extra[it.key()] = it.value();
    if (body.contains("chat_template_kwargs") && body["chat_template_kwargs"].is_object())
        for (auto it = body["chat_template_kwargs"].begin(); it != body["chat_template_kwargs"].end(); ++it)
            extra[it.key()] = it.value();
    ChatRenderInput in;
    in.messages = &messages;
    if (body.contains("tools")) in.tools = &body["tools"];
    if (body.contains("think")) {
        Result<ThinkSetting> think = parse_think(body["think"]);
        if (!think) return fail("%s", think.status().message().c_str());
        in.think = *think;
    }
    if (body.contains("add_generation_prompt")) in.add_generation_prompt = body.value("add_generation_prompt", true);
    in.bos_token = body.value("bos_token", "");
    in.eos_token = body.value("eos_token", "");
    in.prompt = body.value("prompt", "");
    in.suffix = body.value("suffix", "");
    in.extra = &extra;
    if (args.has("now")) in.now_unix_s = args.get_int("now", 0);  // seconds since the epoch, for tests

    auto t0 = std::chrono::steady_clock::now();
    auto tmpl = PromptTemplate::parse(source, syntax);
    if (!tmpl) return fail("%s", tmpl.status().message().c_str());
    auto t1 = std::chrono::steady_clock::now();
    auto out = tmpl->render(in);
    if (!out) return fail("%s", out.status().message().c_str());
    if (long long n = args.get_int("bench", 0); n > 0) {  // timing figures on stderr; output unchanged
        auto t2 = std::chrono::steady_clock::now();
        for (long long k = 0; k < n; ++k)
            if (!tmpl->render(in)) return fail("render failed during --bench");
        auto t3 = std::chrono::steady_clock::now();
        auto us = [](auto d) { return std::chrono::duration<double, std::micro>(d).count(); };
        fprintf(stderr,
                "%s template: parse %.1f us (with capability probes), render %.1f us/iter over %lld "
                "iterations, %zu bytes out\n",
                template_syntax_name(tmpl->syntax()), us(t1 - t0), us(t3 - t2) / double(n), n, out->size());
    }
    fwrite(out->data(), 1, out->size(), stdout);
    return fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

BERTH_COMMAND(render_template, "debug render-template",
              "berth debug render-template TEMPLATE [--syntax go|jinja] [--now UNIX_S] [--bench N]",
              "Render a Jinja or Ollama Go chat template for the /api/chat request body on stdin (messages, tools, "
              "think)",
              cmd_render_template);

}  // namespace berth::cli
