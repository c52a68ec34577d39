#include "socket_file.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace quiesce::control_detail {
namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

std::string folder_name(const std::string& folder) {
  auto slash = folder.find_last_of('/');
  return slash == std::string::npos ? folder : folder.substr(slash + 1);
}

// Folders quiesce names for itself (/run/quiesce, /tmp/quiesce-<uid>) are
// made private. A folder an explicit path names may be shared (/run, /tmp, a
// home): chmod there would break other programs, so it is only checked.
bool named_for_quiesce(const std::string& folder) {
  std::string name = folder_name(folder);
  return name == "quiesce" || name.starts_with("quiesce-");
}

std::string tighten(const std::string& folder, const struct stat& st) {
  if (st.st_uid != geteuid()) {
    return fmt::format("{} is owned by uid {}, not by quiesce's uid {}", folder, st.st_uid,
                       geteuid());
  }
  if ((st.st_mode & 077) == 0) return "";
  if (chmod(folder.c_str(), 0700) != 0) {
    return fmt::format("cannot make {} private (chmod 0700): {}", folder, errno_text(errno));
  }
  return "";
}

// Another user who can write to the folder could swap the socket for one of
// their own, unless the sticky bit keeps them to their own files.
std::string check_shared(const std::string& folder, const struct stat& st) {
  if (st.st_uid != geteuid() && st.st_uid != 0) {
    return fmt::format("{} is owned by uid {}, neither root nor quiesce's uid {}", folder,
                       st.st_uid, geteuid());
  }
  if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0) {
    return fmt::format("{} is writable by other users and not sticky", folder);
  }
  return "";
}

// A socket with a listener behind it belongs to a live process (another
// quiesce): taking its path would cut that one off from its clients.
bool someone_listens(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int rc = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  // EAGAIN: the listener's backlog is full, so it is very much alive.
  bool live = rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
  ::close(fd);
  return live;
}

}  // namespace

std::string socket_folder(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool fits_socket_address(const std::string& path) {
  return !path.empty() && path.size() < sizeof(sockaddr_un{}.sun_path);
}

std::string prepare_socket_folder(const std::string& folder) {
  if (mkdir(folder.c_str(), 0700) == 0) {
    // The umask may have taken bits from 0700; a folder we just made is ours.
    if (chmod(folder.c_str(), 0700) != 0) {
      return fmt::format("cannot set {} to 0700: {}", folder, errno_text(errno));
    }
    return "";
  }
  if (errno != EEXIST) return fmt::format("cannot create {}: {}", folder, errno_text(errno));
  struct stat st {};
  if (lstat(folder.c_str(), &st) != 0) {
    return fmt::format("cannot inspect {}: {}", folder, errno_text(errno));
  }
  if (S_ISLNK(st.st_mode)) return fmt::format("{} is a symbolic link", folder);
  if (!S_ISDIR(st.st_mode)) return fmt::format("{} is not a folder", folder);
  return named_for_quiesce(folder) ? tighten(folder, st) : check_shared(folder, st);
}

std::string clear_stale_socket(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return "";
    return fmt::format("cannot inspect {}: {}", path, errno_text(errno));
  }
  if (!S_ISSOCK(st.st_mode)) return fmt::format("{} exists and is not a socket", path);
  if (someone_listens(path)) return fmt::format("{} is in use by a running process", path);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return fmt::format("cannot remove the stale socket {}: {}", path, errno_text(errno));
  }
  return "";
}

}  // namespace quiesce::control_detail
