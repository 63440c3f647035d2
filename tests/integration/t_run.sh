#!/usr/bin/env bash
# run: the worker entrypoint. Clean start, signal forwarding and the node's own exit code,
# dirty start -> restore -> start, the bounded retry, and refusals (in use, nothing to restore from).
. "$(dirname "$0")/lib.sh"
FAKENODE=${FAKENODE:-$ROOT/build/fakenode}
FN_ARGS=(--http-server-address off --block-interval-ms 20 --chain-state-db-size-mb 64)
last_block() { { "$SK" check "$1" --json || true; } | sed -n 's/.*"last_block": \([0-9]*\).*/\1/p'; }
wait_head() {
    for _ in $(seq 400); do
        [ "$(last_block "$1")" -ge "$2" ] 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# An archival node, stopped cleanly and snapshotted.
R=$W/repo
"$SK" repo init "$R" >/dev/null
mkdir -p "$W/archive"
"$FAKENODE" --data-dir "$W/archive" "${FN_ARGS[@]}" --stop-at-block 60 >"$W/archive.log" 2>&1
"$SK" snapshot --data-dir "$W/archive" --repo "$R" >/dev/null 2>&1
check "an archival snapshot to restore from" test "$(ls "$R/snapshots" | wc -l)" = 1

# Clean start; SIGTERM to run reaches the node, which stops cleanly; run exits with its code.
S=$W/slot1
mkdir -p "$S" && cp "$W/archive/genesis.json" "$S/"
"${VG[@]}" "$SK" run --data-dir "$S" --repo "$R" -- "$FAKENODE" --data-dir "$S" "${FN_ARGS[@]}" >"$W/run1.log" 2>&1 &
rpid=$!
echo "$rpid" >>"$W/bg.pids"
check "a fresh slot (missing) is restored, then the node starts and catches up" wait_head "$S" 80
kill -TERM "$rpid"
wait "$rpid"
check "SIGTERM is forwarded: the node exits 0 and so does run" test $? = 0
check "the node's own output passes through" grep -q "nodeos successfully exiting" "$W/run1.log"
run 0 "the slot is clean afterwards" "$SK" check "$S"

# The node's exit code, or 128+signal.
run 42 "run exits with the node's exit code" "${VG[@]}" "$SK" run --data-dir "$S" --repo "$R" -- sh -c 'exit 42'
run 137 "run exits 128+9 when the node is killed" "${VG[@]}" "$SK" run --data-dir "$S" --repo "$R" -- sh -c 'kill -9 $$'
run 127 "a command that cannot start" "${VG[@]}" "$SK" run --data-dir "$S" --repo "$R" -- /no/such/nodeos

# A worker killed with SIGKILL: run restores it before starting, and it catches up.
"$FAKENODE" --data-dir "$S" "${FN_ARGS[@]}" >>"$W/slot1.log" 2>&1 &
npid=$!
wait_head "$S" 90
kill -KILL "$npid"
wait "$npid" 2>/dev/null
run 11 "the killed worker is dirty" "$SK" check "$S"
"${VG[@]}" "$SK" run --data-dir "$S" --repo "$R" -- "$FAKENODE" --data-dir "$S" "${FN_ARGS[@]}" --stop-at-block 150 >"$W/run2.log" 2>&1
check "dirty start -> restore -> start: run exits 0 when the node stops at its block" test $? = 0
check "run said it restored" grep -q "dirty: .*restoring the newest good snapshot" "$W/run2.log"
run 0 "the slot is clean and at block 150" "$SK" check "$S"
check "at block 150" test "$(last_block "$S")" = 150

# A node that keeps failing at startup on its data: restored and retried, then run gives up.
"${VG[@]}" "$SK" run --data-dir "$S" --repo "$R" --tries 2 -- "$FAKENODE" --data-dir "$S" "${FN_ARGS[@]}" --fail-at-startup dirty \
    >"$W/run3.log" 2>&1
rc=$?
check "a node failing at startup every time: run exits with its code 2 after the tries" test "$rc" = 2
check "it restored and tried again once" grep -q "restoring and trying again (2 of 2)" "$W/run3.log"
check "then gave up with a clear message" grep -q "failed to start on its data 2 time(s)" "$W/run3.log"

# Refusals.
pid=$(holdlock "$S/state/shared_memory.bin")
run 5 "a data-dir in use by a live process: exit 5, nothing started" "${VG[@]}" "$SK" run --data-dir "$S" --repo "$R" -- sh -c 'exit 0'
err_has "not starting a second node" "says why"
kill "$pid"
wait "$pid" 2>/dev/null
mkdir -p "$W/empty"
run 7 "a data-dir that needs a restore and no repository: exit 7" "${VG[@]}" "$SK" run --data-dir "$W/empty" -- sh -c 'exit 0'
err_has "no repository is configured" "says why"

# The Swarm form: --slot N -c FILE.
cat >"$W/sk.conf" <<CONF
[repository]
path = $R
[workers]
slots = 3
data_dir = $W/slots/{slot}
command = fakenode --data-dir {data_dir}
startup_grace = 30s
CONF
mkdir -p "$W/slots/2" && cp "$W/archive/genesis.json" "$W/slots/2/"
"${VG[@]}" "$SK" run --slot 2 -c "$W/sk.conf" -- "$FAKENODE" --data-dir "$W/slots/2" "${FN_ARGS[@]}" --stop-at-block 100 \
    >"$W/run4.log" 2>&1
check "run --slot 2 -c: restores slot 2 and runs its node" test $? = 0
run 0 "slot 2 is clean" "$SK" check "$W/slots/2"
mkdir -p "$W/slots/3" && cp "$W/archive/genesis.json" "$W/slots/3/"
SLOTKEEPER_SLOT=3 "${VG[@]}" "$SK" run -c "$W/sk.conf" -- "$FAKENODE" --data-dir "$W/slots/3" "${FN_ARGS[@]}" --stop-at-block 70 \
    >"$W/run5.log" 2>&1
check "SLOTKEEPER_SLOT=3 (Swarm's {{.Task.Slot}} in env) picks slot 3" test $? = 0
run 0 "slot 3 is clean" "$SK" check "$W/slots/3"

# A slot whose nodeos build differs from the archival node's: no snapshot its node would accept.
mkdir -p "$W/slots/1" && cp -a "$S/." "$W/slots/1/"
printf '\001' | dd of="$W/slots/1/state/shared_memory.bin" bs=1 seek=8 conv=notrunc status=none
printf 'other-compiler\000\000\000\000' | dd of="$W/slots/1/state/shared_memory.bin" bs=1 seek=528 conv=notrunc status=none
run 8 "a dirty slot built by another compiler: no matching snapshot, exit 8, nothing started" \
    "${VG[@]}" "$SK" run --slot 1 -c "$W/sk.conf" -- sh -c 'exit 0'
err_has "whose state environment matches the reference" "says why"
check "the slot was left as it was (still dirty, no quarantine)" \
    bash -c "[ \"\$(od -An -tu1 -j8 -N1 '$W/slots/1/state/shared_memory.bin' | tr -d ' ')\" = 1 ] && [ ! -e '$W/slots/1/.slotkeeper/restoring' ]"

run 2 "a bad SLOTKEEPER_SLOT is a usage error" env SLOTKEEPER_SLOT=abc "${VG[@]}" "$SK" run -c "$W/sk.conf" -- sh -c 'exit 0'
run 2 "a bad --startup-grace is a usage error" "${VG[@]}" "$SK" run --data-dir "$S" --startup-grace soon -- sh -c 'exit 0'
run 2 "run without a command is a usage error" "${VG[@]}" "$SK" run --data-dir "$S"
