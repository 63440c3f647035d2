#!/usr/bin/env bash
# `make demo`: the daemon doing its job on an embedded default, with fakenode standing in for
# nodeos. A generated configuration puts an archival node and four worker slots (all fakenode,
# on a chain that started ten minutes ago) in a temporary folder; `slotkeeper daemon` starts
# them, `slotkeeper snapshot -c` runs a first snapshot cycle, then worker 3 is killed with
# SIGKILL (dirty flag) and worker 2's blocks.log is truncated while it is stopped. Through
# `slotkeeper status` we watch the daemon diagnose both slots, restore them from the snapshot,
# restart them and see them catch up. Everything lives in $DEMO_DIR (default: a new folder
# under /var/tmp), which is removed at the end unless DEMO_KEEP=1; every process the demo
# started is stopped, the daemon with SIGTERM (it stops its nodes cleanly).
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SK=$ROOT/slotkeeper
FN=$ROOT/build/fakenode
TIMEOUT=${DEMO_TIMEOUT:-90} # seconds the slots get to come back before the demo fails
for b in "$SK" "$FN"; do
    [ -x "$b" ] || {
        echo "demo: $b is missing; run make first" >&2
        exit 1
    }
done

if [ -n "${DEMO_DIR:-}" ]; then
    D=$DEMO_DIR
    # Only ever empty a folder an earlier demo made.
    if [ -e "$D" ] && [ -n "$(ls -A "$D" 2>/dev/null)" ]; then
        [ -e "$D/.slotkeeper-demo" ] || {
            echo "demo: $D is not empty and not an earlier demo's folder; choose another DEMO_DIR" >&2
            exit 1
        }
        rm -rf "$D"
    fi
    mkdir -p "$D"
else
    D=$(mktemp -d /var/tmp/slotkeeper-demo.XXXXXX)
fi
D=$(cd "$D" && pwd)
touch "$D/.slotkeeper-demo"
C=$D/slotkeeper.conf
LOG=$D/daemon.log
DPID=

cleanup() {
    local rc=$? pids
    trap - EXIT INT TERM
    if [ "$rc" != 0 ] && [ -s "$LOG" ]; then
        echo "demo: failed; the daemon's last log lines:" >&2
        tail -n 25 "$LOG" | sed 's/^/   /' >&2
    fi
    # SIGTERM: the daemon stops every node cleanly, then exits.
    if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
        kill -TERM "$DPID" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
    fi
    # Whatever is left that runs on this folder (a node, a log-writer, a client): SIGKILL.
    pids=$(pgrep -f "$D/" || true)
    # shellcheck disable=SC2086 # one pid a word
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
    wait 2>/dev/null || true
    if [ "${DEMO_KEEP:-0}" = 1 ]; then
        echo "demo: files kept in $D (remove with: rm -rf $D)"
    else
        echo "demo: removing $D (the nodes' data-dirs and the repository; this can take up to a minute)"
        rm -rf "$D"
        echo "demo: removed"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

T0=$EPOCHREALTIME
say() { printf '\n== %s\n' "$*"; }
show() { # prints the command as a reader would type it, then runs it
    local line="$*"
    printf '$ %s\n' "${line//$SK/slotkeeper}"
    "$@"
}
fail() {
    echo "demo: FAILED: $*" >&2
    [ ! -S "$D/control.sock" ] || "$SK" status -c "$C" >&2 || true
    exit 1
}
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; } # seconds since $1
st() { "$SK" status -c "$C" 2>/dev/null; }                                         # the status table
col() { awk -v s="$1" -v n="$2" '$1 == s { print $n; exit }' <<<"$3"; }            # SLOT N TABLE: column N
rows() { awk '$1 == "SLOT" || $1 == 2 || $1 == 3' <<<"$1" | sed 's/^/   /'; }     # slots 2 and 3

# Four ports in a random high range that nothing listens on.
for _ in $(seq 20); do
    PORT=$((40000 + RANDOM % 20000))
    busy=0
    for i in 1 2 3 4; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$((PORT + i))") 2>/dev/null; then busy=1; fi
    done
    [ "$busy" = 1 ] || break
done

# The chain started ten minutes ago: each node has ~1,200 blocks to catch up when it starts.
GENESIS=$(date -u -d '10 minutes ago' +%Y-%m-%dT%H:%M:%S.000)
for d in archive 1 2 3 4; do
    mkdir -p "$D/$d"
    printf '{"initial_timestamp": "%s", "initial_key": "EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV"}\n' \
        "$GENESIS" >"$D/$d/genesis.json"
done
cat >"$C" <<EOF
[daemon]
control_socket = $D/control.sock
state_dir = $D/state
[repository]
path = $D/repo
threads = 2
[archive]
data_dir = $D/archive
command = $FN --data-dir {data_dir} --http-server-address off --chain-state-db-size-mb 64 --catch-up-rate 5000
snapshot_interval = 1h
stop_timeout = 20s
[workers]
slots = 4
data_dir = $D/{slot}
command = $FN --data-dir {data_dir} --http-server-address 127.0.0.1:{http_port} --chain-state-db-size-mb 64 --catch-up-rate 5000
http_port_base = $PORT
startup_grace = 3s
health_interval = 1s
stall_timeout = 30s
backoff_min = 200ms
backoff_max = 2s
stop_timeout = 20s
EOF

say "the configuration: an archival node and four worker slots, fakenode as nodeos (chain started at $GENESIS)"
printf '$ cat %s\n' "$C"
sed 's/^/   /' "$C"
printf '$ slotkeeper config check -c %s >/dev/null\n' "$C"
"$SK" config check -c "$C" >/dev/null
show "$SK" repo init "$D/repo"

say "the daemon starts every node (its log: $LOG)"
printf '$ slotkeeper daemon -c %s >>%s 2>&1 &\n' "$C" "$LOG"
"$SK" daemon -c "$C" </dev/null >>"$LOG" 2>&1 &
DPID=$!
# The workers run once get_info answers (they have caught up); the archival node has no HTTP
# server, so it counts as running once it outlives its 3 s startup grace.
S=
for _ in $(seq $((TIMEOUT * 10))); do
    kill -0 "$DPID" 2>/dev/null || fail "the daemon exited; see its log above"
    S=$(st || true)
    n=$(awk '$1 ~ /^[1-4]$/ && $2 == "running"' <<<"$S" | wc -l)
    [ "$n" = 4 ] && [ "$(col archive 4 "$S")" != - ] && [ -n "$(col archive 4 "$S")" ] && break
    sleep 0.1
done
[ "${n:-0}" = 4 ] || fail "the four workers did not reach running within ${TIMEOUT}s"
show "$SK" status -c "$C"

say "a first snapshot cycle: the daemon stops the archival node cleanly, snapshots it, starts it again"
if grep -q 'none yet' <<<"$S"; then
    echo "   (with an empty repository the daemon runs one on its own after the 3 s startup grace; we ask now)"
else
    echo "   (the daemon already ran its first cycle on its own, the repository being empty; we ask for one more)"
fi
printf '$ slotkeeper snapshot -c %s\n' "$C"
ID=$("$SK" snapshot -c "$C") || fail "the snapshot cycle failed"
echo "$ID"
J=$("$SK" status -c "$C" --json)
DOWN_MS=$(sed -n 's/.*"downtime_ms": *\([0-9]*\).*/\1/p' <<<"$J" | tail -1)
DOWN=$(awk -v m="${DOWN_MS:-0}" 'BEGIN { printf "%.1f", m / 1000 }')
SNAP_HEAD=$(grep -o 'shutting down; head block #[0-9]*' "$D/archive/nodeos.log" | tail -1 | sed 's/.*#//')
echo "   snapshot $ID of the archival node at head block #${SNAP_HEAD:-?}; the node was down ${DOWN}s"
show "$SK" list --repo "$D/repo"
# Let the archival node outlive its startup grace again, and the chain move on a few blocks.
for _ in $(seq $((TIMEOUT * 10))); do
    [ "$(col archive 2 "$(st || true)")" = running ] && break
    sleep 0.1
done
[ "$(col archive 2 "$(st || true)")" = running ] || fail "the archival node did not run again after the cycle"
echo "   the archival node runs again"

say "damage: stop worker 2 through the daemon and cut 100 bytes off its blocks.log; SIGKILL worker 3"
LOG_LINES=$(wc -l <"$LOG")
NODE_LINES2=$(wc -l <"$D/2/nodeos.log")
NODE_LINES3=$(wc -l <"$D/3/nodeos.log")
S=$(st)
PID3=$(col 3 4 "$S")
PID1=$(col 1 4 "$S")
PID4=$(col 4 4 "$S")
if [ -z "$PID3" ] || [ "$PID3" = - ]; then fail "slot 3 has no pid"; fi
show "$SK" stop --slot 2 -c "$C"
show truncate -s -100 "$D/2/blocks/blocks.log"
show kill -9 "$PID3"
T_KILL=$EPOCHREALTIME
printf '$ slotkeeper start --slot 2 -c %s &   (checks the data-dir, restores it if it must, starts the node)\n' "$C"
"$SK" start --slot 2 -c "$C" </dev/null >"$D/start2.out" 2>&1 &
START2=$!

say "the daemon diagnoses, restores (one restore at a time), restarts; slots 2 and 3 in \`slotkeeper status\`"
prev="" up3="" up2="" S=""
for _ in $(seq $((TIMEOUT * 10))); do
    S=$(st || true)
    s2=$(col 2 2 "$S")
    s3=$(col 3 2 "$S")
    p3=$(col 3 4 "$S")
    if [ "$s2 $s3" != "$prev" ]; then
        printf '  +%ss after the kill:\n' "$(since "$T_KILL")"
        rows "$S"
        prev="$s2 $s3"
    fi
    if [ -z "$up3" ] && [ "$s3" = running ] && [ "$p3" != "$PID3" ]; then up3=$(since "$T_KILL"); fi
    if [ -z "$up2" ] && [ "$s2" = running ] && [ "$(col 2 8 "$S")" -ge 1 ] 2>/dev/null; then up2=$(since "$T_KILL"); fi
    [ -n "$up2" ] && [ -n "$up3" ] && break
    sleep 0.1
done
[ -n "$up3" ] || fail "slot 3 was not running again ${TIMEOUT}s after the kill"
[ -n "$up2" ] || fail "slot 2 was not restored and running ${TIMEOUT}s after its blocks.log was cut"
rc2=0
wait "$START2" || rc2=$?
sed 's/^/   /' "$D/start2.out"
[ "$rc2" = 0 ] || fail "slotkeeper start --slot 2 exited $rc2"
[ "$(col 3 8 "$S")" -ge 1 ] 2>/dev/null || fail "slot 3 runs again but was not restored"

say "what the daemon logged about slots 2 and 3 since the damage"
printf '$ grep -E "slot [23]:" %s\n' "$LOG"
tail -n +"$((LOG_LINES + 1))" "$LOG" | grep -E 'slot [23]:' | sed 's/^/   /' || true

say "the restored nodes start at the snapshot's head (#${SNAP_HEAD:-?}) and catch up with the chain"
for n in 2 3; do
    [ "$n" = 2 ] && skip=$NODE_LINES2 || skip=$NODE_LINES3
    new=$(tail -n +"$((skip + 1))" "$D/$n/nodeos.log")
    from=$(grep -o 'Blockchain started; head block is #[0-9]*' <<<"$new" | tail -1 | sed 's/.*#//' || true)
    to=$(grep -o 'caught up at head block #[0-9]*' <<<"$new" | tail -1 | sed 's/.*#//' || true)
    printf '   slot %s (its nodeos.log): started at head block #%s, ' "$n" "${from:-?}"
    if [ -n "$to" ]; then echo "caught up at #$to"; else echo "at most one block behind, nothing to catch up"; fi
done

say "all five nodes run again"
sleep 1.2 # one more health probe, so every HEAD is fresh
show "$SK" status -c "$C"

S=$(st)
if [ "$(col 1 4 "$S") $(col 4 4 "$S")" = "$PID1 $PID4" ]; then
    OTHERS="slots 1 and 4 ran on undisturbed (same pids)"
else
    OTHERS="slots 1 and 4 were restarted too (see the log)"
fi
TOTAL=$(since "$T0")
R2=$(grep -E 'slot 2: (corrupt|dirty|missing)' <(tail -n +"$((LOG_LINES + 1))" "$LOG") | head -1 | sed 's/.*slot 2: //; s/; it needs a restore$//' || true)
R3=$(grep -E 'slot 3: (corrupt|dirty|missing)' <(tail -n +"$((LOG_LINES + 1))" "$LOG") | head -1 | sed 's/.*slot 3: //; s/; it needs a restore$//' || true)
say "summary"
fold -s -w 96 <<EOF | sed 's/^/   /'
The daemon started an archival node and four worker slots from one configuration file. A first snapshot cycle stopped the archival node cleanly, stored snapshot $ID and started the node again: it was down ${DOWN}s. Worker 3 was then killed with SIGKILL; the daemon saw it exit, found its data-dir unusable (${R3:-see the log above}), restored the snapshot into it and restarted it: ${up3}s from the kill to running (healthy) again. Worker 2 was stopped through the daemon and its blocks.log cut short; on \`slotkeeper start --slot 2\` the daemon's pre-start check found it damaged (${R2:-see the log above}), restored it and started it (running ${up2}s after the kill). Both restored workers started at the snapshot's head (block #${SNAP_HEAD:-?}) and caught up with the chain; $OTHERS. The whole demo took ${TOTAL}s.
EOF
echo
