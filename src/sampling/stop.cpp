// Stop strings over streamed text: emit what cannot be the start of a stop string, hold back the rest.
#include "sampling/sampling.h"

namespace berth {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
    std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

size_t StopMatcher::push(std::string_view text) {
    if (stopped_) return 0;
    pending_.append(text);
    size_t safe = pending_.size();
    for (const std::string& s : stops_) {
        size_t at = pending_.find(s);
        if (at != std::string::npos) {
            stopped_ = true;
            safe = std::min(safe, at);
        }
    }
    if (stopped_) {
        pending_.resize(safe);
        return safe;
    }
    // Hold back the longest tail that is a proper prefix of some stop string.
    for (const std::string& s : stops_) {
        size_t max_len = std::min(s.size() - 1, pending_.size());
        for (size_t len = max_len; len > 0; --len) {
            if (pending_.compare(pending_.size() - len, len, s, 0, len) == 0) {
                safe = std::min(safe, pending_.size() - len);
                break;
            }
        }
    }
    return safe;
}

}  // namespace berth
