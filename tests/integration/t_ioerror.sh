#!/usr/bin/env bash
# An I/O error is never a verdict (issue 10, item 7): under descriptor pressure, a worker that
# exits cleanly cannot be checked; the daemon says so, checks again a few times, then fails the
# slot visibly. It never calls a slot it could not read "missing", and never restores it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
write_conf 1 3

check "the daemon starts" start_daemon
check "worker 1 runs" wait_for 1 running 60
run 0 "a snapshot to restore from, were one (wrongly) wanted" "$SK" snapshot -c "$C"
check "worker 1 runs again" wait_for 1 running 60
restores=$(field 1 8)
node=$(pgrep -f "^$FAKENODE --data-dir $W/1 ")
check "its node is found" test -n "$node"

# The daemon may open no new descriptor from now on (0, 1 and 2 are taken; the loop's own
# descriptors are already open); then the node exits cleanly.
hard=$(prlimit --pid "$DPID" --nofile --noheadings --output HARD --raw)
from=$(($(wc -l <"$W/daemon.log") + 1))
prlimit --pid "$DPID" --nofile=3:"$hard"
kill -TERM "$node"
for _ in $(seq 100); do [ "$(grep -c 'cannot check' "$W/daemon.log")" -ge 3 ] && break; sleep 0.1; done
check "the daemon says it cannot check the slot" grep -q "cannot check $W/1: .*Too many open files" "$W/daemon.log"
check "it checked again, three times in all" test "$(grep -c "cannot check $W/1" "$W/daemon.log")" -ge 3
if tail -n +"$from" "$W/daemon.log" | grep -q 'missing\|needs a restore'; then
    not_ok "it never calls the slot missing nor wants a restore"
    tail -n +"$from" "$W/daemon.log" | grep -E 'missing|needs a restore' | sed 's/^/#   /'
else
    ok "it never calls the slot missing nor wants a restore"
fi
sleep 1
prlimit --pid "$DPID" --nofile="$hard":"$hard"
check "the slot is failed, visibly" wait_for 1 failed 20
check "and status says why" bash -c "'$SK' status -c '$C' | grep -q 'cannot check'"
check "no restore was made" test "$(field 1 8)" = "$restores"
run 0 "reset once the cause is gone" "$SK" reset --slot 1 -c "$C"
check "the slot runs again, on its own data" wait_for 1 running 60
check "still without a restore" test "$(field 1 8)" = "$restores"
