#!/usr/bin/env bash
# daemon_idle.sh: the daemon's own CPU use while it supervises N healthy fakenode workers
# (default 16) and an archival node, with the default health probe interval (10s) unless
# IDLE_HEALTH_INTERVAL says otherwise. Run by `make bench` after bench.sh.
#   target: daemon CPU <= 1% of one core while idle
# Environment: SLOTKEEPER, FAKENODE (binaries), IDLE_SLOTS (16), IDLE_SECONDS (30).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SK=${SLOTKEEPER:-$root/slotkeeper}
FN=${FAKENODE:-$root/build/fakenode}
N=${IDLE_SLOTS:-16}
SECS=${IDLE_SECONDS:-30}
D=$(mktemp -d "${TMPDIR:-/var/tmp}/sk-idle.XXXXXX")
PORT=$((30000 + RANDOM % 20000))
C=$D/sk.conf
cleanup() {
    pkill -TERM -f "slotkeeper daemon -c $C" 2>/dev/null || true
    for _ in $(seq 100); do pgrep -f "$D/" >/dev/null || break; sleep 0.1; done
    pkill -KILL -f "$D/" 2>/dev/null || true
    rm -rf "$D"
}
trap cleanup EXIT
gt=$(date -u -d '2 minutes ago' +%Y-%m-%dT%H:%M:%S.000)
for d in archive $(seq "$N"); do
    mkdir -p "$D/$d"
    printf '{"initial_timestamp": "%s", "initial_key": "EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV"}\n' \
        "$gt" >"$D/$d/genesis.json"
done
"$SK" repo init "$D/repo" >/dev/null
cat >"$C" <<CONF
[daemon]
control_socket = $D/control.sock
state_dir = $D/state
[repository]
path = $D/repo
[archive]
data_dir = $D/archive
command = $FN --data-dir {data_dir} --http-server-address off --chain-state-db-size-mb 64
snapshot_interval = 1h
[workers]
slots = $N
data_dir = $D/{slot}
command = $FN --data-dir {data_dir} --http-server-address 127.0.0.1:{http_port} --chain-state-db-size-mb 64
http_port_base = $PORT
startup_grace = 2s
health_interval = ${IDLE_HEALTH_INTERVAL:-10s}
CONF
"$SK" daemon -c "$C" 2>"$D/daemon.log" &
dpid=$!
for _ in $(seq 600); do
    n=$("$SK" status -c "$C" 2>/dev/null | awk '$1 ~ /^[0-9]+$/ && $2 == "running"' | wc -l)
    [ "$n" = "$N" ] && break
    sleep 0.2
done
[ "$n" = "$N" ] || { echo "daemon_idle: only $n of $N workers became healthy" >&2; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$dpid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
sleep "$SECS"
t1=$(ticks)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$dpid/status")
pct=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v s="$SECS" 'BEGIN { printf "%.2f", (b - a) / hz / s * 100 }')
verdict=$(awk -v p="$pct" 'BEGIN { print (p <= 1.0) ? "ok" : "MISS" }')
printf 'daemon idle with %d healthy workers + archival node, probes every %s, %ss: CPU %s%% of one core (target <= 1%%: %s), RSS %d KiB\n' \
    "$N" "${IDLE_HEALTH_INTERVAL:-10s}" "$SECS" "$pct" "$verdict" "$rss"
