// compile_json_schema, the shared "any JSON object" grammar, and the bounded cache of compiled schemas.
#include "grammar/grammar_impl.h"

namespace berth {

Result<GrammarPtr> compile_json_schema(const nlohmann::ordered_json& schema) {
    GrammarBuilder b;
    ASSIGN_OR_RETURN(GrammarBuilder::Node value, b.json_schema(schema));
    return b.build(b.seq({b.whitespace(), value}));
}

GrammarPtr json_object_grammar() {
    static const GrammarPtr g = [] {
        GrammarBuilder b;
        Result<GrammarPtr> r = b.build(b.seq({b.whitespace(), b.any_json_object()}));
        CHECK_MSG(r.is_ok(), r.status().message().c_str());
        return *r;
    }();
    return g;
}

GrammarCache::GrammarCache(int64_t max_bytes, int max_entries) : max_bytes_(max_bytes), max_entries_(max_entries) {}

Result<GrammarPtr> GrammarCache::get_or_compile(const nlohmann::ordered_json& schema) {
    std::string key = schema.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return get_or_build(std::move(key), [&] { return compile_json_schema(schema); });
}

Result<GrammarPtr> GrammarCache::get_or_build(std::string key, const std::function<Result<GrammarPtr>()>& build) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = index_.find(key);
        if (it != index_.end()) {
            lru_.splice(lru_.begin(), lru_, it->second);
            ++hits_;
            return it->second->grammar;
        }
        ++misses_;
    }
    // Compiled outside the lock: two requests with the same new key may both compile it (the second
    // insert finds the first and keeps it).
    ASSIGN_OR_RETURN(GrammarPtr g, build());
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(key);
    if (it != index_.end()) return it->second->grammar;
    const int64_t bytes = g->memory_bytes() + int64_t(key.capacity()) + 128;
    if (bytes > max_bytes_) return g;  // larger than the whole cache: used once, not kept
    lru_.push_front(Entry{std::move(key), g, bytes});
    index_.emplace(std::string_view(lru_.front().key), lru_.begin());
    bytes_ += bytes;
    while (bytes_ > max_bytes_ || int(lru_.size()) > max_entries_) {
        Entry& last = lru_.back();
        bytes_ -= last.bytes;
        index_.erase(std::string_view(last.key));
        lru_.pop_back();
    }
    return g;
}

int64_t GrammarCache::bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_;
}

int GrammarCache::entries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return int(lru_.size());
}

int64_t GrammarCache::hits() const {
    std::lock_guard<std::mutex> lock(mu_);
    return hits_;
}

int64_t GrammarCache::misses() const {
    std::lock_guard<std::mutex> lock(mu_);
    return misses_;
}

}  // namespace berth
