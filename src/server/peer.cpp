// DisconnectWatcher: cancels generations whose client went away, streamed or not, also while they wait for a slot
// or evaluate their prompt (when nothing is written, so a failed write cannot tell). The Acceptor tells each
// worker thread which socket it answers on, so a request's connection is known without looking for it.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "server/server_internal.h"

namespace berth {

namespace {

constexpr uint64_t kWakeId = 0;  // epoll data of the eventfd

// True when the peer closed the connection (end of stream) or it broke. Bytes waiting (a pipelined request)
// mean it is alive.
bool peer_gone(int fd) {
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

}  // namespace

PeerAddress PeerAddress::of(const httplib::Request& req) {
    return PeerAddress{req.remote_addr, req.remote_port, req.local_port, current_connection_fd()};
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
    std::lock_guard<std::mutex> lock(mu_);
    if (all_cancelled_) {
        cancel->store(true);
        return 0;
    }
    if (!thread_.joinable() || peer.fd < 0) return 0;
    const uint64_t id = next_id_++;
    // Level-triggered, once: the peer's FIN (EPOLLRDHUP) or a reset (EPOLLHUP/EPOLLERR, always reported). A
    // connection already closed reports at once.
    epoll_event ev{};
    ev.events = EPOLLRDHUP | EPOLLONESHOT;
    ev.data.u64 = id;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, peer.fd, &ev) != 0) return 0;  // not watched: never cancel on a guess
    entries_.emplace(id, Entry{peer.fd, cancel});
    return id;
}

void DisconnectWatcher::remove(uint64_t id) {
    if (id == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second.fd, nullptr);
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
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (stopping_) return;
        }
        int n = epoll_wait(epoll_fd_, events, 32, -1);
        std::lock_guard<std::mutex> lock(mu_);
        for (int i = 0; i < n; ++i) {
            if (events[i].data.u64 == kWakeId) {
                uint64_t count;
                (void)!read(wake_fd_, &count, sizeof count);
                continue;
            }
            auto it = entries_.find(events[i].data.u64);
            if (it == entries_.end()) continue;  // finished meanwhile
            if (peer_gone(it->second.fd)) it->second.cancel->store(true);
        }
    }
}

}  // namespace berth
