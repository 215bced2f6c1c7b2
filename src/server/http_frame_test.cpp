// RequestFramer: request ends by Content-Length and chunked coding, fed whole or a byte at a time, pipelined
// requests, and every refusal with its status.
#include <gtest/gtest.h>

#include "server/acceptor.h"

namespace berth {
namespace {

struct Framed {
    FrameStatus status;
    size_t end = 0;
    int error = 0;
    RequestHead head;
};

// Frames `bytes` given all at once, or growing one byte at a time (what a dribbling client does).
Framed frame(const std::string& bytes, bool byte_at_a_time = false, int64_t max_body = 1 << 20) {
    RequestFramer f(max_body);
    Framed out{FrameStatus::need_more};
    for (size_t n = byte_at_a_time ? 1 : bytes.size(); n <= bytes.size(); ++n) {
        for (;;) {
            FrameStatus s = f.advance(std::string_view(bytes).substr(0, n));
            if (s == FrameStatus::head_done) {
                out.head = f.head();
                continue;
            }
            out.status = s;
            break;
        }
        if (out.status == FrameStatus::complete || out.status == FrameStatus::error) break;
    }
    if (out.status == FrameStatus::complete) out.end = f.request_bytes();
    if (out.status == FrameStatus::error) out.error = f.error_status();
    return out;
}

const std::string kGet = "GET /api/tags?x=1 HTTP/1.1\r\nHost: a\r\n\r\n";

TEST(RequestFramer, RequestWithoutBody) {
    for (bool dribble : {false, true}) {
        Framed r = frame(kGet, dribble);
        ASSERT_EQ(r.status, FrameStatus::complete);
        EXPECT_EQ(r.end, kGet.size());
        EXPECT_EQ(r.head.method, "GET");
        EXPECT_EQ(r.head.path, "/api/tags");
    }
}

TEST(RequestFramer, ContentLengthBodyAndPipelinedNext) {
    std::string post = "POST /api/generate HTTP/1.1\r\ncontent-length:  5 \r\n\r\nhello";
    for (bool dribble : {false, true}) {
        Framed r = frame(post + kGet, dribble);
        ASSERT_EQ(r.status, FrameStatus::complete);
        EXPECT_EQ(r.end, post.size()) << "the next request's bytes are not part of this one";
        EXPECT_EQ(r.head.content_length, 5);
    }
    EXPECT_EQ(frame(post.substr(0, post.size() - 1)).status, FrameStatus::need_more);
}

TEST(RequestFramer, ChunkedBody) {
    std::string post =
        "POST /api/chat HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n";
    for (bool dribble : {false, true}) {
        Framed r = frame(post + kGet, dribble);
        ASSERT_EQ(r.status, FrameStatus::complete);
        EXPECT_EQ(r.end, post.size());
        EXPECT_TRUE(r.head.chunked);
    }
}

TEST(RequestFramer, ExpectContinueValueIsLocated) {
    std::string post = "POST /api/chat HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi";
    Framed r = frame(post);
    ASSERT_EQ(r.status, FrameStatus::complete);
    EXPECT_TRUE(r.head.expect_continue);
    EXPECT_EQ(post.substr(r.head.expect_value_at, 12), "100-continue");
}

TEST(RequestFramer, Refusals) {
    struct Case {
        std::string bytes;
        int status;
    };
    const std::string big(70000, 'a');
    const Case cases[] = {
        {"GET /x HTTP/1.1\nHost: a\r\n\r\n", 400},                                         // bare LF
        {"GET /x HTTP/1.1\r\nHost: a\nContent-Length: 5\r\n\r\n", 400},                    // LF inside a line
        {"GET /x HTTP/1.1\r\n folded: x\r\n\r\n", 400},                                    // obs-fold
        {"GET /x HTTP/1.1\r\nBad Name: x\r\n\r\n", 400},                                   // space in a name
        {"GET /x HTTP/2.0\r\n\r\n", 400},                                                  // version
        {"GET  HTTP/1.1\r\n\r\n", 400},                                                    // empty target
        {"\x16\x03\x01\x02\xa5\r\n\r\n", 400},                                             // TLS bytes
        {"POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400},  // two lengths
        {"POST /x HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello", 400},                      // not digits
        {"POST /x HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},     // chunk size
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiXX", 400},  // no CRLF after data
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nTrailer: x\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", 400},
        {"POST /x HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", 413},               // over max_body
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n", 413},  // chunks over max_body
        {"GET /" + big + " HTTP/1.1\r\n\r\n", 414},                                 // long target, no CRLF yet
        {"GET /x HTTP/1.1\r\nX: " + big + "\r\n\r\n", 431},                         // long head
    };
    for (const Case& c : cases) {
        Framed r = frame(c.bytes);
        EXPECT_EQ(r.status, FrameStatus::error) << c.bytes.substr(0, 60);
        EXPECT_EQ(r.error, c.status) << c.bytes.substr(0, 60);
    }
}

TEST(RequestFramer, StrictnessHoldsByteByByte) {
    // The same refusal whether the head arrives at once or dribbles in.
    Framed r = frame("GET /x HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", true);
    EXPECT_EQ(r.status, FrameStatus::error);
    EXPECT_EQ(r.error, 400);
}

}  // namespace
}  // namespace berth
