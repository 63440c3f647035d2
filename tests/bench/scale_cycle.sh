#!/usr/bin/env bash
# scale_cycle.sh: how long a snapshot cycle holds the archival node's data-dir, at two sizes, on
# XFS (reflink=1: freeze, restart, then snapshot the frozen copy) and on ext4 (no clones: the
# node stays stopped for the whole snapshot). For each file system and size, on a loop image:
# a data-dir of SIZE (70% blocks, 30% state with data), a first full snapshot, then the node
# "runs" (mkdatadir mutate: 0.1% appended, 0.5% of the state's pages rewritten), the page cache
# is dropped and the incremental snapshot's `--json` gives stopped_seconds (the clone with a
# freeze, the whole snapshot without: what the node's downtime adds to its own stop and start)
# and seconds (the snapshot). Then the slope in seconds per GB and its projection to 1 TB.
#   target (issue 13): with a freeze, under 2 s and flat across sizes
# Needs root (loop devices, drop_caches), mkfs.xfs and mkfs.ext4; prints a SKIP line otherwise.
# Environment: SLOTKEEPER, MKDATADIR (binaries), SCALE_SIZES ("2G 8G"; give GiB as NG),
# SCALE_THREADS (2). Disk use: a sparse image of about 2.3x the larger size at a time.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SK=${SLOTKEEPER:-$root/slotkeeper}
MKDD=${MKDATADIR:-$root/build/tools/mkdatadir}
SIZES=${SCALE_SIZES:-2G 8G}
THREADS=${SCALE_THREADS:-2}
D=$(mktemp -d "${TMPDIR:-/var/tmp}/sk-scale-cycle.XXXXXX")
LOOP=
IMG=
cleanup() {
    mountpoint -q "$D/fs" && umount "$D/fs"
    [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
    [ -n "$IMG" ] && rm -f "$IMG"
    rm -rf "$D"
}
trap cleanup EXIT
if [ "$(id -u)" != 0 ] || ! command -v mkfs.xfs >/dev/null || ! command -v mkfs.ext4 >/dev/null; then
    echo "scale_cycle: SKIP (needs root, mkfs.xfs and mkfs.ext4)"
    exit 0
fi
gib() { echo "${1%G}"; }
mkfs_on() { # TYPE GiB: a fresh loop file system on $D/fs
    IMG=$D/img.$1
    truncate -s "$(($2 * 23 / 10 + 1))G" "$IMG"
    case $1 in
    xfs) mkfs.xfs -q -f -m reflink=1 "$IMG" ;;
    ext4) mkfs.ext4 -q -F "$IMG" ;;
    esac
    LOOP=$(losetup -f --show "$IMG") && mkdir -p "$D/fs" && mount "$LOOP" "$D/fs"
}
unmkfs() {
    umount "$D/fs"
    losetup -d "$LOOP"
    rm -f "$IMG"
    LOOP= IMG=
}
field() { sed -n "s/.*\"$1\":\\([^,}]*\\).*/\\1/p" "$D/out" | tr -d '"'; }

printf '%-5s %6s %-7s %12s %12s %12s\n' FS SIZE PATH STOPPED_S SNAPSHOT_S FULL_S
declare -A STOP
for fs in xfs ext4; do
    for size in $SIZES; do
        g=$(gib "$size")
        mkfs_on "$fs" "$g" || {
            echo "scale_cycle: cannot make a $fs loop image"
            exit 1
        }
        N=$D/fs/node
        "$MKDD" create "$N" --blocks-size "$((g * 1024 * 7 / 10))M" --state-size "$((g * 1024 * 3 / 10))M" \
            --state-data "$((g * 1024 * 3 / 10 - 64))M" >/dev/null
        "$SK" repo init "$D/fs/repo" >/dev/null
        t0=$(date +%s.%N)
        "$SK" snapshot --data-dir "$N" --repo "$D/fs/repo" --threads "$THREADS" --quiet >/dev/null
        full=$(echo "$(date +%s.%N) - $t0" | bc)
        "$MKDD" mutate "$N" --append-pct 0.1 --rewrite-pct 0.5 >/dev/null 2>&1 ||
            "$MKDD" mutate "$N" --append-pct 1 --rewrite-pct 1 >/dev/null
        sync
        echo 3 >/proc/sys/vm/drop_caches
        "$SK" snapshot --data-dir "$N" --repo "$D/fs/repo" --threads "$THREADS" --quiet --json >"$D/out"
        st=$(field stopped_seconds) sn=$(field seconds) path=$(field path)
        STOP[$fs.$g]=$st
        printf '%-5s %5sG %-7s %12.3f %12.3f %12.3f\n' "$fs" "$g" "$path" "$st" "$sn" "$full"
        unmkfs
    done
done
set -- $SIZES
a=$(gib "$1") b=$(gib "${!#}")
for fs in xfs ext4; do
    if [ "$a" != "$b" ]; then
        slope=$(echo "(${STOP[$fs.$b]} - ${STOP[$fs.$a]}) / ($b - $a)" | bc -l)
        # a slope below zero is noise: flat, and the projection is the larger of the two
        if [ "$(echo "$slope < 0" | bc)" = 1 ]; then
            slope=0
            proj=$(echo "if (${STOP[$fs.$a]} > ${STOP[$fs.$b]}) ${STOP[$fs.$a]} else ${STOP[$fs.$b]}" | bc -l)
        else
            proj=$(echo "${STOP[$fs.$a]} + $slope * (1024 - $a)" | bc -l)
        fi
        printf 'scale_cycle: %-4s data-dir held: %.3f s at %sG, %.3f s at %sG; %.4f s/GB; projected to 1 TB: %.1f s\n' \
            "$fs" "${STOP[$fs.$a]}" "$a" "${STOP[$fs.$b]}" "$b" "$slope" "$proj"
    fi
done
x=${STOP[xfs.$b]}
if [ "$(echo "$x < 2" | bc)" = 1 ]; then
    printf 'scale_cycle: target met: with a freeze the data-dir is held %.3f s at %sG (< 2 s)\n' "$x" "$b"
else
    printf 'scale_cycle: target MISSED: with a freeze the data-dir is held %.3f s at %sG (target < 2 s)\n' "$x" "$b"
fi
