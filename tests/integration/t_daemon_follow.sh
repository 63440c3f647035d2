#!/usr/bin/env bash
# A host that follows an upstream repository keeps its own retention: after each copy the daemon
# prunes its local repository to [repository] keep_last, as the archive's cycle does after a
# snapshot; the upstream keeps what it keeps. (The upstream here is a folder; tests/s3/ follow
# one on S3.)
. "$(dirname "$0")/lib.sh"
C=$W/follow.conf
SOCK=$W/control.sock
UP=$W/up
LOCAL=$W/local
"$SK" repo init "$UP" --quiet >/dev/null
"$SK" repo init "$LOCAL" --quiet >/dev/null
mkdd "$W/dd" --blocks-size 2M --state-size 8M --state-data 1M --seed 4
cat >"$C" <<CONF
[daemon]
control_socket = $SOCK
state_dir = $W/state
log_level = debug
[repository]
path = $LOCAL
upstream = $UP
sync_interval = 1s
keep_last = 2
CONF
VG_WAIT=1
[ "$SK_VALGRIND" = 1 ] && VG_WAIT=10
"${VG[@]}" "$SK" daemon -c "$C" >>"$W/daemon.log" 2>&1 &
DPID=$!
stop_daemon() { kill -TERM "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null; }
trap 'stop_daemon; finish' EXIT
for _ in $(seq $((100 * VG_WAIT))); do [ -S "$SOCK" ] && break; sleep 0.1; done
check "the follower daemon runs" [ -S "$SOCK" ]

# copied ID: waits until the follower has copied ID (and pruned after it).
copied() {
    for _ in $(seq $((200 * VG_WAIT))); do
        grep -q "sync: copied snapshot $1 " "$W/daemon.log" && [ -e "$LOCAL/snapshots/$1" ] && return 0
        sleep 0.1
    done
    tail -5 "$W/daemon.log" | sed 's/^/#   /'
    return 1
}
IDS=()
for i in 1 2 3; do
    "$MKDATADIR" mutate "$W/dd" --append-pct 5 --rewrite-pct 5 --seed "$i" >/dev/null
    run 0 "snapshot $i upstream" "$SK" snapshot --repo "$UP" --data-dir "$W/dd" --quiet
    IDS+=("$(cat "$W/out")")
    check "the follower copies snapshot $i" copied "${IDS[-1]}"
done
for _ in $(seq $((50 * VG_WAIT))); do grep -q 'sync: pruned 1 snapshot(s), keeping the last 2' "$W/daemon.log" && break; sleep 0.1; done
check "the follower pruned its own repository to keep_last = 2" [ "$(ls "$LOCAL/snapshots" | grep -cv '\.')" = 2 ]
check "the oldest one went" [ ! -e "$LOCAL/snapshots/${IDS[0]}" ]
check "it says so" grep -q 'sync: pruned 1 snapshot(s), keeping the last 2' "$W/daemon.log"
check "the upstream keeps all three" [ "$(ls "$UP/snapshots" | grep -cv '\.')" = 3 ]
# An idle poll lists the two snapshots/ folders and stops there (no lock, no manifest read).
for _ in $(seq $((50 * VG_WAIT))); do grep -q 'sync: nothing new upstream' "$W/daemon.log" && break; sleep 0.1; done
check "an idle poll finds nothing new from the listings alone" grep -q 'sync: nothing new upstream' "$W/daemon.log"
# A local copy that went away (an operator's mistake) is seen: the local listing changed.
rm "$LOCAL/snapshots/${IDS[2]}"
check "the follower copies again what the local repository lost" copied "${IDS[2]}"
copies() { grep -c "sync: copied snapshot ${IDS[2]} " "$W/daemon.log"; }
for _ in $(seq $((50 * VG_WAIT))); do [ "$(copies)" = 2 ] && break; sleep 0.1; done
check "twice in its log" [ "$(copies)" = 2 ]
run 0 "the local repository verifies" "$SK" verify --all --repo "$LOCAL" --no-progress
run 0 "a restore from the local copy" "$SK" restore --repo "$LOCAL" --data-dir "$W/r" --quiet
check "is the newest upstream snapshot, byte-identical" same_tree "$W/dd" "$W/r"
stop_daemon
check "the daemon stops cleanly" bash -c "! kill -0 $DPID 2>/dev/null"

echo "1..$T_N"
