// berth debug render-template TEMPLATE.jinja: renders a chat template with the JSON context read from stdin
// ({"messages": [...], "add_generation_prompt": bool, "bos_token": "...", "eos_token": "...", ...}) and
// prints the result exactly, without an added newline. A template error exits 1 with the message on stderr.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "template/template.h"

namespace berth::cli {
namespace {

int cmd_render_template(const std::vector<std::string>& argv) {
    Args args(argv);
    auto unknown = args.unknown({"now", "bench"});
    if (!unknown.empty()) return fail("unknown option --%s", unknown[0].c_str());
    if (args.positional().size() != 1) return fail("usage: berth debug render-template TEMPLATE.jinja < context.json");
    std::ifstream f(args.positional()[0], std::ios::binary);
    if (!f) return fail("cannot open %s", args.positional()[0].c_str());
    std::string source((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    // ordered_json keeps the keys in input order, as Python's dicts do (tojson, loops over dicts).
    nlohmann::ordered_json context = nlohmann::ordered_json::parse(input, nullptr, false);
    if (context.is_discarded() || !context.is_object()) return fail("stdin must be a JSON object");
    TemplateOptions options;
    if (args.has("now")) options.now_unix_s = args.get_int("now", 0);  // seconds since the epoch, for tests
    auto t0 = std::chrono::steady_clock::now();
    auto tmpl = ChatTemplate::parse(source, options);
    if (!tmpl) return fail("%s", tmpl.status().message().c_str());
    auto t1 = std::chrono::steady_clock::now();
    auto out = tmpl->render(context);
    if (!out) return fail("%s", out.status().message().c_str());
    if (long long n = args.get_int("bench", 0); n > 0) {  // timing figures on stderr; output unchanged
        auto t2 = std::chrono::steady_clock::now();
        for (long long k = 0; k < n; ++k)
            if (!tmpl->render(context)) return fail("render failed during --bench");
        auto t3 = std::chrono::steady_clock::now();
        auto us = [](auto d) { return std::chrono::duration<double, std::micro>(d).count(); };
        fprintf(stderr, "parse %.1f us, render %.1f us/iter over %lld iterations, %zu bytes out\n", us(t1 - t0),
                us(t3 - t2) / double(n), n, out->size());
    }
    fwrite(out->data(), 1, out->size(), stdout);
    return fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

BERTH_COMMAND(render_template, "debug render-template",
              "berth debug render-template TEMPLATE.jinja [--now UNIX_S] [--bench N]",
              "Render a chat template with the JSON context on stdin (messages, add_generation_prompt, ...)",
              cmd_render_template);

}  // namespace berth::cli
