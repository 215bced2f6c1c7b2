// Continuous batching over one Backend: a worker thread owns the slots; callers wait on their Job.
#include "engine/engine.h"

#include <algorithm>
#include <climits>

namespace berth {

namespace {

// Bytes at the end of `s` that start a UTF-8 sequence not yet complete (0 when `s` ends on a boundary).
size_t incomplete_utf8_tail(std::string_view s) {
    size_t n = s.size();
    for (size_t back = 1; back <= 4 && back <= n; ++back) {
        unsigned char c = static_cast<unsigned char>(s[n - back]);
        if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead byte
        size_t need = (c & 0x80) == 0      ? 1
                      : (c & 0xE0) == 0xC0 ? 2
                      : (c & 0xF0) == 0xE0 ? 3
                      : (c & 0xF8) == 0xF0 ? 4
                                           : 1;
        return need > back ? back : 0;
    }
    return 0;  // only continuation bytes: invalid, emit as is
}

}  // namespace

struct Engine::Job {
    const GenerateRequest* request = nullptr;
    const std::atomic<bool>* external_cancel = nullptr;
    int64_t t_submit = 0;
    bool admitted = false;  // has a slot (under m)
    std::atomic<bool> cancel{false};
    std::mutex m;
    std::condition_variable cv;
    std::string out;             // text ready for the caller (swapped out by the caller)
    std::vector<uint32_t> ends;  // end offset in `out` of each token's piece, so the caller sees them one by one
    bool done = false;
    Status status;
    GenerateResult result;
    bool cancelled() const { return cancel.load() || (external_cancel && external_cancel->load()); }
};

// Bytes reserved for each slot's pending UTF-8 piece bytes (a piece longer than that grows it).
constexpr size_t kUtf8Reserve = 64;

struct Engine::Slot {
    Job* job = nullptr;  // nullptr: free
    int seq = -1;
    bool decoding = false;
    size_t fed = 0;      // prompt tokens already in the KV cache
    int64_t n_past = 0;  // positions held
    int32_t last = 0;    // token to feed next while decoding
    int64_t t_start = 0, t_first = 0;
    int limit = 0;  // most tokens to generate
    std::unique_ptr<Sampler> sampler;
    StopMatcher stops;
    std::string utf8;  // piece bytes not yet forming whole characters
    // Prefix cache: after a request ends normally its sequence stays (kept_seq) with the tokens whose K and V
    // it holds (cached, capacity n_ctx, so keeping them never allocates). Pages stay inside the model's fixed
    // pool: each slot holds at most one sequence, as while it generates.
    int kept_seq = -1;
    std::vector<int32_t> cached;
    // Constrained decoding: the request's grammar position and a mask over the vocabulary, both sized at
    // construction.
    std::unique_ptr<GrammarMatcher> matcher;
    TokenMask mask;
    bool constrained = false, render_special = false;
    // Set by the mask thread: `mask` holds the full mask of the matcher's state (mask_count tokens); cleared
    // when a token is sampled.
    bool mask_ready = false;
    int mask_count = 0;
};

Engine::Engine(std::unique_ptr<Backend> backend, std::shared_ptr<const TextCodec> codec, EngineLimits limits)
    : backend_(std::move(backend)), codec_(std::move(codec)), limits_(limits) {
    n_ctx_ = backend_->n_ctx();
    n_parallel_ = std::max(1, backend_->n_parallel());
    n_batch_ = std::max(1, backend_->n_batch());
    n_vocab_ = backend_->n_vocab();
    vocab_ = codec_->vocabulary();
    CHECK(!vocab_ || vocab_->n_vocab() <= n_vocab_);
    mask_cache_ = std::make_unique<MaskCache>(n_vocab_);
    slots_.reserve(size_t(n_parallel_));
    for (int i = 0; i < n_parallel_; ++i) {
        auto slot = std::make_unique<Slot>();
        slot->sampler = std::make_unique<Sampler>(n_vocab_, SamplingParams{}, n_ctx_);
        slot->utf8.reserve(kUtf8Reserve);
        slot->cached.reserve(size_t(n_ctx_));
        slot->matcher = std::make_unique<GrammarMatcher>(n_vocab_);
        slot->mask = TokenMask(n_vocab_);
        slots_.push_back(std::move(slot));
    }
    batch_.resize(size_t(n_batch_));
    batch_owner_.resize(size_t(n_parallel_));
    const bool side = limits_.mask_thread > 0 || (limits_.mask_thread < 0 && usable_cpus() > backend_->cpu_threads());
    if (side && vocab_) side_.emplace();
    stats_.kv_pages = backend_->kv_pages_total();
    stats_.kv_pages_free = backend_->kv_pages_free();
    worker_ = std::thread([this] { worker_loop(); });
}

Engine::~Engine() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    worker_.join();
}

int64_t Engine::heap_bytes() const {
    int64_t n = int64_t(slots_.capacity() * sizeof(slots_[0]) + batch_.capacity() * sizeof(BatchToken) +
                        batch_owner_.capacity() * sizeof(Slot*));
    for (auto& slot : slots_) {
        n += int64_t(sizeof(Slot) + sizeof(Sampler) + slot->utf8.capacity() + 1) + slot->sampler->heap_bytes() +
             int64_t(slot->cached.capacity() * sizeof(int32_t)) + int64_t(sizeof(GrammarMatcher)) +
             slot->matcher->heap_bytes() + slot->mask.heap_bytes();
    }
    return n + int64_t(sizeof(MaskCache)) + mask_cache_->heap_bytes();
}

int64_t Engine::heap_bytes_for(int n_vocab, int n_ctx, int n_parallel, int n_batch) {
    n_parallel = std::max(1, n_parallel);
    n_batch = std::max(1, n_batch);
    int64_t per_slot =
        int64_t(sizeof(Slot) + sizeof(Sampler) + kUtf8Reserve + 1) + Sampler::heap_bytes(n_vocab, n_ctx) +
        int64_t(n_ctx) * int64_t(sizeof(int32_t)) +  // the prefix cache's token list
        int64_t(sizeof(GrammarMatcher)) + GrammarMatcher::heap_bytes_for(n_vocab) + TokenMask::heap_bytes_for(n_vocab);
    return int64_t(n_parallel) * int64_t(sizeof(std::unique_ptr<Slot>) + sizeof(Slot*)) +
           int64_t(n_batch) * int64_t(sizeof(BatchToken)) + int64_t(n_parallel) * per_slot +
           int64_t(sizeof(MaskCache)) + MaskCache::heap_bytes_for(n_vocab);
}

EngineStats Engine::stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
}

Result<GenerateResult> Engine::generate(const GenerateRequest& request, const TextCallback& on_text,
                                        const std::atomic<bool>* cancel) {
    if (request.prompt.empty()) return invalid_argument("the prompt is empty");
    if (int64_t(request.prompt.size()) >= n_ctx_) {
        return invalid_argument("the prompt is longer than the context length (%zu tokens, context %d)",
                                request.prompt.size(), n_ctx_);
    }
    for (int32_t t : request.prompt) {
        if (t < 0 || t >= n_vocab_) return invalid_argument("token %d is outside the vocabulary", t);
    }
    if (request.grammar && !vocab_) {
        return unsupported("this model cannot constrain its output: its vocabulary is not available to grammars");
    }
    Job job;
    job.request = &request;
    job.external_cancel = cancel;
    job.t_submit = now_ns();
    job.out.reserve(4096);
    job.ends.reserve(1024);
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return Status(StatusCode::cancelled, "the model is unloading");
        if (limits_.max_waiting > 0 && int(waiting_.size()) >= limits_.max_waiting) {
            return resource_exhausted(
                "server busy, please try again: all %d sequences of the model are in use and %zu requests already "
                "wait for one (BERTH_MAX_QUEUE=%d)",
                n_parallel_, waiting_.size(), limits_.max_waiting);
        }
        waiting_.push_back(&job);
        stats_.waiting = int(waiting_.size());
    }
    cv_.notify_all();
    if (limits_.wait_timeout_ns > 0) {
        Status st = wait_for_slot(job);
        if (!st.is_ok()) return st;
    }

    std::string local;
    std::vector<uint32_t> local_ends;
    local.reserve(4096);
    local_ends.reserve(1024);
    for (;;) {
        bool done;
        {
            std::unique_lock<std::mutex> lock(job.m);
            job.cv.wait(lock, [&] { return job.done || !job.out.empty(); });
            local.swap(job.out);
            local_ends.swap(job.ends);
            done = job.done;
        }
        size_t begin = 0;
        for (uint32_t end : local_ends) {
            if (end <= begin) continue;
            std::string_view piece(local.data() + begin, end - begin);
            begin = end;
            if (on_text && !job.cancel.load() && !on_text(piece)) {
                job.cancel = true;
                cv_.notify_all();
            }
        }
        local.clear();
        local_ends.clear();
        if (done) break;
    }
    if (!job.status.is_ok()) return job.status;
    // Weights that changed under the computation (the file was written or truncated in place) gave an answer
    // that means nothing; the scheduler loads the model again for the next request.
    if (backend_->weights_file_state() == FileState::changed)
        return io_error(
            "the model file was changed or truncated on disk while it was in use; the answer was "
            "discarded (the model is loaded again by the next request)");
    return std::move(job.result);
}

Status Engine::wait_for_slot(Job& job) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(limits_.wait_timeout_ns);
    {
        std::unique_lock<std::mutex> lock(job.m);
        if (job.cv.wait_until(lock, deadline, [&] { return job.admitted || job.done; })) return Status::ok();
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find(waiting_.begin(), waiting_.end(), &job);
    if (it == waiting_.end()) return Status::ok();  // admitted (or ended) just now: go on as usual
    waiting_.erase(it);
    stats_.waiting = int(waiting_.size());
    return Status(StatusCode::timeout,
                  string_printf("timed out after %.3g s waiting for a free sequence: all %d sequences of the model are "
                                "in use and %zu more requests wait (BERTH_QUEUE_TIMEOUT; BERTH_NUM_PARALLEL sets the "
                                "number of sequences)",
                                double(limits_.wait_timeout_ns) / 1e9, n_parallel_, waiting_.size()));
}

void Engine::worker_loop() {
    int active = 0;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mu_);
            if (active == 0) cv_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
        }
        admit_waiting();
        step();
        active = 0;
        int64_t positions = 0;
        for (auto& s : slots_) {
            active += s->job != nullptr;
            if (s->job) positions += s->n_past;
        }
        const int64_t kv_free = backend_->kv_pages_free();  // the pool is this thread's
        int64_t kv_kept = 0;
        for (auto& s : slots_) kv_kept += s->kept_seq >= 0 ? backend_->kv_pages_of(s->kept_seq) : 0;
        std::lock_guard<std::mutex> lock(mu_);
        stats_.active = active;
        stats_.kv_positions = positions;
        stats_.kv_pages_free = kv_free;
        stats_.kv_pages_kept = kv_kept;
        if (stopping_ && active == 0 && waiting_.empty()) return;
    }
}

void Engine::admit_waiting() {
    std::lock_guard<std::mutex> lock(mu_);
    // Waiting jobs that were cancelled (or all of them when stopping) end here.
    for (auto it = waiting_.begin(); it != waiting_.end();) {
        Job* job = *it;
        if (stopping_ || job->cancelled()) {
            it = waiting_.erase(it);
            std::lock_guard<std::mutex> jl(job->m);
            job->result.done_reason = "cancel";
            if (stopping_) job->status = Status(StatusCode::cancelled, "the model was unloaded");
            job->done = true;
            job->cv.notify_all();
            ++stats_.cancelled;
            ++stats_.cancelled_waiting;
        } else {
            ++it;
        }
    }
    while (!waiting_.empty()) {
        Job* job = waiting_.front();
        const GenerateRequest& req = *job->request;
        // The free slot whose kept tokens share the longest prefix with the prompt; at least the last prompt
        // token is evaluated again, for its logits.
        Slot* best = nullptr;
        size_t best_common = 0;
        for (auto& s : slots_) {
            if (s->job) continue;
            size_t common = 0;
            if (s->kept_seq >= 0) {
                size_t n = std::min(s->cached.size(), req.prompt.size() - 1);
                while (common < n && s->cached[common] == req.prompt[common]) ++common;
            }
            if (!best || common > best_common || (common == best_common && s->kept_seq < 0 && best->kept_seq >= 0)) {
                best = s.get();
                best_common = common;
            }
        }
        if (!best) break;
        Slot* slot = best;
        if (slot->kept_seq >= 0) {
            backend_->truncate_sequence(slot->kept_seq, int64_t(best_common));
            slot->seq = slot->kept_seq;
            slot->kept_seq = -1;
        } else {
            Result<int> seq = backend_->create_sequence();
            if (!seq.is_ok()) break;  // no sequence free (should not happen with one slot per sequence)
            slot->seq = *seq;
        }
        slot->cached.clear();
        waiting_.pop_front();
        slot->job = job;
        slot->decoding = false;
        slot->fed = best_common;
        slot->n_past = int64_t(best_common);
        job->result.prompt_cached = int(best_common);
        slot->t_start = now_ns();
        slot->t_first = 0;
        int room = n_ctx_ - int(req.prompt.size());
        slot->limit = req.num_predict < 0 ? room : std::min(req.num_predict, room);
        slot->sampler->set_params(req.sampling);
        slot->sampler->reset_history();
        for (int32_t t : req.prompt) slot->sampler->accept(t);
        slot->stops = StopMatcher(req.stop);
        slot->utf8.clear();
        slot->constrained = req.grammar != nullptr;
        slot->render_special = vocab_ && (req.render_special || slot->constrained);
        if (slot->constrained) {
            slot->matcher->start(req.grammar, vocab_.get());
        } else {
            slot->matcher->stop();
        }
        job->result.output.reserve(size_t(std::max(0, slot->limit)));
        if (req.grammar_timing) job->result.grammar_token_ns.reserve(size_t(std::max(0, slot->limit)));
        job->result.prompt_eval_count = int(req.prompt.size());
        job->result.queue_ns = slot->t_start - job->t_submit;
        {
            std::lock_guard<std::mutex> jl(job->m);
            job->admitted = true;
        }
        job->cv.notify_all();
        ++stats_.requests;
        stats_.tokens_prompt += int64_t(req.prompt.size());
    }
    stats_.waiting = int(waiting_.size());
}

void Engine::finish(Slot& slot, const char* reason) {
    Job* job = slot.job;
    int64_t t_end = now_ns();
    std::string_view flush;
    if (!slot.stops.stopped()) {
        // Nothing matched: what the matcher held back and any trailing partial character belong to the output.
        slot.stops.push(slot.utf8);
        slot.utf8.clear();
        flush = slot.stops.pending();
    }
    // Keep the sequence for the slot's next request when it ended normally; the tokens in its KV are the
    // prompt and every generated token but the last (sampled, never fed). Before the caller sees the job done.
    const std::string_view why(reason);
    if (backend_->can_truncate() && (why == "stop" || why == "length")) {
        const auto& prompt = job->request->prompt;
        const auto& out = job->result.output;
        const size_t n = size_t(slot.n_past), from_prompt = std::min(n, prompt.size());
        CHECK(n - from_prompt <= out.size());
        slot.cached.assign(prompt.begin(), prompt.begin() + ptrdiff_t(from_prompt));  // within capacity n_ctx
        slot.cached.insert(slot.cached.end(), out.begin(), out.begin() + ptrdiff_t(n - from_prompt));
        slot.kept_seq = slot.seq;
    } else {
        backend_->free_sequence(slot.seq);
    }
    {
        std::lock_guard<std::mutex> jl(job->m);
        job->out.append(flush);
        job->ends.push_back(uint32_t(job->out.size()));
        job->result.done_reason = reason;
        if (slot.t_first) {
            job->result.prompt_eval_ns = slot.t_first - slot.t_start;
            job->result.eval_ns = t_end - slot.t_first;
        } else {
            job->result.prompt_eval_ns = t_end - slot.t_start;
        }
        job->done = true;
        job->cv.notify_all();
    }
    slot.stops.reset();
    slot.matcher->stop();  // drops the request's reference to its grammar
    slot.constrained = false;
    slot.mask_ready = false;
    slot.job = nullptr;
    slot.seq = -1;
    if (std::string_view(reason) == "cancel") {
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.cancelled;
        ++(slot.decoding ? stats_.cancelled_decoding : stats_.cancelled_prefill);
    }
}

bool Engine::step() {
    bool stopping;
    {
        std::lock_guard<std::mutex> lock(mu_);
        stopping = stopping_;
    }
    for (auto& slot : slots_) {
        if (slot->job && (stopping || slot->job->cancelled())) finish(*slot, "cancel");
    }
    // One decode token per generating slot first, then prompt chunks in slot order.
    int n = 0, rows = 0;
    for (auto& slot : slots_) {
        if (!slot->job || !slot->decoding || n >= n_batch_) continue;
        batch_[size_t(n++)] = BatchToken{slot->last, int32_t(slot->seq), int32_t(slot->n_past), true};
        batch_owner_[size_t(rows++)] = slot.get();
    }
    for (auto& slot : slots_) {
        if (!slot->job || slot->decoding || n >= n_batch_) continue;
        const auto& prompt = slot->job->request->prompt;
        size_t chunk = std::min(prompt.size() - slot->fed, size_t(n_batch_ - n));
        for (size_t i = 0; i < chunk; ++i) {
            size_t p = slot->fed + i;
            bool last = p + 1 == prompt.size();
            batch_[size_t(n++)] = BatchToken{prompt[p], int32_t(slot->seq), int32_t(p), last};
            if (last) batch_owner_[size_t(rows++)] = slot.get();
        }
    }
    if (n == 0) return false;

    // The constrained rows' full masks are computed on the mask thread while the forward pass runs (they
    // depend on the matcher's state, not on the logits). The worker touches no matcher until wait().
    rows_ = rows;
    if (side_ && std::any_of(batch_owner_.begin(), batch_owner_.begin() + rows, [](Slot* s) { return s->constrained; }))
        side_->post(&Engine::side_masks, this);
    Result<const float*> logits = backend_->forward(batch_.data(), n);
    mask_wait_ns_ = side_ ? side_->wait() : 0;
    if (!logits.is_ok()) {
        for (auto& slot : slots_) {
            if (!slot->job) continue;
            {
                std::lock_guard<std::mutex> jl(slot->job->m);
                slot->job->status = logits.status();
            }
            finish(*slot, "error");
        }
        return true;
    }
    // Advance positions of every slot that took part.
    int64_t generated = 0;
    for (auto& slot : slots_) {
        if (!slot->job) continue;
        if (slot->decoding) {
            slot->n_past += 1;
        } else {
            const auto& prompt = slot->job->request->prompt;
            // Count how many of this slot's prompt tokens were in the batch.
            size_t in_batch = 0;
            for (int i = 0; i < n; ++i) in_batch += batch_[size_t(i)].seq == slot->seq;
            slot->fed += in_batch;
            slot->n_past = int64_t(slot->fed);
            if (slot->fed == prompt.size()) slot->decoding = true;
        }
    }
    for (int r = 0; r < rows; ++r) {
        Slot& slot = *batch_owner_[size_t(r)];
        if (slot.limit <= 0) {
            finish(slot, "length");
            continue;
        }
        const float* row = *logits + size_t(r) * size_t(n_vocab_);
        int32_t token;
        if (Status st = sample_token(slot, row, &token); !st.is_ok()) {
            {
                std::lock_guard<std::mutex> jl(slot.job->m);
                slot.job->status = st;
            }
            finish(slot, "error");
            continue;
        }
        slot.sampler->accept(token);
        if (!slot.t_first) slot.t_first = now_ns();
        Job* job = slot.job;
        job->result.output.push_back(token);
        ++job->result.eval_count;
        ++generated;
        slot.last = token;
        if (codec_->is_eog(token)) {
            finish(slot, "stop");
            continue;
        }
        if (slot.render_special && vocab_->kind(token) == TokenKind::special) {
            slot.utf8.append(vocab_->bytes(token));
        } else {
            codec_->append_piece(token, slot.utf8);
        }
        size_t tail = incomplete_utf8_tail(slot.utf8);
        size_t whole = slot.utf8.size() - tail;
        size_t safe = slot.stops.push(std::string_view(slot.utf8).substr(0, whole));
        slot.utf8.erase(0, whole);
        if (safe > 0) {
            std::lock_guard<std::mutex> jl(job->m);
            job->out.append(slot.stops.pending(), 0, safe);
            job->ends.push_back(uint32_t(job->out.size()));
            job->cv.notify_all();
        }
        slot.stops.consume(safe);
        if (slot.stops.stopped() || (slot.constrained && slot.matcher->is_finished())) {
            finish(slot, "stop");
        } else if (job->result.eval_count >= slot.limit || slot.n_past + 1 >= n_ctx_) {
            finish(slot, "length");
        }
    }
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.steps;
    stats_.tokens_generated += generated;
    return true;
}

void Engine::side_masks(void* engine) {
    Engine& e = *static_cast<Engine*>(engine);
    for (int r = 0; r < e.rows_; ++r) {
        Slot& slot = *e.batch_owner_[size_t(r)];
        if (!slot.constrained) continue;
        const int64_t t0 = now_ns();
        slot.mask_count = slot.matcher->fill_mask(slot.mask, e.mask_cache_.get());
        slot.mask_ready = true;
        slot.job->result.grammar_beside_ns += now_ns() - t0;
    }
}

Status Engine::sample_token(Slot& slot, const float* row, int32_t* token) {
    int32_t t = slot.sampler->sample(row);
    if (!slot.constrained) {
        *token = t;
        return Status::ok();
    }
    GenerateResult& result = slot.job->result;
    GrammarMatcher& m = *slot.matcher;
    int64_t t0 = now_ns(), spent = mask_wait_ns_;
    const bool ready = slot.mask_ready;  // the mask of this very state (the matcher has not moved since)
    slot.mask_ready = false;
    if (!m.allows(t)) {
        ++result.grammar_masks;
        const int n = ready ? slot.mask_count : m.fill_mask(slot.mask, mask_cache_.get());
        spent += now_ns() - t0;
        t = n > 0 ? slot.sampler->sample(row, slot.mask.words()) : -1;
        if (t < 0) {
            result.grammar_ns += spent;
            return Status(StatusCode::internal,
                          string_printf("constrained generation reached a dead end after %lld bytes: no token of "
                                        "the vocabulary continues the grammar%s%s",
                                        (long long)m.bytes_accepted(), m.limit_error().empty() ? "" : "; ",
                                        m.limit_error().c_str()));
        }
        t0 = now_ns();
    }
    Status st = m.accept(t);
    CHECK_MSG(st.is_ok(), st.message().c_str());  // allowed by allows() or by the mask
    spent += now_ns() - t0;
    result.grammar_ns += spent;
    if (slot.job->request->grammar_timing)
        result.grammar_token_ns.push_back(int32_t(std::min<int64_t>(spent, INT32_MAX)));
    *token = t;
    return Status::ok();
}

}  // namespace berth
