#include "quiesce/sidekiq/title.hpp"

#include <doctest/doctest.h>

#include <string>

using quiesce::parse_sidekiq_title;

TEST_CASE("sidekiq title: busy, concurrency, version") {
  auto t = parse_sidekiq_title("sidekiq 6.4.1 app [3 of 10 busy]");
  REQUIRE(t);
  CHECK(t->version == "6.4.1");
  CHECK(t->busy == 3);
  CHECK(t->concurrency == 10);
  CHECK_FALSE(t->stopping);
}

TEST_CASE("sidekiq title: stopping once quiet") {
  auto t = parse_sidekiq_title("sidekiq 7.2.4 myapp [0 of 5 busy] stopping");
  REQUIRE(t);
  CHECK(t->stopping);
  CHECK(t->busy == 0);
  CHECK(t->concurrency == 5);
}

TEST_CASE("sidekiq title: empty tag leaves a double space (launcher joins an empty string)") {
  auto t = parse_sidekiq_title("sidekiq 6.4.1  [2 of 25 busy]");
  REQUIRE(t);
  CHECK(t->busy == 2);
  CHECK(t->concurrency == 25);
  CHECK(t->tag.empty());
}

TEST_CASE("sidekiq title: tag of several words, brackets and the word stopping") {
  auto t = parse_sidekiq_title("sidekiq 8.0.0.beta1 my [odd] stopping tag [1 of 3 busy]");
  REQUIRE(t);
  CHECK(t->version == "8.0.0.beta1");
  CHECK(t->tag == "my [odd] stopping tag");
  CHECK(t->busy == 1);
  CHECK_FALSE(t->stopping);
}

TEST_CASE("sidekiq title: read as /proc/<pid>/cmdline gives it, NUL padded or NUL separated") {
  std::string padded =
      std::string("sidekiq 6.4.1 app [4 of 10 busy] stopping") + std::string(40, '\0');
  auto t = parse_sidekiq_title(padded);
  REQUIRE(t);
  CHECK(t->busy == 4);
  CHECK(t->stopping);

  const char raw[] = "sidekiq\0006.4.1\000app\000[1\000of\0002\000busy]\000";
  std::string separated(raw, sizeof raw - 1);
  auto s = parse_sidekiq_title(separated);
  REQUIRE(s);
  CHECK(s->busy == 1);
  CHECK(s->concurrency == 2);
}

TEST_CASE("sidekiq title: command lines and look-alikes are not titles") {
  CHECK_FALSE(parse_sidekiq_title(""));
  CHECK_FALSE(parse_sidekiq_title(std::string("ruby\0bin/sidekiq\0", 17)));
  CHECK_FALSE(parse_sidekiq_title(std::string("bundle\0exec\0sidekiq\0-t\0005\0", 25)));
  CHECK_FALSE(parse_sidekiq_title(std::string("sidekiqswarm\0-e\0production\0", 27)));
  CHECK_FALSE(parse_sidekiq_title("sidekiq -t 5 [1 of 2 busy]"));
  CHECK_FALSE(parse_sidekiq_title("sidekiq 6.4.1 app [x of 10 busy]"));
  CHECK_FALSE(parse_sidekiq_title("sidekiq 6.4.1 app [-1 of 10 busy]"));
  CHECK_FALSE(parse_sidekiq_title("sidekiq 6.4.1 app [1 of 10 busy ] extra"));
  CHECK_FALSE(parse_sidekiq_title("sidekiq 6.4.1 app [99999999999 of 10 busy]"));
  CHECK_FALSE(parse_sidekiq_title("xsidekiq 6.4.1 app [1 of 10 busy]"));
  CHECK_FALSE(parse_sidekiq_title("sidekiq 6.4.1 [ of 10 busy]"));
}

TEST_CASE("sidekiq title: words an app appends after the brackets (PROCTITLES)") {
  auto busy = parse_sidekiq_title("sidekiq 7.3.2  [1 of 5 busy] extra");
  REQUIRE(busy);
  CHECK(busy->busy == 1);
  CHECK(busy->concurrency == 5);
  CHECK_FALSE(busy->stopping);
  auto quiet = parse_sidekiq_title("sidekiq 8.1.7 run [0 of 5 busy] stopping extra words");
  REQUIRE(quiet);
  CHECK(quiet->busy == 0);
  CHECK(quiet->stopping);
  // "stopping" counts only right after the brackets: an appended word is not it.
  auto later = parse_sidekiq_title("sidekiq 8.1.7 run [2 of 5 busy] extra stopping");
  REQUIRE(later);
  CHECK_FALSE(later->stopping);
}
