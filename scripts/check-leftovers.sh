#!/usr/bin/env bash
# After the test suite: fails if any test left a mount, cgroup, network
# namespace, link or nft table behind. Only looks at the names tests use
# (temporary dirs "dockyard-*", containers "t*", bridges "dyt*"/"dyc*",
# load balancer tables of servers whose data directory is a test's),
# so a real Dockyard on the same machine is not mistaken for a leftover.
#
# With --clean (before the suite): removes what an earlier run that was
# killed mid-test left, saying what, so that only this run's leaks fail it.
set -uo pipefail
clean=0
[ "${1:-}" = "--clean" ] && clean=1
bad=0
report() {
  if [ $clean = 1 ]; then echo "removing what an earlier test run left: $*" >&2; else echo "leftover after tests: $*" >&2; bad=1; fi
}

while read -r p; do
  report "shim process $p"
  [ $clean = 1 ] && kill -9 "${p%% *}" 2>/dev/null
done < <(pgrep -af 'dockyard shim run /tmp/dockyard-' || true)
for c in /sys/fs/cgroup/*/dockyard/t* /sys/fs/cgroup/dockyard/t*; do
  [ -d "$c" ] || continue
  report "cgroup $c"
  if [ $clean = 1 ]; then
    while read -r pid; do kill -9 "$pid" 2>/dev/null; done < "$c/cgroup.procs"
    sleep 0.2
    rmdir "$c" 2>/dev/null
  fi
done
# Deepest first, so a mount inside another comes off before it.
while read -r mnt; do
  report "mount $mnt"
  [ $clean = 1 ] && umount -l "$mnt" 2>/dev/null
done < <(awk '{print $5}' /proc/self/mountinfo | grep -E '/dockyard-(rt|cli|[a-z]+)-[0-9a-f]{8}' | sort -r || true)
while read -r link; do
  report "link $link"
  [ $clean = 1 ] && ip link del "$link" 2>/dev/null
done < <(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^dy(t|c)[0-9a-f]{6,8}' || true)
while read -r fam t; do
  report "nft table $t"
  [ $clean = 1 ] && nft delete table "$fam" "$t" 2>/dev/null
done < <(nft list tables 2>/dev/null | awk '{print $2, $3}' | grep -E ' dockyard_dy(t|c)' || true)
# Load balancer tables of test servers: their comment names the server's
# data directory, which tests make under the temporary directory.
while read -r t; do
  nft list table ip "$t" 2>/dev/null | grep -E 'comment "dockyard server .*/dockyard-[a-z]+-[0-9a-f]{8}/' >/dev/null || continue
  report "nft table $t"
  [ $clean = 1 ] && nft delete table ip "$t" 2>/dev/null
done < <(nft list tables ip 2>/dev/null | awk '{print $3}' | grep -E '^dockyard_lb[0-9a-f]{8}$' || true)
exit $bad
