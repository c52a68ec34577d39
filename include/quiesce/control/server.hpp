#pragma once
// The control socket's server, on quiesce's libuv loop. It accepts local
// connections, refuses peers that are neither root nor quiesce's own uid
// (SO_PEERCRED), reads one request line bounded in size and time, parses it
// (core/control_request.hpp) and hands it to the handler, which answers
// through the Reply it is given, now or later, in one line or several.
// Nothing here decides anything, and nothing here can delay a signal or a
// timer: every read and write is non-blocking, a slow client is cut off.
#include <sys/types.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "quiesce/core/control_request.hpp"
#include "quiesce/core/log_line.hpp"
#include "quiesce/core/time.hpp"

namespace quiesce {

// How long a client has to send its request line.
inline constexpr Duration kControlRequestTimeout{2'000};

// Who may talk to PID 1: root, and the uid quiesce itself runs as.
bool control_peer_allowed(uid_t peer, uid_t own);

class ControlServer {
 public:
  // Sends one reply line (the '\n' is added). last: the connection closes
  // once it is written. A Reply whose client has gone does nothing; it may
  // be kept and called after the request returned (quiet --wait).
  class Reply {
   public:
    Reply() = default;
    void send(const std::string& line, bool last) const;
    bool connected() const;

   private:
    friend class ControlServer;
    struct Connection;
    std::weak_ptr<Connection> connection_;
  };
  using Handler = std::function<void(const ControlRequest&, Reply)>;
  using LogFn = std::function<void(LogLine)>;

  ControlServer(uv_loop_t* loop, Handler handler, LogFn log);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Makes the folder (0700) and the socket (0600) at the first candidate
  // that works (control/socket_path.hpp) and listens. A stale socket left by
  // an earlier run is replaced. Returns the path, or "" (logged) when no
  // candidate worked: quiesce then runs without a control socket.
  std::string listen(const std::vector<std::string>& candidates);
  // Closes the listener and every connection; unlinks the socket.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace quiesce
