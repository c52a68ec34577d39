// Layering, parsing and error wording of quiesce's settings. Each case builds
// its own environment, so nothing depends on the machine's.
#include "quiesce/config/config.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "quiesce/config/duration.hpp"
#include "quiesce/core/signal_names.hpp"

using namespace quiesce;

namespace {

struct Env {
  std::map<std::string, std::string> vars;
  GetEnv fn() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& text) {
    char tmpl[] = "/tmp/quiesce-config-XXXXXX";
    int fd = mkstemp(tmpl);
    REQUIRE(fd >= 0);
    close(fd);
    path = tmpl;
    std::ofstream(path) << text;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

Config load_ok(std::vector<std::string> args, const Env& env = {}) {
  auto r = load_config(args, env.fn());
  if (auto* e = std::get_if<ConfigError>(&r)) FAIL(e->message);
  return std::get<Loaded>(r).config;
}

std::string load_error(std::vector<std::string> args, const Env& env = {}) {
  auto r = load_config(args, env.fn());
  REQUIRE(std::holds_alternative<ConfigError>(r));
  return std::get<ConfigError>(r).message;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("durations") {
  CHECK(parse_duration("30") == Duration{30'000});
  CHECK(parse_duration("30s") == Duration{30'000});
  CHECK(parse_duration("1m30s") == Duration{90'000});
  CHECK(parse_duration("500ms") == Duration{500});
  CHECK(parse_duration("2h") == Duration{7'200'000});
  CHECK(parse_duration("0") == Duration{0});
  for (const char* bad : {"", "s", "-1", "1.5s", "3x", "1m30", "30 s", "99999999999h", "ms5"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad));
  }
  CHECK(format_duration(Duration{90'000}) == "1m30s");
  CHECK(format_duration(Duration{500}) == "500ms");
  CHECK(format_duration(Duration{0}) == "0s");
  CHECK(parse_duration(format_duration(Duration{3'723'000})) == Duration{3'723'000});
}

TEST_CASE("signal names") {
  CHECK(parse_signal("TERM") == SIGTERM);
  CHECK(parse_signal("sigterm") == SIGTERM);
  CHECK(parse_signal("15") == SIGTERM);
  CHECK(parse_signal("RTMIN+2") == SIGRTMIN + 2);
  CHECK(parse_signal("RTMAX") == SIGRTMAX);
  CHECK_FALSE(parse_signal("NOPE"));
  CHECK_FALSE(parse_signal("0"));
  CHECK_FALSE(parse_signal("999"));
  CHECK(signal_name(SIGTSTP) == "TSTP");
  CHECK(signal_name(SIGRTMIN + 3) == "RTMIN+3");
}

TEST_CASE("forwarded signals: TSTP, TTIN, TTOU, PIPE in; faults, KILL, STOP, CHLD out") {
  const auto& f = forwarded_signals();
  auto has = [&](int s) { return std::find(f.begin(), f.end(), s) != f.end(); };
  for (int s : {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU,
                SIGCONT, SIGWINCH, SIGPIPE, SIGRTMIN, SIGRTMAX}) {
    CAPTURE(s);
    CHECK(has(s));
  }
  for (int s :
       {SIGKILL, SIGSTOP, SIGCHLD, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS}) {
    CAPTURE(s);
    CHECK_FALSE(has(s));
  }
}

TEST_CASE("defaults") {
  auto c = load_ok({"--", "true"});
  CHECK(c.command == std::vector<std::string>{"true"});
  CHECK(c.stop_timeout == Duration{30'000});
  CHECK(c.sidekiq_timeout == Duration{25'000});
  CHECK(c.shutdown_margin == Duration{5'000});
  CHECK(c.exit_grace == Duration{30'000});
  CHECK(c.verbosity == 1);
  CHECK(c.redis_url == "redis://localhost:6379/0");
  // `true` names no Sidekiq and nothing else points at one (no Redis
  // named): quiesce as a plain init says nothing.
  CHECK(c.warnings.empty());
  CHECK(load_ok({"--drain", "never", "--", "true"}).warnings.empty());
  CHECK(load_ok({"--sidekiq-timeout", "8", "--", "true"}).warnings.empty());
}

TEST_CASE("a command without the word sidekiq: T is assumed, and the startup says how to set it") {
  // Nothing points at Sidekiq: nothing to say.
  CHECK(load_ok({"--", "bin/worker"}).warnings.empty());
  // A Redis named (REDIS_URL, as the app's own) or --drain always: a Sidekiq
  // found by its title would be drained with a T nothing said.
  auto always = load_ok({"--drain", "always", "--", "bin/worker"}).warnings;
  CHECK(std::count_if(always.begin(), always.end(),
                      [](const std::string& w) { return contains(w, "names no sidekiq"); }) == 1);
  Env with_redis{{{"REDIS_URL", "redis://cache:6379/0"}}};
  auto c = load_ok({"--", "bin/worker"}, with_redis);
  REQUIRE(c.warnings.size() == 1);
  CHECK(contains(c.warnings[0], "assumes 25s"));
  CHECK(contains(c.warnings[0], "--sidekiq-timeout"));
  CHECK(contains(c.warnings[0], "QUIESCE_SIDEKIQ_TIMEOUT"));
  CHECK(contains(c.warnings[0], "[stop] sidekiq_timeout"));
  CHECK(c.sidekiq_timeout_learnable);
  Env env{{{"QUIESCE_SIDEKIQ_TIMEOUT", "40"}, {"REDIS_URL", "redis://cache:6379/0"}}};
  c = load_ok({"--", "bin/worker"}, env);
  CHECK(c.warnings.empty());
  CHECK_FALSE(c.sidekiq_timeout_learnable);
  // Sidekiq's own default, rightly assumed.
  CHECK(load_ok({"--stop-timeout", "60", "--", "sidekiq"}).warnings.empty());
}

TEST_CASE("tini's flags, and the command stops option parsing as in tini") {
  auto c = load_ok({"-s", "-g", "-e", "143", "-e", "130", "-p", "SIGKILL", "-vv", "-w", "sidekiq",
                    "-t", "5", "-v"});
  CHECK(c.subreaper);
  CHECK(c.process_group);
  CHECK(c.remap_exit == std::set<int>{130, 143});
  CHECK(c.parent_death_signal == SIGKILL);
  CHECK(c.verbosity == 3);
  CHECK(c.warn_on_reap);
  CHECK(c.command == std::vector<std::string>{"sidekiq", "-t", "5", "-v"});
  CHECK(c.sidekiq_timeout == Duration{5'000});
  CHECK(c.origins[Key::SidekiqTimeout].layer == Origin::Layer::Command);
}

TEST_CASE("Sidekiq's timeout: the command's -t, else :timeout: in its config file") {
  TempFile yml(":timeout: 25\nproduction:\n  :timeout: 60\n");
  Env env{{{"RAILS_ENV", "production"}}};
  // A budget with room for either timeout, so no other warning is due.
  auto c =
      load_ok({"--stop-timeout", "120", "--", "bundle", "exec", "sidekiq", "-C", yml.path}, env);
  CHECK(c.sidekiq_timeout == Duration{60'000});
  CHECK(c.origins[Key::SidekiqTimeout].detail == "production: :timeout in " + yml.path);
  CHECK(c.warnings.empty());
  CHECK(c.sidekiq_timeout_learnable);

  c = load_ok({"--", "sidekiq", "-C", yml.path, "-t", "9"}, env);
  CHECK(c.sidekiq_timeout == Duration{9'000});
  CHECK_FALSE(c.sidekiq_timeout_learnable);  // Sidekiq's -t wins over any file
  c = load_ok({"--sidekiq-timeout", "70", "--", "sidekiq", "-C", yml.path}, env);
  CHECK(c.sidekiq_timeout == Duration{70'000});
}

TEST_CASE("Sidekiq's timeout set by ERB: a startup warning names the file and the way out") {
  TempFile yml(":timeout: <%= ENV['SIDEKIQ_TIMEOUT'] %>\n");
  // With ruby on PATH, Ruby answers later (pid1/erb_evaluator): no warning yet.
  auto c = load_ok({"--stop-timeout", "120", "--", "sidekiq", "-C", yml.path});
  CHECK(c.sidekiq_timeout == Duration{25'000});
  CHECK(c.sidekiq_yml_erb == yml.path);
  CHECK(c.warnings.empty());
  Env no_ruby{{{"PATH", "/nonexistent"}}};
  c = load_ok({"--stop-timeout", "120", "--", "sidekiq", "-C", yml.path}, no_ruby);
  REQUIRE(c.warnings.size() == 1);
  CHECK(c.warnings[0].find(yml.path) != std::string::npos);
  CHECK(c.warnings[0].find("--sidekiq-timeout") != std::string::npos);
}

TEST_CASE("Sidekiq's timeout beyond an int is read; beyond ten years, read as ten with a warning") {
  auto c = load_ok({"--", "sidekiq", "-t", "2147484"});
  CHECK(c.sidekiq_timeout == Duration{2'147'484'000});
  REQUIRE(c.warnings.size() == 1);
  CHECK(contains(c.warnings[0], "no room to drain"));

  for (const char* huge : {"315360001", "2147483648", "99999999999999999999999999"}) {
    INFO(std::string(huge));
    c = load_ok({"--", "sidekiq", "-t", huge});
    CHECK(c.sidekiq_timeout == Duration{315'360'000'000});
    REQUIRE(c.warnings.size() == 2);
    CHECK(contains(c.warnings[0], "the command's -t"));
    CHECK(contains(c.warnings[0], "10 years or more"));
  }

  for (const char* huge : {"1.0e+300", "1.0e+999", "315360001", "99999999999999999999999999.5"}) {
    INFO(std::string(huge));
    TempFile yml(std::string(":timeout: ") + huge + "\n");
    c = load_ok({"--", "sidekiq", "-C", yml.path});
    CHECK(c.sidekiq_timeout == Duration{315'360'000'000});
    REQUIRE(c.warnings.size() == 2);
    CHECK(contains(c.warnings[0], ":timeout in " + yml.path));
    CHECK(contains(c.warnings[0], "10 years or more"));
  }
  TempFile fine(":timeout: 2147484.5\n");
  c = load_ok({"--", "sidekiq", "-C", fine.path});
  CHECK(c.sidekiq_timeout == Duration{2'147'484'500});
}

TEST_CASE("TINI_* variables are switches, as in tini") {
  Env env{{{"TINI_SUBREAPER", ""}, {"TINI_KILL_PROCESS_GROUP", "0"}, {"TINI_VERBOSITY", "3"}}};
  auto c = load_ok({"--", "true"}, env);
  CHECK(c.subreaper);
  CHECK(c.process_group);
  CHECK(c.verbosity == 3);
}

TEST_CASE("precedence: flag over environment over file over default") {
  TempFile file(R"(
exit_grace = "10s"
[stop]
stop_timeout = "60s"
shutdown_margin = 7
[signals]
rewrite = { USR1 = "TERM" }
[redis]
url = "redis://file-host:6379/1"
)");
  Env env{{{"QUIESCE_CONFIG", file.path},
           {"QUIESCE_STOP_TIMEOUT", "90s"},
           {"REDIS_URL", "redis://sidekiq-own:6379/0"}}};
  auto c = load_ok({"--stop-timeout", "2m", "--", "true"}, env);
  CHECK(c.stop_timeout == Duration{120'000});
  CHECK(c.origins[Key::StopTimeout].layer == Origin::Layer::Flag);
  CHECK(c.shutdown_margin == Duration{7'000});
  CHECK(c.origins[Key::ShutdownMargin].layer == Origin::Layer::File);
  CHECK(c.exit_grace == Duration{10'000});
  CHECK(c.rewrite.at(SIGUSR1) == SIGTERM);
  CHECK(c.redis_url == "redis://sidekiq-own:6379/0");
  CHECK(c.origins[Key::RedisUrl].detail == "REDIS_URL");

  env.vars["QUIESCE_REDIS_URL"] = "redis://ours:6379/0";
  CHECK(load_ok({"--", "true"}, env).redis_url == "redis://ours:6379/0");

  auto described = describe_config(load_ok({"--", "true"}, env));
  CHECK(contains(described, "stop.stop_timeout"));
  CHECK(contains(described, "env QUIESCE_STOP_TIMEOUT"));
  CHECK(contains(described, "file " + file.path));
}

TEST_CASE("the thread rule: on by default, off by flag, environment or file, into the machine") {
  CHECK(load_ok({"--", "sidekiq"}).thread_rule);
  CHECK(machine_config(load_ok({"--", "sidekiq"})).thread_rule);
  auto flag = load_ok({"--thread-rule", "false", "--", "sidekiq"});
  CHECK_FALSE(flag.thread_rule);
  CHECK_FALSE(machine_config(flag).thread_rule);
  CHECK(flag.origins[Key::ThreadRule].layer == Origin::Layer::Flag);
  CHECK_FALSE(load_ok({"--", "sidekiq"}, Env{{{"QUIESCE_THREAD_RULE", "off"}}}).thread_rule);
  TempFile file("[stop]\nthread_rule = false\n");
  auto from_file = load_ok({"--config", file.path, "--", "sidekiq"});
  CHECK_FALSE(from_file.thread_rule);
  CHECK(contains(describe_config(from_file), "stop.thread_rule"));
  auto e = load_error({"--", "sidekiq"}, Env{{{"QUIESCE_THREAD_RULE", "maybe"}}});
  CHECK(contains(e, "QUIESCE_THREAD_RULE"));
}

TEST_CASE("the password never shows in check-config") {
  auto c = load_ok({"--redis-url", "redis://user:hunter2@host:6380/2", "--", "true"});
  std::string described = describe_config(c);
  CHECK_FALSE(contains(described, "hunter2"));
  CHECK(contains(described, "\"redis://user:***@host:6380/2\""));
  CHECK(contains(described, "# flag --redis-url"));
}

TEST_CASE("bad input: one line naming the key and the problem") {
  CHECK(contains(load_error({"--bogus", "--", "true"}), "--bogus"));
  CHECK(contains(load_error({"-x", "--", "true"}), "-x"));
  CHECK(contains(load_error({"--stop-timeout", "3x", "--", "true"}), "--stop-timeout: '3x'"));
  CHECK(contains(load_error({"-p", "SIGNOPE", "--", "true"}), "SIGNOPE"));
  CHECK(contains(load_error({"-e", "300", "--", "true"}), "300"));
  CHECK(contains(load_error({"--log-format", "xml", "--", "true"}), "xml"));
  CHECK(contains(load_error({"--rewrite", "TERM", "--", "true"}), "FROM:TO"));
  CHECK(contains(load_error({"--redis-url", "http://x", "--", "true"}), "--redis-url"));
  CHECK(contains(load_error({"--poll-interval", "0", "--", "true"}), "longer than zero"));
  CHECK(contains(load_error({"--stop-timeout"}), "needs a value"));
  CHECK(contains(load_error({}), "no command"));
  CHECK(contains(load_error({"--", "true"}, Env{{{"QUIESCE_EXIT_GRACE", "soon"}}}),
                 "QUIESCE_EXIT_GRACE: 'soon'"));
  CHECK(contains(load_error({"--config", "/nonexistent.toml", "--", "true"}), "/nonexistent.toml"));
  for (const auto& m : {load_error({"--bogus", "--", "true"}), load_error({})}) {
    CHECK(m.find('\n') == std::string::npos);
  }
}

TEST_CASE("durations beyond ten years: an error naming the key, from flags, environment, file") {
  auto e = load_error({"--stop-timeout", "99999999999h", "--", "true"});
  CHECK(contains(e, "--stop-timeout: '99999999999h' is longer than 10 years"));
  e = load_error({"--", "true"}, Env{{{"QUIESCE_POLL_INTERVAL", "99999999999999999999999ms"}}});
  CHECK(contains(e, "QUIESCE_POLL_INTERVAL: '99999999999999999999999ms' is longer than 10 years"));
  e = load_error({"--exit-grace", "87601h", "--", "true"});
  CHECK(contains(e, "--exit-grace: '87601h' is longer than 10 years"));
  CHECK(load_ok({"--exit-grace", "87600h", "--", "true"}).exit_grace == Duration{315'360'000'000});
  TempFile huge("[stop]\nstop_timeout = 9223372036854775807\n");
  e = load_error({"--config", huge.path, "--", "true"});
  CHECK(contains(e, huge.path + ":2: stop.stop_timeout: '9223372036854775807' is longer than 10"));
  TempFile negative("[redis]\nconnect_timeout = -9223372036854775808\n");
  e = load_error({"--config", negative.path, "--", "true"});
  CHECK(contains(e, negative.path + ":2: redis.connect_timeout: '-9223372036854775808' is not a"));
  TempFile beyond("[stop]\nstop_timeout = 99999999999999999999\n");
  CHECK(contains(load_error({"--config", beyond.path, "--", "true"}), beyond.path + ":2"));
}

TEST_CASE("bad config file: unknown keys and bad values name the line") {
  TempFile unknown("verbosity = 2\n\n[stop]\nstop_timout = \"30s\"\n");
  auto e = load_error({"--config", unknown.path, "--", "true"});
  CHECK(contains(e, unknown.path + ":4"));
  CHECK(contains(e, "stop.stop_timout"));

  TempFile bad_value("[redis]\ntls_verify = \"maybe\"\n");
  e = load_error({"--config", bad_value.path, "--", "true"});
  CHECK(contains(e, ":2"));
  CHECK(contains(e, "redis.tls_verify"));

  TempFile bad_type("exit_grace = 1.5\n");
  CHECK(contains(load_error({"--config", bad_type.path, "--", "true"}), "exit_grace"));

  TempFile bad_toml("[stop\n");
  CHECK(contains(load_error({"--config", bad_toml.path, "--", "true"}), bad_toml.path + ":1"));
}

TEST_CASE("config file bytes toml++ 3.3.0 trips on: an error naming the line, never an abort") {
  struct Case {
    std::string bytes;
    std::string says;
  };
  const std::vector<Case> cases = {
      // parse_key()'s assertion: a table header holding a control byte, or
      // not starting with a key (toml++ pull request 301).
      {"verbosity = 2\n[\x01]\n", ":2: control character 0x01"},
      {"[stop\x7f]\n", ":1: control character 0x7f"},
      {"[[[a]]]\n", ": not TOML that toml++ can read"},
      {"[[=\n", ": not TOML that toml++ can read"},
      // __builtin_unreachable() in its whitespace test (issues 190 and 295).
      {"s = \"\"\"\\\n\xc2\xa7\"\"\"\n", ":2: non-ASCII character"},
      {"s = \"\"\"\\  \xc2\xa7\"\"\"\n", ":1: non-ASCII character after a backslash"},
      {"s = \"\"\"x\\\n\t\n \xe2\x80\xa8\"\"\"\n", ":3: non-ASCII character after a backslash"},
      // Right after the backslash: toml++ asks whether it is whitespace.
      {"s = \"\"\"\n\\\xc2\xa7\"\"\"\n", ":2: non-ASCII character after a backslash"},
      {"s = \"\\\xc2\xa7\"\n", ":1: non-ASCII character after a backslash"},
      // A bare value toml++ scans past a quote, to a character its
      // whitespace test has no branch for (found by the fuzz gate in CI).
      {"[rdd]\nurl =  -\"bb.c\xcc\x9connect\"\n", ":2: "},
      {"a = -'\xc2\xa7'\n", ":1: non-ASCII character in a 'literal string'"},
      // A double quote inside a literal string ends nothing: what follows
      // the string is outside it.
      {"a = '\"'\xc2\xa7\n", ":1: non-ASCII character outside"},
      {"\xcc\xaa", ":1: non-ASCII character"},
      {"verbosity = 2 \xc2\xa7\n", ":1: non-ASCII character"},
      // Never TOML: invalid UTF-8, control characters, a CR alone.
      {"# \xff\n", ":1: invalid UTF-8"},
      {"# \xc0\x80\n", ":1: invalid UTF-8"},          // overlong NUL
      {"\n\n# \xed\xa0\x80\n", ":3: invalid UTF-8"},  // a surrogate
      {"# \xf4\x90\x80\x80\n", ":1: invalid UTF-8"},  // beyond U+10FFFF
      {"# \xe2\x82\n", ":1: invalid UTF-8"},          // cut short
      {"verbosity = 2\r\n[stop]\r", ":2: carriage return"},
      {std::string("verbosity = \"2\0\"\n", 17), ":1: control character 0x00"},
      {"verbosity = 2\x0c\n", ":1: control character 0x0c"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.bytes);
    TempFile file(c.bytes);
    auto e = load_error({"--config", file.path, "--", "true"});
    CHECK(contains(e, file.path + c.says));
    CHECK(e.find('\n') == std::string::npos);
  }
  // What TOML allows still loads: tabs, CRLF, non-ASCII in comments and strings.
  TempFile fine(
      "# Zeit\xc3\xbc"
      "berschreitung \xe2\x80\x94 \xf0\x9f\x98\x80\r\n[stop]\r\n\tstop_timeout = "
      "\"40s\"\r\n"
      "[redis]\nca_file = \"/etc/ssl/\xc2\xa7-\xd0\x96.pem\"  # \xc2\xa7\n");
  auto c = load_ok({"--config", fine.path, "--", "true"});
  CHECK(c.stop_timeout == Duration{40'000});
  CHECK(c.redis_ca_file == "/etc/ssl/\xc2\xa7-\xd0\x96.pem");
  // Either quote inside the other's string is text.
  TempFile literal("[redis]\nca_file = 'say \"hi\" \\u' # \xc2\xa7\n");
  CHECK(load_ok({"--config", literal.path, "--", "true"}).redis_ca_file == "say \"hi\" \\u");
  // Astral characters come through a basic string's \U escape whole.
  TempFile astral("[redis]\nca_file = \"\xf0\x9f\x98\x80\"\n");
  CHECK(load_ok({"--config", astral.path, "--", "true"}).redis_ca_file == "\xf0\x9f\x98\x80");
  TempFile basic("[redis]\nca_file = \"it's \xc2\xa7\" # '\xc2\xa7\n");
  CHECK(load_ok({"--config", basic.path, "--", "true"}).redis_ca_file == "it's \xc2\xa7");
  // In a multi-line basic string too, outside what a line-ending backslash
  // trims (toml++ reads those bytes the way it reads one-line strings).
  TempFile multi("[redis]\nca_file = \"\"\"/etc/\xc2\xa7\\\n   x-\xc3\xa9.pem\"\"\"\n");
  CHECK(load_ok({"--config", multi.path, "--", "true"}).redis_ca_file ==
        "/etc/\xc2\xa7x-\xc3\xa9.pem");
}

TEST_CASE("config file: only a regular file within 1 MiB is read") {
  CHECK(contains(load_error({"--config", "/dev/zero", "--", "true"}), "/dev/zero"));
  CHECK(contains(load_error({"--", "true"}, Env{{{"QUIESCE_CONFIG", "/dev/null"}}}), "/dev/null"));
  TempFile big("verbosity = 2\n" + std::string(2 << 20, '#') + "\n");
  auto e = load_error({"--config", big.path, "--", "true"});
  CHECK(contains(e, big.path));
  CHECK(contains(e, "1 MiB"));
}

TEST_CASE("a budget with no room to drain is a startup warning for Sidekiq commands") {
  auto c = load_ok({"--", "bundle", "exec", "sidekiq"});
  REQUIRE(c.warnings.size() == 1);
  CHECK(contains(c.warnings[0], "no room to drain"));
  CHECK(load_ok({"--stop-timeout", "2m", "--", "bundle", "exec", "sidekiq"}).warnings.empty());
  CHECK(load_ok({"--drain", "never", "--", "sidekiq"}).warnings.empty());
}

TEST_CASE("the example config file loads as documented") {
  auto c = load_ok({"--config", QUIESCE_SOURCE_DIR "/examples/quiesce.toml", "--", "true"});
  CHECK(c.stop_timeout == Duration{120'000});
  CHECK(c.parent_death_signal == 0);
  CHECK(c.origins[Key::StopTimeout].layer == Origin::Layer::File);
}

TEST_CASE("check-config, --help and --version need no command") {
  auto r = load_config({"check-config"}, Env{}.fn());
  REQUIRE(std::holds_alternative<Loaded>(r));
  CHECK(std::get<Loaded>(r).mode == Mode::CheckConfig);
  CHECK(std::get<Loaded>(load_config({"--help"}, Env{}.fn())).mode == Mode::Help);
  CHECK(std::get<Loaded>(load_config({"--version"}, Env{}.fn())).mode == Mode::Version);
}

TEST_CASE("stop.recover_jobs: flag, environment, file, check-config; the kill moves with it") {
  CHECK(load_ok({"--", "true"}).recover_jobs);
  CHECK_FALSE(load_ok({"--recover-jobs", "false", "--", "true"}).recover_jobs);
  Env env{{{"QUIESCE_RECOVER_JOBS", "no"}}};
  auto c = load_ok({"--", "sidekiq"}, env);
  CHECK_FALSE(c.recover_jobs);
  CHECK(c.origins[Key::RecoverJobs].detail == "QUIESCE_RECOVER_JOBS");
  CHECK(contains(describe_config(c), "stop.recover_jobs"));
  CHECK(contains(load_error({"--recover-jobs", "maybe", "--", "true"}), "--recover-jobs"));

  auto on = machine_config(load_ok({"--stop-timeout", "30", "--", "sidekiq"}));
  CHECK(on.recover_jobs);
  CHECK(on.recover_after_death);  // the command runs Sidekiq
  CHECK(plan_stop(stop_budget_of(on)).kill_after == Duration{28'750});
  auto off = machine_config(c);
  CHECK(plan_stop(stop_budget_of(off)).kill_after == Duration{29'000});
  // Not a Sidekiq command and no Redis named: a child's death reads no Redis.
  CHECK_FALSE(machine_config(load_ok({"--", "true"})).recover_after_death);
  CHECK_FALSE(machine_config(load_ok({"--drain", "never", "--", "sidekiq"})).recover_jobs);
}

TEST_CASE("REDIS_PROVIDER names the variable that holds the URL, after QUIESCE_REDIS_URL") {
  Env env{{{"REDIS_PROVIDER", "MY_REDIS"},
           {"MY_REDIS", "redis://provided:6379/2"},
           {"REDIS_URL", "redis://plain:6379/0"}}};
  auto c = load_ok({"--", "true"}, env);
  CHECK(c.redis_url == "redis://provided:6379/2");
  CHECK(c.origins[Key::RedisUrl].detail == "MY_REDIS (named by REDIS_PROVIDER)");
  CHECK(contains(describe_config(c), "MY_REDIS (named by REDIS_PROVIDER)"));
  CHECK(c.redis_url_given);

  env.vars["QUIESCE_REDIS_URL"] = "redis://ours:6379/0";
  CHECK(load_ok({"--", "true"}, env).redis_url == "redis://ours:6379/0");
  env.vars.erase("QUIESCE_REDIS_URL");

  // Naming a variable that is unset: REDIS_URL, as Sidekiq 7 and 8 do.
  env.vars.erase("MY_REDIS");
  c = load_ok({"--", "true"}, env);
  CHECK(c.redis_url == "redis://plain:6379/0");
  CHECK(c.origins[Key::RedisUrl].detail == "REDIS_URL");

  // A URL in REDIS_PROVIDER itself: Sidekiq refuses it, quiesce says so.
  env.vars["REDIS_PROVIDER"] = "redis://wrong:6379/0";
  c = load_ok({"--sidekiq-timeout", "5", "--", "true"}, env);
  CHECK(c.redis_url == "redis://plain:6379/0");
  REQUIRE(c.warnings.size() == 1);
  CHECK(contains(c.warnings[0], "REDIS_PROVIDER holds a URL"));
}

TEST_CASE(
    "Sidekiq's timeout as a quoted string: a loud warning, and T 0 (TERM as late as can be)") {
  TempFile yml("production:\n  :timeout: '30'\n");
  Env env{{{"RAILS_ENV", "production"}}};
  auto c = load_ok({"--stop-timeout", "60", "--", "sidekiq", "-C", yml.path}, env);
  CHECK(c.sidekiq_timeout == Duration{0});
  CHECK(c.origins[Key::SidekiqTimeout].detail ==
        "production: :timeout in " + yml.path + ", not a number");
  REQUIRE(c.warnings.size() == 1);
  CHECK(contains(c.warnings[0], yml.path));
  CHECK(contains(c.warnings[0], "production: :timeout"));
  CHECK(contains(c.warnings[0], "WITHOUT REQUEUEING"));
  CHECK(contains(describe_config(c), "not a number"));
}

TEST_CASE("operating options: on_tstp, the control socket, health's limit, restart, on_drained") {
  auto c = load_ok({"--", "sidekiq"});
  CHECK(c.on_tstp == OnTstp::Quiet);
  CHECK(c.control_socket.empty());
  CHECK(c.health_max_age == Duration{0});
  CHECK(c.restart_grace == Duration{60'000});
  CHECK(c.on_drained.empty());
  c = load_ok({"--on-tstp", "forward", "--control-socket", "/run/q.sock", "--health-max-age", "45s",
               "--restart-grace", "2m", "--on-drained", "notify --done now", "--", "sidekiq"});
  CHECK(c.on_tstp == OnTstp::Forward);
  CHECK(c.control_socket == "/run/q.sock");
  CHECK(c.health_max_age == Duration{45'000});
  CHECK(c.restart_grace == Duration{120'000});
  CHECK(c.on_drained == std::vector<std::string>{"notify", "--done", "now"});
  CHECK(machine_config(c).on_tstp == OnTstp::Forward);
  CHECK(machine_config(c).restart_grace == Duration{120'000});

  auto json = load_ok({"--on-drained", R"(["sh", "-c", "echo a, b"])", "--", "true"});
  CHECK(json.on_drained == std::vector<std::string>{"sh", "-c", "echo a, b"});
  TempFile file(
      "[control]\non_drained = [\"sh\", \"-c\", \"echo a, b\"]\nsocket = \"/x/c.sock\"\n");
  auto from_file = load_ok({"--config", file.path, "--", "true"});
  CHECK(from_file.on_drained == std::vector<std::string>{"sh", "-c", "echo a, b"});
  CHECK(from_file.control_socket == "/x/c.sock");

  CHECK(contains(load_error({"--on-tstp", "maybe", "--", "true"}), "--on-tstp"));
  CHECK(contains(load_error({"--control-socket", "relative.sock", "--", "true"}),
                 "not an absolute path"));
  CHECK(contains(load_error({"--control-socket", "/" + std::string(200, 'x'), "--", "true"}),
                 "107 bytes"));
  CHECK(contains(load_error({"--on-drained", "[1, 2]", "--", "true"}), "must be a string"));
  CHECK(contains(load_error({"--on-drained", "[\"a\"", "--", "true"}), "JSON array"));
  TempFile bad("[control]\non_drained = [\"sh\", 3]\n");
  auto e = load_error({"--config", bad.path, "--", "true"});
  CHECK(contains(e, "control.on_drained"));
  CHECK(contains(e, ":2"));
}
