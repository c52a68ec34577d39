#include "quiesce/procfs/cgroup.hpp"

#include <charconv>
#include <string>

#include "quiesce/procfs/file_text.hpp"

namespace quiesce {
namespace {

constexpr std::size_t kMaxCgroupFileBytes = 64 * 1024;

std::string_view next_line(std::string_view& text) {
  auto end = text.find('\n');
  std::string_view line = text.substr(0, end);
  text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  return line;
}

std::optional<long long> oom_kills_in(const std::string& path) {
  auto text = read_file_text(path, kMaxCgroupFileBytes);
  if (!text) return std::nullopt;
  return parse_oom_kill(*text);
}

}  // namespace

std::optional<long long> parse_oom_kill(std::string_view text) {
  constexpr std::string_view kKey = "oom_kill ";
  while (!text.empty()) {
    std::string_view line = next_line(text);
    if (line.substr(0, kKey.size()) != kKey) continue;
    std::string_view number = line.substr(kKey.size());
    long long value = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc{} || end != number.data() + number.size() || value < 0) {
      return std::nullopt;
    }
    return value;
  }
  return std::nullopt;
}

OomKillFiles parse_own_cgroup(std::string_view text) {
  OomKillFiles files;
  while (!text.empty()) {
    std::string_view line = next_line(text);
    auto first = line.find(':');
    auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    std::string_view controllers = line.substr(first + 1, second - first - 1);
    std::string_view path = line.substr(second + 1);
    if (line.substr(0, first) == "0" && controllers.empty()) {
      files.v2_path = path;
      continue;
    }
    // v1: "4:memory:/docker/abc", or memory among others ("4:cpu,memory:/x").
    std::string_view rest = controllers;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      if (rest.substr(0, comma) == "memory") files.v1_path = path;
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  return files;
}

std::optional<long long> read_oom_kills() {
  auto own = read_file_text("/proc/self/cgroup", kMaxCgroupFileBytes);
  OomKillFiles files = own ? parse_own_cgroup(*own) : OomKillFiles{};
  // Inside a cgroup namespace (every container runtime's default) the path
  // reads "/" and /sys/fs/cgroup is the container's own cgroup.
  if (files.v2_path) {
    std::string path(*files.v2_path);
    if (path == "/") path.clear();
    if (auto count = oom_kills_in("/sys/fs/cgroup" + path + "/memory.events")) return count;
    if (auto count = oom_kills_in("/sys/fs/cgroup/memory.events")) return count;
  }
  if (files.v1_path) {
    std::string path(*files.v1_path);
    if (path == "/") path.clear();
    if (auto count = oom_kills_in("/sys/fs/cgroup/memory" + path + "/memory.oom_control")) {
      return count;
    }
  }
  return oom_kills_in("/sys/fs/cgroup/memory/memory.oom_control");
}

}  // namespace quiesce
