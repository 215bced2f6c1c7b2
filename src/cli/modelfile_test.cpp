#include "cli/modelfile.h"

#include <gtest/gtest.h>

namespace berth::cli {
namespace {

TEST(Modelfile, ParsesEveryCommand) {
    Result<Modelfile> mf = parse_modelfile(
        "# comment\nFROM ./m.gguf\nPARAMETER temperature 0.5\nPARAMETER num_ctx 2048\nPARAMETER stop \"<|end|>\"\n"
        "PARAMETER stop END\nPARAMETER use_mmap true\nSYSTEM \"\"\"You are\nbrief.\"\"\"\nTEMPLATE {{ x }}\n"
        "MESSAGE user hi there\nLICENSE MIT\n");
    ASSERT_TRUE(mf.is_ok()) << mf.status().message();
    EXPECT_EQ(mf->from, "./m.gguf");
    EXPECT_EQ(mf->params["temperature"].get<double>(), 0.5);
    EXPECT_TRUE(mf->params["num_ctx"].is_number_integer());
    EXPECT_EQ(mf->params["num_ctx"].get<int64_t>(), 2048);
    EXPECT_EQ(mf->params["stop"], nlohmann::json({"<|end|>", "END"}));
    EXPECT_EQ(mf->params["use_mmap"], true);
    EXPECT_EQ(mf->system, "You are\nbrief.");
    EXPECT_EQ(mf->template_text, "{{ x }}");
    EXPECT_EQ(mf->messages, nlohmann::json::parse(R"([{"role":"user","content":"hi there"}])"));
    EXPECT_EQ(mf->license, "MIT");
}

// Regressions: a PARAMETER or MESSAGE whose value is only blanks threw std::out_of_range (berth create aborted),
// and an integer beyond int64 was converted with undefined behaviour.
TEST(Modelfile, BadLinesAreErrorsNotCrashes) {
    for (const char* text :
         {"FROM x\nPARAMETER num_ctx   \n", "FROM x\nPARAMETER num_ctx \t", "FROM x\nMESSAGE user  \n",
          "FROM x\nPARAMETER  \n", "FROM x\nPARAMETER seed nan\n", "FROM x\nPARAMETER seed 1e999\n",
          "FROM x\nSYSTEM \"\"\"never closed\n", "FROM x\nBOGUS 1\n"}) {
        Result<Modelfile> mf = parse_modelfile(text);
        EXPECT_FALSE(mf.is_ok()) << text;
        if (!mf.is_ok()) EXPECT_NE(mf.status().message().find("line"), std::string::npos) << mf.status().message();
    }
    Result<Modelfile> big = parse_modelfile("FROM x\nPARAMETER seed 99999999999999999999999\n");
    ASSERT_TRUE(big.is_ok()) << big.status().message();
    EXPECT_TRUE(big->params["seed"].is_number_float());
}

}  // namespace
}  // namespace berth::cli
