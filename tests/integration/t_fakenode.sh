#!/usr/bin/env bash
# slotkeeper with fakenode, the nodeos stand-in: check's verdicts follow the node's life
# (running, clean after SIGTERM, dirty after SIGKILL), snapshot refuses a live or dirty node,
# and a killed worker restored from the archival node's snapshot starts again and catches up.
. "$(dirname "$0")/lib.sh"
FAKENODE=${FAKENODE:-$ROOT/build/fakenode}

# start_node DIR [ARGS...]: runs fakenode in the background (a child of this shell); sets pid.
start_node() {
    local d=$1
    shift
    local size=--chain-state-db-size-mb
    case " $* " in *" dawn3 "*) size=--shared-memory-size-mb ;; esac # Dawn 3.0's name for it
    "$FAKENODE" --data-dir "$d" --http-server-address off --block-interval-ms 20 "$size" 64 "$@" >>"$d.log" 2>&1 &
    pid=$!
    echo "$pid" >>"$W/bg.pids"
}
# wait_head DIR N: until the node's block log reaches block N (at most 20 s).
wait_head() {
    local i
    for i in $(seq 400); do
        "$SK" check "$1" --json 2>/dev/null | grep -Eq "\"last_block\": ([0-9]+)" &&
            [ "$("$SK" check "$1" --json 2>/dev/null | sed -n 's/.*"last_block": \([0-9]*\).*/\1/p')" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}
last_block() { "$SK" check "$1" --json | sed -n 's/.*"last_block": \([0-9]*\).*/\1/p'; }

R=$W/repo
"$SK" repo init "$R" >/dev/null
A=$W/archive
mkdir -p "$A"
start_node "$A"
check "the archival node produces blocks" wait_head "$A" 20
run 10 "check while it runs: running" "$SK" check "$A"
check "check names the node's pid" grep -q "process $pid holds the lock" "$W/out"
run 5 "snapshot of the running node is refused: exit 5" "$SK" snapshot --data-dir "$A" --repo "$R"
kill -TERM "$pid"
wait "$pid"
check "SIGTERM: the node exits 0" test $? = 0
check "and says nodeos successfully exiting" grep -q "nodeos successfully exiting" "$A.log"
run 0 "check after a clean stop: clean" "$SK" snapshot --data-dir "$A" --repo "$R"
ID=$(tail -1 "$W/out")
head_at_snapshot=$(last_block "$A")

# A worker on the same chain runs, then is killed.
S=$W/slot3
mkdir -p "$S"
cp "$A/genesis.json" "$S/"
start_node "$S"
check "the worker produces blocks" wait_head "$S" 5
kill -KILL "$pid"
wait "$pid" 2>/dev/null
run 11 "check after SIGKILL: dirty" "$SK" check "$S"
run 7 "snapshot of the killed worker is refused: exit 7" "$SK" snapshot --data-dir "$S" --repo "$R"
"$FAKENODE" --data-dir "$S" --http-server-address off --block-interval-ms 20 --chain-state-db-size-mb 64 >"$W/start.log" 2>&1
check "the killed worker refuses to start: exit 2, as nodeos" test $? = 2
check "with nodeos's dirty message" grep -q "database dirty flag set (likely due to unclean shutdown): replay required" "$W/start.log"

# Restore it from the archival node's snapshot; it starts and catches up.
run 0 "restore latest into the killed worker" "$SK" restore --data-dir "$S" --repo "$R"
run 0 "check after the restore: clean" "$SK" check "$S"
start_node "$S"
check "the restored worker starts and catches up past the snapshot's head ($head_at_snapshot)" \
    wait_head "$S" $((head_at_snapshot + 20))
kill -TERM "$pid"
wait "$pid"
check "and stops cleanly" test $? = 0
run 0 "check: clean" "$SK" check "$S" --deep

# Each flavour's layout, as check sees it after a clean stop, after a kill, and while running.
for fl in leap:leap5 spring:spring eosio2:eosio dawn3:dawn3; do
    flavour=${fl%%:*} layout=${fl#*:}
    F=$W/fl-$flavour
    mkdir -p "$F"
    start_node "$F" --flavour "$flavour"
    for _ in $(seq 200); do [ -s "$F/blocks/blocks.index" ] && break; sleep 0.05; done
    if [ "$flavour" != dawn3 ]; then
        run 10 "$flavour: running" "$SK" check "$F"
    fi
    kill -TERM "$pid"
    wait "$pid"
    run 0 "$flavour: clean after SIGTERM" "$SK" check "$F"
    check "$flavour: layout $layout" grep -q "layout:  $layout\$" "$W/out"
    if [ "$flavour" != dawn3 ]; then
        start_node "$F" --flavour "$flavour"
        # until it has opened its state (dirty flag set), as a running nodeos has
        for _ in $(seq 200); do
            [ "$(od -An -tu1 -j8 -N1 "$F/state/shared_memory.bin" | tr -d ' ')" = 1 ] && break
            sleep 0.05
        done
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null
        run 11 "$flavour: dirty after SIGKILL" "$SK" check "$F"
    fi
done
