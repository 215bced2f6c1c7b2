// Mainline llama.cpp measured the way `berth bench` measures berth, through node-llama-cpp's prebuilt CPU
// build and its low-level sequence API (no chat wrapper, no text): prefill of P tokens in one batch, decode of
// GEN tokens one step at a time after a context of DEPTH tokens, and N streams of a short prompt plus GEN
// tokens each, batched together. Prints one JSON object with every repetition's tokens/s.
//
// Usage: node llama_cpp_bench.mjs MODEL.gguf [--threads 2] [--prompts 32,128,512] [--depths 0,512,2048]
//          [--gen 32] [--parallel 1,2,4,8] [--parallel-prompt 16] [--reps 1] [--only prefill,decode,parallel]
// Install its dependency with NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install (in bench/).
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

function parseArgs(argv) {
    const o = {threads: 2, prompts: [32, 128, 512], depths: [0, 512, 2048], gen: 32, parallel: [1, 2, 4, 8],
               parallelPrompt: 16, reps: 1, only: ["prefill", "decode", "parallel"], model: null};
    const list = (s) => s.split(",").filter((x) => x !== "").map(Number);
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i], v = argv[i + 1];
        if (a === "--threads") o.threads = Number(v), i++;
        else if (a === "--prompts") o.prompts = list(v), i++;
        else if (a === "--depths") o.depths = list(v), i++;
        else if (a === "--gen") o.gen = Number(v), i++;
        else if (a === "--parallel") o.parallel = list(v), i++;
        else if (a === "--parallel-prompt") o.parallelPrompt = Number(v), i++;
        else if (a === "--reps") o.reps = Number(v), i++;
        else if (a === "--only") o.only = v.split(","), i++;
        else if (a.startsWith("--")) throw new Error(`unknown option ${a}`);
        else o.model = a;
    }
    if (!o.model) throw new Error("usage: node llama_cpp_bench.mjs MODEL.gguf [options]");
    return o;
}

// The token at position i of stream s: deterministic, spread over the vocabulary, never 0 (as berth bench).
const tokenAt = (i, s, nVocab) => 1 + ((i * 7919 + s * 104729) % (nVocab - 1));
const seconds = (t0) => (performance.now() - t0) / 1000;

const o = parseArgs(process.argv.slice(2));
const logs = [];
const llama = await getLlama({gpu: false, build: "never", maxThreads: 0, logLevel: LlamaLogLevel.debug,
                              logger: (level, message) => { if (message.includes("CPU backend")) logs.push(message); }});
const model = await llama.loadModel({modelPath: o.model, gpuLayers: 0});
// n_vocab from the embedding's shape ([n_embd, n_vocab]).
const embd = model.fileInfo.tensorInfo?.find((t) => t.name === "token_embd.weight");
const nVocab = embd ? Number(embd.dimensions[1]) : 32000;
const variant = (logs.find((l) => l.includes("loaded CPU backend from")) ?? "").replace(/.*libggml-cpu-|\.so.*/gs, "");
const out = {engine: "llama.cpp", package: "node-llama-cpp", cpu_variant: variant || "unknown", threads: o.threads,
             reps: o.reps, gen: o.gen, prefill: [], decode: [], parallel: []};

async function withContext(opts, fn) {
    const ctx = await model.createContext({batchSize: 512, threads: {ideal: o.threads, min: o.threads},
                                           flashAttention: true, ...opts});
    try {
        return await fn(ctx);
    } finally {
        await ctx.dispose();
    }
}

// Decodes `n` tokens greedily after the sequence's current context, starting from token `first`.
async function decode(seq, first, n) {
    let count = 0;
    for await (const token of seq.evaluate([first], {temperature: 0})) {
        void token;
        if (++count >= n) break;
    }
}

if (o.only.includes("prefill")) {
    const maxP = Math.max(...o.prompts);
    await withContext({contextSize: maxP + 16, sequences: 1}, async (ctx) => {
        const seq = ctx.getSequence();
        for (let k = 0; k < o.prompts.length; k++) {
            const p = o.prompts[k], tps = [];
            for (let rep = k === 0 ? -1 : 0; rep < o.reps; rep++) {  // rep -1: warm-up, not counted
                await seq.clearHistory();
                const tokens = Array.from({length: p}, (_, i) => tokenAt(i, rep + 2, nVocab));
                const t0 = performance.now();
                await seq.evaluateWithoutGeneratingNewTokens(tokens);
                if (rep >= 0) tps.push(p / seconds(t0));
            }
            out.prefill.push({tokens: p, tokens_per_s: tps});
        }
    });
}

if (o.only.includes("decode")) {
    const maxD = Math.max(...o.depths);
    await withContext({contextSize: maxD + o.gen + 16, sequences: 1}, async (ctx) => {
        const seq = ctx.getSequence();
        const fill = Array.from({length: maxD}, (_, i) => tokenAt(i, 1, nVocab));
        if (maxD > 0) await seq.evaluateWithoutGeneratingNewTokens(fill);
        await decode(seq, 1, Math.min(o.gen, 4));  // warm-up, not counted
        for (const d of [...o.depths].sort((a, b) => b - a)) {
            const tps = [];
            for (let rep = 0; rep < o.reps; rep++) {
                await seq.eraseContextTokenRanges([{start: d, end: seq.nextTokenIndex}]);
                const t0 = performance.now();
                await decode(seq, tokenAt(d, rep, nVocab), o.gen);
                tps.push(o.gen / seconds(t0));
            }
            out.decode.unshift({depth: d, tokens_per_s: tps});
        }
    });
}

if (o.only.includes("parallel")) {
    const maxN = Math.max(...o.parallel);
    await withContext({contextSize: maxN * (o.parallelPrompt + o.gen + 16), sequences: maxN}, async (ctx) => {
        const seqs = Array.from({length: maxN}, () => ctx.getSequence());
        const round = async (n, rep) => {
            await Promise.all(seqs.slice(0, n).map((s) => s.clearHistory()));
            const t0 = performance.now();
            await Promise.all(seqs.slice(0, n).map(async (seq, s) => {
                const prompt = Array.from({length: o.parallelPrompt}, (_, i) => tokenAt(i, s + 8 * rep, nVocab));
                let count = 0;
                for await (const token of seq.evaluate(prompt, {temperature: 0})) {
                    void token;
                    if (++count >= o.gen) break;
                }
            }));
            return (n * o.gen) / seconds(t0);
        };
        await round(1, 0);  // warm-up, not counted
        for (const n of o.parallel) {
            const tps = [];
            for (let rep = 0; rep < o.reps; rep++) tps.push(await round(n, rep + 1));
            out.parallel.push({streams: n, tokens_per_s: tps});
        }
    });
}

await model.dispose();
await llama.dispose();
console.log(JSON.stringify(out));
