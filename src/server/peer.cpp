// DisconnectWatcher: cancels generations whose client went away, streamed or not, also while they wait for a slot
// or evaluate their prompt (when nothing is written, so a failed write cannot tell). cpp-httplib 0.11 does not
// expose a request's socket, so it is found among the process's descriptors by its address pair: it stays open,
// and is this request's, while the handler (or its content provider) runs.
#include <dirent.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "server/server_internal.h"

namespace berth {

namespace {

constexpr int64_t kResolveAfterNs = 20 * 1000000;  // requests shorter than this never look for their socket
constexpr int kUnresolved = -2, kNotFound = -1;
constexpr uint64_t kWakeId = 0;  // epoll data of the eventfd

bool address_of(const sockaddr_storage& a, socklen_t len, std::string& ip, int& port) {
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (getnameinfo(reinterpret_cast<const sockaddr*>(&a), len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return false;
    ip = host;
    port = std::atoi(serv);
    return true;
}

// The descriptor of the accepted connection from remote_addr:remote_port to local_port, or kNotFound. A connection
// the client reset has no peer address any more (ENOTCONN): when no socket matches exactly, ours is one of those,
// so a single such socket on the same local port is ours (several: no guess).
int find_connection_fd(const PeerAddress& peer) {
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) return kNotFound;
    int found = kNotFound, reset = kNotFound, n_reset = 0;
    const int dir_fd = dirfd(dir);
    while (dirent* d = readdir(dir)) {
        char* end = nullptr;
        long fd = std::strtol(d->d_name, &end, 10);
        if (end == d->d_name || *end || fd == dir_fd) continue;
        struct stat sb;
        if (fstat(int(fd), &sb) != 0 || !S_ISSOCK(sb.st_mode)) continue;
        sockaddr_storage local{}, remote{};
        socklen_t local_len = sizeof local, remote_len = sizeof remote;
        if (getsockname(int(fd), reinterpret_cast<sockaddr*>(&local), &local_len) != 0) continue;
        if (local.ss_family != AF_INET && local.ss_family != AF_INET6) continue;
        std::string local_ip, remote_ip;
        int local_port = 0, remote_port = 0;
        if (!address_of(local, local_len, local_ip, local_port) || local_port != peer.local_port) continue;
        if (getpeername(int(fd), reinterpret_cast<sockaddr*>(&remote), &remote_len) != 0) {
            int listening = 0;
            socklen_t len = sizeof listening;
            if (errno == ENOTCONN && getsockopt(int(fd), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 &&
                !listening) {
                reset = int(fd);
                ++n_reset;
            }
            continue;
        }
        if (!address_of(remote, remote_len, remote_ip, remote_port)) continue;
        if (remote_port == peer.remote_port && remote_ip == peer.remote_addr) {
            found = int(fd);
            break;
        }
    }
    closedir(dir);
    if (found == kNotFound && n_reset == 1) found = reset;
    return found;
}

// True when the peer closed the connection (end of stream) or it broke. Bytes waiting (a pipelined request)
// mean it is alive.
bool peer_gone(int fd) {
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

}  // namespace

PeerAddress PeerAddress::of(const httplib::Request& req) {
    return PeerAddress{req.remote_addr, req.remote_port, req.local_port};
}

DisconnectWatcher::DisconnectWatcher() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll_fd_ < 0 || wake_fd_ < 0) {
        LOG_WARN("cannot watch client connections (epoll/eventfd: %s): non-streamed requests run to the end",
                 strerror(errno));
        return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeId;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    thread_ = std::thread([this] { loop(); });
}

DisconnectWatcher::~DisconnectWatcher() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
    }
    wake();
    if (thread_.joinable()) thread_.join();
    if (wake_fd_ >= 0) close(wake_fd_);
    if (epoll_fd_ >= 0) close(epoll_fd_);
}

void DisconnectWatcher::wake() {
    uint64_t one = 1;
    if (wake_fd_ >= 0) (void)!write(wake_fd_, &one, sizeof one);
}

uint64_t DisconnectWatcher::add(const PeerAddress& peer, std::atomic<bool>* cancel) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (all_cancelled_) {
            cancel->store(true);
            return 0;
        }
    }
    if (!thread_.joinable() || peer.remote_port < 0) return 0;
    const int64_t resolve_at = now_ns() + kResolveAfterNs;
    bool wake_now;
    uint64_t id;
    {
        std::lock_guard<std::mutex> lock(mu_);
        id = next_id_++;
        entries_.emplace(id, Entry{peer, cancel, resolve_at, kUnresolved});
        // Back-to-back short requests cost no wake-up: the watcher already sleeps until an earlier deadline.
        wake_now = resolve_at < next_wake_ns_;
        if (wake_now) next_wake_ns_ = resolve_at;
    }
    if (wake_now) wake();
    return id;
}

void DisconnectWatcher::remove(uint64_t id) {
    if (id == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    if (it->second.fd >= 0) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second.fd, nullptr);
    entries_.erase(it);
}

void DisconnectWatcher::cancel_all() {
    std::lock_guard<std::mutex> lock(mu_);
    all_cancelled_ = true;
    for (auto& [id, e] : entries_) e.cancel->store(true);
}

void DisconnectWatcher::loop() {
    epoll_event events[32];
    for (;;) {
        int timeout_ms = -1;
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (stopping_) return;
            const int64_t now = now_ns();
            int64_t next = INT64_MAX;
            for (auto& [id, e] : entries_) {
                if (e.fd != kUnresolved) continue;
                if (now < e.resolve_at) {
                    next = std::min(next, e.resolve_at);
                    continue;
                }
                e.fd = find_connection_fd(e.peer);
                if (e.fd < 0) continue;  // not found: never cancel on a guess
                // Level-triggered, once: the peer's FIN (EPOLLRDHUP) or a reset (EPOLLHUP/EPOLLERR, always
                // reported). A connection already closed reports at once.
                epoll_event ev{};
                ev.events = EPOLLRDHUP | EPOLLONESHOT;
                ev.data.u64 = id;
                if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, e.fd, &ev) != 0) e.fd = kNotFound;
            }
            next_wake_ns_ = next;
            if (next != INT64_MAX) timeout_ms = int(std::max<int64_t>(1, (next - now + 999999) / 1000000));
        }
        int n = epoll_wait(epoll_fd_, events, 32, timeout_ms);
        std::lock_guard<std::mutex> lock(mu_);
        for (int i = 0; i < n; ++i) {
            if (events[i].data.u64 == kWakeId) {
                uint64_t count;
                (void)!read(wake_fd_, &count, sizeof count);
                continue;
            }
            auto it = entries_.find(events[i].data.u64);
            if (it == entries_.end() || it->second.fd < 0) continue;  // finished meanwhile
            if (peer_gone(it->second.fd)) it->second.cancel->store(true);
        }
    }
}

}  // namespace berth
