// Acceptor over real loopback sockets with cpp-httplib routes behind it: keep-alive, pipelining, Expect, streamed
// answers; header, body and idle deadlines; the connection bound; slow clients that hold no worker; shutdown that
// finishes what runs and answers what waits with 503.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "server/server_internal.h"

namespace berth {
namespace {

using namespace std::chrono_literals;

int64_t ms_since(int64_t t0) { return (now_ns() - t0) / 1000000; }

struct TestServer {
    HttpCore http;
    std::unique_ptr<Acceptor> acceptor;
    std::thread thread;

    explicit TestServer(AcceptorOptions o) {
        o.host = "127.0.0.1";
        o.port = 0;
        http.Get("/fast", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
        http.Post("/echo",
                  [](const httplib::Request& req, httplib::Response& res) { res.set_content(req.body, "text/plain"); });
        // A "heavy" route (as generation is): sleeps, then answers.
        http.Post("/api/generate", [](const httplib::Request& req, httplib::Response& res) {
            std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(req.body.c_str())));
            res.set_content("done", "text/plain");
        });
        http.Get("/stream", [](const httplib::Request&, httplib::Response& res) {
            res.set_chunked_content_provider("application/x-ndjson", [](size_t, httplib::DataSink& sink) {
                for (int i = 0; i < 3; ++i) sink.write("{\"n\":1}\n", 8);
                sink.done();
                return true;
            });
        });
        acceptor = std::make_unique<Acceptor>(
            o, [this](httplib::Stream& s, bool close, bool& closed) { return http.process(s, close, closed); });
        EXPECT_TRUE(acceptor->bind().is_ok());
        http.attach(acceptor->listen_fd());
        thread = std::thread([this] { acceptor->run(); });
    }
    ~TestServer() {
        acceptor->stop();
        thread.join();
    }
    int port() const { return acceptor->port(); }
};

int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
}

void send_all(int fd, const std::string& s) {
    ASSERT_EQ(send(fd, s.data(), s.size(), MSG_NOSIGNAL), ssize_t(s.size()));
}

// Reads until `done(received)` or the peer closes or `timeout_ms` passes.
std::string receive(int fd, int timeout_ms, const std::function<bool(const std::string&)>& done = nullptr,
                    bool* closed = nullptr) {
    std::string out;
    const int64_t end = now_ns() + int64_t(timeout_ms) * 1000000;
    if (closed) *closed = false;
    while (!(done && done(out))) {
        int left = int((end - now_ns()) / 1000000);
        if (left <= 0) break;
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, left) <= 0) break;
        char buf[8192];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            if (closed) *closed = true;
            break;
        }
        out.append(buf, size_t(n));
    }
    return out;
}

// True once `s` holds `count` complete responses with Content-Length bodies.
bool has_responses(const std::string& s, int count) {
    size_t at = 0;
    for (int i = 0; i < count; ++i) {
        size_t head = s.find("\r\n\r\n", at);
        if (head == std::string::npos) return false;
        size_t cl = s.find("Content-Length: ", at);
        size_t len = cl == std::string::npos || cl > head ? 0 : std::stoul(s.substr(cl + 16));
        if (s.size() < head + 4 + len) return false;
        at = head + 4 + len;
    }
    return true;
}

int count_threads() {
    int n = 0;
    DIR* d = opendir("/proc/self/task");
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

const char kGetFast[] = "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n";

TEST(Acceptor, KeepAliveAndPipelining) {
    TestServer s({});
    int fd = connect_to(s.port());
    send_all(fd, kGetFast);
    std::string r = receive(fd, 2000, [](const std::string& x) { return has_responses(x, 1); });
    EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
    EXPECT_NE(r.find("Keep-Alive: timeout="), std::string::npos) << r;
    // The same connection again, then two requests in one write (answered in order).
    send_all(fd, kGetFast);
    EXPECT_TRUE(has_responses(receive(fd, 2000, [](const std::string& x) { return has_responses(x, 1); }), 1));
    send_all(fd, "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc" + std::string(kGetFast));
    r = receive(fd, 2000, [](const std::string& x) { return has_responses(x, 2); });
    ASSERT_TRUE(has_responses(r, 2)) << r;
    EXPECT_LT(r.find("abc"), r.find("\r\n\r\nok")) << r;
    close(fd);
}

TEST(Acceptor, ExpectContinueAndChunkedAnswers) {
    TestServer s({});
    int fd = connect_to(s.port());
    send_all(fd, "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    std::string r = receive(fd, 2000, [](const std::string& x) { return x.find("\r\n\r\n") != std::string::npos; });
    EXPECT_EQ(r, "HTTP/1.1 100 Continue\r\n\r\n");
    send_all(fd, "hello");
    r = receive(fd, 2000, [](const std::string& x) { return has_responses(x, 1); });
    EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << "one 100 Continue only: " << r;
    EXPECT_NE(r.find("hello"), std::string::npos);
    send_all(fd, "GET /stream HTTP/1.1\r\n\r\n");
    r = receive(fd, 2000, [](const std::string& x) { return x.find("0\r\n\r\n") != std::string::npos; });
    EXPECT_NE(r.find("Transfer-Encoding: chunked"), std::string::npos) << r;
    EXPECT_EQ(r.find("8\r\n{\"n\":1}\n\r\n") != std::string::npos, true) << r;
    close(fd);
}

TEST(Acceptor, HeaderBodyAndIdleDeadlines) {
    AcceptorOptions o;
    o.header_timeout_ns = 300'000'000;
    o.body_timeout_ns = 300'000'000;
    o.idle_timeout_ns = 300'000'000;
    TestServer s(o);
    // A header that never ends: 408 after the header deadline, then the connection closes.
    int slow = connect_to(s.port());
    int64_t t0 = now_ns();
    send_all(slow, "GET /fast HTTP/1.1\r\nHo");
    bool closed = false;
    std::string r = receive(slow, 3000, nullptr, &closed);
    EXPECT_EQ(r.rfind("HTTP/1.1 408", 0), 0u) << r;
    EXPECT_NE(r.find("BERTH_HEADER_TIMEOUT"), std::string::npos) << r;
    EXPECT_TRUE(closed);
    EXPECT_GE(ms_since(t0), 250);
    EXPECT_LT(ms_since(t0), 1500);
    close(slow);
    // A body that never ends.
    int body = connect_to(s.port());
    send_all(body, "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    r = receive(body, 3000, nullptr, &closed);
    EXPECT_EQ(r.rfind("HTTP/1.1 408", 0), 0u) << r;
    EXPECT_NE(r.find("BERTH_BODY_TIMEOUT"), std::string::npos) << r;
    close(body);
    // An idle keep-alive connection is closed without a word.
    int idle = connect_to(s.port());
    send_all(idle, kGetFast);
    EXPECT_TRUE(has_responses(receive(idle, 2000, [](const std::string& x) { return has_responses(x, 1); }), 1));
    t0 = now_ns();
    r = receive(idle, 3000, nullptr, &closed);
    EXPECT_TRUE(closed);
    EXPECT_EQ(r, "");
    EXPECT_LT(ms_since(t0), 1500);
    close(idle);
    AcceptorStats st = s.acceptor->stats();
    EXPECT_EQ(st.header_timeouts, 1);
    EXPECT_EQ(st.body_timeouts, 1);
}

TEST(Acceptor, SlowClientsHoldNoWorker) {
    AcceptorOptions o;
    o.workers = 2;
    TestServer s(o);
    std::this_thread::sleep_for(100ms);  // the loop has started its workers
    const int threads_before = count_threads();
    std::vector<int> slow;
    for (int i = 0; i < 300; ++i) {
        int fd = connect_to(s.port());
        send_all(fd, i % 2 ? "GET /fast HTTP/1.1\r\nHo" : "POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nab");
        slow.push_back(fd);
    }
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(s.acceptor->stats().open, 300);
    EXPECT_EQ(count_threads(), threads_before) << "connections cost no thread";
    for (int i = 0; i < 20; ++i) {
        int64_t t0 = now_ns();
        int fd = connect_to(s.port());
        send_all(fd, kGetFast);
        std::string r = receive(fd, 2000, [](const std::string& x) { return has_responses(x, 1); });
        EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u);
        EXPECT_LT(ms_since(t0), 200) << "two workers, 300 stalled clients";
        close(fd);
    }
    for (int fd : slow) close(fd);
}

TEST(Acceptor, ConnectionBoundRefusesWith503) {
    AcceptorOptions o;
    o.max_connections = 16;
    TestServer s(o);
    std::vector<int> held;
    for (int i = 0; i < 16; ++i) held.push_back(connect_to(s.port()));
    std::this_thread::sleep_for(50ms);
    int extra = connect_to(s.port());
    bool closed = false;
    std::string r = receive(extra, 2000, nullptr, &closed);
    EXPECT_EQ(r.rfind("HTTP/1.1 503", 0), 0u) << r;
    EXPECT_NE(r.find("too many connections"), std::string::npos) << r;
    EXPECT_TRUE(closed);
    close(extra);
    close(held.back());
    held.pop_back();
    std::this_thread::sleep_for(50ms);
    int again = connect_to(s.port());
    send_all(again, kGetFast);
    r = receive(again, 2000, [](const std::string& x) { return has_responses(x, 1); });
    EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
    close(again);
    for (int fd : held) close(fd);
    EXPECT_GE(s.acceptor->stats().refused, 1);
}

TEST(Acceptor, BadRequestsAndOversizedBodiesAreAnswered) {
    AcceptorOptions o;
    o.max_body_bytes = 1000;
    TestServer s(o);
    int fd = connect_to(s.port());
    send_all(fd, "POST /echo HTTP/1.1\r\nContent-Length: 5000\r\n\r\n");  // refused before the body is sent
    std::string r = receive(fd, 2000);
    EXPECT_EQ(r.rfind("HTTP/1.1 413", 0), 0u) << r;
    EXPECT_NE(r.find("BERTH_MAX_BODY"), std::string::npos) << r;
    close(fd);
    fd = connect_to(s.port());
    send_all(fd, "POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
    r = receive(fd, 2000);
    EXPECT_EQ(r.rfind("HTTP/1.1 501", 0), 0u) << r;
    EXPECT_NE(r.find("\"message\""), std::string::npos) << "OpenAI's error shape under /v1: " << r;
    close(fd);
    fd = connect_to(s.port());
    send_all(fd, kGetFast);
    EXPECT_EQ(receive(fd, 2000, [](const std::string& x) { return has_responses(x, 1); }).rfind("HTTP/1.1 200", 0), 0u);
    close(fd);
}

TEST(Acceptor, BufferedBytesAreBounded) {
    AcceptorOptions o;
    o.max_body_bytes = 1 << 20;
    o.max_buffered_bytes = 64 << 10;
    TestServer s(o);
    int fd = connect_to(s.port());
    std::string body(200 << 10, 'x');
    std::string head = "POST /echo HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    send(fd, (head + body).data(), head.size() + body.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    std::string r = receive(fd, 3000);
    EXPECT_EQ(r.rfind("HTTP/1.1 503", 0), 0u) << r.substr(0, 200);
    close(fd);
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(s.acceptor->stats().buffered, 0);
}

TEST(Acceptor, StopFinishesRunningRequestsAndRefusesWaitingOnes) {
    AcceptorOptions o;
    o.workers = 2;  // one heavy request at a time: the others wait for a worker
    auto s = std::make_unique<TestServer>(o);
    std::vector<int> fds;
    for (int i = 0; i < 3; ++i) {
        fds.push_back(connect_to(s->port()));
        send_all(fds.back(), "POST /api/generate HTTP/1.1\r\nContent-Length: 3\r\n\r\n400");
    }
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(s->acceptor->stats().queued, 2);
    int64_t t0 = now_ns();
    s.reset();  // stop() and join: returns when the running request has been answered
    EXPECT_LT(ms_since(t0), 2000);
    int ok = 0, refused = 0;
    for (int fd : fds) {
        std::string r = receive(fd, 2000);
        ok += r.rfind("HTTP/1.1 200", 0) == 0;
        refused += r.rfind("HTTP/1.1 503", 0) == 0 && r.find("shutting down") != std::string::npos;
        close(fd);
    }
    EXPECT_EQ(ok, 1);
    EXPECT_EQ(refused, 2);
}

}  // namespace
}  // namespace berth
