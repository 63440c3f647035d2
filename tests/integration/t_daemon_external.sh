#!/usr/bin/env bash
# External slots (the Docker Swarm layout): the daemon does not run the workers ([workers]
# command is empty); `slotkeeper run` in each container asks the host daemon, through its
# control socket, to restore the slot when nodeos would refuse it, so the host's
# one-restore-at-a-time budget holds; with no daemon listening, run restores directly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
write_conf 2 3
sed -i 's|^command = .*{http_port}.*$|command =|' "$C"
FN_ARGS=(--http-server-address off --chain-state-db-size-mb 64 --catch-up-rate 5000)

check "the daemon starts with external slots" start_daemon
check "an external slot is stopped (its node runs elsewhere)" wait_for 1 stopped
check "status says it is external" bash -c "'$SK' status -c '$C' | awk '\$1==1' | grep -q external"
check "no node was started for it" test "$(nodes_on "$W/1")" = 0
run 0 "a first snapshot" "$SK" snapshot -c "$C"
ID=$(cat "$W/out")

# A container's entrypoint on a new, empty slot: the daemon restores it, then run starts nodeos.
"$SK" run --slot 1 -c "$C" --tries 1 -- "$FAKENODE" --data-dir "$W/1" "${FN_ARGS[@]}" >"$W/run1.out" 2>&1 &
rp=$!
for _ in $(seq 100); do [ "$(nodes_on "$W/1")" = 1 ] && break; sleep 0.1; done
check "run started the node" test "$(nodes_on "$W/1")" = 1
check "after the host daemon restored the slot" grep -q "the host daemon restored snapshot $ID" "$W/run1.out"
check "the daemon counts the restore" test "$(field 1 8)" = 1
check "and the slot is stopped again in its view (run owns the node)" test "$(field 1 2)" = stopped

run 5 "restore --slot 1 through the daemon refuses while run's node holds the data-dir" \
    "$SK" restore --slot 1 -c "$C"
err_has "in use" "and says it is in use"
check "the node still runs" test "$(nodes_on "$W/1")" = 1

# The node is killed: run exits with its code; the next run (Swarm's restart) gets it restored.
kill -9 "$(pgrep -f "^$FAKENODE --data-dir $W/1 ")"
wait "$rp"
check "run exits with the killed node's code" test $? = 137
"$SK" run --slot 1 -c "$C" -- "$FAKENODE" --data-dir "$W/1" "${FN_ARGS[@]}" >"$W/run2.out" 2>&1 &
rp=$!
for _ in $(seq 100); do [ "$(nodes_on "$W/1")" = 1 ] && break; sleep 0.1; done
check "the next run starts the node" test "$(nodes_on "$W/1")" = 1
check "after the daemon restored the dirty slot" grep -q "the host daemon restored snapshot" "$W/run2.out"
check "the daemon counts a second restore" test "$(field 1 8)" = 2
kill -TERM "$rp"
wait "$rp"
check "SIGTERM to run: the node stops cleanly and run exits 0" test $? = 0
run 0 "the slot is clean" "$SK" check "$W/1"

# Container style: the slot's folder as mounted (--data-dir) and its number (SLOTKEEPER_SLOT).
mkdir -p "$W/mnt"
ln -s "$W/2" "$W/mnt/data"
SLOTKEEPER_SLOT=2 "$SK" run --data-dir "$W/mnt/data" -c "$C" --tries 1 -- "$FAKENODE" --data-dir "$W/mnt/data" \
    "${FN_ARGS[@]}" --stop-at-block 1 >"$W/run3.out" 2>&1
check "with --data-dir and SLOTKEEPER_SLOT, run asks the daemon for slot 2" \
    grep -q "the host daemon restored snapshot" "$W/run3.out"
check "the daemon restored slot 2" test "$(field 2 8)" = 1

# No daemon: run restores directly from the repository.
kill -TERM "$DPID"
wait "$DPID"
"$FAKENODE" --data-dir "$W/1" "${FN_ARGS[@]}" >/dev/null 2>&1 &
fp=$!
sleep 1
kill -9 "$fp"
wait "$fp" 2>/dev/null
run 11 "slot 1 is dirty" "$SK" check "$W/1"
"$SK" run --slot 1 -c "$C" --tries 1 -- "$FAKENODE" --data-dir "$W/1" "${FN_ARGS[@]}" --stop-at-block 1 \
    >"$W/run4.out" 2>&1
check "with no daemon, run restores directly" grep -q "no daemon listens; restoring directly" "$W/run4.out"
run 0 "and the slot is clean after the node's clean exit" "$SK" check "$W/1"
check "no sanitizer report in the daemon's log" bash -c "! grep -Eq 'Sanitizer|runtime error' '$W/daemon.log'"
