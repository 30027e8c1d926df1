#!/usr/bin/env bash
# After the test suite: fails if any test left a mount, cgroup, network
# namespace, link or nft table behind. Only looks at the names tests use
# (temporary dirs "dockyard-*", containers "t*", bridges "dyt*"/"dyc*"),
# so a real Dockyard on the same machine is not mistaken for a leftover.
set -uo pipefail
bad=0
report() { echo "leftover after tests: $*" >&2; bad=1; }

while read -r mnt; do report "mount $mnt"; done < <(awk '{print $5}' /proc/self/mountinfo | grep -E '/dockyard-(rt|cli|[a-z]+)-[0-9a-f]{8}' || true)
for c in /sys/fs/cgroup/*/dockyard/t* /sys/fs/cgroup/dockyard/t*; do
  [ -d "$c" ] && report "cgroup $c"
done
while read -r link; do report "link $link"; done < <(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^dy(t|c)[0-9a-f]{6,8}' || true)
while read -r t; do report "nft table $t"; done < <(nft list tables 2>/dev/null | grep -E 'dockyard_dy(t|c)' || true)
while read -r p; do report "shim process $p"; done < <(pgrep -af 'dockyard-shim run /tmp/dockyard-' || true)
exit $bad
