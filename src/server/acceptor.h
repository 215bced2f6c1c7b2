// The HTTP connection layer (internal to the server module). One event-loop thread owns the listening socket and
// every connection that is not being answered: it reads each request's header and body into the connection's own
// buffer, under deadlines and size bounds, and hands only complete requests to a fixed pool of worker threads,
// which run cpp-httplib's request processing (the routes' handlers and content providers) over that buffer.
// A connection that is idle, dribbling its header or sending its body slowly costs a socket and its bytes,
// never a thread; beyond max_connections a new connection gets a one-line 503 and is closed.
#pragma once

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/base.h"

namespace berth {

// ---- framing -------------------------------------------------------------------------------------------
// What the acceptor needs to know of a request's head to find where the request ends.
struct RequestHead {
    std::string method;
    std::string path;            // the target up to '?'
    int64_t content_length = 0;  // 0 when absent
    bool chunked = false;        // Transfer-Encoding: chunked
    bool expect_continue = false;
    size_t expect_value_at = 0;  // offset of an exact "100-continue" value in the buffer (0: none)
    size_t head_bytes = 0;       // request line and headers, through the blank line
};

enum class FrameStatus { need_more, head_done, complete, error };

// Finds the end of one HTTP/1.1 request in a connection's buffer, incrementally, without copying it. Stricter than
// the parser that later reads it (cpp-httplib): a request it accepts is read by that parser the same way, and the
// worker's stream ends where the framer says the request ends, so the two can never disagree about where the next
// request starts.
class RequestFramer {
  public:
    static constexpr size_t kMaxHeadBytes = 64 << 10;  // request line and headers (more: 431)
    static constexpr size_t kMaxTargetBytes = 8192;    // cpp-httplib's URI limit (more: 414)

    explicit RequestFramer(int64_t max_body_bytes) : max_body_(max_body_bytes) {}

    // Scans `buf` (this request's bytes from its first one, possibly followed by later requests' bytes).
    // Returns head_done once when the head is parsed (head() is valid from then on; calling again frames the
    // body), complete when the whole request is in (request_bytes()), error with error_status()/error_message().
    FrameStatus advance(std::string_view buf);
    const RequestHead& head() const { return head_; }
    size_t request_bytes() const { return end_; }
    int error_status() const { return error_status_; }
    const std::string& error_message() const { return error_; }
    // Bytes of body announced or framed so far (for the 413 check of chunked bodies).
    int64_t body_bytes() const { return body_bytes_; }

  private:
    enum class Phase { head, length_body, chunk_size, chunk_data, chunk_data_end, last_crlf, done, failed };
    FrameStatus fail(int status, std::string message);
    FrameStatus parse_head(std::string_view head);
    Phase phase_ = Phase::head;
    int64_t max_body_;
    RequestHead head_;
    size_t scan_ = 0;  // where scanning resumes
    size_t end_ = 0;
    int64_t chunk_left_ = 0, body_bytes_ = 0;
    int error_status_ = 0;
    std::string error_;
};

// ---- the acceptor --------------------------------------------------------------------------------------
struct AcceptorOptions {
    std::string host = "127.0.0.1";
    int port = 11434;                                 // 0: any free port
    int backlog = 4096;                               // listen(2); the kernel caps it at net.core.somaxconn
    int max_connections = 4096;                       // BERTH_MAX_CONNECTIONS (capped by RLIMIT_NOFILE)
    int workers = 16;                                 // BERTH_HTTP_THREADS: requests processed at once
    int64_t header_timeout_ns = 10'000'000'000;       // BERTH_HEADER_TIMEOUT: connection (or first byte) to blank line
    int64_t body_timeout_ns = 60'000'000'000;         // BERTH_BODY_TIMEOUT: end of header to end of body
    int64_t idle_timeout_ns = 30'000'000'000;         // BERTH_IDLE_TIMEOUT: keep-alive wait for the next request
    int64_t write_timeout_ns = 60'000'000'000;        // a client that reads nothing of its answer this long is dropped
    int64_t max_body_bytes = 32 << 20;                // BERTH_MAX_BODY: buffered bodies (blob uploads stream)
    int64_t max_buffered_bytes = int64_t(256) << 20;  // every connection's buffer together (more: 503)
};

struct AcceptorStats {
    int64_t accepted = 0, refused = 0, header_timeouts = 0, body_timeouts = 0, idle_closed = 0, bad_requests = 0;
    int64_t requests = 0;     // handed to workers
    int open = 0;             // connections open now
    int queued = 0;           // complete requests waiting for a worker
    int busy = 0;             // workers answering a request
    int64_t buffered = 0;     // bytes in connection buffers
    int max_connections = 0;  // after the RLIMIT_NOFILE cap
};

// Runs one complete request read from `strm` on a worker thread: cpp-httplib's Server::process_request. Returns
// false when the connection must be closed (a write failed); `connection_closed` is set when the request asked for
// it (Connection: close, HTTP/1.0).
using RequestProcessor = std::function<bool(httplib::Stream& strm, bool close_connection, bool& connection_closed)>;

// The socket the current worker thread is answering on (-1 elsewhere): handlers find their connection with it.
int current_connection_fd();

class Acceptor {
  public:
    Acceptor(AcceptorOptions options, RequestProcessor process);
    ~Acceptor();
    Acceptor(const Acceptor&) = delete;
    Acceptor& operator=(const Acceptor&) = delete;

    // Creates, binds and listens; io_error when the address is taken. The port is known afterwards.
    Status bind();
    int port() const { return port_; }
    int listen_fd() const { return listen_fd_; }
    // Serves until stop(): the event loop runs on the calling thread. Returns once every request in progress has
    // been answered; requests still waiting for a worker get 503, waiting connections are closed.
    void run();
    // Stops accepting and makes run() return as described. Async-signal-safe (an atomic and an eventfd write).
    void stop();
    AcceptorStats stats() const;

    struct Conn;

  private:
    void loop();
    void accept_all();
    void refuse(int fd, int status, const char* message);
    void on_readable(Conn& c);
    void frame(Conn& c);
    void reply_and_close(Conn& c, int status, const std::string& message);
    void close_conn(Conn& c);
    void expire(int64_t now);
    void dispatch(Conn& c);
    void take_back();
    void worker_main(int index);
    void answer(Conn& c);
    void begin_request(Conn& c, int64_t now);
    void watch(Conn& c, bool on);

    AcceptorOptions opt_;
    RequestProcessor process_;
    int listen_fd_ = -1, epoll_fd_ = -1, wake_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
    bool listening_paused_ = false;  // out of descriptors: accept paused briefly
    int64_t resume_accept_at_ = 0;
    int64_t last_scan_ = 0;

    // Owned by the loop thread.
    std::vector<std::unique_ptr<Conn>> conns_;  // by descriptor
    int open_ = 0;
    int uploads_ = 0;  // requests whose body a worker reads from the socket (blob uploads), at most workers / 4

    // Hand-off between the loop and the workers.
    mutable std::mutex mu_;
    std::condition_variable work_cv_;
    std::deque<Conn*> light_, heavy_;  // complete requests waiting for a worker (light ones go first)
    std::vector<Conn*> returned_;      // answered; back to the loop
    int busy_ = 0, busy_heavy_ = 0;
    bool workers_stop_ = false;
    std::vector<std::thread> workers_;

    // Counters (relaxed atomics: read by /metrics on other threads).
    std::atomic<int64_t> accepted_{0}, refused_{0}, header_timeouts_{0}, body_timeouts_{0}, idle_closed_{0},
        bad_requests_{0}, requests_{0}, buffered_{0};
    std::atomic<int> open_count_{0}, queued_{0};
};

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit in force afterwards.
int64_t raise_descriptor_limit();

}  // namespace berth
