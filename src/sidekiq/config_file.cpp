#include "quiesce/sidekiq/config_file.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "quiesce/procfs/file_text.hpp"
#include "quiesce/sidekiq/yaml_document.hpp"

namespace quiesce {
namespace {

// A value Sidekiq adds to a time, as quiesce counts it.
TimeoutInFile take(const YamlDocument& doc, YamlDocument::NodeId value, std::string key) {
  TimeoutInFile t;
  t.key = std::move(key);
  const auto& node = doc.node(value);
  if (node.kind == YamlDocument::Kind::Scalar) {
    t.written = node.plain ? node.text : "'" + node.text + "' (quoted: a string)";
  }
  if (node.kind == YamlDocument::Kind::Scalar && node.text.find("<%") != std::string::npos) {
    t.unreadable = true;
    t.problem = "ERB";
    return t;
  }
  RubyScalar scalar = doc.scalar(value);
  if (scalar.kind == RubyKind::Integer || scalar.kind == RubyKind::Float) {
    t.seconds = std::clamp(scalar.number, 0.0, static_cast<double>(kMaxSidekiqTimeoutSeconds));
  } else {
    t.not_a_number = true;
    if (node.kind != YamlDocument::Kind::Scalar) t.written = "a YAML collection";
    if (scalar.kind == RubyKind::Nil) t.written = "nil";
  }
  return t;
}

}  // namespace

TimeoutInFile timeout_in_sidekiq_yml(std::string_view text, std::string_view environment) {
  TimeoutInFile none;
  none.has_erb = text.find("<%") != std::string_view::npos;
  auto parsed = YamlDocument::parse(text);
  if (auto* problem = std::get_if<std::string>(&parsed)) {
    none.unreadable = true;
    none.problem = none.has_erb ? "ERB" : *problem;
    return none;
  }
  const auto& doc = std::get<YamlDocument>(parsed);
  TimeoutInFile found;
  try {
    // cli.rb: opts.merge(opts.delete(environment.to_sym) || {}): the
    // section's keys replace the top level's, the rest of the top stays.
    auto section = doc.value_of(doc.root(), environment);
    std::optional<YamlDocument::NodeId> value;
    if (section && doc.node(*section).kind == YamlDocument::Kind::Mapping) {
      value = doc.value_of(*section, "timeout");
      if (value) found = take(doc, *value, std::string(environment) + ": :timeout");
    }
    if (!value) {
      value = doc.value_of(doc.root(), "timeout");
      if (!value) return none;
      found = take(doc, *value, ":timeout");
    }
  } catch (const YamlDocument::TooComplex&) {
    none.unreadable = true;
    none.problem = "merge keys too deep or too many to follow";
    return none;
  }
  found.has_erb = none.has_erb;
  return found;
}

std::string not_a_number_warning(const std::string& path, const TimeoutInFile& t) {
  return "stop.sidekiq_timeout: " + path + ": " + t.key + " is " + t.written +
         ", not a number: Sidekiq keeps it as it is and its TERM path then raises, so it exits "
         "WITHOUT REQUEUEING the jobs still running; they will be lost. Write it as a number. "
         "Until then quiesce counts sidekiq_timeout as 0s: TERM as late as the stop budget "
         "allows, so jobs get the longest time to finish";
}

std::optional<std::int64_t> timeout_millis(const TimeoutInFile& t) {
  if (t.seconds) return static_cast<std::int64_t>(*t.seconds * 1000);
  if (t.not_a_number) return 0;
  return std::nullopt;
}

std::optional<std::string> sidekiq_config_path(
    const SidekiqFileOptions& options, const std::function<bool(const std::string&)>& is_file,
    const std::function<bool(const std::string&)>& is_dir) {
  if (options.config_file) return *options.config_file;
  std::string dir = options.require && is_dir(*options.require) ? *options.require : ".";
  for (const char* name : {"sidekiq.yml", "sidekiq.yml.erb"}) {
    std::string path = dir + "/config/" + name;
    if (is_file(path)) return path;
  }
  return std::nullopt;
}

std::string sidekiq_environment(const SidekiqFileOptions& options,
                                const std::function<const char*(const char*)>& getenv) {
  if (options.environment) return *options.environment;
  for (const char* name : {"APP_ENV", "RAILS_ENV", "RACK_ENV"}) {
    // Ruby's `||` takes an empty string as set, so does this.
    if (const char* value = getenv(name)) return value;
  }
  return "development";
}

std::optional<SidekiqFileTimeout> sidekiq_file_timeout(
    const std::vector<std::string>& command, const std::function<const char*(const char*)>& getenv,
    const std::string& working_dir, bool any_command) {
  auto options = sidekiq_file_options(command);
  if (!options && !any_command) return std::nullopt;
  if (!options) options = SidekiqFileOptions{};
  // Sidekiq resolves relative paths from its own working directory.
  auto in_dir = [&](const std::string& p) {
    return working_dir.empty() || (!p.empty() && p.front() == '/') ? p : working_dir + "/" + p;
  };
  auto is_file = [&](const std::string& p) {
    std::error_code ec;
    return std::filesystem::is_regular_file(in_dir(p), ec);
  };
  auto is_dir = [&](const std::string& p) {
    std::error_code ec;
    return std::filesystem::is_directory(in_dir(p), ec);
  };
  auto path = sidekiq_config_path(*options, is_file, is_dir);
  if (!path) return std::nullopt;
  // Real ones are a few KB. Not a regular file (-C /dev/zero, a FIFO) or
  // longer: not read, as if missing.
  constexpr std::size_t kMaxSidekiqYml = 1 << 20;
  auto text = read_file_text(in_dir(*path), kMaxSidekiqYml);
  if (!text) return std::nullopt;  // Sidekiq itself will say the file is missing
  auto environment = sidekiq_environment(*options, getenv);
  return SidekiqFileTimeout{*path, in_dir(*path), environment,
                            timeout_in_sidekiq_yml(*text, environment)};
}

}  // namespace quiesce
