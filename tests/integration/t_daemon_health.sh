#!/usr/bin/env bash
# Health probes: a worker that stops answering get_info (SIGSTOP: hung) is restarted after
# the stall timeout, not left serving nothing; it had to be killed, so its dirty state is
# restored before it starts again. Its output goes to its log file through the log-writer,
# which lives on while the node runs.
. "$(dirname "$0")/lib.sh"
STALL_TIMEOUT=3s WORKER_STOP_TIMEOUT=2s
. "$(dirname "$0")/daemon_lib.sh"
write_conf 1 3

check "the daemon starts" start_daemon
check "the worker becomes healthy (get_info answers with a head block)" wait_for 1 running
check "status shows its head block" bash -c "[ \"\$('$SK' status -c '$C' | awk '\$1==1 {print \$6}')\" -gt 0 ]"
run 0 "a first snapshot" "$SK" snapshot -c "$C"
check "the node's output is in its log file" grep -q "fakenode" "$W/1/nodeos.log"
check "written by a log-writer process" pgrep -f "slotkeeper log-writer $W/1/nodeos.log"

p=$(pid_of 1)
kill -STOP "$p"
check "a hung worker is restarted" wait_field 1 7 1 30
check "the daemon said why" grep -Eq "slot 1: get_info did not answer for [0-9]+s \(http://127.0.0.1:[0-9]+/v1/chain/get_info" "$W/daemon.log"
check "the killed node's dirty state was restored" wait_field 1 8 1 30
check "after the stall, SIGTERM and, at the stop timeout, SIGKILL" grep -q "slot 1: pid $p did not stop within the stop timeout" "$W/daemon.log"
check "and the worker is healthy again" wait_for 1 running
check "on a new pid" test "$(pid_of 1)" != "$p"
kill -CONT "$p" 2>/dev/null

kill -TERM "$DPID"
wait "$DPID"
check "the daemon exits 0 on SIGTERM" test $? = 0
for _ in $(seq 50); do pgrep -f "slotkeeper log-writer $W/" >/dev/null || break; sleep 0.1; done
check "the log-writers end with their nodes" test "$(pgrep -f "slotkeeper log-writer $W/" | wc -l)" = 0
check "no sanitizer report in the daemon's log" bash -c "! grep -Eq 'Sanitizer|runtime error' '$W/daemon.log'"
