#include "quiesce/procfs/file_text.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace quiesce {
namespace {

// Up to max_bytes + 1 bytes of a regular file, so a caller can tell "longer
// than max_bytes" apart. O_NONBLOCK: opening a FIFO for reading would block
// until a writer came; O_NOCTTY: a terminal never becomes quiesce's.
// A head is wanted of files of any length: st_size then rules nothing out.
// A failed close(2) of a descriptor only read from loses nothing: it is not
// reported.
enum class Whole { Required, HeadOnly };

std::optional<std::string> read_regular(const std::string& path, std::size_t max_bytes,
                                        Whole whole) {
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  // /proc files report a size of 0: st_size only rules out what is surely
  // too long; the bytes read are what count.
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      (whole == Whole::Required &&
       static_cast<unsigned long long>(st.st_size) > max_bytes + 1ULL)) {
    close(fd);
    return std::nullopt;
  }
  std::string text;
  char buf[4096];
  while (text.size() <= max_bytes) {
    std::size_t want = std::min(sizeof buf, max_bytes + 1 - text.size());
    ssize_t n = read(fd, buf, want);
    if (n > 0) {
      text.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      close(fd);
      return std::nullopt;
    }
  }
  close(fd);
  return text;
}

}  // namespace

std::optional<std::string> read_file_text(const std::string& path, std::size_t max_bytes) {
  auto text = read_regular(path, max_bytes, Whole::Required);
  if (text && text->size() > max_bytes) return std::nullopt;
  return text;
}

std::optional<std::string> read_file_head(const std::string& path, std::size_t max_bytes) {
  auto text = read_regular(path, max_bytes, Whole::HeadOnly);
  if (text && text->size() > max_bytes) text->resize(max_bytes);
  return text;
}

}  // namespace quiesce
