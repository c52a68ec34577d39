// quiesce: a PID 1 for Sidekiq containers. See README.md.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "quiesce/config/config.hpp"
#include "quiesce/control/commands.hpp"
#include "quiesce/log/sink.hpp"
#include "quiesce/pid1/supervisor.hpp"

namespace {

// Bad input, or quiesce cannot start: either way nothing was spawned.
constexpr int kBadInput = 2;

// Started with stdin, stdout or stderr closed (`2>&-`), the next descriptor
// opened would take its number: log lines would go into libuv's epoll
// descriptor, which libuv then refuses to close (it aborts). /dev/null holds
// the place (the root directory where there is no /dev, as in an empty
// image); the child inherits it, as it would have inherited the closed one.
void hold_standard_descriptors() {
  for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; ++fd) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    int null = open("/dev/null", O_RDWR);
    if (null < 0) null = open("/", O_RDONLY | O_DIRECTORY);
    // Nothing can be logged yet, and nothing is lost: without the
    // placeholder, quiesce runs as it would have.
    if (null >= 0 && null != fd) {
      if (dup2(null, fd) < 0) std::fprintf(stderr, "quiesce: cannot hold descriptor %d\n", fd);
      if (close(null) != 0) std::fprintf(stderr, "quiesce: cannot close descriptor %d\n", null);
    }
  }
}

std::vector<std::string> arguments(int argc, char** argv) {
  return std::vector<std::string>(argv + 1, argv + argc);
}

}  // namespace

int main(int argc, char** argv) {
  hold_standard_descriptors();
  auto getenv = [](const char* name) { return static_cast<const char*>(std::getenv(name)); };
  // `quiesce status` and the like talk to a running quiesce; a command
  // literally named so runs as `quiesce -- status`.
  if (quiesce::is_control_command(arguments(argc, argv))) {
    return quiesce::run_control_command(arguments(argc, argv), getenv, isatty(STDOUT_FILENO) == 1);
  }
  auto loaded = quiesce::load_config(arguments(argc, argv), getenv);
  if (auto* error = std::get_if<quiesce::ConfigError>(&loaded)) {
    std::fprintf(stderr, "%s\n", error->message.c_str());
    return kBadInput;
  }
  auto& [mode, config] = std::get<quiesce::Loaded>(loaded);
  switch (mode) {
    case quiesce::Mode::Help:
      std::fputs(quiesce::usage_text().c_str(), stdout);
      return 0;
    case quiesce::Mode::Version:
      std::printf("quiesce %s\n", QUIESCE_VERSION);
      return 0;
    case quiesce::Mode::CheckConfig:
      std::fputs(quiesce::describe_config(config).c_str(), stdout);
      return 0;
    case quiesce::Mode::Run:
      break;
  }
  quiesce::LogSink sink(config.log_format, config.verbosity);
  for (const auto& warning : config.warnings) {
    sink.write(quiesce::make_log(quiesce::Level::Warn, "config_warning", warning));
  }
  // Only setup throws (the event loop cannot start): nothing runs yet, so
  // exiting is right. Once the child runs, run() reports what throws and
  // carries on until the child has exited.
  try {
    quiesce::Supervisor supervisor(std::move(config), sink);
    return supervisor.run();
  } catch (const std::exception& e) {
    sink.write(quiesce::make_log(quiesce::Level::Error, "startup_failed", e.what()));
  } catch (...) {
    sink.write(quiesce::make_log(quiesce::Level::Error, "startup_failed",
                                 "an exception that is not a std::exception"));
  }
  return kBadInput;
}
