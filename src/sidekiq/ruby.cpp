#include "quiesce/sidekiq/ruby.hpp"

#include <unistd.h>

namespace quiesce {

std::optional<std::string> find_ruby(const std::function<const char*(const char*)>& getenv) {
  const char* path = getenv("PATH");
  std::string_view dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    auto colon = dirs.find(':');
    std::string_view dir = dirs.substr(0, colon);
    std::string candidate(dir.empty() ? std::string_view(".") : dir);  // "" is the cwd
    candidate.append("/ruby");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) return std::nullopt;
    dirs.remove_prefix(colon + 1);
  }
}

std::string_view erb_program() {
  // trim_mode "-" is 7.0's and 8.x's; 6.x has none, which only differs for
  // "-%>", an error there. Output goes to stdout only, in one write.
  return R"RUBY(begin
  require "erb"
  out = "ok\n" + ERB.new(File.read(ARGV[0]), trim_mode: "-").result
rescue Exception => e
  out = "error\n" + "#{e.class}: #{e.message}"[0, 300]
end
$stdout.write(out)
)RUBY";
}

ErbResult read_erb_output(std::string_view output) {
  ErbResult r;
  if (output.starts_with("ok\n")) {
    r.ok = true;
    r.text = std::string(output.substr(3));
  } else if (output.starts_with("error\n")) {
    r.text = std::string(output.substr(6));
    if (auto nl = r.text.find('\n'); nl != std::string::npos) r.text.resize(nl);
  } else {
    r.text = "ruby wrote nothing we could read";
  }
  return r;
}

}  // namespace quiesce
