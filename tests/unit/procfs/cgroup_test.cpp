#include "quiesce/procfs/cgroup.hpp"

#include <doctest/doctest.h>

using namespace quiesce;

TEST_CASE("cgroup: the OOM kill count of v2 memory.events and v1 memory.oom_control") {
  CHECK(parse_oom_kill("low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\noom_group_kill 0\n") == 2);
  CHECK(parse_oom_kill("oom_kill_disable 0\nunder_oom 0\noom_kill 7\n") == 7);
  CHECK_FALSE(parse_oom_kill("oom_kill_disable 0\nunder_oom 0\n"));
  CHECK_FALSE(parse_oom_kill("oom_kill x\n"));
  CHECK_FALSE(parse_oom_kill(""));
}

TEST_CASE("cgroup: quiesce's own cgroup from /proc/self/cgroup") {
  auto v2 = parse_own_cgroup("0::/system.slice/docker-abc.scope\n");
  CHECK(v2.v2_path == "/system.slice/docker-abc.scope");
  CHECK_FALSE(v2.v1_path);
  auto v1 =
      parse_own_cgroup("12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n1:name=systemd:/x\n");
  CHECK(v1.v1_path == "/docker/abc");
  CHECK_FALSE(v1.v2_path);
  CHECK(parse_own_cgroup("3:cpuset,memory:/k\n").v1_path == "/k");
  CHECK_FALSE(parse_own_cgroup("garbage").v2_path);
}
