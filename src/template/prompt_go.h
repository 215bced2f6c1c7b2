// Internal: Ollama's rendering pipeline for Go templates (template.Parse, Template.Execute, collate, the values
// it hands to templates), used by PromptTemplate.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "template/template.h"

namespace berth {

namespace gotmpl {
struct Template;
}

// A parsed Go template as Ollama holds it: {{ .Response }} appended when the template uses neither
// .Messages nor .Response, its Vars, and the last-turn tree of the legacy path.
struct GoPrompt {
    std::shared_ptr<const gotmpl::Template> tmpl;
    std::vector<std::string> vars;                // lower-cased identifiers (Ollama's Template.Vars)
    std::shared_ptr<const gotmpl::Template> cut;  // root cut after the first .Response
    bool uses_messages = false;
    std::pair<std::string, std::string> think_tags;  // thinking.InferTags
};

// Parses like Ollama's template.Parse; errors are invalid_argument "template: :LINE: ...".
Result<std::shared_ptr<const GoPrompt>> parse_go_prompt(std::string_view source, const TemplateOptions& options);

// Renders like Ollama's renderPrompt / Template.Execute (see ChatRenderInput).
Result<std::string> render_go_prompt(const GoPrompt& p, const ChatRenderInput& in, const TemplateOptions& options);

}  // namespace berth
