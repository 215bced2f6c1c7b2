// Acceptor: the event loop that owns the listening socket and every waiting connection, and the worker threads
// that answer complete requests through cpp-httplib. See acceptor.h for the contract.
#include "server/acceptor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

namespace berth {

namespace {

constexpr uint64_t kListenId = UINT64_MAX - 1, kWakeId = UINT64_MAX;
constexpr int64_t kScanEveryNs = 100'000'000;    // deadlines are checked ten times a second
constexpr int64_t kLingerNs = 2'000'000'000;     // after an error answer, the client's bytes are read and dropped
constexpr size_t kReadChunk = 16 << 10;          // one recv()
constexpr int kReadsPerEvent = 4;                // fairness: at most 64 KiB per connection per wake-up
constexpr int kAcceptsPerEvent = 256;            // fairness between accepting and reading
constexpr int64_t kAcceptPauseNs = 100'000'000;  // out of descriptors: accept again after this
constexpr int kDescriptorReserve = 128;          // model files, blobs, pipes, the store: never used by clients

thread_local int tls_connection_fd = -1;

// Touches 192 KiB of the calling thread's stack, more than a request handler uses (measured: about 70 KiB of
// growth per worker over a soak without this), so RssAnon does not creep up as workers get their first turns.
__attribute__((noinline)) void prefault_stack() {
    volatile char buf[192 << 10];
    for (size_t i = 0; i < sizeof buf; i += 4096) buf[i] = 0;
    buf[sizeof buf - 1] = 0;
}

const char* reason_phrase(int status) {
    switch (status) {
        case 400: return "Bad Request";
        case 408: return "Request Timeout";
        case 413: return "Payload Too Large";
        case 414: return "URI Too Long";
        case 431: return "Request Header Fields Too Large";
        case 501: return "Not Implemented";
        case 503: return "Service Unavailable";
        default: return "Error";
    }
}

// A complete HTTP response carrying {"error": message} (OpenAI's {"error": {"message", ...}} under /v1/).
std::string error_response(int status, const std::string& message, const std::string& path) {
    nlohmann::json body;
    if (path.rfind("/v1/", 0) == 0)
        body = {{"error",
                 {{"message", message},
                  {"type", status >= 500 ? "server_error" : "invalid_request_error"},
                  {"param", nullptr},
                  {"code", nullptr}}}};
    else
        body = {{"error", message}};
    std::string b = body.dump();
    return "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) +
           "\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: " + std::to_string(b.size()) +
           "\r\nConnection: close\r\n\r\n" + b;
}

// Requests that take long (generation, embeddings, model transfers): at most workers - reserve of them run at
// once, so that the reserve always answers the quick ones (tags, ps, show, health, metrics ...).
bool is_heavy(const std::string& path) {
    static const char* heavy[] = {"/api/generate", "/api/chat", "/api/embed", "/api/embeddings", "/api/pull",
                                  "/api/create",   "/api/push", "/api/load",  "/v1/completions", "/v1/chat/completions",
                                  "/v1/embeddings"};
    for (const char* h : heavy) {
        if (path == h) return true;
    }
    return path.rfind("/api/blobs/", 0) == 0;
}

// Blob uploads (up to the size of a model) are not buffered: their worker reads the body from the socket.
bool streams_body(const RequestHead& h) {
    return (h.method == "POST" || h.method == "PUT") && h.path.rfind("/api/blobs/", 0) == 0;
}

std::string address_text(const sockaddr_storage& a, int& port) {
    char host[INET6_ADDRSTRLEN] = {};
    if (a.ss_family == AF_INET) {
        auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
        inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
        port = ntohs(v4->sin_port);
    } else if (a.ss_family == AF_INET6) {
        auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
        inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
        port = ntohs(v6->sin6_port);
    }
    return host;
}

// Waits until `fd` is ready for `events` or `deadline` (monotonic ns) passes.
bool wait_ready(int fd, short events, int64_t deadline) {
    for (;;) {
        int64_t left = deadline - now_ns();
        if (left <= 0) return false;
        pollfd p{fd, events, 0};
        int r = poll(&p, 1, int(std::min<int64_t>(left / 1000000 + 1, 1000)));
        if (r > 0) return true;
        if (r < 0 && errno != EINTR) return false;
    }
}

}  // namespace

int current_connection_fd() { return tls_connection_fd; }

int64_t raise_descriptor_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rlimit want = rl;
        want.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
    }
    return rl.rlim_cur == RLIM_INFINITY ? int64_t(1) << 20 : int64_t(rl.rlim_cur);
}

// ---- a connection --------------------------------------------------------------------------------------
struct Acceptor::Conn {
    // reading: in the loop's epoll set, receiving a request (or idle between requests); queued: handed to the
    // workers (waiting for one or being answered; only a worker touches it then); draining: answered with an error,
    // the client's last bytes are read and dropped until it closes or kLingerNs pass.
    enum class State { reading, queued, draining };
    int fd = -1;
    State state = State::reading;
    std::string buf;           // received and not yet answered: this request's bytes, then possibly the next's
    RequestFramer framer{0};   // of the request at buf[0]
    bool head_done = false;    // the head of the request at buf[0] is parsed
    bool in_request = false;   // a byte of the next request has arrived (else: waiting, idle)
    bool stream_body = false;  // its worker reads the body from the socket
    bool heavy = false;
    bool close_after = false;  // set by the worker: close instead of waiting for the next request
    size_t request_end = 0;    // bytes of buf that make the request handed to the worker
    int64_t deadline = 0;      // monotonic ns: the current phase's limit
    int64_t accounted = 0;     // bytes of buf counted in buffered_
    std::string remote_ip, local_ip;
    int remote_port = -1, local_port = -1;
};

namespace {

// cpp-httplib's view of one request: the bytes the loop framed, then (blob uploads only) the socket; answers go
// straight to the socket, waiting at most write_timeout for a client that does not read.
class ConnStream final : public httplib::Stream {
  public:
    ConnStream(Acceptor::Conn& c, const AcceptorOptions& o) : c_(c), opt_(o) {}
    bool broken() const { return broken_; }

    bool is_readable() const override {
        if (pos_ < c_.request_end) return true;
        return c_.stream_body && wait_ready(c_.fd, POLLIN, now_ns() + opt_.body_timeout_ns);
    }
    bool is_writable() const override { return !broken_; }

    ssize_t read(char* ptr, size_t size) override {
        if (pos_ < c_.request_end) {
            size_t n = std::min(size, c_.request_end - pos_);
            std::memcpy(ptr, c_.buf.data() + pos_, n);
            pos_ += n;
            return ssize_t(n);
        }
        if (!c_.stream_body) return 0;  // the request ends where the framer said
        // A streamed body: each read may wait up to the body timeout (a stalled upload is dropped).
        for (;;) {
            ssize_t n = recv(c_.fd, ptr, size, 0);
            if (n >= 0) return n;
            if (errno == EINTR) continue;
            if ((errno != EAGAIN && errno != EWOULDBLOCK) ||
                !wait_ready(c_.fd, POLLIN, now_ns() + opt_.body_timeout_ns))
                return -1;
        }
    }

    ssize_t write(const char* ptr, size_t size) override {
        if (broken_) return -1;
        size_t done = 0;
        while (done < size) {
            ssize_t n = send(c_.fd, ptr + done, size - done, MSG_NOSIGNAL);
            if (n > 0) {
                done += size_t(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
                wait_ready(c_.fd, POLLOUT, now_ns() + opt_.write_timeout_ns))
                continue;
            broken_ = true;
            return -1;
        }
        return ssize_t(size);
    }

    void get_remote_ip_and_port(std::string& ip, int& port) const override {
        ip = c_.remote_ip;
        port = c_.remote_port;
    }
    void get_local_ip_and_port(std::string& ip, int& port) const override {
        ip = c_.local_ip;
        port = c_.local_port;
    }
    socket_t socket() const override { return c_.fd; }

  private:
    Acceptor::Conn& c_;
    const AcceptorOptions& opt_;
    size_t pos_ = 0;
    bool broken_ = false;
};

}  // namespace

// ---- the acceptor --------------------------------------------------------------------------------------
Acceptor::Acceptor(AcceptorOptions options, RequestProcessor process)
    : opt_(std::move(options)), process_(std::move(process)) {
    int64_t nofile = raise_descriptor_limit();
    int cap = int(std::max<int64_t>(16, std::min<int64_t>(INT32_MAX, nofile - kDescriptorReserve)));
    if (opt_.max_connections > cap) {
        LOG_WARN("max connections lowered from %d to %d by the descriptor limit (RLIMIT_NOFILE %lld)",
                 opt_.max_connections, cap, (long long)nofile);
        opt_.max_connections = cap;
    }
    opt_.workers = std::max(2, opt_.workers);
    conns_.resize(size_t(opt_.max_connections) + kDescriptorReserve);
}

Acceptor::~Acceptor() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        workers_stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : workers_) {
        if (t.joinable()) t.join();
    }
    for (auto& c : conns_) {
        if (c) ::close(c->fd);
    }
    for (int fd : {listen_fd_, epoll_fd_, wake_fd_}) {
        if (fd >= 0) ::close(fd);
    }
}

Status Acceptor::bind() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll_fd_ < 0 || wake_fd_ < 0)
        return io_error("cannot create the event loop (epoll/eventfd): %s", strerror(errno));
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    std::string service = std::to_string(opt_.port);
    if (int rc = getaddrinfo(opt_.host.c_str(), service.c_str(), &hints, &res); rc != 0)
        return io_error("cannot resolve %s: %s", opt_.host.c_str(), gai_strerror(rc));
    int err = 0;
    for (addrinfo* a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, opt_.backlog) != 0) {
            err = errno;
            ::close(fd);
            continue;
        }
        listen_fd_ = fd;
        break;
    }
    freeaddrinfo(res);
    if (listen_fd_ < 0)
        return io_error("cannot listen on %s:%d: %s", opt_.host.c_str(), opt_.port, strerror(err ? err : EINVAL));
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    address_text(a, port_);
    return Status::ok();
}

AcceptorStats Acceptor::stats() const {
    AcceptorStats s;
    s.accepted = accepted_.load(std::memory_order_relaxed);
    s.refused = refused_.load(std::memory_order_relaxed);
    s.header_timeouts = header_timeouts_.load(std::memory_order_relaxed);
    s.body_timeouts = body_timeouts_.load(std::memory_order_relaxed);
    s.idle_closed = idle_closed_.load(std::memory_order_relaxed);
    s.bad_requests = bad_requests_.load(std::memory_order_relaxed);
    s.requests = requests_.load(std::memory_order_relaxed);
    s.buffered = buffered_.load(std::memory_order_relaxed);
    s.open = open_count_.load(std::memory_order_relaxed);
    s.queued = queued_.load(std::memory_order_relaxed);
    s.max_connections = opt_.max_connections;
    std::lock_guard<std::mutex> lock(mu_);
    s.busy = busy_;
    return s;
}

void Acceptor::stop() {
    stopping_.store(true);
    uint64_t one = 1;
    if (wake_fd_ >= 0) (void)!::write(wake_fd_, &one, sizeof one);
}

void Acceptor::run() {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeId;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    ev.data.u64 = kListenId;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
    for (int i = 0; i < opt_.workers; ++i) workers_.emplace_back([this, i] { worker_main(i); });
    if (stopping_) stop();  // stop() came before the eventfd existed
    loop();
    {
        std::lock_guard<std::mutex> lock(mu_);
        workers_stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
}

void Acceptor::watch(Conn& c, bool on) {
    if (!on) {
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
        return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = uint64_t(c.fd);
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev);
}

void Acceptor::loop() {
    epoll_event events[256];
    bool shutting_down = false;
    for (;;) {
        const bool timed = open_ > 0 || listening_paused_;
        int n = epoll_wait(epoll_fd_, events, 256, timed ? int(kScanEveryNs / 1000000) : -1);
        for (int i = 0; i < n; ++i) {
            uint64_t id = events[i].data.u64;
            if (id == kWakeId) {
                uint64_t count;
                (void)!::read(wake_fd_, &count, sizeof count);
            } else if (id == kListenId) {
                if (!shutting_down) accept_all();
            } else if (size_t(id) < conns_.size() && conns_[id]) {
                on_readable(*conns_[id]);
            }
        }
        take_back();
        const int64_t now = now_ns();
        if (stopping_ && !shutting_down) {
            shutting_down = true;
            if (listen_fd_ >= 0) {
                epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
                ::close(listen_fd_);
                listen_fd_ = -1;
            }
            // Requests still waiting for a worker are answered 503; waiting connections are closed.
            std::deque<Conn*> waiting;
            {
                std::lock_guard<std::mutex> lock(mu_);
                waiting.insert(waiting.end(), light_.begin(), light_.end());
                waiting.insert(waiting.end(), heavy_.begin(), heavy_.end());
                light_.clear();
                heavy_.clear();
                queued_ = 0;
            }
            for (Conn* c : waiting) reply_and_close(*c, 503, "the server is shutting down");
            for (auto& c : conns_) {
                if (c && (c->state == Conn::State::reading || c->state == Conn::State::draining)) close_conn(*c);
            }
        }
        if (shutting_down) {
            std::lock_guard<std::mutex> lock(mu_);
            if (busy_ == 0 && light_.empty() && heavy_.empty() && returned_.empty()) break;
        }
        if (listening_paused_ && now >= resume_accept_at_ && listen_fd_ >= 0) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = kListenId;
            epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
            listening_paused_ = false;
        }
        if (now - last_scan_ >= kScanEveryNs) {
            last_scan_ = now;
            expire(now);
        }
    }
    for (auto& c : conns_) {
        if (c) close_conn(*c);
    }
}

void Acceptor::accept_all() {
    for (int i = 0; i < kAcceptsPerEvent; ++i) {
        sockaddr_storage remote{};
        socklen_t len = sizeof remote;
        int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&remote), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // Out of descriptors: stop accepting for a moment instead of spinning on a readable listener.
                LOG_WARN("accept: %s; pausing new connections for 100 ms", strerror(errno));
                epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
                listening_paused_ = true;
                resume_accept_at_ = now_ns() + kAcceptPauseNs;
            }
            return;
        }
        accepted_.fetch_add(1, std::memory_order_relaxed);
        if (open_ >= opt_.max_connections) {
            refuse(fd, 503, string_printf("too many connections (%d open; BERTH_MAX_CONNECTIONS)", open_).c_str());
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // streamed tokens go out at once
        if (size_t(fd) >= conns_.size()) conns_.resize(size_t(fd) + 1);
        auto c = std::make_unique<Conn>();
        c->fd = fd;
        c->remote_ip = address_text(remote, c->remote_port);
        sockaddr_storage local{};
        len = sizeof local;
        getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
        c->local_ip = address_text(local, c->local_port);
        c->framer = RequestFramer(opt_.max_body_bytes);
        c->deadline = now_ns() + opt_.header_timeout_ns;  // a new connection sends its header within this
        c->in_request = true;
        watch(*c, true);
        conns_[size_t(fd)] = std::move(c);
        ++open_;
        open_count_.store(open_, std::memory_order_relaxed);
    }
}

void Acceptor::refuse(int fd, int status, const char* message) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    std::string r = error_response(status, message, "");
    (void)!send(fd, r.data(), r.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(fd, SHUT_WR);
    char drop[4096];  // unread bytes would turn the close into a reset that can hide the answer
    for (int i = 0; i < 16 && recv(fd, drop, sizeof drop, MSG_DONTWAIT) > 0; ++i) {}
    ::close(fd);
}

void Acceptor::close_conn(Conn& c) {
    const int fd = c.fd;
    if (c.state == Conn::State::reading || c.state == Conn::State::draining) watch(c, false);
    buffered_.fetch_sub(c.accounted, std::memory_order_relaxed);
    ::close(fd);
    conns_[size_t(fd)].reset();
    --open_;
    open_count_.store(open_, std::memory_order_relaxed);
}

// Answers with an error and closes; the client's further bytes are read and dropped for a moment first (a close
// with unread bytes resets the connection, and the client might never see the answer).
void Acceptor::reply_and_close(Conn& c, int status, const std::string& message) {
    LOG_DEBUG("connection %d answered %d and closed: %s", c.fd, status, message.c_str());
    std::string r = error_response(status, message, c.framer.head().path);  // empty until the head is parsed
    (void)!send(c.fd, r.data(), r.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(c.fd, SHUT_WR);
    buffered_.fetch_sub(c.accounted, std::memory_order_relaxed);
    c.accounted = 0;
    c.buf = std::string();
    if (c.state == Conn::State::queued) watch(c, true);  // it was out of the epoll set
    c.state = Conn::State::draining;
    c.deadline = now_ns() + kLingerNs;
}

void Acceptor::begin_request(Conn& c, int64_t now) {
    c.in_request = true;
    c.deadline = now + opt_.header_timeout_ns;
}

void Acceptor::on_readable(Conn& c) {
    const int64_t now = now_ns();
    char chunk[kReadChunk];
    for (int i = 0; i < kReadsPerEvent; ++i) {
        ssize_t n = recv(c.fd, chunk, sizeof chunk, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            close_conn(c);  // the client closed (or reset) the connection
            return;
        }
        if (n < 0) return;
        if (c.state == Conn::State::draining) continue;
        if (!c.in_request) begin_request(c, now);
        if (buffered_.load(std::memory_order_relaxed) + n > opt_.max_buffered_bytes) {
            reply_and_close(c, 503, "server busy: too many request bytes in flight, try again");
            return;
        }
        c.buf.append(chunk, size_t(n));
        c.accounted += n;
        buffered_.fetch_add(n, std::memory_order_relaxed);
        frame(c);
        if (c.state != Conn::State::reading) return;  // handed over, answered or closed
        if (size_t(n) < sizeof chunk) return;
    }
}

void Acceptor::frame(Conn& c) {
    for (;;) {
        FrameStatus s = c.framer.advance(c.buf);
        if (s == FrameStatus::need_more) return;
        if (s == FrameStatus::error) {
            bad_requests_.fetch_add(1, std::memory_order_relaxed);
            int status = c.framer.error_status();
            std::string m = c.framer.error_message();
            if (status == 413)
                m = string_printf("request body too large (%lld bytes, limit %lld: BERTH_MAX_BODY)",
                                  (long long)c.framer.body_bytes(), (long long)opt_.max_body_bytes);
            reply_and_close(c, status, m);
            return;
        }
        if (s == FrameStatus::head_done) {
            const RequestHead& h = c.framer.head();
            c.head_done = true;
            c.heavy = is_heavy(h.path);
            if (streams_body(h)) {
                // A slow upload holds its worker: a quarter of the workers at most, so they cannot take them all.
                if (uploads_ >= std::max(1, opt_.workers / 4)) {
                    reply_and_close(c, 503, "too many blob uploads in progress, try again");
                    return;
                }
                ++uploads_;
                c.stream_body = true;
                c.request_end = c.buf.size();  // the body's first bytes may be in already; the rest is read later
                dispatch(c);
                return;
            }
            if (h.content_length > opt_.max_body_bytes) continue;  // the framer answers 413
            const bool has_body = h.chunked || h.content_length > 0;
            if (h.expect_continue && has_body && c.buf.size() == h.head_bytes) {
                // The client waits for this before sending its body; cpp-httplib must not send it a second time,
                // so the header's value is changed in the buffer (same length).
                static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
                (void)!send(c.fd, kContinue, sizeof kContinue - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            }
            if (h.expect_value_at) c.buf.replace(h.expect_value_at, 12, "100-answered");
            c.deadline = now_ns() + opt_.body_timeout_ns;
            continue;
        }
        c.request_end = c.framer.request_bytes();
        dispatch(c);
        return;
    }
}

void Acceptor::dispatch(Conn& c) {
    watch(c, false);
    c.state = Conn::State::queued;
    requests_.fetch_add(1, std::memory_order_relaxed);
    {
        std::lock_guard<std::mutex> lock(mu_);
        (c.heavy ? heavy_ : light_).push_back(&c);
        queued_ = int(light_.size() + heavy_.size());
    }
    work_cv_.notify_one();
}

void Acceptor::expire(int64_t now) {
    for (auto& p : conns_) {
        if (!p) continue;
        Conn& c = *p;
        if (now < c.deadline) continue;
        if (c.state == Conn::State::draining) {
            close_conn(c);
        } else if (c.state == Conn::State::reading) {
            if (!c.in_request || c.buf.empty()) {
                LOG_DEBUG("connection %d closed: idle", c.fd);
                idle_closed_.fetch_add(1, std::memory_order_relaxed);  // never sent a byte of a next request
                close_conn(c);
            } else if (!c.head_done) {
                header_timeouts_.fetch_add(1, std::memory_order_relaxed);
                reply_and_close(c, 408,
                                string_printf("request header not received within %lld s (BERTH_HEADER_TIMEOUT)",
                                              (long long)(opt_.header_timeout_ns / 1000000000)));
            } else {
                body_timeouts_.fetch_add(1, std::memory_order_relaxed);
                reply_and_close(c, 408,
                                string_printf("request body not received within %lld s (BERTH_BODY_TIMEOUT)",
                                              (long long)(opt_.body_timeout_ns / 1000000000)));
            }
        }
    }
}

// Connections the workers answered: closed, or back to waiting for their next request (which may already be in
// the buffer: pipelining).
void Acceptor::take_back() {
    std::vector<Conn*> back;
    {
        std::lock_guard<std::mutex> lock(mu_);
        back.swap(returned_);
    }
    const int64_t now = now_ns();
    for (Conn* c : back) {
        if (c->stream_body) --uploads_;
        if (c->close_after || stopping_) {
            LOG_DEBUG("connection %d closed after its request", c->fd);
            close_conn(*c);
            continue;
        }
        c->state = Conn::State::reading;
        c->buf.erase(0, c->request_end);
        if (c->buf.empty()) c->buf = std::string();  // an idle connection keeps no buffer
        const int64_t kept = int64_t(c->buf.size());
        buffered_.fetch_sub(c->accounted - kept, std::memory_order_relaxed);
        c->accounted = kept;
        c->framer = RequestFramer(opt_.max_body_bytes);
        c->head_done = c->stream_body = c->heavy = false;
        c->request_end = 0;
        c->in_request = !c->buf.empty();
        c->deadline = c->in_request ? now + opt_.header_timeout_ns : now + opt_.idle_timeout_ns;
        watch(*c, true);
        if (c->in_request) frame(*c);
    }
}

void Acceptor::worker_main(int) {
    prefault_stack();
    const int reserve = std::max(1, opt_.workers / 4);
    const int heavy_limit = std::max(1, opt_.workers - reserve);
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
        Conn* c = nullptr;
        work_cv_.wait(
            lock, [&] { return workers_stop_ || !light_.empty() || (!heavy_.empty() && busy_heavy_ < heavy_limit); });
        if (!light_.empty()) {
            c = light_.front();
            light_.pop_front();
        } else if (!heavy_.empty() && busy_heavy_ < heavy_limit) {
            c = heavy_.front();
            heavy_.pop_front();
        } else {
            return;  // stopping and nothing to answer
        }
        queued_ = int(light_.size() + heavy_.size());
        ++busy_;
        if (c->heavy) ++busy_heavy_;
        lock.unlock();
        answer(*c);
        lock.lock();
        --busy_;
        if (c->heavy) --busy_heavy_;
        returned_.push_back(c);
        uint64_t one = 1;
        (void)!::write(wake_fd_, &one, sizeof one);
        work_cv_.notify_all();  // a heavy slot may have freed up for a waiting worker
    }
}

void Acceptor::answer(Conn& c) {
    ConnStream strm(c, opt_);
    bool closed = false;
    tls_connection_fd = c.fd;
    bool ok = false;
    try {
        ok = process_(strm, /*close_connection=*/stopping_.load() || c.stream_body, closed);
    } catch (const std::exception& e) {  // thrown past cpp-httplib's handler (a content provider): drop the connection
        LOG_ERROR("request on connection %d: %s", c.fd, e.what());
    }
    tls_connection_fd = -1;
    c.close_after = !ok || closed || c.stream_body || strm.broken();
}

}  // namespace berth
