// Reading Sidekiq's :timeout: from its config file, as cli.rb would find and
// merge it.
#include "quiesce/sidekiq/config_file.hpp"

#include <doctest/doctest.h>

#include <map>
#include <set>

using namespace quiesce;

namespace {

std::optional<double> timeout_of(std::string_view yml, std::string_view env = "production") {
  auto t = timeout_in_sidekiq_yml(yml, env);
  CHECK_FALSE(t.unreadable);
  return t.seconds;
}

}  // namespace

TEST_CASE("sidekiq.yml: the top-level timeout, in the spellings people use") {
  CHECK(timeout_of(":timeout: 60\n") == 60.0);
  CHECK(timeout_of("timeout: 8\n") == 8.0);
  CHECK(timeout_of("---\n:concurrency: 5\n:timeout: '30'   # seconds\n:queues:\n  - default\n") ==
        30.0);
  CHECK(timeout_of("\":timeout\": 12.5\r\n") == 12.5);
  CHECK(timeout_of(":concurrency: 5\n:queues:\n  - default\n") == std::nullopt);
  CHECK(timeout_of("# :timeout: 99\n:concurrency: 5\n") == std::nullopt);
}

TEST_CASE("sidekiq.yml: the environment's section wins over the top level") {
  const char* yml =
      ":timeout: 25\n"
      "staging:\n"
      "  :timeout: 40\n"
      "production:\n"
      "  :concurrency: 10\n"
      "  :timeout: 90\n"
      "  :nested:\n"
      "    :timeout: 5\n";
  CHECK(timeout_of(yml, "production") == 90.0);
  CHECK(timeout_of(yml, "staging") == 40.0);
  CHECK(timeout_of(yml, "development") == 25.0);
}

TEST_CASE("sidekiq.yml: a timeout quiesce cannot read is said to be so, not guessed") {
  auto erb = timeout_in_sidekiq_yml(":timeout: <%= ENV.fetch('SIDEKIQ_TIMEOUT', 25) %>\n", "x");
  CHECK(erb.unreadable);
  CHECK_FALSE(erb.seconds);
  // The environment's section decides even when the top level is plain.
  auto section =
      timeout_in_sidekiq_yml(":timeout: 25\nproduction:\n  :timeout: *long\n", "production");
  CHECK(section.unreadable);
}

TEST_CASE("sidekiq.yml: found where cli.rb looks") {
  std::set<std::string> files;
  std::set<std::string> dirs;
  auto is_file = [&](const std::string& p) { return files.count(p) > 0; };
  auto is_dir = [&](const std::string& p) { return dirs.count(p) > 0; };

  SidekiqFileOptions options;
  CHECK(sidekiq_config_path(options, is_file, is_dir) == std::nullopt);
  files = {"./config/sidekiq.yml.erb"};
  CHECK(sidekiq_config_path(options, is_file, is_dir) == "./config/sidekiq.yml.erb");
  files.insert("./config/sidekiq.yml");
  CHECK(sidekiq_config_path(options, is_file, is_dir) == "./config/sidekiq.yml");

  // -r names the application's directory, or a file (then "." is the root).
  options.require = "/app";
  CHECK(sidekiq_config_path(options, is_file, is_dir) == "./config/sidekiq.yml");
  dirs = {"/app"};
  files.insert("/app/config/sidekiq.yml");
  CHECK(sidekiq_config_path(options, is_file, is_dir) == "/app/config/sidekiq.yml");

  // -C names the file outright, whether or not it exists (Sidekiq says so).
  options.config_file = "/etc/sidekiq.yml";
  CHECK(sidekiq_config_path(options, is_file, is_dir) == "/etc/sidekiq.yml");
}

TEST_CASE("sidekiq.yml: the environment comes from -e, else APP_ENV, RAILS_ENV, RACK_ENV") {
  std::map<std::string, std::string> vars;
  auto getenv = [&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
  SidekiqFileOptions options;
  CHECK(sidekiq_environment(options, getenv) == "development");
  vars["RACK_ENV"] = "rack";
  CHECK(sidekiq_environment(options, getenv) == "rack");
  vars["RAILS_ENV"] = "rails";
  CHECK(sidekiq_environment(options, getenv) == "rails");
  vars["APP_ENV"] = "app";
  CHECK(sidekiq_environment(options, getenv) == "app");
  options.environment = "flag";
  CHECK(sidekiq_environment(options, getenv) == "flag");
}

TEST_CASE("sidekiq.yml: -C, -r and -e are read from the command, through sh -c too") {
  auto options = sidekiq_file_options(
      {"sh", "-c", "bundle exec sidekiq -e production -C config/workers.yml -r ./app; echo"});
  REQUIRE(options);
  CHECK(options->config_file == "config/workers.yml");
  CHECK(options->require == "./app");
  CHECK(options->environment == "production");
  CHECK_FALSE(sidekiq_file_options({"puma", "-C", "config/puma.rb"}));
}

TEST_CASE("sidekiq.yml: a timeout beyond ten years reads as ten years, never as a wild number") {
  CHECK(timeout_of(":timeout: 1e300\n") == 315'360'000.0);
  CHECK(timeout_of(":timeout: 1e999\n") == 315'360'000.0);  // strtod: infinity
  CHECK(timeout_of(":timeout: 315360001\n") == 315'360'000.0);
  CHECK(timeout_of("production:\n  :timeout: 99999999999999999999999\n") == 315'360'000.0);
  CHECK(timeout_of(":timeout: 315360000\n") == 315'360'000.0);
  CHECK(timeout_of(":timeout: 2147484\n") == 2'147'484.0);
}
