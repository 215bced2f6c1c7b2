// berth bench: statistics and option parsing (no model code, so the unit tests link only base).
#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "cli/bench.h"
#include "cli/soak.h"

namespace berth::cli::bench {
namespace {

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (true) {
        size_t end = s.find(',', start);
        out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) return out;
        start = end + 1;
    }
}

}  // namespace

Summary summarize(const std::vector<double>& v) {
    if (v.empty()) return {};
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    return {soak::percentile(v, 50), *lo, *hi, int(v.size())};
}

std::vector<int> parse_int_list(const std::string& s, int min_value, std::string* error) {
    std::vector<int> out;
    for (const std::string& item : split_commas(s)) {
        char* rest = nullptr;
        errno = 0;
        long long v = item.empty() ? 0 : std::strtoll(item.c_str(), &rest, 10);
        if (item.empty() || errno != 0 || *rest != '\0' || v < min_value || v > 1000000000) {
            *error = "bad list item '" + item + "' in '" + s + "' (comma-separated whole numbers ≥ " +
                     std::to_string(min_value) + ")";
            return {};
        }
        out.push_back(int(v));
    }
    return out;
}

std::vector<int> sorted_unique(std::vector<int> v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
}

unsigned parse_sections(const std::string& s, std::string* error) {
    static const std::pair<const char*, Section> names[] = {
        {"prefill", section_prefill}, {"decode", section_decode},     {"load", section_load},
        {"memory", section_memory},   {"parallel", section_parallel}, {"grammar", section_grammar}};
    unsigned bits = 0;
    for (const std::string& item : split_commas(s)) {
        unsigned bit = 0;
        for (const auto& [name, b] : names)
            if (item == name) bit = b;
        if (bit == 0) {
            *error = "unknown section '" + item + "' (prefill, decode, load, memory, parallel, grammar)";
            return 0;
        }
        bits |= bit;
    }
    return bits;
}

}  // namespace berth::cli::bench
