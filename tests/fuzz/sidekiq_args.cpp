// The command quiesce runs, as it reads Sidekiq's options from it: one
// argument per NUL-separated piece of the input.
#include <string>
#include <vector>

#include "fuzz_target.hpp"
#include "quiesce/sidekiq/args.hpp"
#include "quiesce/sidekiq/config_file.hpp"

QUIESCE_FUZZ_TARGET(sidekiq_args) {
  std::string_view text = quiesce::fuzz::text_of(data, size);
  std::vector<std::string> argv;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\0', start);
    if (end == std::string_view::npos) end = text.size();
    argv.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  quiesce::command_runs_sidekiq(argv);
  if (auto t = quiesce::sidekiq_timeout_from_argv(argv)) {
    quiesce::fuzz::require(*t > 0 && *t <= quiesce::kMaxSidekiqTimeoutSeconds, "a -t within range");
  }
  if (auto options = quiesce::sidekiq_file_options(argv)) {
    auto yes = [](const std::string& p) { return p.size() % 2 == 0; };
    auto no = [](const std::string&) { return false; };
    quiesce::sidekiq_config_path(*options, yes, yes);
    quiesce::sidekiq_config_path(*options, no, no);
    auto env = [](const char* name) -> const char* {
      return std::string_view(name) == "RAILS_ENV" ? "production" : nullptr;
    };
    quiesce::sidekiq_environment(*options, env);
  }
  return 0;
}
