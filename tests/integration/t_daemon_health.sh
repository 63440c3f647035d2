#!/usr/bin/env bash
# Health probes: a worker that stops answering get_info (SIGSTOP: hung) is restarted after
# the stall timeout, not left serving nothing; it had to be killed, so its dirty state is
# restored before it starts again. Its output goes to its log file through the log-writer,
# which lives on while the node runs.
. "$(dirname "$0")/lib.sh"
STALL_TIMEOUT=3s WORKER_STOP_TIMEOUT=2s
. "$(dirname "$0")/daemon_lib.sh"
METRICS_ADDRESS=127.0.0.1:$((PORT + 1000))
write_conf 1 3

check "the daemon starts" start_daemon
check "the worker becomes healthy (get_info answers with a head block)" wait_for 1 running
check "status shows its head block" bash -c "[ \"\$('$SK' status -c '$C' | awk '\$1==1 {print \$6}')\" -gt 0 ]"
run 0 "a first snapshot" "$SK" snapshot -c "$C"
check "the node's output is in its log file" grep -q "fakenode" "$W/1/nodeos.log"
check "written by a log-writer process" bash -c "pgrep -f \"slotkeeper log-writer $W/1/nodeos.log\" >/dev/null"

p=$(pid_of 1)
kill -STOP "$p"
check "a hung worker is restarted" wait_field 1 7 1 30
check "the daemon said why" grep -Eq "slot 1: get_info did not answer for [0-9]+s \(http://127.0.0.1:[0-9]+/v1/chain/get_info" "$W/daemon.log"
check "the killed node's dirty state was restored" wait_field 1 8 1 30
check "after the stall, SIGTERM and, at the stop timeout, SIGKILL" grep -q "slot 1: pid $p did not stop within the stop timeout" "$W/daemon.log"
check "and the worker is healthy again" wait_for 1 running
check "on a new pid" test "$(pid_of 1)" != "$p"
kill -CONT "$p" 2>/dev/null

# Prometheus metrics, scraped.
scrape "$METRICS_ADDRESS" >"$W/metrics" 2>/dev/null
check "metrics: HTTP 200 in Prometheus' text format" \
    bash -c "head -1 '$W/metrics' | grep -q ' 200 ' && grep -qi '^content-type: text/plain; version=0.0.4' '$W/metrics'"
check "metrics: slot 1 is running" grep -q '^slotkeeper_slot_state{slot="1",state="running"} 1' "$W/metrics"
check "metrics: its restore is counted as dirty" grep -q '^slotkeeper_slot_restores_total{slot="1",reason="dirty"} 1' "$W/metrics"
check "metrics: its restore took the delta path" grep -q '^slotkeeper_slot_last_restore_path{slot="1",path="delta"} 1' "$W/metrics"
check "metrics: the bytes it left alone" grep -Eq '^slotkeeper_slot_restore_bytes_total\{slot="1",how="unchanged"\} [1-9][0-9]*$' "$W/metrics"
check "metrics: its restart is counted" grep -q '^slotkeeper_slot_restarts_total{slot="1"} 1' "$W/metrics"
check "metrics: its head block" grep -Eq '^slotkeeper_slot_head_block\{slot="1"\} [1-9][0-9]*$' "$W/metrics"
check "metrics: one published cycle" grep -q '^slotkeeper_archive_cycles_total{result="published"} 1' "$W/metrics"
check "metrics: the cycle's downtime" grep -Eq '^slotkeeper_archive_last_cycle_downtime_seconds [0-9.]+$' "$W/metrics"
check "metrics: the repository's good snapshots" grep -q '^slotkeeper_repository_snapshots{condition="good"} 1' "$W/metrics"
check "metrics: the repository's size" grep -Eq '^slotkeeper_repository_size_bytes [1-9][0-9]*$' "$W/metrics"
last=$(awk '$1 == "slotkeeper_archive_last_success_timestamp_seconds" { print $2 }' "$W/metrics")
check "metrics: when the last snapshot was published" test -n "$last"
check "metrics: every sample has HELP and TYPE" bash -c "
    for m in \$(grep -Eo '^slotkeeper_[a-z_]+' '$W/metrics' | sort -u); do
        grep -q \"^# TYPE \$m \" '$W/metrics' && grep -q \"^# HELP \$m \" '$W/metrics' || exit 1
    done"

kill -TERM "$DPID"
wait "$DPID"
check "the daemon exits 0 on SIGTERM" test $? = 0

# A new daemon knows when the last snapshot was made before its first cycle (an alert on the
# snapshot's age must not fire, or go blind, because the daemon restarted).
head -c 2M /dev/zero | tr '\0' x >"$W/state/archive.cycles" # past its bound: read no further
check "a new daemon starts" start_daemon
check "an oversized archive.cycles is set aside with a warning" \
    grep -q "archive.cycles: .*; the status starts without earlier cycles" "$W/daemon.log"
check "its worker runs" wait_for 1 running
scrape "$METRICS_ADDRESS" >"$W/metrics" 2>/dev/null
new=$(awk '$1 == "slotkeeper_archive_last_success_timestamp_seconds" { print $2 }' "$W/metrics")
check "metrics: the last snapshot's time survives a restart ($new, was ${last:-none})" \
    bash -c "[ -n '$new' ] && [ -n '$last' ] && [ \$(( $last - ${new:-0} )) -ge 0 ] && [ \$(( $last - ${new:-0} )) -le 60 ]"
kill -TERM "$DPID"
wait "$DPID"
check "and exits 0 on SIGTERM" test $? = 0
for _ in $(seq 50); do pgrep -f "slotkeeper log-writer $W/" >/dev/null || break; sleep 0.1; done
check "the log-writers end with their nodes" test "$(pgrep -f "slotkeeper log-writer $W/" | wc -l)" = 0
check "no sanitizer report in the daemon's log" bash -c "! grep -Eq 'Sanitizer|runtime error' '$W/daemon.log'"
