#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <functional>

#include "base/base.h"

namespace berth {

TEST(Half, RoundTripsEveryHalfValue) {
    for (uint32_t i = 0; i < 65536; i++) {
        float f = fp16_to_fp32(fp16_t(i));
        if (std::isnan(f)) {
            EXPECT_TRUE(std::isnan(fp16_to_fp32(fp32_to_fp16(f))));
            continue;
        }
        EXPECT_EQ(fp32_to_fp16(f), fp16_t(i)) << i;
    }
}

TEST(Half, RoundsToNearestEven) {
    EXPECT_EQ(fp16_to_fp32(fp32_to_fp16(1.0f + 1.0f / 2048)), 1.0f);                // tie → even (down)
    EXPECT_EQ(fp16_to_fp32(fp32_to_fp16(1.0f + 3.0f / 2048)), 1.0f + 2.0f / 1024);  // tie → even (up)
    EXPECT_EQ(fp32_to_fp16(70000.0f), 0x7c00);
    EXPECT_EQ(fp16_to_fp32(fp32_to_fp16(5.96046448e-08f)), 5.96046448e-08f);  // smallest subnormal
}

TEST(Half, Bf16) {
    EXPECT_EQ(bf16_to_fp32(fp32_to_bf16(1.5f)), 1.5f);
    EXPECT_EQ(fp32_to_bf16(1.0f + 1.0f / 256), fp32_to_bf16(1.0f));  // tie → even
    EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(NAN))));
}

TEST(Status, ResultCarriesValueOrError) {
    Result<int> ok = 3;
    EXPECT_TRUE(ok.is_ok());
    EXPECT_EQ(*ok, 3);
    Result<int> bad = corrupt_data("bad magic %x", 7);
    EXPECT_FALSE(bad.is_ok());
    EXPECT_EQ(bad.status().code(), StatusCode::corrupt_data);
    EXPECT_EQ(bad.status().message(), "bad magic 7");
    EXPECT_EQ(bad.status().with_context("x.gguf").message(), "x.gguf: bad magic 7");
}

static Result<int> twice(Result<int> in) {
    ASSIGN_OR_RETURN(int v, std::move(in));
    return v * 2;
}

TEST(Status, AssignOrReturnPropagates) {
    EXPECT_EQ(*twice(4), 8);
    EXPECT_EQ(twice(invalid_argument("no")).status().message(), "no");
}

TEST(Sizes, ParseByteSize) {
    EXPECT_EQ(*parse_byte_size("12GiB"), 12LL << 30);
    EXPECT_EQ(*parse_byte_size("512 MiB"), 512LL << 20);
    EXPECT_EQ(*parse_byte_size("1.5GB"), 1500000000LL);
    EXPECT_EQ(*parse_byte_size("123456"), 123456);
    EXPECT_FALSE(parse_byte_size("12 parsecs").is_ok());
    EXPECT_FALSE(parse_byte_size("").is_ok());
    EXPECT_FALSE(parse_byte_size("-5").is_ok());
}

}  // namespace berth

namespace {
// Runs `fn` with stderr redirected to a temporary file; returns what was written. `journal`: JOURNAL_STREAM names
// that file (as systemd names the journal's stream), else it names some other inode.
std::string capture_stderr(bool journal, const std::function<void()>& fn) {
    char path[] = "/tmp/berth-log-XXXXXX";
    int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    struct stat st;
    EXPECT_EQ(fstat(fd, &st), 0);
    std::string js = std::to_string((unsigned long long)st.st_dev) + ":" +
                     std::to_string((unsigned long long)st.st_ino + (journal ? 0 : 1));
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    setenv("JOURNAL_STREAM", js.c_str(), 1);
    berth::detect_log_journal();
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    unsetenv("JOURNAL_STREAM");
    berth::detect_log_journal();
    std::string out;
    char buf[4096];
    ssize_t n;
    lseek(fd, 0, SEEK_SET);
    while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
    close(fd);
    unlink(path);
    return out;
}
}  // namespace

TEST(Log, JournalStreamGetsSyslogPriorities) {
    berth::LogLevel before = berth::log_level();
    berth::set_log_level(berth::LogLevel::debug);
    std::string out = capture_stderr(true, [] {
        LOG_DEBUG("d %d", 1);
        LOG_INFO("i");
        LOG_WARN("w");
        LOG_ERROR("e");
    });
    berth::set_log_level(before);
    EXPECT_EQ(out, "<7>DEBUG d 1\n<6>INFO  i\n<4>WARN  w\n<3>ERROR e\n");
}

TEST(Log, OtherStreamsKeepTimestamps) {
    // JOURNAL_STREAM inherited from a parent whose stderr was the journal, but this stderr is a file.
    std::string out = capture_stderr(false, [] { LOG_WARN("w"); });
    ASSERT_EQ(out.size(), std::string("2026-01-01T00:00:00.000Z WARN  w\n").size()) << out;
    EXPECT_EQ(out[4], '-');
    EXPECT_EQ(out.substr(out.size() - 10), "Z WARN  w\n");
}
