// berth bench --only grammar: constrained decoding. Compile times of three schemas; decode through the Engine
// (as the server runs it) with and without the benchmark schema on the same model and vocabulary; the grammar
// time each constrained token really cost; and, replayed over the same token sequences, the time of a full
// mask from the warm mask cache and by walking the vocabulary trie. --grammar-vocab FILE.gguf takes the
// vocabulary from another file (e.g. Llama 3's 128k tokens with a synthetic model of that many outputs).
#include <algorithm>
#include <numeric>

#include "backend/backend.h"
#include "cli/bench.h"
#include "cli/soak.h"
#include "engine/engine.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace berth::cli::bench {
namespace {

// Nested, with strings, an enum, bounded numbers, a format and an array.
const char* const kPetSchema = R"({"type": "object", "properties": {
  "name": {"type": "string"},
  "species": {"enum": ["cat", "dog", "bird", "fish"]},
  "age": {"type": "integer", "minimum": 0, "maximum": 40},
  "weight_kg": {"type": "number", "minimum": 0, "maximum": 200},
  "owner": {"type": "object", "properties": {"name": {"type": "string"},
            "email": {"type": "string", "format": "email"}}, "required": ["name"], "additionalProperties": false},
  "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 8},
  "vaccinated": {"type": "boolean"}},
 "required": ["name", "species", "age", "owner", "tags"], "additionalProperties": false})";

// As Pydantic writes a model: $defs, $ref, Optional fields, titles, additionalProperties left at its default.
const char* const kPydanticSchema = R"({"$defs": {"Address": {"properties": {"street": {"title": "Street",
  "type": "string"}, "city": {"title": "City", "type": "string"}, "zip_code": {"anyOf": [{"type": "string"},
  {"type": "null"}], "default": null, "title": "Zip Code"}}, "required": ["street", "city"], "title": "Address",
  "type": "object"}, "Role": {"enum": ["admin", "user", "guest"], "title": "Role", "type": "string"}},
  "properties": {"name": {"title": "Name", "type": "string"}, "age": {"maximum": 150, "minimum": 0, "title": "Age",
  "type": "integer"}, "email": {"format": "email", "title": "Email", "type": "string"}, "role": {"$ref":
  "#/$defs/Role", "default": "user"}, "addresses": {"items": {"$ref": "#/$defs/Address"}, "title": "Addresses",
  "type": "array"}}, "required": ["name", "age", "email"], "title": "Person", "type": "object"})";

double ms_since(int64_t t0) { return double(now_ns() - t0) * 1e-6; }

}  // namespace

Status run_grammar(const Options& o, Report& r) {
    GrammarReport& gr = r.grammar;
    // Compile times (each schema compiled `reps` times after one warm-up).
    const std::pair<const char*, const char*> schemas[] = {
        {"pet (benchmark)", kPetSchema}, {"pydantic person", kPydanticSchema}, {"json object", nullptr}};
    GrammarPtr pet;
    for (auto [name, text] : schemas) {
        GrammarSchemaRow row;
        row.name = name;
        std::vector<double> ms;
        for (int rep = -1; rep < o.reps; ++rep) {
            const int64_t t0 = now_ns();
            Result<GrammarPtr> g = Status(StatusCode::internal, "");
            if (text) {
                g = compile_json_schema(nlohmann::ordered_json::parse(text));
            } else {
                GrammarBuilder b;  // what json_object_grammar() compiles once per process
                g = b.build(b.seq({b.whitespace(), b.any_json_object()}));
            }
            if (rep >= 0) ms.push_back(ms_since(t0));
            RETURN_IF_ERROR(g.status());
            row.states = (*g)->n_states();
            row.bytes = (*g)->memory_bytes();
            if (text == kPetSchema) pet = *g;
        }
        row.compile_ms = summarize(ms);
        gr.schemas.push_back(row);
    }
    gr.decode_schema = schemas[0].first;

    ModelOptions mo;
    mo.n_ctx = std::min(r.n_ctx_train, 2048);
    mo.n_threads = o.threads;
    mo.num_gpu = o.num_gpu;  // --num-gpu: the model's layers on the device, as in the other sections
    mo.device = o.num_gpu != 0 && !devices().empty() ? devices().front() : nullptr;
    ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::load(o.path, mo));
    std::unique_ptr<Tokenizer> tok;
    if (o.grammar_vocab.empty()) {
        ASSIGN_OR_RETURN(tok, Tokenizer::from_gguf(model->gguf()));
        gr.vocab_label = "the model's";
    } else {
        ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> vf, GgufFile::open(o.grammar_vocab));
        ASSIGN_OR_RETURN(tok, Tokenizer::from_gguf(*vf));
        gr.vocab_label = o.grammar_vocab;
    }
    std::shared_ptr<const Tokenizer> shared(std::move(tok));
    const int64_t t_vocab = now_ns();
    std::shared_ptr<const TextCodec> codec = tokenizer_codec(shared);
    gr.vocab_build_ms = ms_since(t_vocab);
    std::shared_ptr<const Vocabulary> vocab = codec->vocabulary();
    gr.n_vocab = vocab->n_vocab();
    gr.trie_nodes = vocab->n_trie_nodes();
    gr.vocab_bytes = vocab->memory_bytes();
    if (gr.n_vocab > model->n_vocab()) {
        return invalid_argument(
            "the vocabulary has %d tokens but the model only %d outputs (with --synthetic, the "
            "model is made with the vocabulary's size)",
            gr.n_vocab, model->n_vocab());
    }
    EngineLimits limits;
    limits.mask_thread = o.mask_thread;
    Engine engine(model_backend(std::move(model)), codec, limits);
    gr.mask_thread = engine.mask_thread();
    int64_t beside_ns = 0;
    std::vector<int32_t> prompt = shared->encode("Describe a pet as one JSON object:", true, false);
    if (prompt.empty()) prompt.push_back(0);

    const int n = o.grammar_tokens;
    gr.tokens = n;
    std::vector<std::vector<int32_t>> outputs;  // constrained token sequences, for the replay
    std::vector<double> spent_us;
    // Generates n tokens (more requests when one ends early); returns decode tokens/s over them.
    auto decode = [&](bool constrained, uint64_t seed) -> Result<double> {
        int64_t tokens = 0, ns = 0;
        for (int doc = 0; tokens < n; ++doc) {
            GenerateRequest req;
            req.prompt = prompt;
            req.num_predict = int(n - tokens);
            req.sampling.seed = seed + uint64_t(doc);
            if (constrained) {
                req.grammar = pet;
                req.grammar_timing = true;
            }
            ASSIGN_OR_RETURN(GenerateResult res, engine.generate(req, nullptr));
            tokens += res.eval_count;
            ns += res.eval_ns;
            if (constrained) {
                ++gr.documents;
                gr.constrained_tokens += res.eval_count;
                gr.masked_tokens += res.grammar_masks;
                beside_ns += res.grammar_beside_ns;
                for (int32_t t : res.grammar_token_ns) spent_us.push_back(double(t) * 1e-3);
                outputs.push_back(res.output);
            }
            if (res.eval_count == 0) return internal_error("a request generated nothing");
        }
        return ns > 0 ? double(tokens) / (double(ns) * 1e-9) : 0.0;
    };
    // Warm-up (page cache, mask cache), not counted.
    RETURN_IF_ERROR(decode(false, 7).status());
    RETURN_IF_ERROR(decode(true, 7).status());
    gr.documents = gr.constrained_tokens = gr.masked_tokens = beside_ns = 0;
    spent_us.clear();
    outputs.clear();
    std::vector<double> free_tps, constrained_tps;
    for (int rep = 0; rep < o.reps; ++rep) {
        // Alternating order, so that drift (thermal, other load) weighs on both alike.
        for (int k = 0; k < 2; ++k) {
            const bool constrained = (k + rep) % 2 == 1;
            ASSIGN_OR_RETURN(double tps, decode(constrained, uint64_t(1000 * (rep + 1))));
            (constrained ? constrained_tps : free_tps).push_back(tps);
        }
    }
    gr.free_tps = summarize(free_tps);
    gr.constrained_tps = summarize(constrained_tps);
    gr.ratio = gr.free_tps.median > 0 ? gr.constrained_tps.median / gr.free_tps.median : 0;
    gr.spent_median_us = soak::percentile(spent_us, 50);
    gr.spent_p99_us = soak::percentile(spent_us, 99);
    gr.spent_max_us = spent_us.empty() ? 0 : *std::max_element(spent_us.begin(), spent_us.end());
    gr.spent_mean_us =
        spent_us.empty() ? 0 : std::accumulate(spent_us.begin(), spent_us.end(), 0.0) / double(spent_us.size());
    gr.beside_mean_us = gr.constrained_tokens ? double(beside_ns) * 1e-3 / double(gr.constrained_tokens) : 0;
    const MaskCache::Stats cs = engine.mask_cache_stats();
    gr.cache_hits = cs.hits, gr.cache_misses = cs.misses, gr.cache_bytes = cs.used_bytes;

    // Full masks at every position of the generated sequences (at most 300): from a mask cache warmed by one
    // pass, and by a trie walk without cache.
    const int n_vocab = engine.n_ctx() > 0 ? vocab->n_vocab() : 0;
    GrammarMatcher m(n_vocab);
    TokenMask mask(n_vocab);
    MaskCache cache(n_vocab);
    std::vector<double> cached_us, walk_us;
    for (int pass = 0; pass < 2; ++pass) {
        int steps = 0;
        for (const std::vector<int32_t>& seq : outputs) {
            m.start(pet, vocab.get());
            for (int32_t t : seq) {
                if (steps >= 300 || m.is_finished()) break;
                int64_t t0 = now_ns();
                m.fill_mask(mask, &cache);
                if (pass == 1) {
                    cached_us.push_back(double(now_ns() - t0) * 1e-3);
                    t0 = now_ns();
                    m.fill_mask(mask, nullptr);
                    walk_us.push_back(double(now_ns() - t0) * 1e-3);
                }
                ++steps;
                if (!m.accept(t).is_ok()) break;  // an end-of-generation token ends the sequence
            }
        }
        gr.replay_steps = steps;
    }
    gr.full_cached_median_us = soak::percentile(cached_us, 50);
    gr.full_cached_p99_us = soak::percentile(cached_us, 99);
    gr.full_walk_median_us = soak::percentile(walk_us, 50);
    gr.full_walk_p99_us = soak::percentile(walk_us, 99);
    r.has_grammar = true;
    return Status::ok();
}

}  // namespace berth::cli::bench
