#!/usr/bin/env bash
# t_delta: the delta restore (the default) over each usual damage makes the slot the snapshot,
# byte for byte, writing little; its quarantine holds the old bytes and an index by which
# README's procedure puts the damaged data back. On the default file system, on ext4 (the old
# chunks copied) and on XFS with reflink=1 (the changed files cloned: shared extents).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"

put_back() { quarantine_put_back "$@"; }
jfield() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$W/out"; }
jstr() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$W/out"; }

# damage KIND DIR
damage() {
    local d=$2
    case $1 in
    dirty) printf '\001' | dd of="$d/state/shared_memory.bin" bs=1 seek=8 conv=notrunc status=none ;;
    pages)
        "$MKDATADIR" mutate "$d" --append-pct 0 --rewrite-pct 1 --seed 5 >/dev/null
        printf '\001' | dd of="$d/state/shared_memory.bin" bs=1 seek=8 conv=notrunc status=none
        ;;
    cut) truncate -s -1M "$d/blocks/blocks.log" ;;
    grown) head -c 300000 /dev/urandom >>"$d/blocks/blocks.log" ;;
    extra) echo junk >"$d/blocks/extra.txt" && mkdir -p "$d/state/junk/deep" && echo x >"$d/state/junk/deep/f" ;;
    missing) rm "$d/blocks/blocks.index" ;;
    link) rm "$d/blocks/blocks.index" && ln -s ../config.ini "$d/blocks/blocks.index" ;;
    esac
}

# delta_over FS_DIR KIND MAX_WRITTEN: a good slot under FS_DIR damaged by KIND, delta-restored.
delta_over() {
    local fs=$1 kind=$2 max=$3 slot=$1/slot-$2 q before
    rm -rf "$slot"
    cp -a "$fs/good" "$slot"
    damage "$kind" "$slot"
    before=$(content_sig "$slot")
    run 0 "$fs_name: delta restore over '$kind'" "$SK" restore --snapshot "$ID" --data-dir "$slot" --repo "$R" --json
    check "$fs_name/$kind: the path taken is delta" test "$(jstr path)" = delta
    # (The reference restored on the same file system: folder sizes differ between file systems.)
    check "$fs_name/$kind: the slot is the snapshot" same_tree "$fs/good" "$slot"
    check "$fs_name/$kind: ... whose content is the source's" test "$(content_sig "$slot")" = "$(content_sig "$W/src")"
    local wr
    wr=$(jfield bytes_written)
    check "$fs_name/$kind: wrote $wr bytes (at most $max)" test "${wr:-999999999}" -le "$max"
    run 0 "$fs_name/$kind: check says clean" "$SK" check "$slot"
    # The quarantine puts the damaged data back.
    q=$(ls -d "$slot"/.slotkeeper/quarantine/* 2>/dev/null | tail -1)
    if [ "$kind" = missing ]; then
        check "$fs_name/$kind: nothing was overwritten, no quarantine kept" test -z "$q"
    else
        if [ -n "$q" ] && [ -f "$q/index" ]; then
            cp -a "$slot" "$W/back"
            put_back "$W/back/.slotkeeper/quarantine/$(basename "$q")" "$W/back"
            if [ "$(content_sig "$W/back")" = "$before" ]; then
                ok "$fs_name/$kind: the quarantine's index puts the damaged data back"
            else
                not_ok "$fs_name/$kind: the quarantine's index puts the damaged data back"
                diff <(echo "$before") <(content_sig "$W/back") | head -5 | sed 's/^/#   /'
            fi
            rm -rf "$W/back"
        else
            not_ok "$fs_name/$kind: a quarantine with an index"
        fi
    fi
    LAST_Q=$q
}

mkdd "$W/src" --blocks-size 4M --state-size 16M --state-data 2M --seed 3
R=$W/repo
"$SK" repo init "$R" >/dev/null
ID=$("$SK" snapshot --data-dir "$W/src" --repo "$R" 2>/dev/null)

# suite FS_DIR NAME: every damage on one file system.
suite() {
    local fs=$1
    fs_name=$2
    run 0 "$fs_name: restore into an empty slot" "$SK" restore --snapshot "$ID" --data-dir "$fs/good" --repo "$R" --json
    check "$fs_name: restored into an empty slot, the source's content" test "$(content_sig "$fs/good")" = "$(content_sig "$W/src")"
    check "$fs_name: into an empty slot, every data byte is written" test "$(jfield bytes_written)" = "$(jfield data_bytes)"
    check "$fs_name: nothing to quarantine from an empty slot" test ! -e "$fs/good/.slotkeeper/quarantine" -o -z "$(ls -A "$fs/good/.slotkeeper/quarantine" 2>/dev/null)"
    run 0 "$fs_name: restore over the same snapshot" "$SK" restore --snapshot "$ID" --data-dir "$fs/good" --repo "$R" --json
    check "$fs_name: over the same snapshot nothing is written" test "$(jfield bytes_written)" = 0
    check "$fs_name: ... and every data byte is left alone" test "$(jfield bytes_unchanged)" = "$(jfield data_bytes)"
    rm -rf "$fs/good/.slotkeeper"
    delta_over "$fs" dirty $((128 * 1024))
    delta_over "$fs" pages $((1024 * 1024))
    delta_over "$fs" cut $((2 * 1024 * 1024))
    delta_over "$fs" grown $((1024 * 1024))
    delta_over "$fs" extra 0
    check "$fs_name/extra: the extra file and folder went to quarantine" \
        test -f "$LAST_Q/moved/blocks/extra.txt" -a -f "$LAST_Q/moved/state/junk/deep/f"
    delta_over "$fs" missing $((64 * 1024))
    delta_over "$fs" link $((64 * 1024))
    check "$fs_name/link: the link went to quarantine, not followed" test -L "$LAST_Q/moved/blocks/blocks.index"
    rm -rf "$fs"/slot-*
}

mkdir -p "$W/def"
suite "$W/def" default

# A file with another hard link (a copy an operator kept) is not written through: it is moved
# to quarantine whole and the other name keeps its bytes.
cp -a "$W/def/good" "$W/hl"
damage dirty "$W/hl"
ln "$W/hl/state/shared_memory.bin" "$W/hardlink-copy"
before=$(cksum <"$W/hardlink-copy")
run 0 "delta restore over a hard-linked state file" "$SK" restore --snapshot "$ID" --data-dir "$W/hl" --repo "$R"
check "the other name of the hard-linked file is unchanged" test "$(cksum <"$W/hardlink-copy")" = "$before"
check "the slot is the snapshot" test "$(content_sig "$W/hl")" = "$(content_sig "$W/src")"
check "the hard-linked file went to quarantine whole" test -f "$(ls -d "$W/hl/.slotkeeper/quarantine/"* | tail -1)/moved/state/shared_memory.bin"

# --full over a damage: the same bytes, every data byte written, the folders quarantined whole.
cp -a "$W/def/good" "$W/full"
damage pages "$W/full"
run 0 "--full over damaged pages" "$SK" restore --snapshot "$ID" --data-dir "$W/full" --repo "$R" --full --json
check "--full: the path taken is full" test "$(jstr path)" = full
check "--full: every data byte is written" test "$(jfield bytes_written)" = "$(jfield data_bytes)"
check "--full: the slot is the snapshot" same_tree "$W/src" "$W/full"
check "--full: the replaced folders are whole in quarantine" test -d "$(ls -d "$W/full/.slotkeeper/quarantine/"* | tail -1)/state"

# A re-run of an interrupted delta restore: the marker is there, the quarantine keeps what the
# first run saved, and the slot ends the snapshot. (Kills at every step: tests/crash/sweep.sh.)
cp -a "$W/def/good" "$W/rerun"
damage pages "$W/rerun"
before=$(content_sig "$W/rerun")
"$SK" restore --snapshot "$ID" --data-dir "$W/rerun" --repo "$R" >/dev/null 2>&1
q=$(ls -d "$W/rerun/.slotkeeper/quarantine/"* | tail -1)
echo "slotkeeper restore in progress: do not start a node on this data-dir
snapshot $ID
quarantine $(basename "$q")
mode delta" >"$W/rerun/.slotkeeper/restoring"
run 15 "a slot with the marker is restoring" "$SK" check "$W/rerun"
run 0 "the restore run again" "$SK" restore --snapshot "$ID" --data-dir "$W/rerun" --repo "$R" --json
check "the re-run says it finished an interrupted restore" grep -q '"resumed":true' "$W/out"
check "the re-run keeps the quarantine's index" test -f "$q/index"
cp -a "$W/rerun" "$W/back"
put_back "$W/back/.slotkeeper/quarantine/$(basename "$q")" "$W/back"
check "after the re-run the index still puts the damaged data back" test "$(content_sig "$W/back")" = "$before"
rm -rf "$W/back"

# A damaged chunk met while restoring into an empty slot: what the restore made is taken back.
cp -a "$R" "$W/badrepo"
chunk=$(find "$W/badrepo/chunks" -type f -size +10k | head -1)
printf '\377' | dd of="$chunk" bs=1 seek=5000 conv=notrunc status=none
run 3 "a restore of a damaged snapshot into an empty slot fails (exit 3)" \
    "$SK" restore --snapshot "$ID" --data-dir "$W/empty" --repo "$W/badrepo"
one_line_error "damaged snapshot into an empty slot"
check "the slot is as it was: empty, no marker" \
    test -z "$(find "$W/empty" -mindepth 1 -not -path "$W/empty/.slotkeeper" -not -path "$W/empty/.slotkeeper/quarantine")"
# ... and over a slot with data (every chunk damaged, so whichever it needs): each chunk is
# checked before the first change, and the slot stays as it was.
rm -rf "$W/badrepo" && cp -a "$R" "$W/badrepo"
find "$W/badrepo/chunks" -type f -size +10k | while read -r c; do
    printf '\377' | dd of="$c" bs=1 seek=5000 conv=notrunc status=none
done
cp -a "$W/def/good" "$W/overbad"
damage pages "$W/overbad"
before=$(slot_sig "$W/overbad")
run 3 "a restore of a damaged snapshot over a damaged slot fails (exit 3)" \
    "$SK" restore --snapshot "$ID" --data-dir "$W/overbad" --repo "$W/badrepo"
one_line_error "damaged snapshot over a slot"
check "the slot is as it was (no marker)" \
    test "$(slot_sig "$W/overbad")" = "$before" -a ! -e "$W/overbad/.slotkeeper/restoring"

# A --full restore interrupted after it moved state/ into quarantine, finished by a delta
# restore: the state/ the full run quarantined stays there, whole.
cp -a "$W/def/good" "$W/mixed"
damage pages "$W/mixed"
oldstate=$(content_sig "$W/mixed" state)
mkdir -p "$W/mixed/.slotkeeper/quarantine/20200101T000000Z"
mv "$W/mixed/state" "$W/mixed/.slotkeeper/quarantine/20200101T000000Z/state"
printf 'slotkeeper restore in progress\nsnapshot %s\nquarantine 20200101T000000Z\nmode full\n' "$ID" >"$W/mixed/.slotkeeper/restoring"
run 0 "a delta restore finishes an interrupted --full one" "$SK" restore --snapshot "$ID" --data-dir "$W/mixed" --repo "$R"
check "the slot is the snapshot" test "$(content_sig "$W/mixed")" = "$(content_sig "$W/src")"
check "the state/ the --full run quarantined is still there, whole" \
    test "$(content_sig "$W/mixed/.slotkeeper/quarantine/20200101T000000Z" state)" = "$oldstate"

# ext4: old chunks copied; XFS reflink=1: changed files cloned.
if fs_mount ext4 200 "$W/ext4"; then
    suite "$W/ext4" ext4
    cp -a "$W/ext4/good" "$W/ext4/p" && damage pages "$W/ext4/p"
    "$SK" restore --snapshot "$ID" --data-dir "$W/ext4/p" --repo "$R" >/dev/null 2>&1
    q=$(ls -d "$W/ext4/p/.slotkeeper/quarantine/"* | tail -1)
    check "ext4: the quarantine saved regions (no clone)" bash -c "grep -q '^region state/shared_memory.bin ' '$q/index' && ! grep -q '^clone ' '$q/index'"
    check "ext4: the saved state file is sparse (old chunks only)" test "$(du -k "$q/saved/state/shared_memory.bin" | cut -f1)" -le 1024
else
    ok "ext4 delta restore # SKIP $FS_WHY"
fi
if fs_mount xfs 400 "$W/xfs"; then
    if fs_reflink_ok "$W/xfs"; then
        suite "$W/xfs" xfs
        cp -a "$W/xfs/good" "$W/xfs/p" && damage pages "$W/xfs/p"
        "$SK" restore --snapshot "$ID" --data-dir "$W/xfs/p" --repo "$R" >/dev/null 2>&1
        q=$(ls -d "$W/xfs/p/.slotkeeper/quarantine/"* | tail -1)
        check "xfs: the quarantine cloned the changed file" grep -q '^clone state/shared_memory.bin ' "$q/index"
        check "xfs: the clone shares extents with the slot (filefrag -v)" \
            bash -c "filefrag -v '$q/saved/state/shared_memory.bin' | grep -q shared"
    else
        not_ok "xfs made with reflink=1 cannot clone"
    fi
else
    ok "XFS delta restore # SKIP $FS_WHY"
fi

finish
