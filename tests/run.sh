#!/usr/bin/env bash
# Runs every test of `make check`: the unit tests, the integration tests against the
# real binary, then both again built with AddressSanitizer + UndefinedBehaviorSanitizer, then
# the tests of the daemon and of `run` with those under valgrind's memcheck (errors and leaks checked).
# Every test prints TAP lines; this counts them and ends with "N passed, N failed".
# `tests/run.sh valgrind` (make valgrind) runs only the last pass.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export ROOT TOOLS=$ROOT/build/tools FAKENODE=$ROOT/build/fakenode
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0
failed=0
log=$(mktemp)

# tally LABEL CMD...: runs CMD, echoes its output, counts "ok"/"not ok" lines; a CMD that
# exits non-zero without reporting a failure counts as one failure (it crashed).
tally() {
    local label=$1
    shift
    echo "== $label"
    # No test may hang the run: each gets SK_TEST_TIMEOUT seconds (default 600), then is killed.
    timeout -k 10 "${SK_TEST_TIMEOUT:-600}" "$@" >"$log" 2>&1
    local rc=$?
    [ "$rc" = 124 ] && echo "not ok - $label: killed after ${SK_TEST_TIMEOUT:-600}s (hung)" >>"$log"
    cat "$log"
    local p f
    p=$(grep -c '^ok ' "$log")
    f=$(grep -c '^not ok ' "$log")
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        echo "not ok - $label exited with status $rc"
        f=1
    fi
    if [ "$p" = 0 ] && [ "$f" = 0 ]; then
        echo "not ok - $label ran no test"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}

if [ "${1:-all}" != valgrind ]; then
    tally "unit tests" ./build/unit-tests
    tally "fakenode" env FAKENODE="$ROOT/build/fakenode" bash tests/fakenode/test_fakenode.sh
    for t in tests/integration/t_*.sh; do
        tally "integration: $(basename "$t" .sh)" env SK="$ROOT/slotkeeper" bash "$t"
    done
    tally "unit tests under ASan+UBSan" ./build/san/unit-tests
    for t in tests/integration/t_*.sh; do
        tally "integration under ASan+UBSan: $(basename "$t" .sh)" env SK="$ROOT/build/san/slotkeeper" SK_SANITIZED=1 bash "$t"
    done
fi
# The long-lived processes (the daemon, `run`) under valgrind: the plain build (valgrind and
# ASan do not mix); lib.sh puts each one these tests start under memcheck.
for t in tests/integration/t_daemon*.sh tests/integration/t_run.sh; do
    tally "under valgrind memcheck: $(basename "$t" .sh)" env SK="$ROOT/slotkeeper" SK_VALGRIND=1 bash "$t"
done
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
