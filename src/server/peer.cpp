// Notices that the client of a non-streamed request went away, so that its generation can be cancelled.
// cpp-httplib 0.11 does not expose the connection's socket to a handler, so the socket is found once (lazily)
// among the process's descriptors by its address pair: it stays open, and ours, while the handler runs.
#include <dirent.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "server/server_internal.h"

namespace berth {

namespace {

constexpr int64_t kFirstCheckNs = 20 * 1000000;  // requests shorter than this never look
constexpr int64_t kCheckEveryNs = 5 * 1000000;   // then one non-blocking peek per 5 ms at most

bool address_of(const sockaddr_storage& a, socklen_t len, std::string& ip, int& port) {
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (getnameinfo(reinterpret_cast<const sockaddr*>(&a), len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return false;
    ip = host;
    port = std::atoi(serv);
    return true;
}

// The descriptor of the accepted connection from remote_addr:remote_port to local_port, or -1.
int find_connection_fd(const httplib::Request& req) {
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) return -1;
    int found = -1;
    const int dir_fd = dirfd(dir);
    while (dirent* d = readdir(dir)) {
        char* end = nullptr;
        long fd = std::strtol(d->d_name, &end, 10);
        if (end == d->d_name || *end || fd == dir_fd) continue;
        struct stat sb;
        if (fstat(int(fd), &sb) != 0 || !S_ISSOCK(sb.st_mode)) continue;
        sockaddr_storage local{}, peer{};
        socklen_t local_len = sizeof local, peer_len = sizeof peer;
        if (getsockname(int(fd), reinterpret_cast<sockaddr*>(&local), &local_len) != 0) continue;
        if (local.ss_family != AF_INET && local.ss_family != AF_INET6) continue;
        if (getpeername(int(fd), reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) continue;
        std::string local_ip, peer_ip;
        int local_port = 0, peer_port = 0;
        if (!address_of(local, local_len, local_ip, local_port) || !address_of(peer, peer_len, peer_ip, peer_port))
            continue;
        if (peer_port == req.remote_port && local_port == req.local_port && peer_ip == req.remote_addr) {
            found = int(fd);
            break;
        }
    }
    closedir(dir);
    return found;
}

}  // namespace

PeerWatch::PeerWatch(const httplib::Request& req) : req_(req), next_check_ns_(now_ns() + kFirstCheckNs) {}

bool PeerWatch::gone() {
    if (gone_) return true;
    int64_t t = now_ns();
    if (t < next_check_ns_) return false;
    next_check_ns_ = t + kCheckEveryNs;
    if (fd_ == kUnknown) fd_ = find_connection_fd(req_);
    if (fd_ < 0) return false;  // not found: never cancel on a guess
    char c;
    ssize_t n = recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    // 0: the peer closed its side; an error other than "nothing to read yet": the connection is broken.
    // Bytes waiting (a pipelined request) mean it is alive.
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) gone_ = true;
    return gone_;
}

}  // namespace berth
