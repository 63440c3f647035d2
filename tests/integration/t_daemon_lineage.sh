#!/usr/bin/env bash
# A restarted daemon takes its last success time (the metric age alerts watch) and its first
# cycle from the newest snapshot of the archive's chain: the highest head block, not a snapshot
# taken with the clock in the future, nor one of another chain. New workers are restored from
# their chain's newest snapshot; one that names no chain follows the archive's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 # libfaketime is preloaded
METRICS_ADDRESS=127.0.0.1:$((PORT + 1000))
write_conf 2 3
rm "$W/2/genesis.json" # slot 2 names no chain: it follows the archive's

# node DIR SECONDS: fakenode on DIR for a while, stopped cleanly.
node() {
    "$FAKENODE" --data-dir "$1" --http-server-address off --chain-state-db-size-mb 64 --catch-up-rate 5000 \
        --block-interval-ms 20 >>"$1.log" 2>&1 &
    local pid=$!
    echo "$pid" >>"$W/bg.pids"
    sleep "$2"
    kill -TERM "$pid"
    wait "$pid"
}
node "$W/archive" 0.5
run 0 "a snapshot with the clock in 2031" faketime '2031-01-01 00:00:00' "$SK" snapshot --data-dir "$W/archive" --repo "$W/repo"
node "$W/archive" 0.3
run 0 "a snapshot at the present time, further along the chain" "$SK" snapshot --data-dir "$W/archive" --repo "$W/repo"
IDP=$(tail -1 "$W/out")
TP=$(sed -n 's/^time \([0-9]*\) .*/\1/p' "$W/repo/snapshots/$IDP")
# Another chain, far ahead and in the future: not the archive's.
mkdir -p "$W/other"
printf '{"initial_timestamp": "%s"}\n' "$(date -u -d '1 hour ago' +%Y-%m-%dT%H:%M:%S.000)" >"$W/other/genesis.json"
node "$W/other" 0.5
run 0 "a snapshot of another chain in 2032" faketime '2032-01-01 00:00:00' "$SK" snapshot --data-dir "$W/other" --repo "$W/repo"

check "the daemon starts" start_daemon
scrape "$METRICS_ADDRESS" >"$W/metrics" 2>/dev/null
last=$(awk '$1 == "slotkeeper_archive_last_success_timestamp_seconds" { print $2 }' "$W/metrics")
check "its last success time is the present snapshot's ($last, want $TP)" test "$last" = "$TP"
check "the first cycle is due an interval after it" grep -Eq "archive: first snapshot cycle in (35[0-9][0-9]|3600)s" "$W/daemon.log"
check "slot 1 (the archive's genesis.json) is restored from the archive chain's newest" \
    bash -c "wait_for() { for _ in \$(seq 300); do grep -q \"\$1\" '$W/daemon.log' && return 0; sleep 0.1; done; return 1; }; wait_for 'slot 1: restored snapshot $IDP'"
check "slot 2 (no chain of its own) follows the archive's chain" \
    bash -c "for _ in \$(seq 300); do grep -q 'slot 2: restored snapshot $IDP' '$W/daemon.log' && exit 0; sleep 0.1; done; exit 1"
