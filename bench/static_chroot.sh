#!/usr/bin/env bash
# Proves the static quiesce needs nothing from the image: an empty directory
# holding only the binary (no libc, no /proc, no /dev, no /etc) is chrooted
# into, and quiesce runs there as PID 1 of a new PID namespace, once on its
# own and once as the init of a second copy of itself.
#
# usage: bench/static_chroot.sh [STATIC_QUIESCE]   (run as root; default build-static/quiesce)
set -uo pipefail

bin=${1:-$(dirname "$0")/../build-static/quiesce}
if [ ! -x "$bin" ]; then
  echo "static_chroot: no executable at $bin" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "static_chroot: needs root (chroot, unshare --pid)" >&2
  exit 2
fi

root=$(mktemp -d /tmp/quiesce-chroot.XXXXXX)
trap 'rm -rf "$root"' EXIT
cp "$bin" "$root/quiesce"
echo "chroot $root holds: $(cd "$root" && find . -mindepth 1 | tr '\n' ' ')"

failures=0
run() {
  local name=$1
  shift
  local out code
  out=$(unshare --pid --fork --mount-proc chroot "$root" "$@" 2>&1)
  code=$?
  # --version prints something; an empty answer with status 0 is no proof.
  if [ "$code" -eq 0 ] && [ -n "$out" ]; then
    echo "PASS $name: exit 0, printed: $(echo "$out" | head -n 3 | tr '\n' ' ')"
  else
    echo "FAIL $name: exit $code, output: $out"
    failures=$((failures + 1))
  fi
}

run "quiesce --version as PID 1" /quiesce --version
run "quiesce as PID 1 running quiesce --version" /quiesce --drain never -- /quiesce --version

if [ "$failures" -eq 0 ]; then
  echo "static_chroot: PASS"
else
  echo "static_chroot: FAIL ($failures of 2)"
fi
exit "$failures"
