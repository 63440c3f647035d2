#!/usr/bin/env bash
# A small sample of the crash-point sweep (tests/crash/sweep.sh; `make crash-sweep` runs all of
# it): every operation killed with SIGKILL right before a few evenly spread disk steps by
# build/crash/slotkeeper, then the invariants checked with the normal binary. One line per
# operation. The daemon's cycle (seconds per run) and the golden copy's operations go alongside
# the others.
. "$(dirname "$0")/lib.sh"

if [ "${SK_SANITIZED:-0}" = 1 ]; then
    ok "crash points # SKIP sanitized run (the crash-point build is separate)"
    exit 0
fi
SK_CRASH=${SK_CRASH:-$ROOT/build/crash/slotkeeper}
if [ ! -x "$SK_CRASH" ]; then
    not_ok "crash points: $SK_CRASH is not built (make build/crash/slotkeeper)"
    exit 0
fi
SAMPLE=${SK_CRASH_SAMPLE:-15}
export SK SK_CRASH TOOLS ROOT
export FAKENODE=${FAKENODE:-$ROOT/build/fakenode}
SWEEP=$ROOT/tests/crash/sweep.sh
bash "$SWEEP" --sample 4 --workdir "$W/daemon" daemon >"$W/daemon.out" 2>&1 &
dpid=$!
# The golden copy's update and the restore by cloning (on an XFS the sweep mounts, as root).
bash "$SWEEP" --sample 5 --workdir "$W/golden" golden-update restore-clone >"$W/golden.out" 2>&1 &
gpid=$!
bash "$SWEEP" --sample "$SAMPLE" --workdir "$W/ops" snapshot incremental restore-empty restore-over restore-damaged restore-full prune import \
    >"$W/ops.out" 2>&1
rc_ops=$?
# A follower's sync: a few points (make crash-sweep runs them all).
bash "$SWEEP" --sample 5 --workdir "$W/sync" sync >"$W/sync.out" 2>&1
rc_sync=$?
wait "$dpid"
rc_daemon=$?
wait "$gpid"
rc_golden=$?
# report NAME RC: one TAP line per operation the sweep NAME summed up, its failures as comments.
report() {
    local name=$1 rc=$2 out=$W/$1.out line bad=0
    while read -r line; do
        [[ $line == "crash-sweep: "*": "*" crash points, "* ]] || continue
        line=${line#crash-sweep: }
        if [[ $line == *", 0 broken "* ]]; then
            ok "$line"
        else
            not_ok "$line"
            bad=1
            grep "^${line%%:*} k=" "$W/$name/failures" 2>/dev/null | head -5 | sed 's/^/#   /'
        fi
    done <"$out"
    grep -v -e '^crash-sweep: [a-z-]*: [0-9]* crash points' -e '^crash-sweep: no invariant' -e '^  ' "$out" |
        sed 's/^/# /'
    [ "$rc" = 0 ] || [ "$bad" = 1 ] || not_ok "crash-point sweep of the $name exits $rc"
}
report ops "$rc_ops"
report sync "$rc_sync"
report daemon "$rc_daemon"
report golden "$rc_golden"
