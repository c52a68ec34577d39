#pragma once
// Sidekiq runs its config file through ERB before reading the YAML; only
// Ruby can do that. Where the image has `ruby`, quiesce asks it, the way
// cli.rb does (pid1/erb_evaluator.hpp runs it).
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace quiesce {

// The first executable `ruby` in the directories of PATH (as given by
// getenv), nullopt when there is none.
std::optional<std::string> find_ruby(const std::function<const char*(const char*)>& getenv);

// The Ruby program that evaluates a file (its first argument) the way
// Sidekiq's cli.rb parse_config does: ERB.new(text, trim_mode: "-").result.
// It writes "ok\n" and the result, or "error\n" and what went wrong.
std::string_view erb_program();

// What the program wrote: the YAML text, or the problem.
struct ErbResult {
  bool ok = false;
  std::string text;  // the YAML when ok, else the problem
};
ErbResult read_erb_output(std::string_view output);

}  // namespace quiesce
