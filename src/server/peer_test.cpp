// DisconnectWatcher over real loopback connections: a closed or reset client sets the cancel flag; an open one, or
// one with a pipelined request waiting, does not; a request without a known socket is never cancelled.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "server/server_internal.h"

namespace berth {
namespace {

// A listening socket, a client connected to it and the accepted end (what an HTTP worker holds).
struct Connection {
    int listener = -1, client = -1, accepted = -1;
    PeerAddress peer;
    Connection() {
        listener = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        EXPECT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&a), len), 0);
        EXPECT_EQ(listen(listener, 4), 0);
        EXPECT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len), 0);
        client = socket(AF_INET, SOCK_STREAM, 0);
        EXPECT_EQ(connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        accepted = accept(listener, nullptr, nullptr);
        sockaddr_in c{};
        len = sizeof c;
        EXPECT_EQ(getsockname(client, reinterpret_cast<sockaddr*>(&c), &len), 0);
        peer = PeerAddress{"127.0.0.1", ntohs(c.sin_port), ntohs(a.sin_port), accepted};
    }
    ~Connection() {
        for (int fd : {listener, client, accepted}) {
            if (fd >= 0) close(fd);
        }
    }
};

// Waits up to `ms` for the flag.
bool becomes_true(const std::atomic<bool>& flag, int ms) {
    for (int i = 0; i < ms / 5; ++i) {
        if (flag.load()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return flag.load();
}

TEST(DisconnectWatcher, ClosedClientCancels) {
    DisconnectWatcher w;
    Connection c;
    std::atomic<bool> cancel{false};
    DisconnectWatcher::Registration r(w, c.peer, &cancel);
    EXPECT_FALSE(becomes_true(cancel, 60)) << "an open connection is not cancelled";
    close(c.client);
    c.client = -1;
    EXPECT_TRUE(becomes_true(cancel, 2000));
}

TEST(DisconnectWatcher, ResetClientCancels) {
    DisconnectWatcher w;
    Connection c;
    std::atomic<bool> cancel{false};
    DisconnectWatcher::Registration r(w, c.peer, &cancel);
    linger l{1, 0};  // close with a reset
    setsockopt(c.client, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(c.client);
    c.client = -1;
    EXPECT_TRUE(becomes_true(cancel, 2000));
}

TEST(DisconnectWatcher, PipelinedRequestIsNotAGoneClient) {
    DisconnectWatcher w;
    Connection c;
    std::atomic<bool> cancel{false};
    DisconnectWatcher::Registration r(w, c.peer, &cancel);
    const char next[] = "GET / HTTP/1.1\r\n\r\n";
    ASSERT_EQ(write(c.client, next, sizeof next - 1), ssize_t(sizeof next - 1));
    EXPECT_FALSE(becomes_true(cancel, 100));
}

TEST(DisconnectWatcher, UnknownPeerAndEndedRegistrationAreLeftAlone) {
    DisconnectWatcher w;
    Connection c;
    std::atomic<bool> other{false}, ended{false};
    PeerAddress unknown = c.peer;
    unknown.fd = -1;  // not answered by an Acceptor worker
    DisconnectWatcher::Registration r(w, unknown, &other);
    { DisconnectWatcher::Registration gone(w, c.peer, &ended); }
    close(c.client);
    c.client = -1;
    EXPECT_FALSE(becomes_true(other, 100)) << "no socket known: never cancel on a guess";
    EXPECT_FALSE(ended.load()) << "a registration that ended is not touched";
}

}  // namespace
TEST(DisconnectWatcher, CancelAllReachesCurrentAndLaterRegistrations) {
    DisconnectWatcher w;
    Connection c;
    std::atomic<bool> before{false}, after{false};
    DisconnectWatcher::Registration r1(w, c.peer, &before);
    w.cancel_all();
    EXPECT_TRUE(before.load()) << "a registered request is cancelled at once, connection open or not";
    DisconnectWatcher::Registration r2(w, c.peer, &after);
    EXPECT_TRUE(after.load()) << "a request registered after the grace period is cancelled as it starts";
}

}  // namespace berth
