#include <gtest/gtest.h>

#include "cli/bench.h"

namespace berth::cli::bench {

TEST(Bench, SummarizeGivesMedianMinMax) {
    Summary s = summarize({5, 1, 3});
    EXPECT_DOUBLE_EQ(s.median, 3);
    EXPECT_DOUBLE_EQ(s.min, 1);
    EXPECT_DOUBLE_EQ(s.max, 5);
    EXPECT_EQ(s.n, 3);
    EXPECT_DOUBLE_EQ(summarize({4, 1, 2, 3}).median, 2.5);  // even count: mean of the middle two
    Summary twice = s.scaled(2);
    EXPECT_DOUBLE_EQ(twice.median, 6);
    EXPECT_DOUBLE_EQ(twice.max, 10);
    EXPECT_EQ(summarize({}).n, 0);
}

TEST(Bench, ParsesIntLists) {
    std::string err;
    EXPECT_EQ(parse_int_list("32,128,512", 1, &err), (std::vector<int>{32, 128, 512}));
    EXPECT_TRUE(err.empty());
    EXPECT_EQ(parse_int_list("0", 0, &err), (std::vector<int>{0}));
    for (const char* bad : {"", "32,", "1,x", "12abc", "0", "-4", "99999999999"}) {
        err.clear();
        EXPECT_TRUE(parse_int_list(bad, 1, &err).empty()) << bad;
        EXPECT_FALSE(err.empty()) << bad;
    }
    EXPECT_EQ(sorted_unique({512, 32, 512, 0}), (std::vector<int>{0, 32, 512}));
}

TEST(Bench, ParsesSections) {
    std::string err;
    EXPECT_EQ(parse_sections("prefill,parallel", &err), unsigned(section_prefill | section_parallel));
    EXPECT_EQ(parse_sections("load,memory,decode", &err), unsigned(section_load | section_memory | section_decode));
    EXPECT_EQ(parse_sections("grammar", &err), unsigned(section_grammar));
    EXPECT_EQ(section_all & section_grammar, 0u) << "grammar runs only when asked for";
    EXPECT_TRUE(err.empty());
    EXPECT_EQ(parse_sections("prefil", &err), 0u);
    EXPECT_NE(err.find("prefil"), std::string::npos);
}

}  // namespace berth::cli::bench
