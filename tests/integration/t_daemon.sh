#!/usr/bin/env bash
# The daemon with real processes: an archival fakenode and worker fakenodes, the
# snapshot cycle, each corruption kind leading to a restore, a plain crash leading
# to a restart, the restore budget reaching `failed`, a damaged newest snapshot
# falling back to an older one, the control socket (good, garbage and oversized
# requests), SIGHUP with a bad and a good file, kill -9 of the daemon (the nodes
# live on and the next daemon adopts them), and SIGTERM stopping every node cleanly.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon_lib.sh"
write_conf 2 3

check "the daemon starts and answers on its socket" start_daemon
check "a new worker slot starts from genesis (nothing to restore yet)" wait_for 1 running
check "so does slot 2" wait_for 2 running
check "the archival node runs" wait_for archive running
check "the socket is mode 0600" test "$(stat -c %a "$SOCK")" = 600

# The snapshot cycle, through the daemon, as cron runs it.
run 0 "snapshot -c asks the daemon for a cycle" "$SK" snapshot -c "$C"
ID1=$(cat "$W/out")
check "it prints the new snapshot id" test -n "$ID1" -a -f "$W/repo/snapshots/$ID1"
err_has "through the daemon" "and says it went through the daemon"
# The downtime is the stop and snapshot, then the start: the parts add up (issue 16, 7).
check "it says the downtime and its parts, which add up" bash -c "
    l=\$(grep -Eo 'archival node down [0-9.]+s \\(stop and snapshot [0-9.]+s, start [0-9.]+s\\)' '$W/err') &&
    echo \"\$l\" | tr -c '0-9.\\n' ' ' | awk '{ d = \$1 - \$2 - \$3; exit !(d > -0.15 && d < 0.15) }'"
check "the archival node runs again after the cycle" wait_for archive running
check "the cycle is in the status, with its downtime" bash -c "'$SK' status -c '$C' | grep -q '$ID1'"
run 0 "the new snapshot verifies" "$SK" verify "$ID1" --repo "$W/repo"
run 0 "status --json" "$SK" status -c "$C" --json
check "status --json has the slots and the cycles" grep -q '"cycles"' "$W/out"

# A kill -9 leaves the dirty flag: the node cannot start; the daemon restores it.
p1=$(pid_of 1)
kill -9 "$p1"
check "slot 1 killed with SIGKILL is restored" wait_field 1 8 1
check "and runs again" wait_for 1 running
check "on a new pid" test "$(pid_of 1)" != "$p1"
check "the dirty state went to quarantine" test -n "$(ls "$W/1/.slotkeeper/quarantine" 2>/dev/null)"
check "the log says the path and the bytes" \
    grep -Eq "slot 1: restored snapshot [^ ]+ \(delta: [0-9.]+ [KMG]?i?B written, 0 B cloned, [0-9.]+ [KMG]?i?B unchanged\)" "$W/daemon.log"
run 0 "status --json after the restore" "$SK" status -c "$C" --json
check "status --json says the last restore's path and bytes" \
    bash -c "grep -q '\"last_restore\"' '$W/out' && grep -q '\"path\": \"delta\"' '$W/out' && grep -q '\"bytes_unchanged\"' '$W/out'"
check "one node on slot 1" nodes_are "$W/1" 1

# Stopped through the daemon, then damaged: a truncated blocks.log is found before the start.
run 0 "stop --slot 2 stops its node cleanly" "$SK" stop --slot 2 -c "$C"
check "slot 2 is stopped" test "$(field 2 2)" = stopped
check "no node on slot 2" nodes_are "$W/2" 0
run 0 "and its data-dir is clean" "$SK" check "$W/2"
truncate -s -100 "$W/2/blocks/blocks.log"
run 0 "start --slot 2" "$SK" start --slot 2 -c "$C"
err_has "slot 2: node started, pid [0-9]+; state starting until it answers|slot 2: running" \
    "start says the node was started (it does not wait until it answers)"
check "slot 2 with a truncated blocks.log was restored before it started" test "$(field 2 8)" = 1
check "the daemon named what was wrong" grep -Eq "slot 2: corrupt: .*block" "$W/daemon.log"
check "and runs" wait_for 2 running

# A deleted state folder: missing, restored.
run 0 "stop --slot 2 again" "$SK" stop --slot 2 -c "$C"
rm -rf "$W/2/state"
run 0 "start --slot 2 again" "$SK" start --slot 2 -c "$C"
check "slot 2 without its state was restored" test "$(field 2 8)" = 2
check "and runs" wait_for 2 running
# Beside a running slot, DETAIL shows no healed failure and no stale head block (issue 16, 7).
sleep 1.2 # one more health probe
run 0 "status" "$SK" status -c "$C"
check "status has a legend for DETAIL" grep -q "^DETAIL: " "$W/out"
check "a running slot's DETAIL is '-' (its restore is healed; HEAD has the head)" \
    bash -c "awk '\$1 == 2 && \$2 == \"running\" { print \$NF }' '$W/out' | grep -qx -- -"
run 0 "status --json" "$SK" status -c "$C" --json
check "--json still has the last failure" bash -c "grep -q '\"last_failure\": \"[a-z]' '$W/out'"

# A state made by another build (its header's compiler string differs): check cannot tell
# without a reference, nodeos refuses it at startup and says why in its log; the daemon
# restores the newest snapshot (not one matching the wrong environment) and it starts.
run 0 "stop --slot 1" "$SK" stop --slot 1 -c "$C"
r1=$(field 1 8)
printf 'X' | dd of="$W/1/state/shared_memory.bin" bs=1 seek=528 conv=notrunc status=none
run 0 "start --slot 1 on a state from another build" "$SK" start --slot 1 -c "$C"
check "the node refuses it and the daemon restores it" wait_field 1 8 $((r1 + 1))
check "because the log says the state is from another environment" \
    grep -q "slot 1: corrupt: its log says \"Database incompatible\"" "$W/daemon.log"
check "and slot 1 runs" wait_for 1 running

# A clean stop the daemon did not ask for is a crash without damage: restart, no restore.
r1=$(field 1 8)
kill -TERM "$(pid_of 1)"
check "a node that exits cleanly on its own is restarted" wait_field 1 7 1
check "and runs" wait_for 1 running
check "without a restore" test "$(field 1 8)" = "$r1"

# Operator restore through the daemon.
run 0 "restore --slot 1 goes through the daemon" "$SK" restore --slot 1 -c "$C"
check "it prints the snapshot it restored" grep -qx "$ID1" "$W/out"
check "slot 1 runs after the operator's restore" wait_for 1 running
run 2 "restore --slot 9: no such slot" "$SK" restore --slot 9 -c "$C"

# The restore budget: three of the daemon's own restores per hour (the operator's do not
# count). Slot 2 has had two; one more is allowed, the next need sends it to failed.
kill -9 "$(pid_of 2)"
check "slot 2's third restore within the window" wait_field 2 8 3
check "runs" wait_for 2 running
kill -9 "$(pid_of 2)"
check "a fourth need of a restore within the window: failed" wait_for 2 failed
check "no node runs on the failed slot" nodes_are "$W/2" 0
check "the daemon said so loudly" grep -q "slot 2: FAILED: restore budget spent" "$W/daemon.log"
run 0 "reset --slot 2" "$SK" reset --slot 2 -c "$C"
check "after reset slot 2 is restored and runs" wait_for 2 running
check "with its fourth restore" test "$(field 2 8)" = 4

# A damaged newest snapshot: the restore marks it bad and falls back to the older one.
run 0 "a second cycle" "$SK" snapshot -c "$C"
ID2=$(cat "$W/out")
only2=$(comm -13 <(grep '^c ' "$W/repo/snapshots/$ID1" | cut -d' ' -f3 | sort -u) \
    <(grep '^c ' "$W/repo/snapshots/$ID2" | cut -d' ' -f3 | sort -u) | head -1)
chunk=$W/repo/chunks/${only2:0:2}/$only2
check "found a chunk only the newest snapshot uses" test -f "$chunk"
sz=$(stat -c %s "$chunk")
printf '\xff' | dd of="$chunk" bs=1 seek=$((sz / 2)) conv=notrunc status=none
r1=$(field 1 8)
# (A delta restore reads only the chunks the slot lacks, and a worker of the same chain may
# already hold that one: slot 1 loses its data, so that its restore needs every chunk.)
run 0 "stop --slot 1" "$SK" stop --slot 1 -c "$C"
rm -rf "$W/1/blocks" "$W/1/state"
run 0 "start --slot 1 without its data" "$SK" start --slot 1 -c "$C"
check "slot 1 is restored despite the damaged newest snapshot" wait_field 1 8 $((r1 + 1))
check "and runs" wait_for 1 running
check "the damaged snapshot is marked bad" test -f "$W/repo/snapshots/$ID2.bad"
check "slot 1 got the older snapshot" grep -q "slot 1: restored snapshot $ID1" "$W/daemon.log"

# The control socket: bad clients get an error line and never stall the daemon.
printf 'this is not json\n{"v":1,"cmd":"ping"}\n' | "$CTLSEND" "$SOCK" 1000 >"$W/ctl.out"
check "garbage gets an error answer" grep -q '"ok": *false' "$W/ctl.out"
check "and the connection still serves a good request" grep -q '"pid"' "$W/ctl.out"
printf '{"v":2,"cmd":"status"}\n{"v":1}\n{"v":1,"cmd":"explode"}\n[1,2]\n' | "$CTLSEND" "$SOCK" 1000 >"$W/ctl.out"
check "a wrong version, no cmd, an unknown cmd, a non-object: four error answers" \
    test "$(grep -c '"ok": *false' "$W/ctl.out")" = 4
head -c 200000 /dev/zero | tr '\0' 'x' | "$CTLSEND" "$SOCK" 5000 >"$W/ctl.out"
rc=$?
check "an oversized request is answered and closed" test "$rc" = 0
check "with an error saying so" grep -q '"ok": *false' "$W/ctl.out"
printf '{"v":1,"cmd":"sta' | "$CTLSEND" "$SOCK" 500 >/dev/null &
half=$!
run 0 "a half-sent request does not stall anyone" "$SK" status -c "$C"
kill "$half" 2>/dev/null
wait "$half" 2>/dev/null

# SIGHUP: a bad file is refused and the old one stays; a good one is applied.
cp "$C" "$W/good.conf"
echo "bogus_key = 1" >>"$C"
kill -HUP "$DPID"
for _ in $(seq 50); do grep -q "reload refused" "$W/daemon.log" && break; sleep 0.1; done
check "a bad file on SIGHUP is refused, naming the line" grep -q "reload refused: $C: line [0-9]*: .*bogus_key" "$W/daemon.log"
run 0 "the daemon still serves" "$SK" status -c "$W/good.conf"
check "and both slots still run" bash -c "[ \"\$(awk '\$1==1||\$1==2 {print \$2}' '$W/out' | sort -u)\" = running ]"
# Overlapping paths (issue 10, 6): slots 1..3 on one folder, the archival node's, are refused on
# reload as they are by config check, and nothing starts a second node on it.
sed 's|^data_dir = .*{slot}$|data_dir = '"$W"'/archive/{slot}/..|' "$W/good.conf" >"$C"
sed -i 's|^slots = .*|slots = 3|' "$C"
kill -HUP "$DPID"
for _ in $(seq 50); do [ "$(grep -c "reload refused" "$W/daemon.log")" = 2 ] && break; sleep 0.1; done
check "a file whose slots share the archive's folder is refused on SIGHUP, naming the line" \
    grep -q "reload refused: $C: line [0-9]*: \\[workers\\] data_dir: $W/archive/1/..: slot 1's data-dir is the same folder as the archival data-dir" "$W/daemon.log"
run 2 "and by a daemon at its start" "$SK" daemon -c "$C"
err_has "$C: line [0-9]*: \\[workers\\] data_dir: .*same folder as the archival data-dir" "which says where and why"
check "one archival node, no worker on its folder" nodes_are "$W/archive" 1
cp "$W/good.conf" "$C"
write_conf 3 3
kill -HUP "$DPID"
check "a good file adds slot 3" wait_for 3 running
p1=$(pid_of 1)
sed -i 's|^\(command = .*{http_port}.*\)$|\1 --block-interval-ms 500|' "$C"
kill -HUP "$DPID"
for _ in $(seq 200); do
    p=$(pid_of 1)
    [[ $p =~ ^[0-9]+$ ]] && [ "$p" != "$p1" ] && break
    sleep 0.1
done
check "a changed worker command restarts the slot on the new command" \
    bash -c "[ -n \"\$(pgrep -f '^$FAKENODE --data-dir $W/1 .*--block-interval-ms 500')\" ]"
check "and it runs" wait_for 1 running
check "the old node was stopped cleanly, not killed" bash -c "! grep -q 'slot 1: pid $p1 did not stop' '$W/daemon.log'"
write_conf 1 3
kill -HUP "$DPID"
for _ in $(seq 100); do [ "$(nodes_on "$W/2")" = 0 ] && [ "$(nodes_on "$W/3")" = 0 ] && break; sleep 0.1; done
check "removing slots stops their nodes" test "$(nodes_on "$W/2")$(nodes_on "$W/3")" = 00
run 0 "slot 3's data-dir was stopped cleanly" "$SK" check "$W/3"
check "slot 1, whose command changed back, runs again" wait_for 1 running

# SIGTERM ends this first, busiest daemon run (cycles, restores, the bad clients, reloads), so
# that under valgrind (SK_VALGRIND=1) its leak check covers all of that; the next daemon starts
# the nodes again from their clean state.
kill -TERM "$DPID"
wait "$DPID"
check "SIGTERM to the first daemon: exit 0" test $? = 0
# A pid file naming a node that has exited but is not reaped yet (a zombie; init may take its
# time to reap the nodes of a daemon that died) is not taken for a live node.
bash -c 'sleep 0.1 & exec sleep 60' &
zparent=$!
zpid=
for _ in $(seq 50); do
    zpid=$(ps -o pid= --ppid "$zparent" | tr -d ' ')
    [ -n "$zpid" ] && [ "$(awk '{print $3}' "/proc/$zpid/stat" 2>/dev/null)" = Z ] && break
    sleep 0.1
done
check "a zombie to name in slot 1's pid file" test "$(awk '{print $3}' "/proc/$zpid/stat" 2>/dev/null)" = Z
echo "$zpid $(awk '{print $22}' "/proc/$zpid/stat")" >"$W/state/slot-1.pid"
printf 'not json\n{"start": "x"}\n' >>"$W/state/archive.cycles" # damaged lines are skipped
check "start the next daemon" start_daemon
check "it starts slot 1 again" wait_for 1 running
check "it still shows the earlier daemon's cycles" bash -c "'$SK' status -c '$C' | grep -q '$ID1'"
check "and keeps them in state_dir/archive.cycles" grep -q "\"snapshot\":\"$ID2\"" "$W/state/archive.cycles"
check "damaged lines of that file are skipped with a warning" \
    grep -q "archive.cycles: 2 unreadable line(s) skipped" "$W/daemon.log"
check "rather than adopting the zombie its pid file named" \
    bash -c "[ '$(pid_of 1)' != '$zpid' ] && ! grep -q 'adopted pid $zpid\$' '$W/daemon.log'"
kill "$zparent" 2>/dev/null
wait "$zparent" 2>/dev/null
check "and the archival node" wait_for archive running

# kill -9 of the daemon: nodes live on, the next daemon adopts them.
p1=$(pid_of 1)
pa=$(pid_of archive)
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
sleep 0.5
check "nodes survive the daemon's death" kill -0 "$p1"
check "start a new daemon" start_daemon
check "it adopts slot 1's node" wait_field 1 4 "$p1"
check "and the archival node" wait_field archive 4 "$pa"
check "no second node was started" nodes_are "$W/1" 1
run 4 "a second daemon on the same state_dir is refused" "$SK" daemon -c "$C"

# kill -9 of the daemon in the middle of a cycle: nothing half-published, the next daemon
# finds the archival node stopped and clean and starts it; the next cycle works.
"$SK" snapshot -c "$C" >/dev/null 2>&1 &
cyc=$!
for _ in $(seq 100); do grep -q "archive: cycle: stopping" <(tail -5 "$W/daemon.log") && break; sleep 0.05; done
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
wait "$cyc" 2>/dev/null
check "start a daemon after the one killed mid-cycle" start_daemon
check "the archival node runs again" wait_for archive running
check "one archival node" nodes_are "$W/archive" 1
run 0 "every published snapshot but the damaged one verifies" "$SK" verify "$ID1" --repo "$W/repo"
run 0 "the next cycle works" "$SK" snapshot -c "$C"

# kill -9 of the daemon in the middle of a restore: the slot is finished or redone. Each
# round may cost the next daemon one restore of its own (an unfinished restore found at start
# is redone, and counted): start from an empty budget so three rounds fit in it.
run 0 "reset --slot 1 before the rounds" "$SK" reset --slot 1 -c "$C"
for round in 1 2 3; do
    "$SK" restore --slot 1 -c "$C" >/dev/null 2>&1 &
    rp=$!
    sleep "0.$((RANDOM % 5))"
    kill -9 "$DPID"
    wait "$DPID" 2>/dev/null
    wait "$rp" 2>/dev/null
    start_daemon || echo "# round $round: daemon did not start"
done
check "after daemons killed mid-restore, slot 1 runs" wait_for 1 running
check "with exactly one node" nodes_are "$W/1" 1
check "and no restore marker" test ! -e "$W/1/.slotkeeper/restoring"

# SIGTERM: every node stops cleanly, then the daemon exits 0.
kill -TERM "$DPID"
wait "$DPID"
check "SIGTERM: the daemon exits 0" test $? = 0
check "no node is left" test "$(pgrep -f "fakenode --data-dir $W/" | wc -l)" = 0
run 0 "slot 1 was stopped cleanly" "$SK" check "$W/1"
run 0 "the archival node was stopped cleanly" "$SK" check "$W/archive"
check "the socket file is gone" test ! -e "$SOCK"
check "no sanitizer report in the daemon's log" bash -c "! grep -Eq 'Sanitizer|runtime error' '$W/daemon.log'"
