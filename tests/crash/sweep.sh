#!/usr/bin/env bash
# The crash-point sweep: kills slotkeeper right before each step that changes the disk and
# checks what a kill -9 must leave behind.
#
#   tests/crash/sweep.sh [--sample N] [--max N] [--at K,K...] [--workdir DIR] [--keep] [OP...]
#
# OP: snapshot incremental restore-empty restore-over restore-damaged restore-full prune import
# sync daemon freeze golden-update restore-clone (default: all). restore-* are delta restores (the
# default) but restore-full (--full) and restore-clone.
# freeze: a snapshot that freezes first (the data-dir on an XFS loop image made with reflink=1;
# needs root and a loop device, else it says SKIP): each clone, mkdir, chown/chmod/utimes of the
# frozen copy and its removal is a step; the next snapshot must sweep the frozen folder.
# golden-update: a snapshot into a repository that keeps a golden copy (golden.h), which the
# snapshot then updates; restore-clone: a restore by cloning from the golden copy, on the same
# XFS as freeze.
# For each operation: its start state is made once (small data, 64 KiB chunks) and copied
# afresh for every run; a run of build/crash/slotkeeper with SK_CRASH_TRACE counts its disk
# steps; then, for every step k (an even sample of --max steps when there are more, or of
# --sample N; or only the steps --at names), the operation runs again with SK_CRASH_AT=k, must die by SIGKILL, and the
# normal ./slotkeeper checks the invariants:
#   - the repository lists only complete snapshots, and `verify --all` passes;
#   - the next run of the same operation succeeds and sweeps what the crash left;
#   - a slot is as it was, or `check` says restoring and the restore run again makes it
#     the snapshot (or the restore had finished), what it replaced intact in quarantine (the
#     folders whole after --full; after a delta restore, its index puts the old data back);
#   - nothing was created or changed outside the repository, the slot and the quarantine.
# One step past the count (no crash) checks that the count is exact.
# Prints "crash-sweep: OP: N crash points, T tried, B broken (S s)" per operation and the
# first failures (op, step, the step's "what file:line", the invariant); exits 1 if any broke.
# The work folder (/var/tmp/sk-crash.XXXXXX) is removed when nothing broke, unless --keep.
set -u
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SK=${SK:-$ROOT/slotkeeper}
SK_CRASH=${SK_CRASH:-$ROOT/build/crash/slotkeeper}
TOOLS=${TOOLS:-$ROOT/build/tools}
FAKENODE=${FAKENODE:-$ROOT/build/fakenode}

SAMPLE=0
MAX=300
AT=
W=
KEEP=0
OPS=()
ALL_OPS=(snapshot incremental restore-empty restore-over restore-damaged restore-full prune import sync daemon
    freeze golden-update restore-clone)
while [ $# -gt 0 ]; do
    case $1 in
    --sample) SAMPLE=$2 && shift ;;
    --max) MAX=$2 && shift ;;
    --at) AT=${2//,/ } && shift ;;
    --workdir) W=$2 && shift ;;
    --keep) KEEP=1 ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' && exit 0 ;;
    all) OPS+=("${ALL_OPS[@]}") ;;
    -*) echo "sweep.sh: unknown option $1" >&2 && exit 2 ;;
    *)
        [[ " ${ALL_OPS[*]} " == *" $1 "* ]] || { echo "sweep.sh: unknown operation $1 (${ALL_OPS[*]})" >&2 && exit 2; }
        OPS+=("$1")
        ;;
    esac
    shift
done
[ ${#OPS[@]} = 0 ] && OPS=("${ALL_OPS[@]}")
for f in "$SK" "$SK_CRASH" "$TOOLS/mkdatadir" "$FAKENODE"; do
    [ -x "$f" ] || { echo "sweep.sh: $f: not built (make build build/crash/slotkeeper)" >&2 && exit 2; }
done
if [ -z "$W" ]; then
    W=$(mktemp -d "${TMPDIR:-/var/tmp}/sk-crash.XXXXXX")
else
    mkdir -p "$W"
fi
W=$(cd "$W" && pwd)

# Private copies: a concurrent rebuild cannot swap a binary in the middle of the sweep.
mkdir -p "$W/bin"
cp "$SK" "$W/bin/slotkeeper"
cp "$SK_CRASH" "$W/bin/slotkeeper-crash"
cp "$TOOLS/mkdatadir" "$W/bin/mkdatadir"
cp "$FAKENODE" "$W/bin/fakenode"
cd "$W" || exit 2
. "$ROOT/tests/integration/qlib.sh" # content_sig, quarantine_put_back
SKN=$W/bin/slotkeeper      # the normal build: runs the checks and the recovery
SKC=$W/bin/slotkeeper-crash # the crash-point build: runs the operation under test
MKDD=$W/bin/mkdatadir
FN=$W/bin/fakenode
T=$W/t # the trial folder: the start state, copied afresh for every run
FAILS=$W/failures
: >"$FAILS"
TOTAL_BROKEN=0

# ---- helpers ----

# tree_sig DIR: one line per entry (type, mode, owner, size, mtime, link target) and a
# checksum of every file, without DIR's own entry and without .slotkeeper/ (as in
# tests/integration/lib.sh). A missing DIR has an empty signature.
tree_sig() {
    [ -d "$1" ] || return 0
    (cd "$1" && find . -path ./.slotkeeper -prune -o -printf '%P %y %m %U:%G %s %T@ %l\n' | grep -v '^ d ' |
        LC_ALL=C sort && find . -path ./.slotkeeper -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 -r cksum)
}
# same_tree A B: blocks/ and state/ identical in content and metadata.
same_tree() {
    local f
    for f in blocks state; do
        [ "$(tree_sig "$1/$f")" = "$(tree_sig "$2/$f")" ] || return 1
    done
    [ -d "$2/blocks" ] && [ -d "$2/state" ]
}
# outside: everything under $T but the repository and the slot (quarantine included), and
# for the daemon its state folder, socket and log: what an operation must not touch.
OURS=(\( -path ./repo -o -path ./slot -o -path ./archive -o -path ./state -o -path ./control.sock -o -path ./daemon.log \))
# freeze: its source's .slotkeeper/ holds the frozen copies (made in the template, so that the
# source folder itself does not change)
OURS_FREEZE=(\( -path ./repo -o -path ./src/.slotkeeper \))
outside() {
    if [ "$OP" = freeze ]; then
        (cd "$T" && find . -mindepth 1 "${OURS_FREEZE[@]}" -prune -o -printf '%P %y %m %s %T@ %l\n' | LC_ALL=C sort &&
            find . -mindepth 1 "${OURS_FREEZE[@]}" -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 -r cksum)
        return
    fi
    (cd "$T" && find . -mindepth 1 "${OURS[@]}" -prune -o -printf '%P %y %m %s %T@ %l\n' | LC_ALL=C sort &&
        find . -mindepth 1 "${OURS[@]}" -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 -r cksum)
}
# fresh: the trial folder as the operation's start state (the last one is removed meanwhile).
TRASH=0
TPL=
fresh() {
    if [ -e "$T" ]; then
        TRASH=$((TRASH + 1))
        mv "$T" "${TRASHD:-$W}/trash.$TRASH"
        rm -rf "${TRASHD:-$W}/trash.$TRASH" &
    fi
    cp -a "$TPL" "$T"
    # A copied golden copy's files are new (ctime after its verification): verify it, as an
    # operator does after copying a repository, so that the restore clones from it.
    if [ "$OP" = restore-clone ]; then "$SKN" repo golden "$T/repo" verify >/dev/null 2>&1; fi
}
# broke WHAT: one invariant broken at the current step.
broke() {
    echo "$OP k=$K ($STEP): $*" >>"$FAILS"
    BROKEN_NOW=1
}
snap_ids() { ls "$1/snapshots" 2>/dev/null | grep -v '\.bad$' | grep -v '^\.' | LC_ALL=C sort; }
# repo_ok REPO: only complete snapshots listed, no temporary manifest in sight, all verify.
repo_ok() {
    local r=$1 n
    if ls -A "$r/snapshots" | grep -q '^\.'; then
        broke "a temporary file is visible in snapshots/: $(ls -A "$r/snapshots" | grep '^\.' | head -3 | tr '\n' ' ')"
    fi
    if ! "$SKN" list --repo "$r" >"$W/list.out" 2>&1; then
        broke "list fails: $(head -c 300 "$W/list.out" | tr '\n' ' ')"
    fi
    n=$(snap_ids "$r" | wc -l)
    if [ "$n" -gt 0 ] && ! "$SKN" verify --all --repo "$r" >"$W/verify.out" 2>&1; then
        broke "verify --all fails: $(grep -v '^ok' "$W/verify.out" | head -3 | tr '\n' ' ')"
    fi
    local bad
    bad=$(bad_marks "$r" | LC_ALL=C comm -23 - <(echo "$START_BADS"))
    [ -n "$bad" ] && broke "a snapshot is marked bad: $(echo "$bad" | head -3 | tr '\n' ' ')"
}
bad_marks() { ls "$1/snapshots" 2>/dev/null | grep '\.bad$' | LC_ALL=C sort; }
START_BADS=
# swept REPO: nothing left of interrupted runs (session folders, temporary files).
swept() {
    local r=$1 left
    left=$(ls -A "$r/tmp")
    [ -n "$left" ] && broke "the next run left tmp/: $(echo "$left" | head -3 | tr '\n' ' ')"
    left=$( (ls -A "$r"; ls -A "$r/snapshots") | grep '\.tmp\.')
    [ -n "$left" ] && broke "the next run left temporary files: $(echo "$left" | head -3 | tr '\n' ' ')"
}
# points N: the steps to try, every one or an even sample, then N+1 (must not crash).
points() {
    local n=$1 m=$MAX i
    if [ -n "$AT" ]; then
        echo "$AT" | tr ' ' '\n'
        return
    fi
    [ "$SAMPLE" -gt 0 ] && m=$SAMPLE
    if [ "$n" -le "$m" ]; then
        seq 1 "$n"
    else
        for i in $(seq 1 "$m"); do echo $(((i * n + m - 1) / m)); done | uniq
    fi
    echo $((n + 1))
}

# ---- the operations: setup_OP makes $W/tpl-OP once; run_OP BINARY runs it in $T ----

mkdd() { "$MKDD" create "$@" >/dev/null; }
newrepo() { "$SKN" repo init "$1" --chunk-size "${2:-64KiB}" >/dev/null; }

# A data-dir, and a later version of it (blocks appended, state pages rewritten).
setup_sources() {
    [ -d "$W/src0" ] && return
    mkdd "$W/src0" --blocks-size 1536K --state-size 16M --state-data 1M --seed 7
    cp -a "$W/src0" "$W/src1"
    "$MKDD" mutate "$W/src1" --append-pct 30 --rewrite-pct 20 --seed 8 >/dev/null
    cp -a "$W/src1" "$W/src2"
    "$MKDD" mutate "$W/src2" --append-pct 30 --rewrite-pct 20 --seed 9 >/dev/null
}
snap_of() { "$SKN" snapshot --data-dir "$1" --repo "$2" 2>/dev/null; }

setup_snapshot() {
    newrepo "$1/repo"
    cp -a "$W/src0" "$1/src"
}
run_snapshot() { "$1" snapshot --data-dir "$T/src" --repo "$T/repo" --threads 2; }
check_snapshot() {
    local before=$1 after
    repo_ok "$T/repo"
    after=$(snap_ids "$T/repo" | wc -l)
    [ "$after" = "$before" ] || [ "$after" = $((before + 1)) ] || broke "$before snapshots before, $after after"
    if ! "$SKN" snapshot --data-dir "$T/src" --repo "$T/repo" >"$W/rerun.id" 2>"$W/rerun.out"; then
        broke "the next snapshot fails: $(tail -c 300 "$W/rerun.out" | tr '\n' ' ')"
        return
    fi
    swept "$T/repo"
    repo_ok "$T/repo"
    local id
    id=$(cat "$W/rerun.id")
    rm -rf "${TRASHD:-$W}/back"
    if ! "$SKN" restore --snapshot "$id" --data-dir "${TRASHD:-$W}/back" --repo "$T/repo" >/dev/null 2>&1 ||
        ! same_tree "$T/src" "${TRASHD:-$W}/back"; then
        broke "the next snapshot does not restore to its source"
    fi
}

# freeze: the snapshot op on XFS, where it clones the data-dir first (T is on the XFS image).
setup_freeze() {
    newrepo "$1/repo"
    cp -a "$W/src0" "$1/src"
    mkdir -m 0700 "$1/src/.slotkeeper"
    touch -r "$W/src0" "$1/src"
}
run_freeze() { run_snapshot "$@"; }
check_freeze() {
    check_snapshot "$@"
    grep -q 'frozen: data-dir free' "$W/rerun.out" || broke "the next snapshot did not freeze"
    local left
    left=$(ls -A "$T/src/.slotkeeper" 2>/dev/null | grep '^frozen-')
    [ -n "$left" ] && broke "a frozen folder is left after the next snapshot: $left"
    "$SKN" check "$T/src" >/dev/null 2>&1 || broke "the source is not clean after the crash"
}
# The XFS image the freeze op works on (made once; removed at exit).
XFS_IMG=
XFS_LOOP=
xfs_cleanup() {
    [ -n "$XFS_LOOP" ] && { umount -l "$W/xfs" 2>/dev/null; losetup -d "$XFS_LOOP" 2>/dev/null; }
    [ -n "$XFS_IMG" ] && rm -f "$XFS_IMG"
}
xfs_mount() {
    [ -n "$XFS_LOOP" ] && return 0
    [ "$(id -u)" = 0 ] || { XFS_WHY="not root"; return 1; }
    command -v mkfs.xfs >/dev/null || { XFS_WHY="mkfs.xfs is not installed"; return 1; }
    XFS_IMG=$(mktemp /var/tmp/sk-crash-xfs.XXXXXX) && truncate -s 600M "$XFS_IMG" &&
        mkfs.xfs -q -f -m reflink=1 "$XFS_IMG" >/dev/null 2>&1 || { XFS_WHY="mkfs.xfs failed"; return 1; }
    XFS_LOOP=$(losetup -f --show "$XFS_IMG" 2>/dev/null) || { XFS_WHY="no loop device"; XFS_LOOP=; return 1; }
    mkdir -p "$W/xfs" && mount "$XFS_LOOP" "$W/xfs" 2>/dev/null || { XFS_WHY="mount failed"; return 1; }
    trap xfs_cleanup EXIT
}

setup_incremental() {
    newrepo "$1/repo"
    snap_of "$W/src0" "$1/repo" >/dev/null
    cp -a "$W/src1" "$1/src"
}
run_incremental() { run_snapshot "$@"; }
check_incremental() { check_snapshot "$@"; }

setup_restore-empty() {
    newrepo "$1/repo"
    cp -a "$W/src1" "$1/src"
    snap_of "$W/src1" "$1/repo" >"$W/restore-empty.id"
}
run_restore-empty() {
    "$1" restore --snapshot "$(cat "$W/$OP.id")" --data-dir "$T/slot" --repo "$T/repo" --threads 2 $RESTORE_FLAGS
}
RESTORE_FLAGS=
# quarantine_ok: the newest quarantine folder of the slot holds what the restore replaced: the
# folders whole (--full), or an index that puts the old data back over a copy of the slot.
quarantine_ok() {
    local q
    q=$(ls "$T/slot/.slotkeeper/quarantine" 2>/dev/null | tail -1)
    [ -n "$q" ] || return 1
    if [ -f "$T/slot/.slotkeeper/quarantine/$q/index" ]; then
        rm -rf "$W/back" && cp -a "$T/slot" "$W/back" &&
            quarantine_put_back "$W/back/.slotkeeper/quarantine/$q" "$W/back" &&
            [ "$(content_sig "$W/back")" = "$(content_sig "$W/base")" ]
    else
        same_tree "$W/base" "$T/slot/.slotkeeper/quarantine/$q"
    fi
}
# check_slot BEFORE_SIG WANT_BASE: the slot invariant; WANT_BASE: the replaced folders must be
# found intact in the newest quarantine folder (a restore over an existing slot).
check_slot() {
    local before=$1 base=$2 q state
    local id
    id=$(cat "$W/$OP.id")
    "$SKN" check "$T/slot" >/dev/null 2>&1
    local verdict=$?
    if [ "$verdict" = 15 ]; then
        state=restoring
    elif [ "$(tree_sig "$T/slot")" = "$before" ]; then
        state=before
    elif same_tree "$T/src" "$T/slot" && [ ! -e "$T/slot/.slotkeeper/restoring" ]; then
        state=complete
    else
        broke "the slot is neither as it was, nor restoring, nor complete (check: exit $verdict)"
        return
    fi
    [ "$base" = 1 ] && [ "$(cat "$T/slot/config.ini" 2>/dev/null)" != mine ] && broke "config.ini changed"
    if [ "$state" = complete ] && [ "$base" = 1 ]; then
        quarantine_ok || broke "complete, but what it replaced is not intact in quarantine"
    fi
    if ! "$SKN" restore --snapshot "$id" --data-dir "$T/slot" --repo "$T/repo" $RESTORE_FLAGS >"$W/rerun.out" 2>&1; then
        broke "($state) running the restore again fails: $(tail -c 300 "$W/rerun.out" | tr '\n' ' ')"
        return
    fi
    same_tree "$T/src" "$T/slot" || broke "($state) running the restore again does not make the slot the snapshot"
    "$SKN" check "$T/slot" >/dev/null 2>&1 || broke "($state) after the restore ran again, check says exit $?"
    if [ "$base" = 1 ] && [ "$state" != complete ]; then
        quarantine_ok || broke "($state) what it replaced is not intact in quarantine"
    fi
    [ "$base" = 1 ] && [ "$(cat "$T/slot/config.ini" 2>/dev/null)" != mine ] && broke "config.ini changed"
    local left
    left=$(ls -A "$T/slot/.slotkeeper" | grep -vx quarantine)
    [ -n "$left" ] && broke "($state) running the restore again left .slotkeeper/$(echo "$left" | head -3 | tr '\n' ' ')"
    # (Once a restore into an empty slot moved a folder in, running it again quarantines
    # that folder: it cannot tell it from an original. Only an untouched slot is checked.)
    if [ "$base" = 0 ] && [ "$state" = before ] && [ -n "$(ls -A "$T/slot/.slotkeeper/quarantine" 2>/dev/null)" ]; then
        broke "($state) a restore into an empty slot left quarantine/$(ls -A "$T/slot/.slotkeeper/quarantine" | head -3 | tr '\n' ' ')"
    fi
    repo_ok "$T/repo"
}
check_restore-empty() { check_slot "" 0; }

setup_restore-over() {
    newrepo "$1/repo"
    local id0
    id0=$(snap_of "$W/src0" "$1/repo")
    cp -a "$W/src1" "$1/src"
    snap_of "$W/src1" "$1/repo" >"$W/restore-over.id"
    "$SKN" restore --snapshot "$id0" --data-dir "$1/slot" --repo "$1/repo" >/dev/null 2>&1
    echo mine >"$1/slot/config.ini"
    rm -rf "$1/slot/.slotkeeper"
    rm -rf "$W/base"
    cp -a "$1/slot" "$W/base"
}
run_restore-over() { run_restore-empty "$@"; }
check_restore-over() { check_slot "$(cat "$W/restore-over.sig")" 1; }

# A slot that holds the snapshot, damaged as slots are: the dirty flag, a cut block log, a file
# replaced by a link, a missing file, an extra file and folder; restored over (delta).
setup_restore-damaged() {
    newrepo "$1/repo"
    cp -a "$W/src1" "$1/src"
    snap_of "$W/src1" "$1/repo" >"$W/restore-damaged.id"
    "$SKN" restore --snapshot "$(cat "$W/restore-damaged.id")" --data-dir "$1/slot" --repo "$1/repo" >/dev/null 2>&1
    echo mine >"$1/slot/config.ini"
    rm -rf "$1/slot/.slotkeeper"
    printf '\001' | dd of="$1/slot/state/shared_memory.bin" bs=1 seek=8 conv=notrunc status=none
    truncate -s -100K "$1/slot/blocks/blocks.log"
    rm "$1/slot/blocks/blocks.index" && ln -s ../config.ini "$1/slot/blocks/blocks.index"
    rm "$1/slot/blocks/reversible/fork_db.dat"
    echo junk >"$1/slot/blocks/extra.txt" && mkdir -p "$1/slot/state/junk" && echo x >"$1/slot/state/junk/f"
    rm -rf "$W/base"
    cp -a "$1/slot" "$W/base"
}
run_restore-damaged() { run_restore-empty "$@"; }
check_restore-damaged() { check_slot "$(cat "$W/restore-damaged.sig")" 1; }

# The full path (--full) over an existing slot: staging, then the folders swapped.
setup_restore-full() { setup_restore-over "$@" && cp "$W/restore-over.id" "$W/restore-full.id"; }
run_restore-full() { RESTORE_FLAGS=--full run_restore-empty "$@"; }
check_restore-full() { RESTORE_FLAGS=--full check_slot "$(cat "$W/restore-full.sig")" 1; }

# Three snapshots, the oldest marked bad, and what a snapshot killed after renaming its chunks
# into place left (a session folder in tmp/, chunks nothing references); prune --keep-last 1.
setup_prune() {
    newrepo "$1/repo"
    local id
    for s in src0 src1 src2; do id=$(snap_of "$W/$s" "$1/repo"); done
    echo "$id" >"$W/prune.keep"
    echo "test: marked bad" >"$1/repo/snapshots/$(snap_ids "$1/repo" | head -1).bad"
    cp -a "$W/src2" "$W/src3"
    "$MKDD" mutate "$W/src3" --append-pct 30 --rewrite-pct 20 --seed 10 >/dev/null
    rm -rf "$W/prune-setup.trace" "$W/probe-repo"
    cp -a "$1/repo" "$W/probe-repo"
    SK_CRASH_TRACE=$W/prune-setup.trace "$SKC" snapshot --data-dir "$W/src3" --repo "$W/probe-repo" >/dev/null 2>&1
    # the step right before the manifest is renamed into snapshots/ (the run's last rename, which the
    # storage driver performs)
    local at
    at=$(grep -n ' rename snapshot/storage_posix.c' "$W/prune-setup.trace" | tail -1 | cut -d: -f1)
    { SK_CRASH_AT=$at "$SKC" snapshot --data-dir "$W/src3" --repo "$1/repo"; } >/dev/null 2>&1
    [ -n "$(ls -A "$1/repo/tmp")" ] || echo "sweep.sh: prune: the killed snapshot left nothing in tmp/" >&2
    # the result of an uninterrupted prune: what the next run must reach
    rm -rf "$W/prune-ref"
    cp -a "$1/repo" "$W/prune-ref"
    "$SKN" prune --keep-last 1 --repo "$W/prune-ref" >/dev/null 2>&1
    repo_files "$W/prune-ref" >"$W/prune.ref"
}
repo_files() { (cd "$1" && find snapshots chunks tmp -mindepth 1 -printf '%P %y\n' | LC_ALL=C sort); }
run_prune() { "$1" prune --keep-last 1 --repo "$T/repo"; }
check_prune() {
    repo_ok "$T/repo"
    snap_ids "$T/repo" | grep -qx "$(cat "$W/prune.keep")" || broke "the newest snapshot is gone"
    if ! "$SKN" prune --keep-last 1 --repo "$T/repo" >"$W/rerun.out" 2>&1; then
        broke "the next prune fails: $(tail -c 300 "$W/rerun.out" | tr '\n' ' ')"
        return
    fi
    swept "$T/repo"
    repo_ok "$T/repo"
    diff <(repo_files "$T/repo") "$W/prune.ref" >"$W/prune.diff" ||
        broke "after the next prune the repository differs from an uninterrupted prune's: $(head -4 "$W/prune.diff" | tr '\n' ' ')"
}

# An export of a snapshot the repository does not have, imported next to an older one.
setup_import() {
    newrepo "$1/repo"
    snap_of "$W/src0" "$1/repo" >/dev/null
    newrepo "$W/export-repo"
    local id
    id=$(snap_of "$W/src2" "$W/export-repo")
    "$SKN" export "$id" -o "$1/in.tar.zst" --repo "$W/export-repo" >/dev/null 2>&1
    cp -a "$W/src2" "$1/src"
}
run_import() { "$1" import "$T/in.tar.zst" --repo "$T/repo" --threads 2; }
check_import() {
    local before=$1 after
    repo_ok "$T/repo"
    after=$(snap_ids "$T/repo" | wc -l)
    [ "$after" = "$before" ] || [ "$after" = $((before + 1)) ] || broke "$before snapshots before, $after after"
    if ! "$SKN" import "$T/in.tar.zst" --repo "$T/repo" >"$W/rerun.out" 2>&1; then
        broke "the next import fails: $(tail -c 300 "$W/rerun.out" | tr '\n' ' ')"
        return
    fi
    swept "$T/repo"
    repo_ok "$T/repo"
    local id
    id=$(snap_ids "$T/repo" | tail -1)
    rm -rf "$W/back"
    if ! "$SKN" restore --snapshot "$id" --data-dir "$W/back" --repo "$T/repo" >/dev/null 2>&1 ||
        ! same_tree "$T/src" "$W/back"; then
        broke "the imported snapshot does not restore to the exported data-dir"
    fi
}

# ---- the golden copy (golden.h) ----
# golden-update: a repository with a golden copy of src0's snapshot; the snapshot of src1
# publishes, then updates the golden copy (golden.new built from it, verified, swapped in). After
# a crash: the repository verifies, and so does the golden copy (verify --all covers it: a
# half-updated one would fail); it holds a snapshot of the repository; the next snapshot brings
# it to the newest, leaves no golden.new, and its files are the source's bytes.
setup_golden-update() {
    newrepo "$1/repo"
    "$SKN" repo golden "$1/repo" on >/dev/null 2>&1
    snap_of "$W/src0" "$1/repo" >/dev/null
    cp -a "$W/src1" "$1/src"
}
run_golden-update() { run_snapshot "$@"; }
golden_data() { (cd "$1" && find blocks state -type f -print0 | LC_ALL=C sort -z | xargs -0 -r cksum); }
check_golden-update() {
    local held
    check_snapshot "$@"
    held=$(sed -n 's/^snapshot //p' "$T/repo/golden/record" 2>/dev/null)
    [ -n "$held" ] || broke "no golden copy with its record after the next snapshot"
    [ "$held" = "$(cat "$W/rerun.id" 2>/dev/null)" ] || broke "the next snapshot did not bring the golden copy to it ($held)"
    [ -e "$T/repo/golden.new" ] && broke "the next snapshot left golden.new"
    [ -e "$T/repo/golden/damaged" ] && broke "the golden copy is marked damaged"
    [ "$(golden_data "$T/repo/golden/tree")" = "$(golden_data "$T/src")" ] ||
        broke "the golden copy's files are not the source's bytes"
}

# restore-clone: the restore of src1's snapshot into an empty slot, cloned from the golden copy
# (same XFS); the slot invariant as for any restore, and the golden copy untouched.
setup_restore-clone() {
    newrepo "$1/repo"
    "$SKN" repo golden "$1/repo" on >/dev/null 2>&1
    cp -a "$W/src1" "$1/src"
    snap_of "$W/src1" "$1/repo" >"$W/restore-clone.id"
    golden_data "$1/repo/golden/tree" >"$W/golden.sig"
}
run_restore-clone() { run_restore-empty "$@"; }
check_restore-clone() {
    check_slot "" 0
    [ "$(golden_data "$T/repo/golden/tree")" = "$(cat "$W/golden.sig")" ] || broke "the golden copy changed"
}

# A follower's sync: an upstream repository (./up, a folder: the steps are the local ones, the
# same whatever the upstream's storage) with an older and a newer snapshot, into a local
# repository that has the older one. The upstream is only read (outside() checks it is unchanged).
setup_sync() {
    newrepo "$1/up"
    snap_of "$W/src0" "$1/up" >/dev/null
    snap_of "$W/src2" "$1/up" >/dev/null
    newrepo "$1/repo"
    "$SKN" sync --from "$1/up" --repo "$1/repo" --all >/dev/null 2>&1
    rm -f "$1/repo/snapshots/$(snap_ids "$1/up" | tail -1)" # the follower has only the older one
    cp -a "$W/src2" "$1/src"
}
run_sync() { "$1" sync --from "$T/up" --repo "$T/repo" --threads 2; }
check_sync() {
    local before=$1 after
    repo_ok "$T/repo"
    after=$(snap_ids "$T/repo" | wc -l)
    [ "$after" = "$before" ] || [ "$after" = $((before + 1)) ] || broke "$before snapshots before, $after after"
    if ! "$SKN" sync --from "$T/up" --repo "$T/repo" >"$W/rerun.id" 2>"$W/rerun.out"; then
        broke "the next sync fails: $(tail -c 300 "$W/rerun.out" | tr '\n' ' ')"
        return
    fi
    swept "$T/repo"
    repo_ok "$T/repo"
    cmp -s "$T/repo/snapshots/$(cat "$W/rerun.id")" "$T/up/snapshots/$(cat "$W/rerun.id")" ||
        broke "the synced manifest differs from the upstream one"
    rm -rf "$W/back"
    if ! "$SKN" restore --snapshot "$(cat "$W/rerun.id")" --data-dir "$W/back" --repo "$T/repo" >/dev/null 2>&1 ||
        ! same_tree "$T/src" "$W/back"; then
        broke "the synced snapshot does not restore to its source"
    fi
}

# ---- the daemon's snapshot cycle ----
# An archival fakenode (no workers) whose chain is frozen at block 600 for the next hour
# (one block an hour, genesis 599 h ago), started from a copy stopped cleanly at block 300
# that the repository holds; `snapshot -c` asks for a cycle: stop the node, snapshot,
# restart, verify, prune (keep_last 1), then SIGTERM; 1 MiB chunks. Steps are counted from the cycle
# request to the daemon's exit; the crash point is SK_CRASH_AT = (the daemon's steps at startup) + k.
setup_daemon() {
    local d=$1
    mkdir -p "$d/archive"
    local gt
    gt=$(date -u -d "@$(($(date +%s) - 599 * 3600 - 10))" +%Y-%m-%dT%H:%M:%S.000)
    printf '{"initial_timestamp": "%s", "initial_key": "EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV"}\n' \
        "$gt" >"$d/archive/genesis.json"
    local fnargs="--http-server-address off --chain-state-db-size-mb 16 --catch-up-rate 5000 --block-interval-ms 3600000"
    # shellcheck disable=SC2086
    (cd "$d" && "$FN" --data-dir "$d/archive" $fnargs --stop-at-block 300 >"$W/fakenode-setup.log" 2>&1)
    newrepo "$d/repo" 1MiB # the node rewrites state pages all over: fewer, larger chunks
    snap_of "$d/archive" "$d/repo" >/dev/null || echo "sweep.sh: daemon: cannot snapshot the archival node" >&2
    cat >"$d/sk.conf" <<EOF
[daemon]
control_socket = $T/control.sock
state_dir = $T/state
log_level = debug
[repository]
path = $T/repo
keep_last = 1
threads = 2
lock_wait = 20s
[archive]
data_dir = $T/archive
command = $FN --data-dir {data_dir} $fnargs
snapshot_interval = 24h
stop_timeout = 20s
[workers]
slots = 0
startup_grace = 1s
EOF
}
field() { "$SKN" status -c "$T/sk.conf" 2>/dev/null | awk -v s="$1" -v n="$2" '$1 == s { print $n; exit }'; }
daemon_up() { # PID: the daemon answers and its archival node runs at block 600
    local i
    for i in $(seq 200); do
        kill -0 "$1" 2>/dev/null || return 1
        if [ "$(field archive 2)" = running ] &&
            "$SKN" check --json "$T/archive" 2>/dev/null | grep -q '"last_block": 600'; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}
cycle_done() { # PID ID: the cycle published ID, verified and pruned it, and the node runs again
    local i
    for i in $(seq 400); do
        kill -0 "$1" 2>/dev/null || return 1
        if [ "$(field archive 2)" = running ] && "$SKN" status -c "$T/sk.conf" 2>/dev/null | grep -q 'verified; pruned' &&
            [ -s "$T/state/archive.pid" ]; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}
stop_daemon() { # PID: SIGTERM, at most 20 s
    local i
    kill -TERM "$1" 2>/dev/null
    for i in $(seq 400); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
    wait "$1" 2>/dev/null
}
# Every process this sweep started on $T (nodes a killed daemon left running): by pid.
reap() {
    local p
    for p in $(pgrep -f "$T/"); do kill -KILL "$p" 2>/dev/null; done
    for p in $(seq 50); do [ -z "$(pgrep -f "$T/")" ] && break; sleep 0.05; done
}
daemon_said() { grep -v 'control: status from' "$T/daemon.log" | tail -2 | tr '\n' ' '; }
archive_nodes() { pgrep -f "^$FN --data-dir $T/archive " | wc -l; }
# run_daemon BINARY: the daemon up, then one cycle; returns the daemon's exit status.
run_daemon() {
    (cd "$T" && exec "$1" daemon -c "$T/sk.conf" >>"$T/daemon.log" 2>&1) &
    local dp=$!
    if ! daemon_up "$dp"; then
        DAEMON_NOTE="not up"
        stop_daemon "$dp"
        wait "$dp"
        return $?
    fi
    STARTUP_STEPS=$(cat "$TRACE" 2>/dev/null | wc -l)
    "$SKN" snapshot -c "$T/sk.conf" >"$W/cycle.out" 2>&1
    if cycle_done "$dp"; then
        sleep 0.3 # anything the cycle still does
        stop_daemon "$dp"
    else
        for _ in $(seq 200); do kill -0 "$dp" 2>/dev/null || break; sleep 0.05; done
        kill -0 "$dp" 2>/dev/null && DAEMON_NOTE="neither crashed nor finished its cycle" && stop_daemon "$dp"
    fi
    wait "$dp"
    local rc=$?
    # the steps of its stop count too (the archival node's pid file removed)
    CYCLE_STEPS=$(($(cat "$TRACE" 2>/dev/null | wc -l) - STARTUP_STEPS))
    return $rc
}
check_daemon() {
    local before=$1 after
    repo_ok "$T/repo"
    after=$(snap_ids "$T/repo" | wc -l)
    [ "$after" -ge 1 ] && [ "$after" -le 2 ] || broke "$before snapshot(s) before, $after after"
    (cd "$T" && exec "$SKN" daemon -c "$T/sk.conf" >>"$T/daemon.log" 2>&1) &
    local dp=$!
    if ! daemon_up "$dp"; then
        broke "the next daemon does not get its archival node to run: $(daemon_said)"
        stop_daemon "$dp"
        return
    fi
    [ "$(archive_nodes)" = 1 ] || broke "$(archive_nodes) archival nodes run"
    if ! "$SKN" snapshot -c "$T/sk.conf" >"$W/rerun.out" 2>&1; then
        broke "the next cycle fails: $(tail -c 300 "$W/rerun.out" | tr '\n' ' ')"
    elif ! cycle_done "$dp"; then
        broke "the next cycle does not finish: $(daemon_said)"
    fi
    stop_daemon "$dp"
    [ "$(archive_nodes)" = 0 ] || broke "the archival node outlived the daemon's SIGTERM"
    swept "$T/repo"
    repo_ok "$T/repo"
    [ "$(snap_ids "$T/repo" | wc -l)" = 1 ] || broke "after the next cycle $(snap_ids "$T/repo" | wc -l) snapshots (keep_last 1)"
    "$SKN" check "$T/archive" >/dev/null 2>&1 || broke "the archival data-dir is not clean after the next daemon stopped"
}

# ---- the sweep ----

sweep_op() {
    OP=$1
    local t0=$SECONDS tpl=$W/tpl-$OP
    T=$W/t
    TRASHD=$W
    if [ "$OP" = freeze ] || [ "$OP" = restore-clone ]; then
        # (the restore that checks the next snapshot goes to the XFS too: folder sizes differ
        # between file systems; restore-clone needs its repository's golden copy and the slot on one)
        if ! xfs_mount; then
            echo "crash-sweep: $OP: SKIP ($XFS_WHY)"
            [ "${CI:-}" = true ] && echo "$OP: skipped under CI ($XFS_WHY)" >>"$FAILS" && TOTAL_BROKEN=$((TOTAL_BROKEN + 1))
            return
        fi
        T=$W/xfs/t
        TRASHD=$W/xfs
        [ "$OP" = restore-clone ] && tpl=$W/xfs/tpl-$OP
    fi
    TPL=$tpl
    rm -rf "$tpl" "$T"
    mkdir -p "$tpl"
    setup_sources
    "setup_$OP" "$tpl"
    case $OP in restore-over | restore-damaged | restore-full) tree_sig "$tpl/slot" >"$W/$OP.sig" ;; esac
    # Count the steps of one uninterrupted run.
    TRACE=$W/count.trace
    rm -f "$TRACE"
    fresh
    DAEMON_NOTE=
    CYCLE_STEPS=
    STARTUP_STEPS=0
    cd "$T" || return # a file made by a relative path shows up as made outside
    SK_CRASH_TRACE=$TRACE run_"$OP" "$SKC" >"$W/count.out" 2>&1
    local rc=$? n base=0
    cd "$W" || return
    [ "$OP" = daemon ] && reap
    if [ "$rc" != 0 ]; then
        echo "crash-sweep: $OP: the uninterrupted run fails (exit $rc${DAEMON_NOTE:+, $DAEMON_NOTE}): $(tail -c 300 "$W/count.out" | tr '\n' ' ')"
        echo "$OP: the uninterrupted run fails (exit $rc)" >>"$FAILS"
        TOTAL_BROKEN=$((TOTAL_BROKEN + 1))
        return
    fi
    if [ "$OP" = daemon ]; then
        base=$STARTUP_STEPS
        n=${CYCLE_STEPS:-0}
    else
        n=$(wc -l <"$TRACE")
    fi
    cp "$TRACE" "$W/$OP.trace"
    local tried=0 broken=0 crashed=0
    for K in $(points "$n"); do
        fresh
        local before snaps
        before=$(outside)
        snaps=$(snap_ids "$T/repo" | wc -l)
        START_BADS=$(bad_marks "$T/repo")
        TRACE=$W/k.trace
        rm -f "$TRACE"
        DAEMON_NOTE=
        cd "$T" || return
        SK_CRASH_AT=$((base + K)) SK_CRASH_TRACE=$TRACE run_"$OP" "$SKC" >"$W/k.out" 2>&1
        rc=$?
        cd "$W" || return
        STEP=$(tail -1 "$TRACE" 2>/dev/null | cut -d' ' -f2-)
        [ -z "$STEP" ] && STEP="no step"
        BROKEN_NOW=0
        tried=$((tried + 1))
        if [ "$K" -le "$n" ]; then
            if [ "$rc" = 137 ]; then
                crashed=$((crashed + 1))
            else
                broke "did not die by SIGKILL at step $K of $n (exit $rc${DAEMON_NOTE:+, $DAEMON_NOTE})"
            fi
            [ "$OP" = daemon ] && [ "$STARTUP_STEPS" != "$base" ] &&
                broke "the daemon took $STARTUP_STEPS steps to start, not $base: the step numbers moved"
        else
            STEP="past the last step"
            [ "$rc" = 0 ] || broke "step $K is past the count, yet the run exits $rc${DAEMON_NOTE:+ ($DAEMON_NOTE)}: the count is wrong"
        fi
        "check_$OP" "$snaps"
        [ "$OP" = daemon ] && reap
        local after
        after=$(outside)
        [ "$before" = "$after" ] ||
            broke "changed outside the repository and the slot: $(diff <(echo "$before") <(echo "$after") | grep '^[<>]' | head -3 | tr '\n' ' ')"
        if [ "$BROKEN_NOW" = 1 ]; then
            broken=$((broken + 1))
            [ -d "$W/kept-$OP-$K" ] || [ "$(ls -d "$W"/kept-"$OP"-* 2>/dev/null | wc -l)" -ge 3 ] ||
                cp -a "$T" "$W/kept-$OP-$K"
        fi
    done
    rm -rf "$T"
    wait
    if [ "$OP" = restore-clone ]; then
        if ! grep -q ' clone snapshot/golden.c' "$W/$OP.trace"; then
            echo "$OP: the restore did not clone (no clone step in its trace)" >>"$FAILS"
            broken=$((broken + 1))
        fi
        rm -rf "$tpl"
    fi
    TOTAL_BROKEN=$((TOTAL_BROKEN + broken))
    echo "crash-sweep: $OP: $n crash points, $tried tried, $broken broken ($((SECONDS - t0))s)"
}

for op in "${OPS[@]}"; do sweep_op "$op"; done
wait
xfs_cleanup
XFS_LOOP= XFS_IMG=
if [ "$TOTAL_BROKEN" = 0 ]; then
    echo "crash-sweep: no invariant broken"
    [ "$KEEP" = 1 ] || rm -rf "$W"
    exit 0
fi
echo "crash-sweep: first failures (all in $W/failures; trial folders kept as $W/kept-OP-K):"
head -20 "$FAILS" | sed 's/^/  /'
exit 1
