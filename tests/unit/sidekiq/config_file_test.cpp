// Reading Sidekiq's :timeout: from its config file, as cli.rb would find and
// merge it.
#include "quiesce/sidekiq/config_file.hpp"

#include <doctest/doctest.h>

#include <map>
#include <set>

#include "quiesce/sidekiq/yaml_document.hpp"

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
  CHECK(timeout_of("---\n:concurrency: 5\n:timeout: 30   # seconds\n:queues:\n  - default\n") ==
        30.0);
  CHECK(timeout_of("'timeout': 12.5\r\n") == 12.5);
  // Quoted, ":timeout" is a string key: symbolized, :":timeout", not :timeout.
  CHECK(timeout_of("\":timeout\": 12.5\r\n") == std::nullopt);
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
  CHECK(timeout_of(":timeout: 1.0e+300\n") == 315'360'000.0);
  CHECK(timeout_of(":timeout: 1.0e+999\n") == 315'360'000.0);  // strtod: infinity
  CHECK(timeout_of(":timeout: .inf\n") == 315'360'000.0);
  CHECK(timeout_of(":timeout: 315360001\n") == 315'360'000.0);
  CHECK(timeout_of("production:\n  :timeout: 99999999999999999999999\n") == 315'360'000.0);
  CHECK(timeout_of(":timeout: 315360000\n") == 315'360'000.0);
  CHECK(timeout_of(":timeout: 2147484\n") == 2'147'484.0);
}

TEST_CASE("sidekiq.yml: anchors, aliases and merge keys, as Psych loads them") {
  const char* yml =
      "default: &default\n"
      "  :concurrency: 5\n"
      "  :timeout: 40\n"
      "production: &p\n"
      "  <<: *default\n"
      "  :concurrency: 10\n"
      "staging:\n"
      "  <<: *p\n"
      "  :timeout: 12\n"
      "development:\n"
      "  :timeout: 3\n"
      "  <<: *default\n"  // a merge after a key replaces it (Hash#merge!)
      "seven: &seven\n"
      "  :timeout: 7\n"
      "test:\n"
      "  <<: [*seven, *default]\n";  // the first of a list wins
  CHECK(timeout_of(yml, "production") == 40.0);
  CHECK(timeout_of(yml, "staging") == 12.0);
  CHECK(timeout_of(yml, "development") == 40.0);
  CHECK(timeout_of(yml, "test") == 7.0);
  // An alias as the value itself.
  CHECK(timeout_of("t: &t 55\n:timeout: *t\n", "x") == 55.0);
  auto t = timeout_in_sidekiq_yml(yml, "production");
  CHECK(t.key == "production: :timeout");
  CHECK_FALSE(t.has_erb);
}

TEST_CASE("sidekiq.yml: keys symbolized as Sidekiq does, the string key winning") {
  // deep_symbolize_keys! turns "timeout" into :timeout after :timeout itself.
  CHECK(timeout_of(":timeout: 10\ntimeout: 20\n") == 20.0);
  CHECK(timeout_of("timeout: 20\n:timeout: 10\n") == 20.0);
  CHECK(timeout_of(":timeout: 10\n:timeout: 30\n") == 30.0);  // the later duplicate
  CHECK(timeout_of(":\"timeout\": 14\n") == 14.0);            // :"timeout" is :timeout
  // The section may be named as a symbol too.
  CHECK(timeout_of(":timeout: 5\n:production:\n  timeout: 9\n") == 9.0);
  // The section replaces the top level's key only when it has one.
  CHECK(timeout_of(":timeout: 5\nproduction:\n  :concurrency: 2\n") == 5.0);
  // A section that is not a mapping: the top level counts.
  CHECK(timeout_of(":timeout: 5\nproduction: 3\n") == 5.0);
}

TEST_CASE("sidekiq.yml: numbers as Psych reads them") {
  CHECK(timeout_of(":timeout: 0x1e\n") == 30.0);
  CHECK(timeout_of(":timeout: 017\n") == 15.0);
  CHECK(timeout_of(":timeout: 1_000\n") == 1000.0);
  CHECK(timeout_of(":timeout: 1:30\n") == 5400.0);  // Psych counts from hours
  CHECK(timeout_of(":timeout: 2.5\n") == 2.5);
  CHECK(timeout_of(":timeout: !!int 30\n") == 30.0);
  CHECK(timeout_of(":timeout: -4\n") == 0.0);  // Sidekiq's deadline has passed at once
  CHECK(ruby_plain_scalar("1e300").kind == RubyKind::String);  // no dot: a string to Psych
  CHECK(ruby_plain_scalar("~").kind == RubyKind::Nil);
  CHECK(ruby_plain_scalar("on").kind == RubyKind::Boolean);
  CHECK(ruby_plain_scalar(":timeout").kind == RubyKind::Symbol);
  CHECK(ruby_plain_scalar(":timeout").text == "timeout");
  CHECK(ruby_plain_scalar("09").kind == RubyKind::String);
}

TEST_CASE("sidekiq.yml: a timeout that is not a number is said to be so, never read as one") {
  for (const char* yml : {":timeout: '30'\n", ":timeout: \"30\"\n", ":timeout: !!str 30\n",
                          ":timeout:\n", ":timeout: ~\n", ":timeout: :thirty\n", ":timeout: [30]\n",
                          "production:\n  :timeout: '30'\n"}) {
    CAPTURE(yml);
    auto t = timeout_in_sidekiq_yml(yml, "production");
    CHECK_FALSE(t.seconds);
    CHECK(t.not_a_number);
    CHECK_FALSE(t.unreadable);
    CHECK(timeout_millis(t) == 0);
  }
  auto t = timeout_in_sidekiq_yml(":timeout: '30'\n", "production");
  CHECK(t.written == "'30' (quoted: a string)");
  auto warning = not_a_number_warning("config/sidekiq.yml", t);
  CHECK(warning.find("config/sidekiq.yml") != std::string::npos);
  CHECK(warning.find(":timeout") != std::string::npos);
  CHECK(warning.find("WITHOUT REQUEUEING") != std::string::npos);
}

TEST_CASE("sidekiq.yml: hostile YAML costs its size, never its expansion") {
  // A billion laughs through aliases: shared, not copied.
  std::string lol =
      "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c, ++prev) {
    lol += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 9; ++i) lol += std::string(i ? "," : "") + "*" + prev;
    lol += "]\n";
  }
  auto plain = timeout_in_sidekiq_yml(lol + ":timeout: 8\n", "production");
  CHECK(plain.seconds == 8.0);
  // The same through merge keys: a lookup would walk 9^9 mappings.
  std::string merges = "a: &a {x: 1}\n";
  prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c, ++prev) {
    merges += std::string(1, c) + ": &" + c + " {<<: [";
    for (int i = 0; i < 9; ++i) merges += std::string(i ? "," : "") + "*" + prev;
    merges += "]}\n";
  }
  merges += "production:\n  <<: *j\n";
  auto tangled = timeout_in_sidekiq_yml(merges, "production");
  CHECK(tangled.unreadable);
  CHECK_FALSE(tangled.seconds);
  // A merge of itself, and nesting beyond the cap.
  // A mapping merging itself merges what Psych has built of it so far.
  auto itself = timeout_in_sidekiq_yml("production: &p\n  <<: *p\n  :timeout: 4\n", "production");
  CHECK_FALSE(itself.unreadable);
  CHECK(itself.seconds == 4.0);
  CHECK(timeout_in_sidekiq_yml(std::string(5000, '[') + std::string(5000, ']'), "x").unreadable);
  CHECK(timeout_in_sidekiq_yml("\x01\xff: [", "x").unreadable);
}

TEST_CASE("sidekiq.yml: ERB anywhere in the file is noticed, for Ruby to evaluate") {
  auto t = timeout_in_sidekiq_yml(":concurrency: <%= ENV['C'] %>\n:timeout: 30\n", "production");
  CHECK(t.seconds == 30.0);
  CHECK(t.has_erb);
  auto broken = timeout_in_sidekiq_yml("<% if true %>\n:timeout: 30\n<% end %>\n", "production");
  CHECK(broken.has_erb);
}
