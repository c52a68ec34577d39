#include "quiesce/control/client.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>

namespace quiesce {
namespace {

using Clock = std::chrono::steady_clock;

// A reply line is under a few KB; a peer that streams without newlines is
// not quiesce.
constexpr std::size_t kMaxReplyLine = 1024 * 1024;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  int get() const { return fd_; }

 private:
  int fd_;
};

// The whole exchange has one time limit; a zero timeout has none.
class Deadline {
 public:
  explicit Deadline(Duration timeout) : timeout_(timeout), end_(Clock::now() + timeout) {}
  bool limited() const { return timeout_.count() > 0; }
  // Milliseconds left for poll(), -1 without a limit.
  int poll_ms() const {
    if (!limited()) return -1;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end_ - Clock::now());
    return static_cast<int>(std::max<std::int64_t>(0, left.count()));
  }
  std::string expired() const {
    if (timeout_.count() % 1000 == 0) {
      return fmt::format("no answer within {} s", timeout_.count() / 1000);
    }
    return fmt::format("no answer within {} ms", timeout_.count());
  }

 private:
  Duration timeout_;
  Clock::time_point end_;
};

std::string joined(const std::vector<std::string>& paths) {
  std::string out;
  for (const auto& path : paths) {
    if (!out.empty()) out += ", ";
    out += path;
  }
  return out;
}

// Unix-socket connect() and send() wait at most SO_SNDTIMEO: a listener
// whose backlog is full cannot hold the client past its deadline.
bool limit_sends(int fd, const Deadline& deadline) {
  if (!deadline.limited()) return true;
  int ms = std::max(1, deadline.poll_ms());
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0;
}

// errno after a failed connect, or 0 when connected.
int connect_to(const Fd& fd, const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return ENAMETOOLONG;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  while (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno == EISCONN) return 0;  // an interrupted connect that completed
    if (errno != EINTR) return errno;
  }
  return 0;
}

std::optional<Fd> connect_first(const std::vector<std::string>& candidates,
                                const Deadline& deadline, std::string* error) {
  std::string last_error;
  for (const auto& path : candidates) {
    Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
      *error = fmt::format("cannot create a socket: {}", std::strerror(errno));
      return std::nullopt;
    }
    if (!limit_sends(fd.get(), deadline)) {
      *error = fmt::format("cannot set a time limit on the socket: {}", std::strerror(errno));
      return std::nullopt;
    }
    int err = connect_to(fd, path);
    if (err == 0) return fd;
    if (err == EAGAIN || err == EINPROGRESS) {
      last_error = fmt::format("{} at {}", deadline.expired(), path);
    } else if (err != ENOENT && err != ECONNREFUSED) {
      last_error = fmt::format("cannot connect to {}: {}", path, std::strerror(err));
    }
  }
  *error = last_error.empty() ? fmt::format(
                                    "no control socket at {}: is quiesce running as PID 1 "
                                    "here?",
                                    joined(candidates))
                              : last_error;
  return std::nullopt;
}

// "" when sent, else why not.
std::string send_all(const Fd& fd, std::string_view bytes, const Deadline& deadline) {
  while (!bytes.empty()) {
    ssize_t n = send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return deadline.expired();
      return fmt::format("cannot send the request: {}", std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return "";
}

class LineReader {
 public:
  LineReader(const std::function<void(const std::string&)>& on_line) : on_line_(on_line) {}

  // false with *error set on a failure; true at the server's close.
  bool run(const Fd& fd, const Deadline& deadline, std::string* error) {
    char chunk[4096];
    for (;;) {
      pollfd p{fd.get(), POLLIN, 0};
      int rc = poll(&p, 1, deadline.poll_ms());
      if (rc < 0) {
        if (errno == EINTR) continue;
        *error = fmt::format("cannot wait for the answer: {}", std::strerror(errno));
        return false;
      }
      if (rc == 0) {
        *error = deadline.expired();
        return false;
      }
      ssize_t n = recv(fd.get(), chunk, sizeof chunk, 0);
      if (n > 0) {
        if (!take(std::string_view(chunk, static_cast<std::size_t>(n)), error)) return false;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      // The server may close with our request unread (a refusal, an
      // oversized line): Linux then reports ECONNRESET after the data.
      if (n == 0 || errno == ECONNRESET) return finish(error);
      *error = fmt::format("cannot read the answer: {}", std::strerror(errno));
      return false;
    }
  }

 private:
  bool take(std::string_view bytes, std::string* error) {
    for (;;) {
      auto newline = bytes.find('\n');
      pending_.append(bytes.substr(0, newline));
      if (pending_.size() > kMaxReplyLine) {
        *error = "the answer has a line longer than 1 MiB";
        return false;
      }
      if (newline == std::string_view::npos) return true;
      bytes.remove_prefix(newline + 1);
      std::string line = std::move(pending_);
      pending_.clear();
      ++lines_;
      on_line_(line);
    }
  }

  bool finish(std::string* error) {
    if (!pending_.empty()) {
      *error = "the answer was cut off";
      return false;
    }
    if (lines_ == 0) {
      *error = "quiesce closed the connection without an answer";
      return false;
    }
    return true;
  }

  const std::function<void(const std::string&)>& on_line_;
  std::string pending_;
  std::size_t lines_ = 0;
};

}  // namespace

bool control_exchange(const std::vector<std::string>& candidates, const ControlRequest& request,
                      Duration timeout, const std::function<void(const std::string&)>& on_line,
                      std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  Deadline deadline(timeout);
  auto fd = connect_first(candidates, deadline, error);
  if (!fd) return false;
  std::string sent = send_all(*fd, control_request_line(request) + "\n", deadline);
  LineReader reader(on_line);
  if (reader.run(*fd, deadline, error)) return true;
  // A refused client may find its send failed and the reason in the answer;
  // when there is no answer, the send's failure is the better message.
  if (!sent.empty()) *error = sent;
  return false;
}

}  // namespace quiesce
