#!/usr/bin/env bash
# tests/fuzz/run.sh TARGET...: the body of `make fuzz`. Runs build/fuzz/fuzz_TARGET for
# FUZZ_SECONDS (default 300) each, over a working corpus kept in build/fuzz/corpus/TARGET/
# (grown run after run) and the seeds of tests/fuzz/corpus/TARGET/ (read only), and prints one
# line per target: executions, executions per second, crashes, corpus size. A crashing input is
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
    TMPDIR=$T/$t "$bin" -max_total_time="$SECS" -max_len="$(max_len "$t")" -timeout=60 -print_final_stats=1 \
        -artifact_prefix="$crashes/" "$work" "$ROOT/tests/fuzz/corpus/$t" >"$T/$t.log" 2>&1
    local rc=$? execs rate found
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$T/$t.log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$T/$t.log" | tail -1)
    if [ -z "$execs" ]; then # no final stats (killed): the last status line
        execs=$(grep -o '^#[0-9]*' "$T/$t.log" | tail -1 | tr -d '#')
    fi
    found=$(($(ls "$crashes" | wc -l) - before))
    [ "$rc" != 0 ] && [ "$found" = 0 ] && found=1
    printf '%-14s execs %10s  (%6s/s)  crashes %d  corpus %d\n' "fuzz_$t" "${execs:-?}" "${rate:-?}" "$found" \
        "$(ls "$work" | wc -l)" >"$T/$t.line"
    if [ "$found" != 0 ]; then
        {
            grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz invariant broken|[^ ]*runtime error)' "$T/$t.log" | head -5 |
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
