#!/usr/bin/env bash
# Full-disk campaign (issue 6): ENOSPC at every step of a snapshot and of a restore.
# As root, a small tmpfs is mounted (and unmounted by a trap on exit); for each point a filler
# file leaves K bytes free, K swept evenly from 0 to a little over what the operation needs,
# and the operation runs:
#   snapshot   of a data-dir into a repository on the small fs that already holds an earlier
#              snapshot;
#   restore    of a snapshot (repository elsewhere) into a used slot on the small fs: the
#              delta restore (the default), then the same sweeps with --full.
#   freeze     a snapshot that freezes first: the data-dir on a small XFS (reflink=1) loop
#              image that is full, the repository elsewhere (needs mkfs.xfs and a loop device;
#              skipped otherwise). Bytes, a moment, and every step (each mkdir, create, clone
#              and write of the frozen copy); no inode sweep (XFS makes inodes as it goes).
# Three more sweeps reach the steps a byte count cannot (the restore checks free bytes before it
# starts): free inodes (tmpfs nr_inodes; a full inode table is ENOSPC too) swept one by one,
# the fs filled completely at a moment swept across the operation's run time, and every step:
# nospace.so (LD_PRELOAD, tests/campaign/nospace.c) counts the calls that take space on the
# small fs (writes, creates, mkdirs, renames, links) in a first run, then for each N the disk
# is full from the N-th call on.
# At each point:
#   - it succeeded (exit 0), or failed with exit 6 and a one-line error naming a path;
#   - snapshot: the earlier snapshot is still listed and `verify --all` passes; no new snapshot
#     after a failure; repo tmp/ empty (right away, and after the next run's sweep); the next
#     run, with space freed, succeeds, verifies and restores byte-identical to the source (a
#     chunk cut short by ENOSPC must never be taken as stored);
#   - freeze: a freeze the full disk stops says so in a warning and the snapshot goes on from
#     the stopped data-dir (exit 0); no frozen folder is left; the data-dir is unchanged and the
#     snapshot restores byte-identical to it; the next run, with room, freezes;
#   - restore: the slot is byte-identical to before (no marker, no staging) or to the snapshot
#     (no marker, no staging); or, if it was changed, it is marked restoring and running the
#     restore again with space freed completes it byte-identically; the slot's own files stay.
#
#   usage: tests/campaign/enospc.sh [POINTS]   (default 40 per byte sweep)
#   env: SK (binary), ENOSPC_INODE_POINTS, ENOSPC_TIME_POINTS (default POINTS/4),
#        ENOSPC_STEP_POINTS (default: every step), NOSPACE (the shim; that sweep is skipped
#        without it, and for a sanitized binary, whose runtime must load first), KEEP=1,
#        ENOSPC_ONLY=freeze (only the freeze sweep), ENOSPC_FREEZE_POINTS (the freeze sweep's byte
#        and step points, default as the others', with one moment)
# Last line: "enospc: snapshot N points, N ok; restore N points, N ok"; exit 1 if any
# invariant broke, 77 if it cannot mount a tmpfs (not root).
set -u
P=${1:-40}
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SK=${SK:-$ROOT/slotkeeper}
TOOLS=${TOOLS:-$ROOT/build/tools}
IP=${ENOSPC_INODE_POINTS:-$P}
TP=${ENOSPC_TIME_POINTS:-$(((P + 3) / 4))}
SP=${ENOSPC_STEP_POINTS:-0} # 0: every step
NOSPACE=${NOSPACE:-$TOOLS/nospace.so}
W=$(mktemp -d /var/tmp/sk-camp.enospc.XXXXXX)
S=$W/small
bad=0
cleanup() {
    [ -n "${BGPID:-}" ] && kill "$BGPID" 2>/dev/null && wait "$BGPID" 2>/dev/null
    mountpoint -q "$W/small" && umount "$W/small"
    mountpoint -q "$W/x" && umount "$W/x"
    [ -n "${XLOOP:-}" ] && losetup -d "$XLOOP" 2>/dev/null
    [ -n "${XIMG:-}" ] && rm -f "$XIMG"
    if { [ "$bad" = 0 ] || [ "${CAMPAIGN_CLEAN:-0}" = 1 ]; } && [ "${KEEP:-0}" != 1 ]; then rm -rf "$W"; else echo "# enospc: kept $W"; fi
}
trap cleanup EXIT
# the binary under test, copied: a rebuild of the tree's binary mid-run must not change it
mkdir -p "$W/bin" && cp "$SK" "$W/bin/slotkeeper" || exit 2
SK=$W/bin/slotkeeper
mkdir -p "$S"
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=24m,nr_inodes=4000 tmpfs "$S" 2>/dev/null; then
    echo "enospc: cannot mount a tmpfs (needs root): skipped"
    exit 77
fi
start=$(date +%s)

sig() { # DIR: blocks/ and state/ with type, mode, mtime, link, content (and size, from cksum)
    (cd "$1" && find blocks state -printf '%p %y %m %T@ %l\n' | LC_ALL=C sort &&
        find blocks state -type f -print0 | LC_ALL=C sort -z | xargs -0 -r cksum) 2>&1
}
avail() { df -B1 --output=avail "$S" | tail -1 | tr -d ' '; }
iavail() { df --output=iavail "$S" | tail -1 | tr -d ' '; }
used() { df -B1 --output=used "$S" | tail -1 | tr -d ' '; }
iused() { df --output=iused "$S" | tail -1 | tr -d ' '; }
unfill() { rm -rf "$S/filler" "$S/ifill"; }
fill_bytes() { # leave K bytes free
    local a n
    a=$(avail)
    n=$((a - $1))
    [ "$n" -gt 0 ] || return 0
    fallocate -l "$n" "$S/filler" 2>/dev/null || head -c "$n" /dev/zero >"$S/filler" 2>/dev/null
    return 0
}
fill_inodes() { # leave K inodes free
    mkdir "$S/ifill"
    local n=$(($(iavail) - $1))
    [ "$n" -gt 0 ] && (cd "$S/ifill" && seq -f 'f%.0f' 1 "$n" | xargs touch 2>/dev/null)
    return 0
}
fill_all() { fallocate -l "$(avail)" "$S/filler" 2>/dev/null; head -c 1G /dev/zero >>"$S/filler" 2>/dev/null; }

# step_points N: the steps to try, 1..N+1 (one past the count, where nothing fails): all of them,
# or an even sample of SP when SP is set and smaller
step_points() {
    local n=$1 i
    if [ "$SP" = 0 ] || [ "$SP" -ge "$((n + 1))" ]; then
        seq 1 $((n + 1))
    else
        for ((i = 0; i < SP; i++)); do echo $((1 + n * i / (SP > 1 ? SP - 1 : 1))); done | uniq
    fi
}
# can_step: the shim is there and the binary loads it (a sanitized one wants its runtime first)
can_step() { [ -f "$NOSPACE" ] && ! ldd "$SK" 2>/dev/null | grep -q 'libasan'; }
SDEV=$(stat -c %d "$S")

# one_line_path ERRFILE CMD: exactly one line "slotkeeper: CMD: <path with a slash>: <reason>"
one_line_path() {
    [ "$(grep -vc 'waiting for the repository lock' "$1")" = 1 ] && grep -Eq "^slotkeeper: $2: [^ ]*/[^:]*: .+" "$1"
}
# step KIND: note where the last failure struck (its path and reason, names made generic)
step() {
    sed -E "s|$W/||g; s/[0-9a-f]{32}/HASH/g; s/s-[0-9]+-[0-9a-f]+/SESSION/g; s|SESSION/[0-9a-f]+/HASH|SESSION/xx/HASH|; s/[0-9]{8}T[0-9]{6}Z(-[0-9]+-[0-9a-f]+)?/ID/g;
        s/needs [0-9.]+ [KMG]?i?B, [0-9.]+ [KMG]?i?B available/needs X, Y available/; s/^slotkeeper: [a-z]+: //" "$W/err" |
        head -1 >>"$W/steps.$1"
}
broke() { # POINT WHAT
    echo "BROKEN $1: $2"
    [ -s "$W/err" ] && echo "#   stderr: $(head -c 300 "$W/err" | tr '\n' '|')"
    point_ok=0
}

# --- fixtures on the big disk -------------------------------------------------------------------
"$TOOLS/mkdatadir" create "$W/srcA" --blocks-size 1M --state-size 8M --state-data 256K --seed 1 >/dev/null || exit 2
"$TOOLS/mkdatadir" create "$W/srcB" --blocks-size 3M --state-size 16M --state-data 1M --seed 2 >/dev/null || exit 2
sig "$W/srcB" >"$W/sig.B"
"$SK" repo init "$W/base" --chunk-size 64KiB >/dev/null || exit 2
IDA=$("$SK" snapshot --data-dir "$W/srcA" --repo "$W/base" 2>/dev/null) || exit 2
# restore: a repository holding A and B; a used slot holding A plus its own config.ini
"$SK" repo init "$W/rrepo" --chunk-size 64KiB >/dev/null || exit 2
"$SK" snapshot --data-dir "$W/srcA" --repo "$W/rrepo" >/dev/null 2>&1 || exit 2
IDB=$("$SK" snapshot --data-dir "$W/srcB" --repo "$W/rrepo" 2>/dev/null) || exit 2
"$SK" restore --snapshot "$(ls "$W/rrepo/snapshots" | head -1)" --data-dir "$W/slot0" --repo "$W/rrepo" >/dev/null 2>&1 || exit 2
rm -rf "$W/slot0/.slotkeeper"
echo "slot's own peers" >"$W/slot0/config.ini"
sig "$W/slot0" >"$W/sig.before"

# sweep NAME P SCALE: the four sweeps of one operation, through P_reset (a fresh start),
# P_run (the operation; exit status) and P_point (checks one point): free bytes from 0 to SCALE
# times what it needs, free inodes, the fs filled at a moment across its run time, and the disk
# full from each space-taking call on. Sets P_steps (the calls counted) and DUR (ms with room).
sweep() {
    local name=$1 p=$2 scale=$3 i k d ni rc free u0 i0 need ineed
    local -n steps=${p}_steps good=${p}_good
    "${p}_reset"
    u0=$(used) i0=$(iused)
    "${p}_run" || { echo "enospc: the $name fails with room to spare: $(cat "$W/err")" >&2; bad=1; exit 1; }
    need=$(($(used) - u0)) ineed=$(($(iused) - i0))
    echo "# $name: needs $need bytes and $ineed inodes on the small fs"
    [ -n "${MIN_NEED:-}" ] && [ "$need" -lt "$MIN_NEED" ] && need=$MIN_NEED
    for ((i = 0; i < P; i++)); do
        k=$((need * ${scale%/*} / ${scale#*/} * i / (P > 1 ? P - 1 : 1)))
        "${p}_reset"
        fill_bytes "$k"
        free=$(avail)
        "${p}_run"
        "${p}_point" "$name bytes free=$free" $?
    done
    [ -n "${MIN_NEED:-}" ] && [ "$need" -lt "$MIN_NEED" ] && need=$MIN_NEED
    ni=$((ineed + 2 < IP ? ineed + 2 : IP))
    [ "${NO_INODES:-0}" = 1 ] && ni=0
    for ((i = 0; i < ni; i++)); do
        k=$((ni <= ineed + 2 ? i : (ineed + 2) * i / (ni - 1)))
        "${p}_reset"
        fill_inodes "$k"
        free=$(iavail)
        "${p}_run"
        "${p}_point" "$name inodes free=$free" $?
    done
    # the fs filled at a moment swept across the run time
    "${p}_reset"
    local t0
    t0=$(date +%s%N)
    "${p}_run"
    DUR=$((($(date +%s%N) - t0) / 1000000))
    for ((i = 0; i < TP; i++)); do
        d=$((DUR * i / (TP > 1 ? TP - 1 : 1)))
        "${p}_reset"
        "${p}_run" &
        BGPID=$!
        sleep "$(awk -v d="$d" 'BEGIN { printf "%.3f", d / 1000 }')"
        fill_all
        wait "$BGPID"
        rc=$?
        BGPID=
        "${p}_point" "$name filled after ${d}ms" "$rc"
    done
    # the disk full from the N-th space-taking call on, for every N
    steps=0
    if ! can_step; then
        echo "# $name: no step sweep (no $NOSPACE, or a sanitized binary)"
        return
    fi
    "${p}_reset"
    rm -f "$W/trace"
    SK_NOSPACE_DEV=$SDEV SK_NOSPACE_TRACE=$W/trace LD_PRELOAD=$NOSPACE "${p}_run" ||
        { echo "enospc: the $name fails under the shim with room to spare" >&2; bad=1; }
    steps=$(wc -l <"$W/trace")
    for k in $(step_points "$steps"); do
        "${p}_reset"
        SK_NOSPACE_DEV=$SDEV SK_NOSPACE_AT=$k LD_PRELOAD=$NOSPACE "${p}_run"
        rc=$?
        "${p}_point" "$name full from step $k of $steps ($(sed -n "${k}s/^[0-9]* //p" "$W/trace"))" "$rc"
        if [ "$k" -gt "$steps" ] && [ "$rc" != 0 ]; then # the count was exact: nothing fails past it
            [ "$point_ok" = 1 ] && good=$((good - 1))
            broke "$name step $k" "past the $steps steps, yet exit $rc"
            bad=1
        fi
    done
}

# --- snapshot -----------------------------------------------------------------------------------
snap_reset() { unfill; rm -rf "$S/repo"; cp -a "$W/base" "$S/repo"; }
snap_run() { "$SK" snapshot --data-dir "$W/srcB" --repo "$S/repo" --threads 2 >"$W/out" 2>"$W/err"; }
snap_point() { # LABEL RC
    local label=$1 rc=$2
    point_ok=1
    case $rc in
    0) snap_ok=$((snap_ok + 1)) ;;
    6)
        snap_full=$((snap_full + 1))
        step snapshot
        one_line_path "$W/err" snapshot || broke "$label" "not a one-line error naming a path"
        grep -Eq 'No space left on device|not enough space' "$W/err" || broke "$label" "the error does not say the disk is full"
        ;;
    *) broke "$label" "exit $rc (want 0 or 6)" ;;
    esac
    local n=1
    [ "$rc" = 0 ] && n=2
    [ "$(ls "$S/repo/snapshots" | wc -l)" = "$n" ] || broke "$label" "snapshots/ holds $(ls "$S/repo/snapshots" | tr '\n' ' ')"
    [ -e "$S/repo/snapshots/$IDA" ] || broke "$label" "the earlier snapshot is gone"
    if [ -n "$(ls -A "$S/repo/tmp")" ]; then
        tmp_left=$((tmp_left + 1))
        echo "# $label: tmp/ not empty right after exit $rc: $(ls -A "$S/repo/tmp" | head -3 | tr '\n' ' ')"
    fi
    "$SK" verify --all --repo "$S/repo" >"$W/vout" 2>&1 || broke "$label" "verify --all fails: $(head -3 "$W/vout" | tr '\n' '|')"
    if [ "$rc" = 0 ]; then
        rm -rf "$W/back"
        "$SK" restore --data-dir "$W/back" --repo "$S/repo" >/dev/null 2>&1 &&
            diff -q <(sig "$W/back") "$W/sig.B" >/dev/null || broke "$label" "the snapshot made on the full disk does not restore identically"
    fi
    # the next run, with room again: succeeds, sweeps tmp/, verifies, restores identically
    unfill
    if snap_run; then
        [ -z "$(ls -A "$S/repo/tmp")" ] || broke "$label" "tmp/ not empty after the next run"
        "$SK" verify --all --repo "$S/repo" >"$W/vout" 2>&1 || broke "$label" "verify after the next run: $(head -3 "$W/vout" | tr '\n' '|')"
        rm -rf "$W/back"
        "$SK" restore --data-dir "$W/back" --repo "$S/repo" >/dev/null 2>&1 &&
            diff -q <(sig "$W/back") "$W/sig.B" >/dev/null || broke "$label" "the next run's snapshot does not restore identically"
    else
        broke "$label" "the next run with room fails: $(head -c 200 "$W/err")"
    fi
    snap_n=$((snap_n + 1))
    snap_good=$((snap_good + point_ok))
    [ "$point_ok" = 1 ] || bad=1
}

snap_n=0 snap_good=0 snap_ok=0 snap_full=0 tmp_left=0 snap_steps=0
DUR=0
[ "${ENOSPC_ONLY:-}" = freeze ] || sweep snapshot snap 5/4
SDUR=$DUR
echo "# snapshot: $snap_n points: $snap_ok succeeded, $snap_full failed with exit 6, $tmp_left left tmp/ files until the next run"
echo "# snapshot: where the failures struck:" && sort "$W/steps.snapshot" 2>/dev/null | uniq -c | sed 's/^/#   /'

# --- restore ------------------------------------------------------------------------------------
rest_reset() { unfill; rm -rf "$S/slot"; cp -a --sparse=always "$W/slot0" "$S/slot"; }
REST_FLAGS=()
rest_run() { "$SK" restore --snapshot "$IDB" --data-dir "$S/slot" --repo "$W/rrepo" --threads 2 "${REST_FLAGS[@]}" >"$W/out" 2>"$W/err"; }
slot_is() { # WANT(sig file): blocks/ + state/ as in WANT, its config.ini kept
    diff -q <(sig "$S/slot") "$1" >/dev/null && [ "$(cat "$S/slot/config.ini")" = "slot's own peers" ]
}
no_leftovers() { [ ! -e "$S/slot/.slotkeeper/restoring" ] && [ ! -e "$S/slot/.slotkeeper/staging" ]; }
rest_point() { # LABEL RC
    local label=$1 rc=$2
    point_ok=1
    case $rc in
    0)
        rest_ok=$((rest_ok + 1))
        slot_is "$W/sig.B" || broke "$label" "exit 0 but the slot differs from the snapshot"
        no_leftovers || broke "$label" "exit 0 but a marker or staging is left"
        ;;
    6)
        one_line_path "$W/err" restore || broke "$label" "not a one-line error naming a path"
        grep -Eq 'No space left on device|not enough space' "$W/err" || broke "$label" "the error does not say the disk is full"
        step restore
        if [ -e "$S/slot/.slotkeeper/restoring" ]; then
            rest_marked=$((rest_marked + 1))
            unfill
            if "$SK" restore --snapshot "$IDB" --data-dir "$S/slot" --repo "$W/rrepo" >"$W/out" 2>"$W/err"; then
                slot_is "$W/sig.B" || broke "$label" "the completed restore differs from the snapshot"
                no_leftovers || broke "$label" "a marker or staging is left after completing"
            else
                broke "$label" "re-running the marked restore with room fails: $(head -c 200 "$W/err")"
            fi
        else
            rest_full=$((rest_full + 1))
            slot_is "$W/sig.before" || broke "$label" "failed without a marker, but the slot changed"
            no_leftovers || broke "$label" "staging left behind"
        fi
        ;;
    *) broke "$label" "exit $rc (want 0 or 6)" ;;
    esac
    rest_n=$((rest_n + 1))
    rest_good=$((rest_good + point_ok))
    [ "$point_ok" = 1 ] || bad=1
}

rest_n=0 rest_good=0 rest_ok=0 rest_full=0 rest_marked=0 rest_steps=0
# The delta restore (the default): what it writes and quarantines is what it needs.
DUR=0
[ "${ENOSPC_ONLY:-}" = freeze ] || sweep restore rest 3/2
RDUR=$DUR
echo "# restore: $rest_n points: $rest_ok succeeded, $rest_full failed with exit 6 leaving the slot as it was," \
    "$rest_marked failed after changing the slot and were completed by a second run"
echo "# restore: where the failures struck:" && sort "$W/steps.restore" 2>/dev/null | uniq -c | sed 's/^/#   /'
delta_line="restore $rest_n points ($rest_steps steps), $rest_good ok"
# --full: the quarantine keeps the replaced folders: the staging copy is the space the restore
# needs; its free-space check asks for more than it uses.
if [ "${ENOSPC_ONLY:-}" != freeze ]; then
REST_FLAGS=(--full)
rm -f "$W/steps.restore"
rest_n=0 rest_good=0 rest_ok=0 rest_full=0 rest_marked=0 rest_steps=0
sweep restore-full rest 3/2
echo "# restore --full: $rest_n points: $rest_ok succeeded, $rest_full failed with exit 6 leaving the slot as it was," \
    "$rest_marked failed after changing the slot and were completed by a second run"
echo "# restore --full: where the failures struck:" && sort "$W/steps.restore" 2>/dev/null | uniq -c | sed 's/^/#   /'
full_line="restore --full $rest_n points ($rest_steps steps), $rest_good ok"
REST_FLAGS=()
fi
# --- freeze -------------------------------------------------------------------------------------
# The data-dir on a small XFS that clones; the repository on the big disk. The helpers above work
# on $S and $SDEV: they are pointed at the XFS for this sweep.
frz_n=0 frz_good=0 frz_frozen=0 frz_direct=0 frz_steps=0
frz_reset() { unfill; rm -rf "$S/src"; cp -a "$W/srcB" "$S/src"; rm -rf "$W/frepo"; cp -a "$W/base" "$W/frepo"; }
frz_run() { "$SK" snapshot --data-dir "$S/src" --repo "$W/frepo" --threads 2 >"$W/out" 2>"$W/err"; }
frozen_left() { ls -A "$S/src/.slotkeeper" 2>/dev/null | grep '^frozen-'; }
frz_point() { # LABEL RC
    local label=$1 rc=$2
    point_ok=1
    if [ "$rc" = 0 ]; then
        if grep -q 'frozen: data-dir free' "$W/err"; then
            frz_frozen=$((frz_frozen + 1))
        elif grep -q 'no freeze: ' "$W/err"; then
            frz_direct=$((frz_direct + 1))
            step freeze
        else
            broke "$label" "neither frozen nor a reason why not"
        fi
        rm -rf "$W/back"
        "$SK" restore --data-dir "$W/back" --repo "$W/frepo" >/dev/null 2>&1 &&
            diff -q <(sig "$W/back") "$W/sig.B" >/dev/null || broke "$label" "the snapshot does not restore identically"
    else
        broke "$label" "exit $rc (the snapshot goes on without a freeze: want 0)"
    fi
    [ -z "$(frozen_left)" ] || broke "$label" "a frozen folder is left: $(frozen_left | head -2 | tr '\n' ' ')"
    diff -q <(sig "$S/src") "$W/sig.B" >/dev/null || broke "$label" "the data-dir changed"
    unfill
    if frz_run && grep -q 'frozen: data-dir free' "$W/err"; then
        [ -z "$(frozen_left)" ] || broke "$label" "a frozen folder is left after the next run"
    else
        broke "$label" "the next run with room does not freeze: $(head -c 200 "$W/err")"
    fi
    frz_n=$((frz_n + 1))
    frz_good=$((frz_good + point_ok))
    [ "$point_ok" = 1 ] || bad=1
}
XIMG=$(mktemp /var/tmp/sk-camp.xfs.XXXXXX)
if command -v mkfs.xfs >/dev/null && truncate -s 300M "$XIMG" && mkfs.xfs -q -f -m reflink=1 "$XIMG" >/dev/null 2>&1 &&
    XLOOP=$(losetup -f --show "$XIMG" 2>/dev/null) && mkdir -p "$W/x" && mount "$XLOOP" "$W/x" 2>/dev/null; then
    S=$W/x SDEV=$(stat -c %d "$W/x") NO_INODES=1 MIN_NEED=$((2 * 1024 * 1024))
    # ENOSPC_FREEZE_POINTS: byte and step points of this sweep (default: as the others)
    p_save=$P tp_save=$TP sp_save=$SP
    if [ -n "${ENOSPC_FREEZE_POINTS:-}" ]; then
        P=$ENOSPC_FREEZE_POINTS TP=1 SP=$ENOSPC_FREEZE_POINTS
    fi
    sweep freeze frz 1/1
    FDUR=$DUR
    P=$p_save TP=$tp_save SP=$sp_save
    NO_INODES=0 MIN_NEED=
    echo "# freeze: $frz_n points: $frz_frozen froze, $frz_direct took the direct path (the full disk stopped the freeze)"
    echo "# freeze: where the freeze was stopped:" && sort "$W/steps.freeze" 2>/dev/null | uniq -c | sed 's/^/#   /'
else
    echo "# freeze: skipped (no mkfs.xfs or no loop device)"
    FDUR=0
fi

echo "# enospc: $(($(date +%s) - start))s (snapshot ${SDUR}ms, restore ${RDUR}ms, freeze ${FDUR}ms with room)"
echo "enospc: snapshot $snap_n points ($snap_steps steps), $snap_good ok; $delta_line; ${full_line:-restore --full not run}; freeze $frz_n points ($frz_steps steps), $frz_good ok"
exit "$bad"
