#include "quiesce/sidekiq/args.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using quiesce::command_runs_sidekiq;
using quiesce::sidekiq_timeout_from_argv;
using Argv = std::vector<std::string>;

TEST_CASE("sidekiq args: spellings of the timeout that OptionParser accepts") {
  CHECK(sidekiq_timeout_from_argv({"bundle", "exec", "sidekiq", "-t", "40"}) == 40);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t40"}) == 40);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-C", "x.yml", "--timeout=40"}) == 40);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "--timeout", "40"}) == 40);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-vt", "40"}) == 40);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-vt40"}) == 40);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "--time", "12"}) == 12);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "--ti=13"}) == 13);
  CHECK(sidekiq_timeout_from_argv({"/usr/local/bin/sidekiqswarm", "-t", "9"}) == 9);
  CHECK(sidekiq_timeout_from_argv({"ruby", "bin/sidekiq", "-r", "./app.rb", "-t", "8"}) == 8);
}

TEST_CASE("sidekiq args: the last timeout wins, values of other options are skipped") {
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "5", "-t", "7"}) == 7);
  // -g takes the next word whatever it is, so "-t" here is a tag.
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-g", "-t", "5"}) == std::nullopt);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "--tag", "-t", "-t", "6"}) == 6);
  // -r's argument is optional: a following option is not taken as its value.
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-r", "-t", "6"}) == 6);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-gt", "5"}) == std::nullopt);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "--", "-t", "5"}) == std::nullopt);
}

TEST_CASE("sidekiq args: Ruby Integer() forms and bad numbers") {
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "4_0"}) == 40);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "040"}) == 32);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "0x10"}) == 16);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", " 25 "}) == 25);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "abc"}) == std::nullopt);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "2.5"}) == std::nullopt);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "08"}) == std::nullopt);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "0"}) == std::nullopt);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "-5"}) == std::nullopt);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t=9"}) == std::nullopt);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "4__0"}) == std::nullopt);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t"}) == std::nullopt);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "--timeout="}) == std::nullopt);
  // Sidekiq dies at the bad value; a later good one never gets read.
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "x", "-t", "5"}) == std::nullopt);
}

TEST_CASE("sidekiq args: only arguments after the sidekiq word count") {
  CHECK(sidekiq_timeout_from_argv({"timeout", "-t", "5", "sidekiq"}) == std::nullopt);
  CHECK(sidekiq_timeout_from_argv({"sidekiq"}) == std::nullopt);
  CHECK(sidekiq_timeout_from_argv({"puma", "-t", "5"}) == std::nullopt);
  CHECK(sidekiq_timeout_from_argv({}) == std::nullopt);
}

TEST_CASE("sidekiq args: shell wrappers") {
  CHECK(sidekiq_timeout_from_argv({"sh", "-c", "bundle exec sidekiq -t 40 && echo done"}) == 40);
  CHECK(sidekiq_timeout_from_argv(
            {"/bin/bash", "-lc", "cd /app; exec bundle exec sidekiq -t 30;"}) == 30);
  CHECK(sidekiq_timeout_from_argv({"sh", "-c", "sidekiq && other -t 5"}) == std::nullopt);
  CHECK(sidekiq_timeout_from_argv({"sh", "-c", "sidekiq -t 7|tee log"}) == 7);
  CHECK(sidekiq_timeout_from_argv({"sh", "-c", "sidekiq -g 'my tag' -t '11'"}) == 11);
}

TEST_CASE("sidekiq args: detecting a sidekiq command") {
  CHECK(command_runs_sidekiq({"bundle", "exec", "sidekiq"}));
  CHECK(command_runs_sidekiq({"sidekiqswarm"}));
  CHECK(command_runs_sidekiq({"/app/bin/sidekiq", "-C", "config/sidekiq.yml"}));
  CHECK(command_runs_sidekiq({"sh", "-c", "bundle exec sidekiq -t 40 && echo done"}));
  CHECK(command_runs_sidekiq({"dash", "-ec", "exec sidekiq"}));
  CHECK_FALSE(command_runs_sidekiq({"bundle", "exec", "puma"}));
  CHECK_FALSE(command_runs_sidekiq({"sidekiqmon"}));
  CHECK_FALSE(command_runs_sidekiq({"sh", "-c", "echo sidekiq-web"}));
  CHECK_FALSE(command_runs_sidekiq({"sh", "-c"}));
  CHECK_FALSE(command_runs_sidekiq(Argv{}));
}

TEST_CASE(
    "sidekiq args: a timeout beyond an int is read, and beyond ten years reads as ten years") {
  // Sidekiq takes any Integer(): 2147484 s is 24.8 days, and 1000 times it
  // is beyond an int.
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "2147484"}) == 2147484);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "315360000"}) == 315'360'000);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "315360001"}) == 315'360'000);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "2147483648"}) == 315'360'000);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "99999999999999"}) == 315'360'000);
  // Beyond a long long too: Ruby's Integer() has no limit.
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "99999999999999999999999999"}) == 315'360'000);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "0xffffffffffffffffffffffff"}) == 315'360'000);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "-99999999999999999999999999"}) ==
        std::nullopt);
  CHECK(sidekiq_timeout_from_argv({"sidekiq", "-t", "99999999999999999999999999x"}) ==
        std::nullopt);
}
