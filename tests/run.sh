#!/usr/bin/env bash
# tests/run.sh [PASS...]: runs the tests of `make check`, pass by pass:
#   unit         the unit tests (build/unit-tests) and fakenode's own test
#   integration  every tests/integration/t_*.sh against the real binary ($SK, default ./slotkeeper)
#   san          both again, built with AddressSanitizer + UndefinedBehaviorSanitizer (build/san/)
#   valgrind     the tests of the daemon and of `run` with those under valgrind's memcheck
#   nodeos       tests/nodeos/t_*.sh: the whole loop against a real nodeos ($NODEOS, default
#                ../shared/nodeos/nodeos; a SKIP without it), once, with the plain binary
#   all          (the default) all five, in that order
#   cov          unit + integration against the coverage build (build/cov/; `make coverage`);
#                COV_TESTS="t_a t_b" limits the integration files
# Every test prints TAP lines; this counts them and ends with "N passed, N failed, N skipped".
# SK_TEST_JOBS (default: the number of CPUs) files run at once.
# "ok N - name # SKIP reason" is a skip, not a pass: with CI=true (the CI runs as root with
# every package installed) a skip fails the run, as a test that could not run proves nothing.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export ROOT TOOLS=$ROOT/build/tools FAKENODE=$ROOT/build/fakenode
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0
failed=0
skipped=0
skips=$(mktemp)

# Test files run SK_TEST_JOBS at a time (default: one per CPU): most of their time is spent
# waiting on nodes, daemons and disks, and each works in its own folder ($W), with its own
# ports and loop devices. Each file's output is printed whole when it ends, then counted.
JOBS=${SK_TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}
[ "$JOBS" -ge 1 ] 2>/dev/null || JOBS=1
outdir=$(mktemp -d)
trap 'rm -f "$skips"; rm -rf "$outdir"' EXIT
seq=0
running=0
declare -A JOB_LABEL JOB_SEQ

# run_timed LABEL CMD...: runs CMD; no test may hang the run: each gets SK_TEST_TIMEOUT
# seconds (default 600), then is killed. Prints CMD's output, its time, and its status last.
run_timed() {
    local label=$1
    shift
    local t0=$SECONDS
    timeout -k 10 "${SK_TEST_TIMEOUT:-600}" "$@" 2>&1
    local rc=$?
    echo "# $label: $((SECONDS - t0)) s"
    [ "$rc" = 124 ] && echo "not ok - $label: killed after ${SK_TEST_TIMEOUT:-600}s (hung)"
    return $rc
}

# collect LABEL FILE RC: echoes a finished file's output, counts "ok"/"not ok"/"ok ... # SKIP"
# lines; a CMD that exits non-zero without reporting a failure counts as one failure (it crashed).
collect() {
    local label=$1 out=$2 rc=$3 p f s
    echo "== $label"
    cat "$out"
    s=$(grep -Ec '^ok .*# *SKIP' "$out")
    p=$(($(grep -c '^ok ' "$out") - s))
    f=$(grep -c '^not ok ' "$out")
    grep -E '^ok .*# *SKIP' "$out" | sed "s|^|$label: |" >>"$skips"
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        echo "not ok - $label exited with status $rc"
        f=1
    fi
    if [ "$p" = 0 ] && [ "$f" = 0 ] && [ "$s" = 0 ]; then
        echo "not ok - $label ran no test"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
}

# reap: waits for one running file and collects it.
reap() {
    local pid
    wait -n -p pid
    [ -n "${pid:-}" ] || return 1
    local n=${JOB_SEQ[$pid]}
    collect "${JOB_LABEL[$pid]}" "$outdir/$n.log" "$(cat "$outdir/$n.rc" 2>/dev/null || echo 1)"
    unset "JOB_LABEL[$pid]" "JOB_SEQ[$pid]"
    running=$((running - 1))
}

# tally LABEL CMD...: starts CMD once fewer than JOBS files are running.
tally() {
    local label=$1
    shift
    while [ "$running" -ge "$JOBS" ]; do reap || break; done
    seq=$((seq + 1))
    local n=$seq
    (
        run_timed "$label" "$@" >"$outdir/$n.log" 2>&1
        echo $? >"$outdir/$n.rc"
    ) &
    JOB_LABEL[$!]=$label
    JOB_SEQ[$!]=$n
    running=$((running + 1))
}

# drain: waits for every running file.
drain() {
    while [ "$running" -gt 0 ]; do reap || break; done
}

# Files that test a build of their own, so they run in the integration pass only, not again
# with the sanitized or the coverage binary: the fuzzers (always built with ASan+UBSan) and the
# crash-point build.
OTHER_BUILD_FILES="t_fuzz t_crashpoints"

pass_unit() { # UNIT-TESTS-BINARY LABEL
    tally "$2" "$1"
}
pass_integration() { # SK LABEL-PREFIX [ENV...]
    local sk=$1 prefix=$2 t name
    shift 2
    for t in tests/integration/t_*.sh; do
        name=$(basename "$t" .sh)
        if [ -n "${COV_TESTS:-}" ] && [[ " $COV_TESTS " != *" $name "* ]]; then continue; fi
        if [ "$prefix" != integration ] && [[ " $OTHER_BUILD_FILES " == *" $name "* ]]; then continue; fi
        tally "$prefix: $name" env SK="$sk" "$@" bash "$t"
    done
}

[ $# = 0 ] && set -- all
for pass in "$@"; do
    case $pass in
    all) set -- unit integration san valgrind nodeos ;;
    esac
done
for pass in "$@"; do
    case $pass in
    unit)
        pass_unit ./build/unit-tests "unit tests"
        tally "fakenode" env FAKENODE="$ROOT/build/fakenode" bash tests/fakenode/test_fakenode.sh
        ;;
    integration) pass_integration "$ROOT/slotkeeper" "integration" ;;
    san)
        pass_unit ./build/san/unit-tests "unit tests under ASan+UBSan"
        pass_integration "$ROOT/build/san/slotkeeper" "integration under ASan+UBSan" SK_SANITIZED=1
        ;;
    valgrind)
        # The long-lived processes (the daemon, `run`) under valgrind: the plain build (valgrind
        # and ASan do not mix); lib.sh puts each one these tests start under memcheck.
        for t in tests/integration/t_daemon*.sh tests/integration/t_run.sh; do
            tally "under valgrind memcheck: $(basename "$t" .sh)" env SK="$ROOT/slotkeeper" SK_VALGRIND=1 bash "$t"
        done
        ;;
    nodeos)
        for t in tests/nodeos/t_*.sh; do
            tally "against a real nodeos: $(basename "$t" .sh)" env SK="$ROOT/slotkeeper" \
                NODEOS="${NODEOS:-$ROOT/../shared/nodeos/nodeos}" bash "$t"
        done
        ;;
    cov)
        # The instrumented build: same tests, coverage counters in build/cov/ (gcovr reads them).
        # A test that limits the file size (t_nospace) keeps libgcov from writing its counters:
        # its complaint would break the test's one-line-error checks, so it goes nowhere.
        export GCOV_ERROR_FILE=/dev/null
        pass_unit ./build/cov/unit-tests "unit tests (coverage build)"
        pass_integration "$ROOT/build/cov/slotkeeper" "integration (coverage build)"
        ;;
    *)
        echo "tests/run.sh: no pass named '$pass' (unit, integration, san, valgrind, nodeos, cov, all)" >&2
        exit 2
        ;;
    esac
done

drain
if [ "$skipped" != 0 ]; then
    echo "== skipped"
    cat "$skips"
fi
echo "$passed passed, $failed failed, $skipped skipped"
if [ "${CI:-}" = true ] && [ "$skipped" != 0 ]; then
    echo "tests/run.sh: CI=true and $skipped test(s) skipped (listed above): CI runs as root with every package installed, so nothing may be skipped" >&2
    exit 1
fi
[ "$failed" = 0 ]
