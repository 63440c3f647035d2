#!/usr/bin/env bash
# A daemon killed between starting a worker and writing its pid file: the next daemon finds the
# node by the two variables in its environment and adopts it, even while the node is still
# starting and has not taken its data-dir's lock, instead of starting a second node on the same
# data-dir (or, once the first holds the lock, backing off forever from "a process slotkeeper
# did not start").
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
write_conf 1 3

# The worker command: a node that takes $W/slow seconds before it starts (nodeos loading its
# libraries and configuration), then fakenode. Only the first start is slow.
cat >"$W/slow-node" <<EOF
#!/bin/bash
sleep "\$(cat "$W/slow" 2>/dev/null || echo 0)"
exec $FAKENODE "\$@"
EOF
chmod +x "$W/slow-node"
sed -i "/^\[workers\]/,\$ s|^command = $FAKENODE |command = $W/slow-node |" "$C"
check "the workers run through the slow start" grep -q "^command = $W/slow-node " "$C"
nodes_on() { pgrep -f "^$FAKENODE --data-dir $1 " | wc -l; }

SLOW=6
[ "$SK_VALGRIND" = 1 ] && SLOW=20 # a memcheck'd daemon takes seconds to start
echo "$SLOW" >"$W/slow"
check "start the daemon" start_daemon
check "it starts slot 1's node" wait_for 1 starting 20
P1=$(pid_of 1)
for _ in $(seq 100); do [ -s "$W/state/slot-1.pid" ] && break; sleep 0.05; done
# As if the daemon had died before writing the pid file (a window of milliseconds).
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
rm -f "$W/state/slot-1.pid"
echo 0 >"$W/slow"
check "the node is alive and still starting (no lock yet)" bash -c "kill -0 $P1 && [ \$(pgrep -f '^$FAKENODE --data-dir $W/1 ' | wc -l) = 0 ]"
check "start a new daemon" start_daemon
check "it adopts the starting node" wait_field 1 4 "$P1" 10
check "the log says so" grep -q "slot 1: found its node running as pid $P1; adopted it" "$W/daemon.log"
check "the adopted node runs" wait_for 1 running $((SLOW + 60))
check "one node on the data-dir, the first" bash -c "[ \$(pgrep -f '^$FAKENODE --data-dir $W/1 ') = $P1 ]"
check "no second start" bash -c "! grep -q 'slot 1: started pid' <(sed -n '/found its node running as pid $P1/,\$p' '$W/daemon.log')"

# The same, found by the check instead: a node of ours that took the lock after the daemon
# started (here: pid file removed and the daemon restarted while it runs, its lock held).
P1=$(pid_of 1)
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
rm -f "$W/state/slot-1.pid"
check "start a third daemon" start_daemon
check "it adopts the running node by its lock and environment" wait_field 1 4 "$P1" 10
check "and it runs" wait_for 1 running 30

# A process of another daemon (another state_dir) is never taken for ours.
"$SK" stop --slot 1 -c "$C" >/dev/null 2>&1
check "slot 1 stopped" wait_for 1 stopped 60
env SLOTKEEPER_SLOT=1 SLOTKEEPER_DAEMON=/elsewhere "$FAKENODE" --data-dir "$W/1" --http-server-address off \
    --chain-state-db-size-mb 64 >>"$W/other.log" 2>&1 &
OTHER=$!
echo "$OTHER" >>"$W/bg.pids"
for _ in $(seq 100); do grep -q 'Blockchain started' "$W/other.log" 2>/dev/null && break; sleep 0.1; done
"$SK" start --slot 1 -c "$C" >/dev/null 2>&1
check "a node of another daemon on the slot's data-dir is not adopted" \
    bash -c "sleep 2; [ \"\$('$SK' status -c '$C' | awk '\$1 == 1 { print \$4 }')\" != $OTHER ]"
check "and not touched" kill -0 "$OTHER"
kill -TERM "$OTHER"
wait "$OTHER" 2>/dev/null

echo "1..$T_N"
