#!/usr/bin/env bash
# A node restarted while the log-writer of its previous run still runs (something the node
# started keeps the log pipe open, as a real nodeos's slow exit or a helper process does):
# each run's log-writer has a handle of its own. Spawning the next one into the handle of one
# that had not exited yet corrupted libuv's process list: the daemon spun in its SIGCHLD handler
# and answered nothing (found with a real nodeos, issue 14).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
write_conf 1 3
# The worker's command: a shell that leaves a `sleep` holding the log pipe, then becomes fakenode.
sed -i "/^\[workers\]/,\$ s|^command = \(.*\)|command = /bin/sh -c 'sleep 10 \& exec \1'|" "$C"
grep -q "^command = /bin/sh -c 'sleep 10 & exec $FAKENODE " "$C" || not_ok "the test's worker command is in place"

check "the daemon starts" start_daemon
check "the worker runs" wait_for 1 running
for i in 1 2 3; do
    p=$(pid_of 1)
    kill -TERM "$p"
    check "restart $i: the node that exited by itself is started again" wait_field 1 7 "$i" 30
    check "restart $i: and runs" wait_for 1 running
    check "restart $i: on a new pid" test "$(pid_of 1)" != "$p"
done
writers() { pgrep -fc "^$SK log-writer $W/1/nodeos.log "; }
zombies() { ps --ppid "$DPID" -o stat= | grep -c '^Z'; }
check "the earlier runs' log-writers still run (their pipe is held open)" test "$(writers)" -ge 2
check "the daemon answers meanwhile" "$SK" status -c "$C"
# The sleeps end, the old log-writers see the end of their input and exit: the daemon reaps them.
reaped() {
    for _ in $(seq 300); do
        [ "$(writers)" = 1 ] && [ "$(zombies)" = 0 ] && return 0
        sleep 0.1
    done
    echo "# $(writers) log-writers on slot 1, $(zombies) zombie children of the daemon"
    return 1
}
check "the daemon reaps every log-writer that exits (no zombie child), the current one runs on" reaped
check "the daemon still answers" "$SK" status -c "$C"
kill -TERM "$DPID"
check "SIGTERM: the daemon exits" bash -c "for i in \$(seq 300); do kill -0 $DPID 2>/dev/null || exit 0; sleep 0.1; done; exit 1"
wait "$DPID"
check "with status 0" test $? = 0
echo "1..$T_N"
