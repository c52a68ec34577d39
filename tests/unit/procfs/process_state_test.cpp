#include "quiesce/procfs/process_state.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

using namespace quiesce;

TEST_CASE("process state: this process runs, with some resident memory") {
  auto s = read_process_state(getpid());
  REQUIRE(s);
  CHECK((s->state == 'R' || s->state == 'S'));
  CHECK_FALSE(s->stopped());
  REQUIRE(s->rss_kib);
  CHECK(*s->rss_kib > 0);
  CHECK_FALSE(read_process_state(0));
}

TEST_CASE("statm: the resident field in KiB, anything else unread") {
  CHECK(parse_statm_rss_kib("1000 250 30 1 0 200 0\n", 4096) == 1000);
  CHECK_FALSE(parse_statm_rss_kib("1000", 4096));
  CHECK_FALSE(parse_statm_rss_kib("1000 x", 4096));
  CHECK_FALSE(parse_statm_rss_kib("1000 -5", 4096));
  CHECK_FALSE(parse_statm_rss_kib("1000 5", 0));
}
