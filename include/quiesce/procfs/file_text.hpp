#pragma once
// A whole file as text, read with read(2): no iostreams, whose filebuf throws
// when a read fails (a /proc file of a process that exits mid-read fails it
// with ESRCH) and whose locale code would stay resident in an idle quiesce.
#include <optional>
#include <string>

namespace quiesce {

// nullopt when the file cannot be opened or a read fails.
std::optional<std::string> read_file_text(const std::string& path);

}  // namespace quiesce
