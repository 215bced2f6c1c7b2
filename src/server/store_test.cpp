// Store, name validation, host parsing and request option mapping. The store tests read the test models in
// place (BERTH_TESTDATA/models) and write only to a temporary directory.
#include "server/store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "server/server_internal.h"

namespace berth {
namespace {

namespace fs = std::filesystem;

TEST(Names, CanonicalAndRefusedNames) {
    EXPECT_EQ(*canonical_model_name("llama3.2"), "llama3.2:latest");
    EXPECT_EQ(*canonical_model_name("user/m:q4"), "user/m:q4");
    for (const char* bad : {"../../etc/passwd", "a/../b", "..", "a b", "/abs", "x/y/z/w", ""}) {
        EXPECT_FALSE(canonical_model_name(bad).is_ok()) << bad;
    }
    EXPECT_EQ(manifest_path_for("/s", "m"), "/s/manifests/registry.ollama.ai/library/m/latest");
    EXPECT_EQ(manifest_path_for("/s", "../x"), "");
    // 507 bytes, but 514 with the ":latest" the canonical form adds: refused, as its canonical form would be.
    const std::string long_name = std::string(256, 'a') + "/" + std::string(250, 'b');
    EXPECT_FALSE(canonical_model_name(long_name).is_ok());
    EXPECT_EQ(manifest_path_for("/s", long_name), "");
    const std::string fits = std::string(256, 'a') + "/" + std::string(248, 'b');  // 505 + 7 = 512
    ASSERT_TRUE(canonical_model_name(fits).is_ok());
    EXPECT_EQ(*canonical_model_name(*canonical_model_name(fits)), fits + ":latest");
}

TEST(Host, ParsesOllamaHostForms) {
    std::string h;
    int p = 11434;
    ASSERT_TRUE(parse_host_port("0.0.0.0", h, p).is_ok());
    EXPECT_EQ(h, "0.0.0.0");
    EXPECT_EQ(p, 11434);
    ASSERT_TRUE(parse_host_port("http://127.0.0.1:8080/", h, p).is_ok());
    EXPECT_EQ(h, "127.0.0.1");
    EXPECT_EQ(p, 8080);
    ASSERT_TRUE(parse_host_port(":9000", h, p).is_ok());
    EXPECT_EQ(h, "127.0.0.1");
    EXPECT_EQ(p, 9000);
    ASSERT_TRUE(parse_host_port("[::1]:7000", h, p).is_ok());
    EXPECT_EQ(h, "::1");
    EXPECT_EQ(p, 7000);
    EXPECT_FALSE(parse_host_port("host:99999", h, p).is_ok());
    EXPECT_FALSE(parse_host_port("host:abc", h, p).is_ok());
}

TEST(Options, TypesAreChecked) {
    RequestOptions ro;
    EXPECT_FLOAT_EQ(ro.sampling.repeat_penalty, 1.0f) << "Ollama's default";
    ASSERT_TRUE(
        apply_options(
            json{{"temperature", 0}, {"num_predict", 7}, {"stop", "x"}, {"num_ctx", 128}, {"unknown_key", "ignored"}},
            ro)
            .is_ok());
    EXPECT_EQ(ro.sampling.temperature, 0.0f);
    EXPECT_EQ(ro.num_predict, 7);
    EXPECT_EQ(ro.num_ctx, 128);
    EXPECT_EQ(ro.stop, std::vector<std::string>{"x"});
    Status st = apply_options(json{{"top_k", "many"}}, ro);
    EXPECT_EQ(st.code(), StatusCode::invalid_argument);
    EXPECT_EQ(st.message(), "option \"top_k\" must be of type integer");
    EXPECT_FALSE(apply_options(json{{"stop", json::array({1})}}, ro).is_ok());
    EXPECT_FALSE(apply_options(json::array(), ro).is_ok());
}

TEST(Options, KeepAliveForms) {
    EXPECT_FALSE(parse_keep_alive(json::object())->has_value());
    EXPECT_FALSE(parse_keep_alive(json{{"keep_alive", nullptr}})->has_value());
    EXPECT_EQ(**parse_keep_alive(json{{"keep_alive", 30}}), 30 * kNsPerSecond);
    EXPECT_EQ(**parse_keep_alive(json{{"keep_alive", -1}}), kForever);
    EXPECT_EQ(**parse_keep_alive(json{{"keep_alive", "1h30m"}}), 5400 * kNsPerSecond);
    EXPECT_EQ(**parse_keep_alive(json{{"keep_alive", 0}}), 0);
    EXPECT_FALSE(parse_keep_alive(json{{"keep_alive", "10"}}).is_ok());
    EXPECT_FALSE(parse_keep_alive(json{{"keep_alive", true}}).is_ok());
}

// Sorted (path, size) of every file below dir: to show that a directory was not written.
std::vector<std::pair<std::string, uintmax_t>> snapshot(const std::string& dir) {
    std::vector<std::pair<std::string, uintmax_t>> out;
    for (auto& e : fs::recursive_directory_iterator(dir)) {
        if (e.is_regular_file()) out.emplace_back(e.path().string(), e.file_size());
    }
    std::sort(out.begin(), out.end());
    return out;
}

struct TempStore {
    std::string root;
    TempStore() {
        root = (fs::temp_directory_path() / ("berth_store_test_" + std::to_string(getpid()))).string();
        fs::remove_all(root);
        fs::create_directories(root);
    }
    ~TempStore() { fs::remove_all(root); }
};

TEST(Store, ModelsDirCreateCopyDeleteAndOllamaIsReadOnly) {
    TempStore t;
    std::string models = std::string(BERTH_TESTDATA) + "/models";
    // A fake Ollama store with one model whose GGUF blob is a small file.
    std::string ollama = t.root + "/ollama";
    std::string blob_body = "GGUF-not-really";
    std::string blob_hex = sha256_hex(blob_body);
    fs::create_directories(ollama + "/blobs");
    std::ofstream(ollama + "/blobs/sha256-" + blob_hex) << blob_body;
    fs::create_directories(ollama + "/manifests/registry.ollama.ai/library/tiny");
    std::ofstream(ollama + "/manifests/registry.ollama.ai/library/tiny/latest") << json{
        {"schemaVersion", 2},
        {"layers", json::array({{{"mediaType", "application/vnd.ollama.image.model"},
                                 {"digest", "sha256:" + blob_hex},
                                 {"size", blob_body.size()}}})}}.dump();
    auto ollama_before = snapshot(ollama);

    Store store(t.root + "/berth", {ollama}, {models});
    auto list = store.list();
    auto has = [&](const std::string& n) {
        for (auto& e : store.list()) {
            if (e.name == n) return true;
        }
        return false;
    };
    EXPECT_TRUE(has("stories260K"));
    EXPECT_TRUE(has("tiny:latest"));
    Result<StoreEntry> s = store.find("stories260K:latest");
    ASSERT_TRUE(s.is_ok());
    EXPECT_EQ(s->source, "models-dir");
    EXPECT_EQ(store.find("TINY")->source, "ollama") << "names match case-insensitively";
    EXPECT_EQ(store.find("nope").status().code(), StatusCode::not_found);

    CreateSpec spec;
    spec.name = "mystory";
    spec.from = "stories260K";
    spec.system = "Tell stories.";
    spec.has_system = true;
    spec.params = json{{"temperature", 0}, {"stop", json::array({"."})}};
    ASSERT_TRUE(store.create(spec).is_ok());
    Result<StoreEntry> m = store.find("mystory");
    ASSERT_TRUE(m.is_ok());
    EXPECT_EQ(m->source, "berth");
    EXPECT_EQ(m->system, "Tell stories.");
    EXPECT_EQ(m->params["temperature"], 0);
    EXPECT_EQ(m->parent, "stories260K");
    EXPECT_EQ(fs::file_size(m->model_path), fs::file_size(s->model_path));

    Status cp = store.copy("mystory", "other:v2");
    ASSERT_TRUE(cp.is_ok()) << cp.to_string();
    EXPECT_EQ(store.find("other:v2")->system, "Tell stories.");
    ASSERT_TRUE(store.copy("tiny", "tiny-copy").is_ok()) << "imports from Ollama's store into berth's";
    EXPECT_EQ(store.find("tiny-copy")->source, "berth");

    EXPECT_EQ(store.remove("tiny").code(), StatusCode::invalid_argument) << "never deletes from Ollama's store";
    ASSERT_TRUE(store.remove("mystory").is_ok());
    EXPECT_FALSE(store.find("mystory").is_ok());
    EXPECT_TRUE(store.find("other:v2").is_ok()) << "the copy keeps its blobs";
    ASSERT_TRUE(store.remove("other:v2").is_ok());
    ASSERT_TRUE(store.remove("tiny-copy").is_ok());
    size_t blobs = 0;
    for (auto& e : fs::directory_iterator(t.root + "/berth/blobs")) blobs += e.is_regular_file();
    EXPECT_EQ(blobs, 0u) << "unreferenced blobs are pruned";
    EXPECT_EQ(snapshot(ollama), ollama_before) << "Ollama's directory was not written";
}

TEST(Store, BlobUploadIsVerified) {
    TempStore t;
    Store store(t.root + "/berth", {}, {});
    std::string body = "hello blob";
    std::string digest = "sha256:" + sha256_hex(body);
    EXPECT_FALSE(store.has_blob(digest));
    EXPECT_EQ(store.blob_path("sha256:xyz"), "");
    fs::create_directories(t.root + "/berth/blobs");
    std::string tmp = t.root + "/berth/blobs/upload.tmp";
    std::ofstream(tmp) << "something else";
    EXPECT_EQ(store.adopt_blob(digest, tmp).code(), StatusCode::invalid_argument);
    std::ofstream(tmp) << body;
    ASSERT_TRUE(store.adopt_blob(digest, tmp).is_ok());
    EXPECT_TRUE(store.has_blob(digest));
}

TEST(Store, ManifestCacheFollowsChanges) {
    TempStore t;
    std::string models = t.root + "/models";
    fs::create_directories(models);
    Store store(t.root + "/berth", {}, {models});
    EXPECT_EQ(store.find("loose").status().code(), StatusCode::not_found);
    // A GGUF file added to a models-dir is found on the next lookup (the directory's mtime changed).
    fs::copy_file(std::string(BERTH_TESTDATA) + "/models/stories260K.gguf", models + "/loose.gguf");
    ASSERT_TRUE(store.find("loose").is_ok());
    EXPECT_EQ(store.find("LOOSE:latest")->name, "loose");

    CreateSpec spec;
    spec.name = "cached";
    spec.from = "loose";
    spec.system = "one";
    spec.has_system = true;
    ASSERT_TRUE(store.create(spec).is_ok());
    EXPECT_EQ(store.find("cached")->system, "one");
    EXPECT_EQ(store.cached_manifests(), 1u) << "parsed once, then served from the cache";
    EXPECT_EQ(store.find("cached:latest")->system, "one");
    EXPECT_EQ(store.find("CACHED")->system, "one") << "a name in another case still walks the store";
    spec.system = "two";  // rewriting the manifest replaces the cached entry
    ASSERT_TRUE(store.create(spec).is_ok());
    EXPECT_EQ(store.find("cached")->system, "two");
    ASSERT_TRUE(store.copy("cached", "cached2").is_ok());
    EXPECT_EQ(store.find("cached2")->system, "two");
    ASSERT_TRUE(store.remove("cached").is_ok());
    EXPECT_EQ(store.find("cached").status().code(), StatusCode::not_found);
    // The file removed from the models-dir is gone too.
    ASSERT_TRUE(store.remove("cached2").is_ok());
    fs::remove(models + "/loose.gguf");
    EXPECT_EQ(store.find("loose").status().code(), StatusCode::not_found);
}

TEST(Store, TemplateIsJinjaOrGo) {
    TempStore t;
    Store store(t.root + "/berth", {}, {std::string(BERTH_TESTDATA) + "/models"});
    CreateSpec spec;
    spec.name = "templated";
    spec.from = "stories260K";
    spec.template_text = "PREFIX {% for m in messages %}{{ m.content }}{% endfor %}";
    spec.has_template = true;
    ASSERT_TRUE(store.create(spec).is_ok());
    EXPECT_EQ(store.find("templated")->template_text, spec.template_text);
    // Ollama's Go templates are accepted as Ollama accepts them, and stored as given.
    for (const char* go : {"{{ .Prompt }}", "{{ if .System }}{{ .System }}{{ end }}{{ .Prompt }}",
                           "{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}</s>\n{{ end }}<|assistant|>\n"}) {
        spec.name = "go-template";
        spec.template_text = go;
        Status s = store.create(spec);
        ASSERT_TRUE(s.is_ok()) << go << ": " << s.message();
        EXPECT_EQ(store.find("go-template")->template_text, go);
        ASSERT_TRUE(store.remove("go-template").is_ok());
    }
    // Neither syntax: 400 naming both parse errors, nothing written.
    spec.name = "broken";
    spec.template_text = "{{ .System }} {{ end }}";
    Status s = store.create(spec);
    EXPECT_EQ(s.code(), StatusCode::invalid_argument);
    EXPECT_EQ(s.message(),
              "invalid TEMPLATE: template is neither valid Jinja (template syntax error: line 1: unexpected '.') nor "
              "a valid Go template (template: :1: unexpected {{end}}). berth takes a Jinja chat template like a GGUF's "
              "tokenizer.chat_template (variables: messages, tools, add_generation_prompt, bos_token, eos_token) or "
              "one of Ollama's Go templates ({{ .Messages }}, {{ .System }}, {{ .Prompt }}, ...)");
    EXPECT_FALSE(store.find("broken").is_ok()) << "nothing was written";
}

TEST(Templates, ModelfileTemplateWinsGoTemplatesRenderAndBrokenOnesFallBackToTheGguf) {
    Server::State st;
    LoadedModel m;
    m.chat_template = "GGUF:{{ messages[0].content }}";
    StoreEntry e;
    e.name = "x";
    const ojson messages = ojson::array({{{"role", "user"}, {"content", "hi"}}});
    auto rendered = [&]() -> std::string {
        Result<std::shared_ptr<const ModelTemplate>> t = model_template(st, e, m);
        if (!t.is_ok()) return "error: " + t.status().message();
        if (!*t) return "plain";
        ChatRenderInput in;
        in.messages = &messages;
        Result<std::string> r = (*t)->tmpl.render(in);
        return r.is_ok() ? *r : "render error: " + r.status().message();
    };
    EXPECT_EQ(rendered(), "GGUF:hi") << "no TEMPLATE: the GGUF's";
    e.template_text = "MODELFILE:{{ messages[0].content }}";
    EXPECT_EQ(rendered(), "MODELFILE:hi");
    e.template_text = "GO:{{ .Prompt }}";  // an Ollama Go template, as an Ollama store carries
    EXPECT_EQ(rendered(), "GO:hi");
    e.template_text = "{% for %}{{ .X";  // neither syntax
    EXPECT_EQ(rendered(), "GGUF:hi");
    EXPECT_EQ(rendered(), "GGUF:hi") << "again, from the cache";
    m.chat_template.clear();
    EXPECT_EQ(rendered(), "plain");
    // The cache holds each text once, parse errors too.
    EXPECT_EQ(st.templates.size(), 4u);
    EXPECT_EQ(parse_template(st, "{% for %}{{ .X").status().code(), StatusCode::invalid_argument);
}

}  // namespace
}  // namespace berth
