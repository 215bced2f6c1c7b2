// Soak analysis: percentiles, steady-state growth, retention, the verdict, and the CSV / JSON / SVG outputs.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "base/base.h"
#include "cli/soak.h"

namespace berth::soak {

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    double rank = p / 100.0 * double(v.size() - 1);
    size_t lo = size_t(std::floor(rank)), hi = size_t(std::ceil(rank));
    return v[lo] + (v[hi] - v[lo]) * (rank - double(lo));
}

double slope(const std::vector<double>& x, const std::vector<double>& y) {
    size_t n = std::min(x.size(), y.size());
    if (n < 2) return 0;
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= double(n);
    my /= double(n);
    double sxx = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        sxx += (x[i] - mx) * (x[i] - mx);
        sxy += (x[i] - mx) * (y[i] - my);
    }
    return sxx > 0 ? sxy / sxx : 0;
}

double robust_slope(const std::vector<double>& x, const std::vector<double>& y) {
    const size_t n = std::min(x.size(), y.size()), step = (n + 399) / 400;
    std::vector<double> slopes;
    for (size_t i = 0; i < n; i += step)
        for (size_t j = i + step; j < n; j += step)
            if (x[j] != x[i]) slopes.push_back((y[j] - y[i]) / (x[j] - x[i]));
    if (slopes.empty()) return 0;
    std::nth_element(slopes.begin(), slopes.begin() + ptrdiff_t(slopes.size() / 2), slopes.end());
    return slopes[slopes.size() / 2];
}

Report analyze(const Config& cfg, const std::vector<Sample>& samples, const std::vector<RequestRecord>& reqs,
               const Sample& first, const Sample& last) {
    const int64_t baseline = first.rss_anon, final_mem = last.rss_anon;
    Report r;
    r.threads_baseline = first.threads, r.threads_final = last.threads;
    r.fds_baseline = first.fds, r.fds_final = last.fds;
    r.models = cfg.models;
    r.requests = int64_t(reqs.size());
    std::map<std::string, int64_t> kinds, sent;
    std::vector<double> ttft, lat, tps;
    for (const auto& q : reqs) {
        if (!q.kind.empty()) sent[q.kind]++;
        if (q.status >= 500 && q.status != 503) r.server_errors++;
        if (!q.error_kind.empty()) {
            r.errors++;
            kinds[q.error_kind]++;
            continue;
        }
        ttft.push_back(q.ttft_ms);
        lat.push_back(q.total_ms);
        if (q.tokens_per_s > 0) tps.push_back(q.tokens_per_s);
    }
    for (auto& [k, n] : kinds) r.errors_by_kind.push_back({k, n});
    for (auto& [k, n] : sent) r.requests_by_kind.push_back({k, n});
    r.ttft_p50_ms = percentile(ttft, 50), r.ttft_p95_ms = percentile(ttft, 95), r.ttft_p99_ms = percentile(ttft, 99);
    r.latency_p50_ms = percentile(lat, 50), r.latency_p95_ms = percentile(lat, 95);
    r.latency_p99_ms = percentile(lat, 99);
    r.tokens_per_s_p50 = percentile(tps, 50);
    r.duration_s = samples.empty() ? 0 : samples.back().t_s;
    int64_t generated = 0;
    double last_t = 0;
    for (const auto& q : reqs) generated += q.eval_count, last_t = std::max(last_t, q.t_s);
    r.aggregate_tokens_per_s = last_t > 0 ? double(generated) / last_t : 0;

    r.baseline = baseline;
    r.final_ = final_mem;
    r.peak = std::max(baseline, final_mem);
    for (const auto& s : samples) {
        if (s.rss_anon > r.peak) r.peak = s.rss_anon;
        if (s.unaccounted >= 0) r.unaccounted_max = std::max(r.unaccounted_max, s.unaccounted);
    }
    // Steady state: samples after the warm-up share of requests. Growth is the least-squares slope of
    // RssAnon against completed requests (per 1,000) and against time (per hour).
    int64_t warm = int64_t(double(r.requests) * cfg.warmup_fraction);
    std::vector<double> xr, xt, y, xu, yu;
    int64_t ledger_min = std::numeric_limits<int64_t>::max(), ledger_max = std::numeric_limits<int64_t>::min();
    for (const auto& s : samples) {
        if (s.rss_anon < 0 || s.requests < warm) continue;
        xr.push_back(double(s.requests));
        xt.push_back(s.t_s);
        y.push_back(double(s.rss_anon));
        if (s.unaccounted >= 0) xu.push_back(double(s.requests)), yu.push_back(double(s.unaccounted));
        if (s.ledger >= 0) ledger_min = std::min(ledger_min, s.ledger), ledger_max = std::max(ledger_max, s.ledger);
    }
    // Unaccounted memory does not move when models load and unload, so its slope isolates creep from the
    // models that happen to be resident.
    r.unaccounted_growth_per_1k_requests = slope(xu, yu) * 1000.0;
    r.growth_per_1k_requests = slope(xr, y) * 1000.0;
    if (!y.empty()) {
        r.steady_min = int64_t(*std::min_element(y.begin(), y.end()));
        r.steady_max = int64_t(*std::max_element(y.begin(), y.end()));
    }
    r.growth_per_hour = slope(xt, y) * 3600.0;
    r.retention = r.peak > r.baseline ? double(r.final_ - r.baseline) / double(r.peak - r.baseline) : 0;

    // Models that load and unload during the run (random keep-alives, evictions) move RssAnon by their whole size,
    // so its slope says which models were resident when, not whether memory creeps: on berth the verdict then
    // judges RssAnon net of the ledger, with the robust slope (a sample caught mid-load, the ledger counted
    // before the pages are touched, is an outlier there).
    r.judged_net_of_ledger = ledger_max > ledger_min && xu.size() >= 2;
    r.judged_growth_per_1k_requests = r.judged_net_of_ledger ? robust_slope(xu, yu) * 1000.0 : r.growth_per_1k_requests;

    const double mib = 1024.0 * 1024.0;
    const bool growth_ok = r.judged_growth_per_1k_requests < 1.0 * mib;
    // Retention: a share of what the run added, or 1 MiB at most, so that small models (a peak a few MiB above
    // the baseline) are not failed for the allocator's few hundred KiB.
    const bool retention_ok = r.retention < 0.05 || std::llabs(r.final_ - r.baseline) <= int64_t(mib);
    const bool errors_ok = r.requests > 0 && r.errors * 100 <= r.requests;  // at most 1 % failed requests
    r.pass = growth_ok && retention_ok && errors_ok;
    r.verdict = string_printf(
        "%s: growth %.3f MiB per 1,000 requests (%s; limit 1), after the final unload %+.2f MiB, retention %.1f %% "
        "(limits 1 MiB or 5 %%), %lld of %lld requests failed",
        r.pass ? "PASS" : "FAIL", r.judged_growth_per_1k_requests / mib,
        r.judged_net_of_ledger ? "RssAnon net of the ledger, models loaded and unloaded" : "RssAnon",
        double(r.final_ - r.baseline) / mib, r.retention * 100, (long long)r.errors, (long long)r.requests);
    return r;
}

void analyze_device(const Config& cfg, const std::vector<Sample>& samples, const Sample& before, const Sample& after,
                    Report* r) {
    if (before.device_used < 0) return;
    r->device = true;
    r->device_baseline = before.device_used;
    r->device_final = after.device_used;
    r->device_peak = std::max(before.device_used, after.device_used);
    r->device_allocations_start = before.device_allocations;
    r->device_allocations_end = after.device_allocations;
    r->device_over_ledger_max =
        std::max(before.device_used - before.device_ledger, after.device_used - after.device_ledger);
    const int64_t warm = int64_t(double(r->requests) * cfg.warmup_fraction);
    bool first = true;
    for (const auto& s : samples) {
        if (s.device_used < 0) continue;
        r->device_peak = std::max(r->device_peak, s.device_used);
        if (s.device_ledger >= 0)
            r->device_over_ledger_max = std::max(r->device_over_ledger_max, s.device_used - s.device_ledger);
        if (s.requests < warm) continue;
        if (first || s.device_used < r->device_steady_min) r->device_steady_min = s.device_used;
        if (first || s.device_used > r->device_steady_max) r->device_steady_max = s.device_used;
        first = false;
    }
}

std::string samples_csv(const std::vector<Sample>& samples) {
    std::string out =
        "t_s,requests,errors,rss_anon_bytes,rss_bytes,ledger_bytes,unaccounted_bytes,ttft_p50_ms,"
        "latency_p50_ms,device_used_bytes,device_ledger_bytes,device_allocations\n";
    for (const auto& s : samples)
        out += string_printf("%.3f,%lld,%lld,%lld,%lld,%lld,%lld,%.2f,%.2f,%lld,%lld,%lld\n", s.t_s,
                             (long long)s.requests, (long long)s.errors, (long long)s.rss_anon, (long long)s.rss,
                             (long long)s.ledger, (long long)s.unaccounted, s.ttft_p50_ms, s.latency_p50_ms,
                             (long long)s.device_used, (long long)s.device_ledger, (long long)s.device_allocations);
    return out;
}

std::string report_json(const Report& r) {
    nlohmann::json j;
    j["server"] = r.server;
    j["models"] = r.models;
    j["requests"] = r.requests;
    j["errors"] = r.errors;
    nlohmann::json kinds = nlohmann::json::object();
    for (auto& [k, n] : r.errors_by_kind) kinds[k] = n;
    j["errors_by_kind"] = kinds;
    nlohmann::json by_kind = nlohmann::json::object();
    for (auto& [k, n] : r.requests_by_kind) by_kind[k] = n;
    j["requests_by_kind"] = by_kind;
    j["duration_s"] = r.duration_s;
    j["memory"] = {{"metric", "RssAnon"},
                   {"baseline_bytes", r.baseline},
                   {"peak_bytes", r.peak},
                   {"final_bytes", r.final_},
                   {"growth_bytes_per_1k_requests", r.growth_per_1k_requests},
                   {"growth_bytes_per_hour", r.growth_per_hour},
                   {"steady_min_bytes", r.steady_min},
                   {"steady_max_bytes", r.steady_max},
                   {"steady_range_bytes", r.steady_max - r.steady_min},
                   {"unaccounted_growth_bytes_per_1k_requests", r.unaccounted_growth_per_1k_requests},
                   {"retention", r.retention},
                   {"judged_growth_bytes_per_1k_requests", r.judged_growth_per_1k_requests},
                   {"judged_metric", r.judged_net_of_ledger ? "RssAnon minus the ledger" : "RssAnon"},
                   {"unaccounted_max_bytes", r.unaccounted_max}};
    j["process"] = {{"threads_baseline", r.threads_baseline},
                    {"threads_final", r.threads_final},
                    {"fds_baseline", r.fds_baseline},
                    {"fds_final", r.fds_final}};
    j["server_errors"] = r.server_errors;
    j["latency_ms"] = {{"ttft_p50", r.ttft_p50_ms},     {"ttft_p95", r.ttft_p95_ms},
                       {"ttft_p99", r.ttft_p99_ms},     {"total_p50", r.latency_p50_ms},
                       {"total_p95", r.latency_p95_ms}, {"total_p99", r.latency_p99_ms}};
    if (r.device)
        j["device"] = {{"metric", "device memory in use (the driver's reading)"},
                       {"baseline_bytes", r.device_baseline},
                       {"final_bytes", r.device_final},
                       {"peak_bytes", r.device_peak},
                       {"steady_min_bytes", r.device_steady_min},
                       {"steady_max_bytes", r.device_steady_max},
                       {"steady_range_bytes", r.device_steady_max - r.device_steady_min},
                       {"over_ledger_max_bytes", r.device_over_ledger_max},
                       {"allocations_start", r.device_allocations_start},
                       {"allocations_end", r.device_allocations_end}};
    j["tokens_per_s_p50"] = r.tokens_per_s_p50;
    j["aggregate_tokens_per_s"] = r.aggregate_tokens_per_s;
    j["pass"] = r.pass;
    j["verdict"] = r.verdict;
    return j.dump(2) + "\n";
}

// Two stacked panels: RssAnon (MiB) over time, and request latency (ms) over time.
std::string render_svg(const std::vector<Sample>& samples, const std::vector<RequestRecord>& reqs, const Report& r) {
    const double W = 900, H = 574, left = 80, right = 20, top = 64, panel_h = 200, gap = 70;
    double t_max = 1;
    for (const auto& s : samples) t_max = std::max(t_max, s.t_s);
    for (const auto& q : reqs) t_max = std::max(t_max, q.t_s);
    const double mib = 1024.0 * 1024.0;
    double m_min = 1e300, m_max = -1e300;
    for (const auto& s : samples)
        if (s.rss_anon >= 0) m_min = std::min(m_min, s.rss_anon / mib), m_max = std::max(m_max, s.rss_anon / mib);
    if (m_min > m_max) m_min = 0, m_max = 1;
    // Keep a flat line looking flat: the axis spans at least 64 MiB.
    double span = std::max(64.0, (m_max - m_min) * 1.2);
    double m_lo = std::max(0.0, (m_min + m_max) / 2 - span / 2), m_hi = m_lo + span;
    double l_max = 1;
    for (const auto& q : reqs)
        if (q.error_kind.empty()) l_max = std::max(l_max, q.total_ms);
    l_max *= 1.1;
    auto X = [&](double t) { return left + (W - left - right) * t / t_max; };
    auto Y1 = [&](double m) { return top + panel_h * (1 - (m - m_lo) / (m_hi - m_lo)); };
    double top2 = top + panel_h + gap;
    auto Y2 = [&](double l) { return top2 + panel_h * (1 - l / l_max); };

    std::string s = string_printf(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
        "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
        W, H);
    s += string_printf("<text x=\"%.0f\" y=\"18\" font-size=\"15\">berth soak</text>\n", left);
    s += string_printf("<text x=\"%.0f\" y=\"34\" font-size=\"11\">%s</text>\n", left, r.verdict.c_str());
    for (int panel = 0; panel < 2; panel++) {
        double y0 = panel == 0 ? top : top2;
        s += string_printf(
            "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
            "stroke=\"#999\"/>\n",
            left, y0, W - left - right, panel_h);
        for (int k = 0; k <= 4; k++) {
            double y = y0 + panel_h * k / 4.0;
            double v = panel == 0 ? m_hi - (m_hi - m_lo) * k / 4.0 : l_max * (1 - k / 4.0);
            s += string_printf(
                "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n",
                left, W - right, y, y, left - 6, y + 4, v);
        }
        s += string_printf("<text x=\"%.0f\" y=\"%.0f\">%s</text>\n", left, y0 - 8,
                           panel == 0 ? "RssAnon (MiB)" : "request latency (ms; dots) and TTFT p50 (line)");
    }
    for (int k = 0; k <= 5; k++) {
        double t = t_max * k / 5.0;
        s += string_printf("<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.*f s</text>\n", X(t),
                           top2 + panel_h + 18, t_max < 10 ? 1 : 0, t);  // short runs: tenths
    }
    std::string pts;
    for (const auto& q : samples)
        if (q.rss_anon >= 0) pts += string_printf("%.1f,%.1f ", X(q.t_s), Y1(q.rss_anon / mib));
    s += "<polyline fill=\"none\" stroke=\"#1565c0\" stroke-width=\"2\" points=\"" + pts + "\"/>\n";
    // At most 4,000 latency dots keep the file small; evenly thinned.
    size_t step = std::max<size_t>(1, reqs.size() / 4000);
    for (size_t i = 0; i < reqs.size(); i += step) {
        const auto& q = reqs[i];
        if (!q.error_kind.empty()) {
            s += string_printf("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"#c62828\"/>\n", X(q.t_s),
                               top2 + panel_h - 2);
            continue;
        }
        s += string_printf("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.5\" fill=\"#90a4ae\"/>\n", X(q.t_s),
                           Y2(std::min(q.total_ms, l_max)));
    }
    pts.clear();
    for (const auto& q : samples)
        if (q.ttft_p50_ms > 0) pts += string_printf("%.1f,%.1f ", X(q.t_s), Y2(std::min(q.ttft_p50_ms, l_max)));
    s += "<polyline fill=\"none\" stroke=\"#2e7d32\" stroke-width=\"2\" points=\"" + pts + "\"/>\n";
    s += "</svg>\n";
    return s;
}

}  // namespace berth::soak
