#!/usr/bin/env bash
# scale_restore.sh: restore at scale (issue 12), run by `make bench-scale`. For each size of
# BENCH_SCALE_SIZES (GB of data) and each file system of BENCH_SCALE_FS (an XFS with reflink=1
# and an ext4, each a loop image under /var/tmp), with a cold page cache before every run:
#   - restore into an empty slot;
#   - restore over the usual damage, each time over a slot that holds the snapshot: the dirty
#     flag only; the dirty flag and 1% of the state's pages rewritten; the last 1 MiB of
#     blocks.log cut (whatever path `slotkeeper restore` takes by default: a delta restore once
#     it writes only what differs);
#   - making the golden copy (`repo golden on`), then a restore into an empty slot by cloning
#     from it (on ext4 it falls back to writing the chunks, and says why);
# then a table per file system with peak RSS, the slope in seconds per GB and the projection
# to 1 TB, and the targets of issue 12: a restore over the usual damage at most 0.15 of a
# restore into an empty slot, and a restore by cloning under 2 s at every size.
#
# The data-dir of each size is outside the loop file systems (in BENCH_SCALE_DIR); each file
# system holds the repository, its golden copy and the slots, and is removed before the next.
# Disk: about 4.5 x the largest size. A missed target is reported, not an error; a failed
# command makes the script exit 1.
. "$(dirname "$0")/scale_lib.sh"

if ! scale_init scale_restore; then
    echo "scale_restore: SKIPPED (see above)"
    exit 0
fi
read -r -a sizes <<<"$BENCH_SCALE_SIZES"
largest=$(printf '%s\n' "${sizes[@]}" | sort -g | tail -1)
scale_need_gb "$(awk -v g="$largest" 'BEGIN { printf "%.1f", g * 4.5 + 1 }')" || exit 1
SK=$SLOTKEEPER
EMPTY="restore into an empty slot"
DIRTY="restore over: dirty flag"
PAGES="restore over: dirty flag + 1% state pages"
CUT="restore over: blocks.log tail cut (1 MiB)"
GOLD="golden copy made (repo golden on)"
CLONE="restore by cloning (empty slot)"

# path_note FS ROW SIZE: records which path the last restore took (its summary line).
path_note() {
    local p why
    p=$(sed -n 's/.*(path \([a-z]*\)).*/\1/p' "$SCALE_ERR" | tail -1)
    why=$(sed -n 's/.*not restoring by cloning: //p' "$SCALE_ERR" | head -1)
    scale_note "$1" "$2" "$3" "path ${p:-?}${why:+ ($why)}"
}

dirty() { printf '\001' | dd of="$1/state/shared_memory.bin" bs=1 seek=8 conv=notrunc status=none; }

for size in "${sizes[@]}"; do
    node=$SCALE_DIR/node-$size
    scale_say "making a data-dir of about $size GB of data"
    scale_mkdatadir "$node" "$size" || { scale_say "mkdatadir failed"; exit 1; }
    for fs in $BENCH_SCALE_FS; do
        M=$SCALE_DIR/mnt-$fs
        R=$M/repo
        mb=$(awk -v g="$size" 'BEGIN { printf "%d", g * 1024 * 3.2 + 1024 }')
        if ! scale_fs_mount "$fs" "$mb" "$M"; then
            scale_say "$fs: cannot make the file system: $SCALE_WHY"
            scale_note "$fs" "$EMPTY" "$size" "no $fs file system: $SCALE_WHY"
            continue
        fi
        scale_say "$fs, $size GB: snapshot, then the restores"
        if ! "$SK" repo init "$R" >/dev/null || ! "$SK" snapshot --data-dir "$node" --repo "$R" --no-progress --quiet >/dev/null; then
            scale_say "$fs: repo init or snapshot failed"
            SCALE_FAILED=1
            scale_fs_umount "$M"
            continue
        fi
        bytes=$("$SK" list --repo "$R" --json | jq '.snapshots[-1].data_bytes')
        SCALE_DATA_GB[$size]=$(awk -v b="$bytes" 'BEGIN { printf "%.3f", b / 1e9 }')
        s=$M/slot
        scale_time "$fs" "$EMPTY" "$size" "$SK" restore --data-dir "$s" --repo "$R" --no-progress --quarantine delete &&
            path_note "$fs" "$EMPTY" "$size"
        dirty "$s"
        scale_time "$fs" "$DIRTY" "$size" "$SK" restore --data-dir "$s" --repo "$R" --no-progress --quarantine delete &&
            path_note "$fs" "$DIRTY" "$size"
        "$MKDATADIR" mutate "$s" --append-pct 0 --rewrite-pct 1 --seed 7 >/dev/null
        dirty "$s"
        scale_time "$fs" "$PAGES" "$size" "$SK" restore --data-dir "$s" --repo "$R" --no-progress --quarantine delete &&
            path_note "$fs" "$PAGES" "$size"
        truncate -s -1M "$s/blocks/blocks.log"
        scale_time "$fs" "$CUT" "$size" "$SK" restore --data-dir "$s" --repo "$R" --no-progress --quarantine delete &&
            path_note "$fs" "$CUT" "$size"
        rm -rf "$s"
        scale_time "$fs" "$GOLD" "$size" "$SK" repo golden "$R" on --no-progress
        scale_time "$fs" "$CLONE" "$size" "$SK" restore --data-dir "$M/clone" --repo "$R" --no-progress &&
            path_note "$fs" "$CLONE" "$size"
        scale_fs_umount "$M"
    done
    rm -rf "$node"
done

for fs in $BENCH_SCALE_FS; do
    scale_target "$fs" "$DIRTY" ratio "$EMPTY" 0.15
    scale_target "$fs" "$PAGES" ratio "$EMPTY" 0.15
    scale_target "$fs" "$CUT" ratio "$EMPTY" 0.15
    [ "$fs" = xfs ] && scale_target "$fs" "$CLONE" under 2
    case $fs in
    xfs) title="XFS (reflink=1) on a loop device" ;;
    ext4) title="ext4 on a loop device (no reflinks: cloning falls back)" ;;
    *) title=$fs ;;
    esac
    scale_table "$fs" "restore at scale, $title; sizes in GB of data: $(for z in "${sizes[@]}"; do printf '%s=%s ' "$z" "${SCALE_DATA_GB[$z]:-?}"; done)"
done
echo
echo "slope: least squares over the sizes, in seconds per GB of data; 1 TB proj.: the fitted line at 1000 GB"
scale_finish
