#pragma once
// A whole file as text, read with read(2): no iostreams, whose filebuf throws
// when a read fails (a /proc file of a process that exits mid-read fails it
// with ESRCH) and whose locale code would stay resident in an idle quiesce.
// Only regular files are read: a FIFO would block PID 1, /dev/zero would
// never end.
#include <cstddef>
#include <optional>
#include <string>

namespace quiesce {

// The text of a regular file of at most max_bytes; nullopt when it cannot be
// opened, is not a regular file (a FIFO, a device, a directory), is longer,
// or a read fails. /proc files report a size of 0, so the bytes read are
// counted, st_size is not trusted.
std::optional<std::string> read_file_text(const std::string& path, std::size_t max_bytes);

// The first max_bytes bytes of a regular file, for /proc files whose length
// nothing in quiesce bounds (another process's cmdline).
std::optional<std::string> read_file_head(const std::string& path, std::size_t max_bytes);

}  // namespace quiesce
