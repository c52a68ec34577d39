#include "quiesce/redis/client.hpp"

#include <algorithm>
#include <deque>
#include <exception>

#include "quiesce/redis/connection.hpp"
#include "quiesce/redis/resolver.hpp"
#include "quiesce/redis/resp.hpp"
#include "quiesce/redis/tls_stream.hpp"
#include "quiesce/uv/deferred.hpp"
#include "quiesce/uv/fault.hpp"
#include "quiesce/uv/timer.hpp"

namespace quiesce::redis {
namespace {

// Runs the callbacks given to close() when the last piece holding it (a
// timer, a socket, a name lookup) has been released by libuv.
class CloseToken {
 public:
  ~CloseToken() {
    for (auto& fn : callbacks_) {
      if (fn) uv::guard("a redis close callback", fn);
    }
  }
  void add(std::function<void()> fn) { callbacks_.push_back(std::move(fn)); }

 private:
  std::vector<std::function<void()>> callbacks_;
};

enum class LoginStep { Auth, Select };

enum class State { Disconnected, Resolving, Connecting, LoggingIn, Ready, Closed };

std::string strip_prefix(const std::string& error) {
  return error.starts_with("redis: ") ? error.substr(7) : error;
}

}  // namespace

struct Client::Impl final : Connection::Events {
  Impl(uv_loop_t* loop, ClientOptions options, LogFn log);
  ~Impl() override;

  void connect();
  void pipeline(std::vector<Command> commands, Done done);
  void close(std::function<void()> closed);

  void on_open() override;
  void on_connect_error(std::string error) override;
  void on_error(std::string error) override;
  void on_reply(Reply reply) override;

 private:
  struct Pending {
    std::vector<Command> commands;
    Done done;
  };

  Instant now() const { return Instant{static_cast<std::int64_t>(uv_now(loop_))}; }
  void log(Level level, const char* event, std::string message);
  void start_connect();
  void resolved(ResolveResult result);
  void try_next_address();
  void logged_in(Reply reply);
  void became_ready();
  void pump();
  void complete();
  void connect_failed(std::string error);
  void drop(std::string error);
  void report(const std::string& error, bool affects_requests);
  void abandon_transport();
  void fail_all(const std::string& error);
  void defer(Done done, PipelineResult result);
  Duration backoff() const;

  uv_loop_t* loop_;
  ClientOptions options_;
  LogFn log_;
  std::shared_ptr<CloseToken> token_ = std::make_shared<CloseToken>();
  std::weak_ptr<CloseToken> closing_;
  uv::Timer* deadline_ = nullptr;
  // Callbacks never run inside a call of ours: the caller may start another
  // pipeline or close the client from them.
  uv::Deferred deferred_;

  State state_ = State::Disconnected;
  Resolve* resolve_ = nullptr;
  Connection* connection_ = nullptr;
  Addresses addresses_;
  std::size_t next_address_ = 0;
  std::string address_error_;
  std::shared_ptr<TlsContext> tls_;
  std::deque<LoginStep> login_steps_;  // one per awaited reply

  std::deque<Pending> queue_;  // the front is in flight when in_flight_
  bool in_flight_ = false;
  Replies replies_;

  int failures_ = 0;
  Instant retry_at_{};
  std::string last_error_;
  std::string last_logged_error_;

  friend class Client;
};

Client::Impl::Impl(uv_loop_t* loop, ClientOptions options, LogFn log)
    : loop_(loop),
      options_(std::move(options)),
      log_(std::move(log)),
      deadline_(uv::Timer::open(loop_, "the redis deadline", token_)),
      deferred_(loop_, "a redis reply", token_) {}

Client::Impl::~Impl() {
  abandon_transport();
  if (deadline_) deadline_->close();
}

void Client::Impl::log(Level level, const char* event, std::string message) {
  if (!log_) return;
  uv::guard("a redis log line", [&] {
    nlohmann::json fields = {{"url", options_.url.redacted()}};
    if (level <= Level::Warn || std::string_view(event) == "redis_error") {
      fields["error"] = message;
    }
    log_(make_log(level, event, std::move(message), std::move(fields)));
  });
}

void Client::Impl::connect() {
  if (state_ == State::Disconnected) start_connect();
}

void Client::Impl::pipeline(std::vector<Command> commands, Done done) {
  if (state_ == State::Closed) {
    uv::guard("a redis reply handler", [&] { done(std::string("redis: client closed")); });
    return;
  }
  if (commands.empty()) return defer(std::move(done), Replies{});
  if (queue_.size() >= 1 + options_.max_queued) {
    return defer(std::move(done), "redis: too many requests waiting (" +
                                      std::to_string(queue_.size()) + "); dropped this one");
  }
  if (state_ == State::Disconnected && failures_ > 0 && now() < retry_at_) {
    auto wait = (retry_at_ - now()).count();
    return defer(std::move(done), "redis unavailable, retrying in " + std::to_string(wait) +
                                      " ms (last error: " + strip_prefix(last_error_) + ")");
  }
  queue_.push_back({std::move(commands), std::move(done)});
  if (state_ == State::Disconnected) {
    start_connect();
  } else {
    pump();
  }
}

void Client::Impl::start_connect() {
  state_ = State::Resolving;
  deadline_->start(options_.connect_timeout, [this] {
    const char* stage = state_ == State::Resolving   ? "resolving the host"
                        : state_ == State::LoggingIn ? "waiting for the AUTH/SELECT reply"
                                                     : "connecting";
    connect_failed("redis: connecting to " + options_.url.endpoint() + " timed out after " +
                   std::to_string(options_.connect_timeout.count()) + " ms (" + stage + ")");
  });
  const Url& url = options_.url;
  if (url.scheme == Url::Scheme::Unix) {
    state_ = State::Connecting;
    Connection::Setup setup{loop_, this, url.path, nullptr, options_.max_reply_bytes, token_};
    auto opened = Connection::open_unix(std::move(setup), url.path);
    if (auto* error = std::get_if<std::string>(&opened)) return connect_failed("redis: " + *error);
    connection_ = std::get<Connection*>(opened);
    return;
  }
  if (url.scheme == Url::Scheme::Tls && !tls_) {
    auto context = TlsContext::create(options_.ca_file, options_.tls_verify);
    if (auto* error = std::get_if<std::string>(&context)) return connect_failed(*error);
    tls_ = std::get<std::shared_ptr<TlsContext>>(context);
  }
  if (auto literal = literal_addresses(url.host, url.port)) {
    addresses_ = std::move(*literal);
    next_address_ = 0;
    return try_next_address();
  }
  std::string error;
  resolve_ = Resolve::start(
      loop_, url.host, url.port,
      [this](ResolveResult result) {
        resolve_ = nullptr;
        resolved(std::move(result));
      },
      token_, &error);
  if (!resolve_) connect_failed("redis: " + error);
}

void Client::Impl::resolved(ResolveResult result) {
  try {
    if (auto* error = std::get_if<std::string>(&result)) return connect_failed("redis: " + *error);
    addresses_ = std::move(std::get<Addresses>(result));
    next_address_ = 0;
    try_next_address();
  } catch (const std::exception& e) {
    connect_failed(std::string("redis: internal error: ") + e.what());
  }
}

// A host may resolve to several addresses (IPv6 and IPv4): the first that
// accepts a TCP connection is used.
void Client::Impl::try_next_address() {
  state_ = State::Connecting;
  const Url& url = options_.url;
  while (next_address_ < addresses_.size()) {
    const sockaddr_storage& addr = addresses_[next_address_++];
    std::string peer = address_text(addr);
    if (peer != url.endpoint()) peer = url.endpoint() + " (" + peer + ")";
    std::unique_ptr<TlsStream> tls;
    if (tls_) {
      auto stream = TlsStream::create(tls_, url.host);
      if (auto* error = std::get_if<std::string>(&stream)) return connect_failed(*error);
      tls = std::move(std::get<std::unique_ptr<TlsStream>>(stream));
    }
    Connection::Setup setup{loop_, this, peer, std::move(tls), options_.max_reply_bytes, token_};
    auto opened = Connection::open_tcp(std::move(setup), addr);
    if (auto* connection = std::get_if<Connection*>(&opened)) {
      connection_ = *connection;
      return;
    }
    address_error_ = std::get<std::string>(opened);
  }
  connect_failed("redis: " + address_error_);
}

void Client::Impl::on_connect_error(std::string error) {
  if (state_ != State::Connecting) return on_error(std::move(error));
  try {
    connection_->abandon();
    connection_ = nullptr;
    address_error_ = std::move(error);
    try_next_address();
  } catch (const std::exception& e) {
    connect_failed(std::string("redis: internal error: ") + e.what());
  }
}

void Client::Impl::on_open() {
  try {
    const Url& url = options_.url;
    std::vector<Command> login;
    if (!url.password.empty()) {
      login.push_back(url.username.empty() ? Command{"AUTH", url.password}
                                           : Command{"AUTH", url.username, url.password});
      login_steps_.push_back(LoginStep::Auth);
    }
    if (url.db != 0) {
      login.push_back({"SELECT", std::to_string(url.db)});
      login_steps_.push_back(LoginStep::Select);
    }
    if (login.empty()) return became_ready();
    state_ = State::LoggingIn;
    if (auto error = connection_->send(encode_commands(login))) connect_failed("redis: " + *error);
  } catch (const std::exception& e) {
    connect_failed(std::string("redis: internal error: ") + e.what());
  }
}

void Client::Impl::on_reply(Reply reply) {
  try {
    if (state_ == State::LoggingIn) return logged_in(std::move(reply));
    if (state_ != State::Ready || !in_flight_) {
      return drop("redis: unexpected reply from " + options_.url.endpoint());
    }
    replies_.push_back(std::move(reply));
    if (replies_.size() == queue_.front().commands.size()) complete();
  } catch (const std::exception& e) {
    drop(std::string("redis: internal error: ") + e.what());
  }
}

void Client::Impl::logged_in(Reply reply) {
  LoginStep step = login_steps_.front();
  login_steps_.pop_front();
  if (reply.is_error()) {
    if (step == LoginStep::Auth)
      return connect_failed("redis: authentication failed: " + reply.str);
    return connect_failed("redis: SELECT " + std::to_string(options_.url.db) +
                          " failed: " + reply.str);
  }
  if (login_steps_.empty()) became_ready();
}

void Client::Impl::on_error(std::string error) {
  uv::guard("a redis connection error", [&] {
    if (state_ == State::Ready) return drop("redis: " + error);
    connect_failed("redis: " + error);
  });
}

void Client::Impl::became_ready() {
  state_ = State::Ready;
  deadline_->stop();
  failures_ = 0;
  // A Redis that accepts connections and then fails every command (garbage,
  // no answer) would otherwise say "connected" and the same error twice a
  // second: only a reply proves it well again (see complete()).
  log(last_logged_error_.empty() ? Level::Info : Level::Debug, "redis_connected",
      "connected to " + options_.url.redacted());
  pump();
}

void Client::Impl::pump() {
  if (state_ != State::Ready || in_flight_ || queue_.empty()) return;
  in_flight_ = true;
  replies_.clear();
  deadline_->start(options_.command_timeout, [this] {
    drop("redis: command timed out after " + std::to_string(options_.command_timeout.count()) +
         " ms (" + options_.url.endpoint() + " not answering)");
  });
  if (auto error = connection_->send(encode_commands(queue_.front().commands))) {
    drop("redis: " + *error);
  }
}

void Client::Impl::complete() {
  deadline_->stop();
  if (!last_logged_error_.empty()) {
    last_logged_error_.clear();
    log(Level::Info, "redis_recovered", options_.url.redacted() + " answers again");
  }
  Pending done = std::move(queue_.front());
  queue_.pop_front();
  in_flight_ = false;
  defer(std::move(done.done), std::move(replies_));
  replies_ = {};
  pump();
}

Duration Client::Impl::backoff() const {
  Duration wait = options_.backoff_initial;
  for (int i = 1; i < failures_ && wait < options_.backoff_max; ++i) wait *= 2;
  return std::min(wait, options_.backoff_max);
}

void Client::Impl::connect_failed(std::string error) {
  abandon_transport();
  deadline_->stop();
  state_ = State::Disconnected;
  failures_ = std::min(failures_ + 1, 64);
  retry_at_ = now() + backoff();
  report(error, true);
  fail_all(error);
}

void Client::Impl::drop(std::string error) {
  abandon_transport();
  deadline_->stop();
  state_ = State::Disconnected;
  report(error, in_flight_ || !queue_.empty());
  fail_all(error);
}

// Repeats of one failure go to debug so a Redis that stays down does not
// flood the log while the drain polls it.
void Client::Impl::report(const std::string& error, bool affects_requests) {
  last_error_ = error;
  Level level = !affects_requests             ? Level::Info
                : error == last_logged_error_ ? Level::Debug
                                              : Level::Warn;
  last_logged_error_ = error;
  log(level, "redis_error", error);
}

void Client::Impl::abandon_transport() {
  if (resolve_) {
    resolve_->cancel();
    resolve_ = nullptr;
  }
  if (connection_) {
    connection_->abandon();
    connection_ = nullptr;
  }
  login_steps_.clear();
  in_flight_ = false;
  replies_.clear();
}

void Client::Impl::fail_all(const std::string& error) {
  std::deque<Pending> failed = std::move(queue_);
  queue_.clear();
  in_flight_ = false;
  for (Pending& pending : failed) defer(std::move(pending.done), error);
}

void Client::Impl::defer(Done done, PipelineResult result) {
  deferred_.post([done = std::move(done), result = std::move(result)]() mutable {
    if (done) done(std::move(result));
  });
}

void Client::Impl::close(std::function<void()> closed) {
  if (state_ == State::Closed) {
    if (!closed) return;
    if (auto token = closing_.lock()) return token->add(std::move(closed));
    uv::guard("a redis close callback", closed);
    return;
  }
  abandon_transport();
  fail_all("redis: client closed");
  state_ = State::Closed;
  deadline_->close();
  deadline_ = nullptr;
  token_->add(std::move(closed));
  closing_ = token_;
  token_.reset();
  // The failed requests' callbacks still run, on the next turn.
  deferred_.close(/*run_pending=*/true);
}

Client::Client(uv_loop_t* loop, ClientOptions options, LogFn log)
    : impl_(std::make_unique<Impl>(loop, std::move(options), std::move(log))) {}

Client::~Client() = default;

void Client::connect() {
  impl_->connect();
}

void Client::pipeline(std::vector<Command> commands, Done done) {
  impl_->pipeline(std::move(commands), std::move(done));
}

void Client::close(std::function<void()> closed) {
  impl_->close(std::move(closed));
}

}  // namespace quiesce::redis
