// quiesce's TOML config file, through load_config as quiesce reads it.
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <variant>

#include "fuzz_target.hpp"
#include "quiesce/config/config.hpp"

QUIESCE_FUZZ_TARGET(toml_config) {
  static const std::string path = "/tmp/quiesce-fuzz-" + std::to_string(getpid()) + ".toml";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  // A file not written whole tests nothing: the input is skipped.
  if (close(fd) != 0 || done < size) {
    unlink(path.c_str());
    return 0;
  }
  auto no_env = [](const char*) -> const char* { return nullptr; };
  auto loaded = quiesce::load_config({"--config", path, "--", "true"}, no_env);
  if (auto* ok = std::get_if<quiesce::Loaded>(&loaded)) quiesce::describe_config(ok->config);
  quiesce::fuzz::require(unlink(path.c_str()) == 0, "the input's file can be removed");
  return 0;
}
