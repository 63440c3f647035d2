#!/usr/bin/env bash
# t_golden_daemon: the daemon with a repository that keeps a golden copy, everything on an XFS
# with reflink=1: the snapshot cycle brings the golden copy to the new snapshot (on the thread
# pool, after the verify), and a worker killed with SIGKILL is restored by cloning from it
# (the log says which path), then runs again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"

if ! fs_mount xfs 600 "$W/x"; then
    ok "daemon with a golden copy # SKIP $FS_WHY"
    echo "1..$T_N"
    exit 0
fi
# Everything of daemon_lib.sh (repository, archive, slots, socket) on the XFS.
OUTER=$W
W=$W/x
. "$(dirname "$0")/daemon_lib.sh"
# At the end: daemon_lib's cleanup stops what runs under the XFS, then lib.sh's finish unmounts
# it and removes the outer folder.
cleanup() {
    pkill -TERM -f "slotkeeper daemon -c $C" 2>/dev/null
    for _ in $(seq $((50 * VG_WAIT))); do pgrep -f "$W/" >/dev/null || break; sleep 0.1; done
    pkill -KILL -f "$W/" 2>/dev/null
    [ "$T_FAILED" = 0 ] || cp "$W/daemon.log" "$OUTER/" 2>/dev/null
    W=$OUTER
    finish
}
write_conf 1 3
run 0 "repo golden on (no snapshot yet)" "$SK" repo golden "$W/repo" on

check "the daemon starts" start_daemon
check "the worker runs" wait_for 1 running
check "the archival node runs" wait_for archive running
run 0 "a cycle" "$SK" snapshot -c "$C"

golden_holds() { grep -qx "snapshot $1" "$W/repo/golden/record" 2>/dev/null; }
wait_golden() { for _ in $(seq $((300 * VG_WAIT))); do golden_holds "$1" && return 0; sleep 0.1; done; return 1; }
# (The daemon's first cycle may have run at its start too: the newest snapshot is the one.)
NEWEST=$("$SK" list --repo "$W/repo" --json | jq -r '.snapshots[-1].id')
check "after the cycle the golden copy holds the newest snapshot ($NEWEST)" wait_golden "$NEWEST"
check "the cycle's note says so" bash -c "for i in \$(seq $((100 * VG_WAIT))); do '$SK' status -c '$C' | grep -q 'golden copy updated' && exit 0; sleep 0.1; done; exit 1"
check "the archival node runs again" wait_for archive running

# A worker killed with SIGKILL: restored from the newest snapshot, by cloning.
r1=$(field 1 8)
kill -9 "$(pid_of 1)"
check "slot 1 is restored" wait_field 1 8 $((r1 + 1)) $((60 * VG_WAIT))
check "and runs again" wait_for 1 running $((60 * VG_WAIT))
check "the log says the restore cloned from the golden copy" grep -q "slot 1: restored snapshot $NEWEST (clone: " "$W/daemon.log"
check "slot 1 shares extents with the golden copy" bash -c "filefrag -v '$W/1/blocks/blocks.log' | grep -q shared"
echo "1..$T_N"
