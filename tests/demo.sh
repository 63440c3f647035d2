#!/usr/bin/env bash
# `make demo`: the main job on an embedded default, with fakenode standing in for nodeos.
# An archival node (a chain that started two hours ago, so it has ~14,000 blocks to catch up)
# is stopped cleanly and snapshotted; it runs on and is snapshotted again (incremental). A
# worker on the same chain is killed with SIGKILL: nodeos refuses to start it (dirty flag).
# slotkeeper diagnoses it, restores it from the newest snapshot, and the worker starts and
# catches up. Everything lives under $DEMO_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SK=$ROOT/slotkeeper
FN=$ROOT/build/fakenode
D=${DEMO_DIR:-/var/tmp/slotkeeper-demo}
rm -rf "$D"
mkdir -p "$D/archive" "$D/slots/3"
say() { printf '\n== %s\n' "$*"; }
show() {
    printf '$ %s\n' "$*"
    "$@"
}
node() { # DIR [ARGS]: a node in the background, its log in DIR.log; sets pid
    local d=$1
    shift
    "$FN" --data-dir "$d" --http-server-address off --chain-state-db-size-mb 1024 "$@" >>"$d.log" 2>&1 &
    pid=$!
}
head_of() { { "$SK" check "$1" --json || true; } | sed -n 's/.*"last_block": \([0-9]*\).*/\1/p'; }
wait_head() { # DIR N
    for _ in $(seq 600); do
        [ "$(head_of "$1" 2>/dev/null || echo 0)" -ge "$2" ] 2>/dev/null && return 0
        sleep 0.1
    done
    echo "demo: $1 did not reach block $2" >&2
    return 1
}
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

genesis_time=$(date -u -d '2 hours ago' +%Y-%m-%dT%H:%M:%S.000)
printf '{\n  "initial_timestamp": "%s",\n  "initial_key": "EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV"\n}\n' \
    "$genesis_time" >"$D/archive/genesis.json"
cp "$D/archive/genesis.json" "$D/slots/3/genesis.json"

say "the archival node (fakenode, genesis at $genesis_time) starts and catches up"
node "$D/archive"
wait_head "$D/archive" 14000
show "$SK" check "$D/archive" || true

say "stop it cleanly (SIGTERM), check, snapshot, start it again"
kill -TERM "$pid" && wait "$pid"
tail -1 "$D/archive.log"
show "$SK" check "$D/archive"
show "$SK" repo init "$D/repo"
show "$SK" snapshot --data-dir "$D/archive" --repo "$D/repo"
node "$D/archive"
sleep 3
kill -TERM "$pid" && wait "$pid"
say "a few seconds later, an incremental snapshot stores only what changed"
show "$SK" snapshot --data-dir "$D/archive" --repo "$D/repo"
show "$SK" list --repo "$D/repo"
show "$SK" verify --all --repo "$D/repo"

say "worker slot 3 runs on the same chain, and is killed (SIGKILL: a stop timeout too short, an OOM)"
node "$D/slots/3"
wait_head "$D/slots/3" 2000
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
echo "p2p-peer-address = peer-of-slot-3:9876" >>"$D/slots/3/config.ini"
show "$SK" check "$D/slots/3" || true
echo "\$ fakenode --data-dir $D/slots/3   (what nodeos does now)"
"$FN" --data-dir "$D/slots/3" --http-server-address off --chain-state-db-size-mb 1024 2>&1 | tail -1 || true

say "restore the newest good snapshot into slot 3 (its config.ini stays), then start it"
show "$SK" restore --snapshot latest --data-dir "$D/slots/3" --repo "$D/repo"
show "$SK" check "$D/slots/3"
echo "   the slot kept its own config.ini: $(grep peer-of-slot-3 "$D/slots/3/config.ini")"
echo "   the broken folders were quarantined in: $(ls -d "$D"/slots/3/.slotkeeper/quarantine/*)"
restored=$(head_of "$D/slots/3")
node "$D/slots/3"
wait_head "$D/slots/3" $((restored + 50))
echo "   slot 3 started from block $restored and is catching up: now at block $(head_of "$D/slots/3")"
kill -TERM "$pid" && wait "$pid"
show "$SK" check "$D/slots/3"

say "retention: keep the newest snapshot, free the rest"
show "$SK" prune --keep-last 1 --repo "$D/repo"
echo
echo "demo done; files are in $D (remove with: rm -rf $D)"
