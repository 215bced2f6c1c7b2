// sd_notify protocol: datagrams arrive on a socket named by NOTIFY_SOCKET (path and abstract names); the watchdog
// interval comes from WATCHDOG_USEC for this process only.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "server/server_internal.h"

namespace berth {
namespace {

// A bound datagram socket; `name` starting with '@' is abstract.
int listen_datagram(const std::string& name) {
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, name.data(), name.size());
    if (name[0] == '@') addr.sun_path[0] = '\0';
    socklen_t len = socklen_t(offsetof(sockaddr_un, sun_path) + name.size());
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0) << strerror(errno);
    timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

std::string receive(int fd) {
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, size_t(n)) : std::string();
}

TEST(Systemd, NotifySendsOneDatagramToAPathSocket) {
    std::string path = "/tmp/berth-notify-" + std::to_string(getpid());
    unlink(path.c_str());
    int fd = listen_datagram(path);
    setenv("NOTIFY_SOCKET", path.c_str(), 1);
    EXPECT_TRUE(systemd_notify("READY=1\nSTATUS=serving"));
    EXPECT_EQ(receive(fd), "READY=1\nSTATUS=serving");
    EXPECT_TRUE(systemd_notify("WATCHDOG=1"));
    EXPECT_EQ(receive(fd), "WATCHDOG=1");
    unsetenv("NOTIFY_SOCKET");
    close(fd);
    unlink(path.c_str());
}

TEST(Systemd, NotifyReachesAbstractSockets) {
    std::string name = "@berth-notify-test-" + std::to_string(getpid());
    int fd = listen_datagram(name);
    setenv("NOTIFY_SOCKET", name.c_str(), 1);
    EXPECT_TRUE(systemd_notify("STOPPING=1"));
    EXPECT_EQ(receive(fd), "STOPPING=1");
    unsetenv("NOTIFY_SOCKET");
    close(fd);
}

TEST(Systemd, WithoutASocketNothingIsSent) {
    unsetenv("NOTIFY_SOCKET");
    EXPECT_FALSE(systemd_notify("READY=1"));
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    EXPECT_FALSE(systemd_notify("READY=1"));
    setenv("NOTIFY_SOCKET", "/nonexistent/dir/socket", 1);
    EXPECT_FALSE(systemd_notify("READY=1"));
    unsetenv("NOTIFY_SOCKET");
}

TEST(Systemd, WatchdogIntervalIsForThisProcessOnly) {
    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
    EXPECT_EQ(systemd_watchdog_ns(), 0);
    setenv("WATCHDOG_USEC", "30000000", 1);
    EXPECT_EQ(systemd_watchdog_ns(), int64_t(30) * 1000000000);
    setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
    EXPECT_EQ(systemd_watchdog_ns(), int64_t(30) * 1000000000);
    setenv("WATCHDOG_PID", std::to_string(getpid() + 1).c_str(), 1);
    EXPECT_EQ(systemd_watchdog_ns(), 0);
    unsetenv("WATCHDOG_PID");
    setenv("WATCHDOG_USEC", "soon", 1);
    EXPECT_EQ(systemd_watchdog_ns(), 0);
    unsetenv("WATCHDOG_USEC");
}

}  // namespace
}  // namespace berth
