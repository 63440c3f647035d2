# Helpers for the integration tests: each test file sources this, runs the real
# slotkeeper binary ($SK) in a temporary folder ($W) and prints TAP lines.
# The folder is removed when every check passed and kept (and named) otherwise.
set -u
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SK=${SK:-$ROOT/slotkeeper}
TOOLS=${TOOLS:-$ROOT/build/tools}
MKDATADIR=$TOOLS/mkdatadir
HOLDLOCK=$TOOLS/holdlock
FIXTURES=$ROOT/tests/fixtures
W=$(mktemp -d "${TMPDIR:-/var/tmp}/sk-it.XXXXXX")
T_N=0
T_FAILED=0
T_NAME=$(basename "$0" .sh)
BG_PIDS=()

# SK_VALGRIND=1 (`make valgrind`, and the last pass of `make check`): the long-lived commands a
# test starts through "${VG[@]}" (the daemon, `run`) run under valgrind's memcheck, one log per
# process in $W/vg.PID.log. At the end, vg_verdicts turns each run that exited into a check: no
# memcheck error, and no leak (definitely, indirectly or possibly lost). A run ended by kill -9
# writes no summary and is only counted. Their children (nodes, log-writers) run natively.
SK_VALGRIND=${SK_VALGRIND:-0}
VG=()
[ "$SK_VALGRIND" = 1 ] &&
    VG=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect,possible
        --errors-for-leak-kinds=definite,indirect,possible --num-callers=30 --child-silent-after-fork=yes
        --vgdb=no --log-file="$W/vg.%p.log")

ok() {
    T_N=$((T_N + 1))
    echo "ok $T_N - $T_NAME: $*"
}

not_ok() {
    T_N=$((T_N + 1))
    T_FAILED=$((T_FAILED + 1))
    echo "not ok $T_N - $T_NAME: $*"
}

# check DESC CMD...: passes when CMD succeeds.
check() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# run WANT_RC DESC CMD...: runs CMD with stdout in $W/out and stderr in $W/err, checks the exit code.
run() {
    local want=$1 desc=$2
    shift 2
    "$@" >"$W/out" 2>"$W/err"
    local rc=$?
    if [ "$rc" = "$want" ]; then
        ok "$desc"
    else
        not_ok "$desc (exit $rc, want $want): $(head -c 400 "$W/err" | tr '\n' ' ')"
    fi
    return 0
}

# err_has REGEX DESC: the last run's stderr matches REGEX.
err_has() {
    if grep -Eq -- "$1" "$W/err"; then ok "$2"; else not_ok "$2 (stderr: $(head -c 400 "$W/err" | tr '\n' ' '))"; fi
}

# one_line_error: the last run's stderr is exactly one line of the form "slotkeeper: <cmd>: <path>: <reason>".
one_line_error() {
    local n
    n=$(grep -vc '^slotkeeper: .*: waiting for the repository lock$' "$W/err")
    if [ "$n" = 1 ] && grep -Eq '^slotkeeper: [a-z ]+: .+: .+' "$W/err"; then
        ok "$1: one-line error"
    else
        not_ok "$1: one-line error (stderr: $(head -c 400 "$W/err" | tr '\n' '|'))"
    fi
}

# tree_sig DIR: one line per entry with type, mode, owner, size, mtime, link target, and a content hash.
tree_sig() {
    (cd "$1" && find . -path ./.slotkeeper -prune -o -printf '%P %y %m %U:%G %s %T@ %l\n' | LC_ALL=C sort &&
        find . -path ./.slotkeeper -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 -r cksum)
}

# slot_sig DIR: tree_sig of a whole slot, without the slot folder's own entry (whose mtime
# changes when slotkeeper makes its .slotkeeper/ folder) and without .slotkeeper/.
slot_sig() { tree_sig "$1" | grep -v '^ d '; }

# same_tree A B [FOLDERS...]: the given sub-folders (default blocks state) are identical in content and metadata.
same_tree() {
    local a=$1 b=$2
    shift 2
    local folders=("$@")
    [ ${#folders[@]} = 0 ] && folders=(blocks state)
    local f
    for f in "${folders[@]}"; do
        if ! diff <(tree_sig "$a/$f") <(tree_sig "$b/$f") >"$W/tree.diff"; then
            echo "# tree differs in $f:" && head -20 "$W/tree.diff" | sed 's/^/#   /'
            return 1
        fi
    done
}

# content_sig and quarantine_put_back (also used by tests/crash/sweep.sh).
. "$ROOT/tests/integration/qlib.sh"

# blocks_of FILE: allocated 512-byte blocks.
blocks_of() { stat -c %b "$1"; }

# mkdd DIR [ARGS...]: a nodeos-like data-dir.
mkdd() {
    local d=$1
    shift
    "$MKDATADIR" create "$d" "$@" >/dev/null
}

# holdlock FILE: a background process holding nodeos's fcntl lock on FILE; prints its pid.
holdlock() {
    local ready="$W/ready.$RANDOM"
    "$HOLDLOCK" "$1" "$ready" >/dev/null 2>&1 &
    local pid=$!
    echo "$pid" >>"$W/bg.pids"
    for _ in $(seq 100); do [ -e "$ready" ] && break; sleep 0.05; done
    echo "$pid"
}

vg_verdicts() {
    [ "$SK_VALGRIND" = 1 ] || return 0
    local f n=0 killed=0 pid what
    for f in "$W"/vg.*.log; do
        [ -e "$f" ] || continue
        pid=${f##*/vg.}
        pid=${pid%.log}
        if ! grep -q 'ERROR SUMMARY:' "$f"; then
            killed=$((killed + 1))
            continue
        fi
        n=$((n + 1))
        what=$(sed -n 's|^==[0-9]*== Command: [^ ]*/\([^ ]* [^ ]*\).*|\1|p' "$f" | head -1)
        if grep -q 'ERROR SUMMARY: 0 errors' "$f" && ! grep -Eq '(definitely|indirectly|possibly) lost: [1-9]' "$f"; then
            ok "valgrind: $what (pid $pid): no memcheck error, no leak"
        else
            not_ok "valgrind: $what (pid $pid): $(grep -E 'ERROR SUMMARY|lost:' "$f" | sed 's/^==[0-9]*== *//' | tr '\n' ' ')"
            grep -E '^==[0-9]+== ' "$f" | head -60 | sed 's/^/#   /'
        fi
    done
    [ "$n" -gt 0 ] && ok "valgrind: $n run(s) checked, $killed killed with SIGKILL (no report)" ||
        not_ok "valgrind: no run reached its leak check ($killed killed)"
}

finish() {
    vg_verdicts
    local p
    for p in "${BG_PIDS[@]:-}" $(cat "$W/bg.pids" 2>/dev/null); do [ -n "$p" ] && kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    # Loop file systems (fs_lib.sh) are unmounted and their images removed, pass or fail.
    declare -F fs_cleanup >/dev/null && fs_cleanup
    # An S3 server (s3_lib.sh) is stopped, pass or fail.
    declare -F s3_cleanup >/dev/null && s3_cleanup
    if [ "$T_FAILED" = 0 ]; then
        rm -rf "$W"
    else
        echo "# $T_NAME: kept $W for inspection"
    fi
    exit 0
}
trap finish EXIT
