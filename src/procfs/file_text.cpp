#include "quiesce/procfs/file_text.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace quiesce {

std::optional<std::string> read_file_text(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      text.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      close(fd);
      if (n < 0) return std::nullopt;
      return text;
    }
  }
}

}  // namespace quiesce
