// The service manager's notification protocol (sd_notify(3)): readiness, watchdog keep-alives and stopping, as
// newline-separated assignments in one datagram on the Unix socket named by $NOTIFY_SOCKET. Written here instead
// of linking libsystemd for one sendto(): the protocol is documented as stable, the binary keeps no dependency on
// systemd (containers run it without), and tests can receive the datagrams without a service manager.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "server/server_internal.h"

namespace berth {

bool systemd_notify(const std::string& state) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || !*path) return false;
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    size_t len = strlen(path);
    static std::atomic<bool> warned{false};
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof addr.sun_path) {
        if (!warned.exchange(true)) LOG_WARN("NOTIFY_SOCKET=%s is not a Unix socket path; not notifying", path);
        return false;
    }
    memcpy(addr.sun_path, path, len);
    if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
    socklen_t addr_len = socklen_t(offsetof(sockaddr_un, sun_path) + len);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    ssize_t n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), addr_len);
    int err = errno;
    close(fd);
    if (n != ssize_t(state.size())) {
        if (!warned.exchange(true)) LOG_WARN("notifying the service manager (%s) failed: %s", path, strerror(err));
        return false;
    }
    return true;
}

int64_t systemd_watchdog_ns() {
    const char* usec = std::getenv("WATCHDOG_USEC");
    if (!usec || !*usec) return 0;
    // WATCHDOG_PID, when set, names the process the watchdog is meant for (not a child that inherited it).
    if (const char* pid = std::getenv("WATCHDOG_PID"); pid && *pid && std::strtoll(pid, nullptr, 10) != getpid())
        return 0;
    char* end = nullptr;
    long long us = std::strtoll(usec, &end, 10);
    if (*end || us <= 0) return 0;
    return int64_t(us) * 1000;
}

}  // namespace berth
