#!/usr/bin/env bash
# fuzz: every libFuzzer target (tests/fuzz/, built by `make check` through mk/fuzz.mk) runs for
# 3 s over its seed corpus without a crash, and replays every input of
# tests/fuzz/regressions/<target>/ (inputs that once crashed it) once. The targets are always
# built with ASan+UBSan, so the second, sanitized pass of tests/run.sh skips this file.
. "$(dirname "$0")/lib.sh"

if [ "${SK_SANITIZED:-0}" = 1 ]; then
    ok "# SKIP the fuzzers are built with ASan+UBSan and ran in the first pass"
    exit 0
fi

FUZZ_DIR=${FUZZ_DIR:-$ROOT/build/fuzz}
# Data-dirs and repositories of the fuzzers: on /dev/shm when possible (fsync is free there).
FZTMP=$(mktemp -d /dev/shm/sk-fuzz-it.XXXXXX 2>/dev/null) || FZTMP=$(mktemp -d "$W/fz.XXXXXX")
# (chmod first: an archive given to fuzz_import may leave a folder its owner cannot empty)
trap 'chmod -R u+rwx "$FZTMP" 2>/dev/null; rm -rf "$FZTMP"; finish' EXIT
# Our own sanitizer settings: a crash must end the fuzzer with a report, and leaks count.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

max_len() {
    case $1 in
    control) echo 131072 ;;
    config) echo 16384 ;;
    *) echo 65536 ;;
    esac
}

# why LOG: the first lines that say what went wrong.
why() {
    grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz invariant broken|.*runtime error)' "$1" | head -3 | tr '\n' ' '
}

for t in manifest config control check import; do
    bin=$FUZZ_DIR/fuzz_$t
    if [ ! -x "$bin" ]; then
        not_ok "fuzz_$t is not built (make $bin)"
        continue
    fi
    seeds=$ROOT/tests/fuzz/corpus/$t
    mkdir -p "$W/corpus-$t" "$FZTMP/$t"
    TMPDIR=$FZTMP/$t "$bin" -max_total_time=3 -max_len="$(max_len "$t")" -timeout=30 -print_final_stats=1 \
        -artifact_prefix="$W/crash-$t-" "$W/corpus-$t" "$seeds" >"$W/$t.log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$W/$t.log" | tail -1)
    if [ "$rc" = 0 ]; then
        ok "fuzz_$t: 3 s over $(ls "$seeds" | wc -l) seeds, ${execs:-?} runs, no crash"
    else
        not_ok "fuzz_$t crashed (exit $rc): $(why "$W/$t.log")input kept in $W/crash-$t-*"
    fi
    for f in "$ROOT/tests/fuzz/regressions/$t"/*; do
        [ -f "$f" ] || continue
        TMPDIR=$FZTMP/$t "$bin" -timeout=30 "$f" >"$W/$t.reg.log" 2>&1
        rc=$?
        if [ "$rc" = 0 ]; then
            ok "fuzz_$t: regression $(basename "$f")"
        else
            not_ok "fuzz_$t: regression $(basename "$f") (exit $rc): $(why "$W/$t.reg.log")"
            cp "$W/$t.reg.log" "$W/$t.$(basename "$f").log"
        fi
    done
done
