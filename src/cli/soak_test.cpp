#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <set>

#include "cli/soak.h"

namespace berth::soak {

TEST(Soak, PercentileInterpolates) {
    EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4, 5}, 50), 3);
    EXPECT_DOUBLE_EQ(percentile({10, 20}, 50), 15);
    EXPECT_DOUBLE_EQ(percentile({}, 99), 0);
    EXPECT_DOUBLE_EQ(percentile({7}, 99), 7);
}

TEST(Soak, SlopeIsLeastSquares) {
    EXPECT_NEAR(slope({0, 1, 2, 3}, {1, 3, 5, 7}), 2.0, 1e-12);
    EXPECT_EQ(slope({1, 1}, {0, 5}), 0);
}

// A sample holding only RssAnon (the baseline and final readings).
Sample mem(int64_t rss_anon) {
    Sample s;
    s.rss_anon = rss_anon;
    return s;
}

// Sample i of a run: taken at second i, after 20 requests per second.
Sample at_second(int i) {
    Sample s;
    s.t_s = i;
    s.requests = i * 20;
    return s;
}

// Memory added by a creep of bytes_per_1k per 1,000 requests, by the time of sample s.
int64_t creep_by(const Sample& s, int64_t bytes_per_1k) { return s.requests * bytes_per_1k / 1000; }

std::vector<RequestRecord> ok_requests(int n) {
    std::vector<RequestRecord> r;
    r.resize(size_t(n));
    for (int i = 0; i < n; i++) r[size_t(i)].t_s = i * 0.1, r[size_t(i)].total_ms = 10, r[size_t(i)].ttft_ms = 2;
    return r;
}

TEST(Soak, FlatMemoryPassesAndGrowthFails) {
    Config cfg;
    const int64_t mib = 1 << 20;
    std::vector<Sample> flat, growing;
    for (int i = 0; i <= 100; i++) {
        Sample s = at_second(i);
        s.rss_anon = 500 * mib + (i % 2) * 64 * 1024;  // jitter, no trend
        flat.push_back(s);
        s.rss_anon = 500 * mib + creep_by(s, 2 * mib);  // 2 MiB per 1,000 requests
        growing.push_back(s);
    }
    Report a = analyze(cfg, flat, ok_requests(2000), mem(100 * mib), mem(101 * mib));
    EXPECT_TRUE(a.pass) << a.verdict;
    EXPECT_LT(a.growth_per_1k_requests, 0.1 * mib);
    EXPECT_NEAR(a.retention, 1.0 / 400.0, 1e-3);
    Report b = analyze(cfg, growing, ok_requests(2000), mem(100 * mib), mem(101 * mib));
    EXPECT_FALSE(b.pass);
    EXPECT_NEAR(b.growth_per_1k_requests / mib, 2.0, 0.01);
    // Memory not given back after the load fails on retention.
    Report c = analyze(cfg, flat, ok_requests(2000), mem(100 * mib), mem(450 * mib));
    EXPECT_FALSE(c.pass);
    EXPECT_GT(c.retention, 0.5);
}

// Models loading and unloading at random (a churn workload): RssAnon follows the resident models, so the verdict
// judges RssAnon net of the ledger, with a slope that a few samples caught mid-load do not tilt; creep in it
// still fails, and a small model's few hundred KiB after the final unload pass retention.
TEST(Soak, ChurnIsJudgedNetOfTheLedger) {
    Config cfg;
    const int64_t mib = 1 << 20;
    std::vector<Sample> churn, creep;
    for (int i = 0; i <= 100; i++) {
        Sample s = at_second(i);
        // Resident models more often late in the run than early: RssAnon's own slope is steep.
        s.ledger = ((i * 7919) % 100 < 30 + i / 2 ? 10 : 2) * mib;
        s.unaccounted = 6 * mib + (i % 3) * 100 * 1024;
        if (i % 17 == 5) s.unaccounted -= 3 * mib;  // mid-load: the ledger counted, the pages not yet touched
        s.rss_anon = s.ledger + s.unaccounted;
        churn.push_back(s);
        s.unaccounted += creep_by(s, 2 * mib);  // 2 MiB per 1,000 requests of creep
        s.rss_anon = s.ledger + s.unaccounted;
        creep.push_back(s);
    }
    Report a = analyze(cfg, churn, ok_requests(2000), mem(6 * mib), mem(6 * mib + 600 * 1024));
    EXPECT_GT(a.growth_per_1k_requests, 1.0 * mib) << "RssAnon alone would fail it";
    EXPECT_TRUE(a.judged_net_of_ledger);
    EXPECT_LT(std::fabs(a.judged_growth_per_1k_requests), 0.1 * mib);
    EXPECT_GT(a.retention, 0.05);
    EXPECT_TRUE(a.pass) << a.verdict;
    EXPECT_NE(report_json(a).find("\"judged_metric\": \"RssAnon minus the ledger\""), std::string::npos);
    Report b = analyze(cfg, creep, ok_requests(2000), mem(6 * mib), mem(6 * mib + 600 * 1024));
    EXPECT_NEAR(b.judged_growth_per_1k_requests / mib, 2.0, 0.05);
    EXPECT_FALSE(b.pass) << b.verdict;
    // 3 MiB kept after the final unload fails retention (over 1 MiB and over 5 % of the peak's excess).
    Report c = analyze(cfg, churn, ok_requests(2000), mem(6 * mib), mem(9 * mib));
    EXPECT_FALSE(c.pass) << c.verdict;
}

TEST(Soak, RobustSlopeIgnoresOutliers) {
    std::vector<double> x, y;
    for (int i = 0; i < 50; i++) x.push_back(i), y.push_back(3.0 * i + (i % 9 == 4 ? -1000 : 0));
    EXPECT_NEAR(robust_slope(x, y), 3.0, 1e-9);
    EXPECT_EQ(robust_slope({1, 1}, {0, 5}), 0);
    EXPECT_EQ(robust_slope({}, {}), 0);
}

// Device memory: its range after warm-up, the most it exceeded the ledger, and the allocations during the run.
TEST(Soak, DeviceFiguresFromTheSamples) {
    Config cfg;
    const int64_t mib = 1 << 20;
    std::vector<Sample> samples;
    for (int i = 0; i <= 100; i++) {
        Sample s = at_second(i);
        s.device_used = i < 10 ? int64_t(i) * mib : 30 * mib;  // loads during warm-up, then flat
        s.device_ledger = s.device_used + (i == 5 ? mib : 0);  // a load caught between ledger and allocation
        s.device_allocations = i < 10 ? i : 10;
        samples.push_back(s);
    }
    Sample before, after;
    before.device_used = before.device_ledger = 0;
    before.device_allocations = 0;
    after.device_used = after.device_ledger = 0;
    after.device_allocations = 10;
    Report r = analyze(cfg, samples, ok_requests(2000), mem(0), mem(0));
    analyze_device(cfg, samples, before, after, &r);
    EXPECT_TRUE(r.device);
    EXPECT_EQ(r.device_steady_min, 30 * mib);
    EXPECT_EQ(r.device_steady_max, 30 * mib);
    EXPECT_EQ(r.device_peak, 30 * mib);
    EXPECT_EQ(r.device_over_ledger_max, 0);
    EXPECT_EQ(r.device_allocations_end - r.device_allocations_start, 10);
    samples[50].device_used += 4096;  // one allocation too many after warm-up shows in the range
    samples[50].device_ledger -= 4096;
    Report g = analyze(cfg, samples, ok_requests(2000), mem(0), mem(0));
    analyze_device(cfg, samples, before, after, &g);
    EXPECT_EQ(g.device_steady_max - g.device_steady_min, 4096);
    EXPECT_EQ(g.device_over_ledger_max, 8192);
    EXPECT_NE(report_json(g).find("\"over_ledger_max_bytes\": 8192"), std::string::npos) << report_json(g);
    // A server without a device: no device figures.
    Report n = analyze(cfg, samples, ok_requests(2000), mem(0), mem(0));
    analyze_device(cfg, samples, Sample(), Sample(), &n);
    EXPECT_FALSE(n.device);
    EXPECT_EQ(report_json(n).find("\"device\""), std::string::npos);
}

TEST(Soak, ErrorsAreCountedByKind) {
    Config cfg;
    auto reqs = ok_requests(10);
    reqs[3].error_kind = "http 503";
    reqs[4].error_kind = "http 503";
    reqs[3].status = reqs[4].status = 503;
    Report r = analyze(cfg, {}, reqs, mem(0), mem(0));
    EXPECT_EQ(r.errors, 2);
    ASSERT_EQ(r.errors_by_kind.size(), 1u);
    EXPECT_EQ(r.errors_by_kind[0].second, 2);
    EXPECT_EQ(r.server_errors, 0) << "503 is the documented busy answer";
    EXPECT_FALSE(r.pass);
    reqs[5].error_kind = "http 500";
    reqs[5].status = 500;
    EXPECT_EQ(analyze(cfg, {}, reqs, mem(0), mem(0)).server_errors, 1);
}

TEST(Soak, RequestsAreCountedByKind) {
    auto reqs = ok_requests(5);
    for (size_t i = 0; i < reqs.size(); ++i) reqs[i].kind = i < 3 ? "tags" : "embed";
    Report r = analyze(Config{}, {}, reqs, mem(0), mem(0));
    ASSERT_EQ(r.requests_by_kind.size(), 2u);
    EXPECT_EQ(r.requests_by_kind[0], (std::pair<std::string, int64_t>{"embed", 2}));
    EXPECT_EQ(r.requests_by_kind[1], (std::pair<std::string, int64_t>{"tags", 3}));
}

TEST(Soak, ThreadsAndDescriptorsComeFromTheFirstAndLastSamples) {
    Sample first = mem(1), last = mem(1);
    first.threads = 30, first.fds = 12;
    last.threads = 31, last.fds = 14;
    Report r = analyze(Config{}, {}, ok_requests(3), first, last);
    EXPECT_EQ(r.threads_baseline, 30);
    EXPECT_EQ(r.threads_final, 31);
    EXPECT_EQ(r.fds_baseline, 12);
    EXPECT_EQ(r.fds_final, 14);
    EXPECT_NE(report_json(r).find("\"threads_final\": 31"), std::string::npos);
}

TEST(Soak, OutputsAreWellFormed) {
    std::vector<Sample> s(3);
    for (int i = 0; i < 3; i++) s[size_t(i)].t_s = i, s[size_t(i)].rss_anon = 1 << 20;
    Report r = analyze(Config{}, s, ok_requests(5), mem(1 << 20), mem(1 << 20));
    std::string svg = render_svg(s, ok_requests(5), r);
    EXPECT_EQ(svg.rfind("<svg", 0), 0u);
    EXPECT_NE(svg.find("</svg>"), std::string::npos);
    EXPECT_NE(svg.find("<polyline"), std::string::npos);
    std::string csv = samples_csv(s);
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
    EXPECT_NE(report_json(r).find("\"growth_bytes_per_1k_requests\""), std::string::npos);
}

TEST(Soak, RequestMixWeighsEachKind) {
    Mix m = *parse_request_mix("generate=3,chat=1");
    EXPECT_DOUBLE_EQ(m.generate, 3);
    EXPECT_DOUBLE_EQ(m.chat, 1);
    EXPECT_DOUBLE_EQ(m.total(), 4);
    EXPECT_DOUBLE_EQ(parse_request_mix("chat")->chat, 1.0);
    EXPECT_DOUBLE_EQ(parse_request_mix("chat")->generate, 0.0);
    EXPECT_DOUBLE_EQ(parse_request_mix("generate=2,generate=2,chat=0")->generate, 4.0);
    Mix all = *parse_request_mix("embed=1,tags=2,ps,show=0.5,load=1,unload=1,disconnect=3");
    EXPECT_DOUBLE_EQ(all.generate, 0);
    EXPECT_DOUBLE_EQ(all.tags, 2);
    EXPECT_DOUBLE_EQ(all.ps, 1);
    EXPECT_DOUBLE_EQ(all.disconnect, 3);
    EXPECT_DOUBLE_EQ(all.total(), 9.5);
    EXPECT_FALSE(parse_request_mix("pull=1").is_ok());
    EXPECT_FALSE(parse_request_mix("chat=-1,generate=1").is_ok());
    EXPECT_FALSE(parse_request_mix("chat=x").is_ok());
    EXPECT_FALSE(parse_request_mix("generate=0").is_ok());
}

TEST(Soak, WorkloadFileBecomesOptions) {
    const std::string path = testing::TempDir() + "/workload-" + std::to_string(getpid()) + ".toml";
    {
        std::ofstream f(path);
        f << "models = [\"a\", \"b\"]\nconcurrency = 4\nduration = \"5m\"\nkeep-alive = [0, \"5s\", -1]\n"
             "stream-share = 0.5\nno-unload = true\nno-warm-up = false\n";
    }
    auto args = workload_file_args(path);
    ASSERT_TRUE(args.is_ok()) << args.status().to_string();
    std::vector<std::string> want = {"--models",     "a,b",     "--concurrency",  "4",   "--duration", "5m",
                                     "--keep-alive", "0,5s,-1", "--stream-share", "0.5", "--no-unload"};
    // toml++ keeps keys in a sorted map: compare as sets of option/value pairs.
    auto pairs = [](const std::vector<std::string>& v) {
        std::multiset<std::string> out;
        for (size_t i = 0; i < v.size(); i++) {
            if (i + 1 < v.size() && v[i + 1].rfind("--", 0) != 0) {
                out.insert(v[i] + " " + v[i + 1]);
                i++;
            } else {
                out.insert(v[i]);
            }
        }
        return out;
    };
    EXPECT_EQ(pairs(*args), pairs(want));
    {
        std::ofstream f(path);
        f << "concurrency = [\n";
    }
    auto bad = workload_file_args(path);
    ASSERT_FALSE(bad.is_ok());
    EXPECT_NE(bad.status().message().find(path), std::string::npos);
    {
        std::ofstream f(path);
        f << "[table]\nx = 1\n";
    }
    EXPECT_FALSE(workload_file_args(path).is_ok());
    unlink(path.c_str());
}

}  // namespace berth::soak
