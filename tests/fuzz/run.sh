#!/usr/bin/env bash
# tests/fuzz/run.sh TARGET...: the body of `make fuzz`. Runs build/fuzz/fuzz_TARGET for
# FUZZ_SECONDS (default 300) each, over a working corpus kept in build/fuzz/corpus/TARGET/
# (grown run after run) and the seeds of tests/fuzz/corpus/TARGET/ (read only), and prints one
# line per target: seconds, executions, executions per second, libFuzzer runs (a finding ends a
# run; the target starts again until its time is spent, or until a finding recurs, which only
# a fix will stop), crashes, corpus size. A crashing input is
# saved in build/fuzz/crashes/TARGET/; copy it into tests/fuzz/regressions/TARGET/ once the bug
# is fixed, so that t_fuzz.sh replays it on every `make check`. Exits 1 if any target crashed.
#
# The fuzzers write their data-dirs and repositories under a temp folder of this script's,
# on /dev/shm when it is writable (fsync is free there, so import runs ~20x faster), removed
# at the end. Set FUZZ_JOBS=N to run N targets at once.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FUZZ_DIR=${FUZZ_DIR:-build/fuzz}
case $FUZZ_DIR in /*) ;; *) FUZZ_DIR=$ROOT/$FUZZ_DIR ;; esac
SECS=${FUZZ_SECONDS:-300}
JOBS=${FUZZ_JOBS:-1}
[ $# -gt 0 ] || set -- manifest config control check import

base=${TMPDIR:-/tmp}
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
T=$(mktemp -d "$base/sk-fuzz-run.XXXXXX") || exit 1
# (chmod first: an archive given to fuzz_import may leave a folder its owner cannot empty)
trap 'chmod -R u+rwx "$T" 2>/dev/null; rm -rf "$T"' EXIT

max_len() {
    case $1 in
    control) echo 131072 ;; # room for lines longer than SK_CTL_MAX_LINE
    config) echo 16384 ;;
    *) echo 65536 ;;
    esac
}

run_one() {
    local t=$1 bin=$FUZZ_DIR/fuzz_$1
    local work=$FUZZ_DIR/corpus/$t crashes=$FUZZ_DIR/crashes/$t
    mkdir -p "$work" "$crashes" "$T/$t"
    local before
    before=$(ls "$crashes" | wc -l)
    # A finding ends a libFuzzer run; the target starts again (on the corpus grown so far) until
    # its time is spent, so that one bug found early does not end a long campaign.
    local start=$SECONDS left rc runs=0 execs=0 e failed=0 saved=$before
    : >"$T/$t.log"
    while :; do
        left=$((SECS - (SECONDS - start)))
        [ "$left" -ge 1 ] || break
        TMPDIR=$T/$t "$bin" -max_total_time="$left" -max_len="$(max_len "$t")" -timeout=60 -print_final_stats=1 \
            -artifact_prefix="$crashes/" "$work" "$ROOT/tests/fuzz/corpus/$t" >"$T/$t.run" 2>&1
        rc=$?
        runs=$((runs + 1))
        cat "$T/$t.run" >>"$T/$t.log"
        e=$(sed -n 's/^stat::number_of_executed_units: *//p' "$T/$t.run" | tail -1)
        if [ -z "$e" ]; then # no final stats (a crash): the last status line
            e=$(grep -o '^#[0-9]*' "$T/$t.run" | tail -1 | tr -d '#')
        fi
        execs=$((execs + ${e:-0}))
        [ "$rc" = 0 ] && break
        # no new input saved: the same finding again (it would recur: stop), or a failure that
        # saved no input at all (the fuzzer itself broke: counted once)
        if [ "$(ls "$crashes" | wc -l)" = "$saved" ]; then
            grep -q 'Test unit written to' "$T/$t.run" || failed=1
            break
        fi
        saved=$(ls "$crashes" | wc -l)
    done
    local secs=$((SECONDS - start)) found
    found=$(($(ls "$crashes" | wc -l) - before + failed))
    printf '%-14s %5ss  execs %10s  (%6s/s)  runs %d  crashes %d  corpus %d\n' "fuzz_$t" "$secs" "$execs" \
        "$((execs / (secs > 0 ? secs : 1)))" "$runs" "$found" "$(ls "$work" | wc -l)" >"$T/$t.line"
    if [ "$found" != 0 ]; then
        {
            grep -aE '^(==[0-9]+==ERROR|SUMMARY|fuzz invariant broken|[^ ]*runtime error)' "$T/$t.log" | head -5 |
                sed 's/^/    /'
            ls -t "$crashes" | head -"$found" | sed "s|^|    saved: $crashes/|"
            echo "    log: $FUZZ_DIR/$t.log"
        } >>"$T/$t.line"
        cp "$T/$t.log" "$FUZZ_DIR/$t.log"
    fi
    return 0
}

echo "fuzzing ${SECS}s per target: $*"
running=0
for t in "$@"; do
    if [ ! -x "$FUZZ_DIR/fuzz_$t" ]; then
        printf '%-14s not built (make %s)\n' "fuzz_$t" "$FUZZ_DIR/fuzz_$t" >"$T/$t.line"
        continue
    fi
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait
total=0
for t in "$@"; do
    cat "$T/$t.line"
    n=$(sed -n 's/.*crashes \([0-9]*\).*/\1/p' "$T/$t.line" | head -1)
    total=$((total + ${n:-1}))
done
echo "$total crash(es)"
[ "$total" = 0 ]
